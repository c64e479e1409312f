//! Renderers: the IR as nftables or iptables input.
//!
//! Names from policy files (policy ids, interfaces, selector text in set comments) are
//! checked at load, but the renderers do not rely on it: every piece of text they emit
//! inside quotes goes through [`quoted_text`], and identifiers derived from names
//! through [`is_plain_identifier`] (else they are hashed), so no name can add a line,
//! a rule or a token to the firewall input.

pub mod iptables;
pub mod nft;

/// `s` made safe to put between double quotes in nft or iptables-restore input: only
/// printable ASCII without `"` and `\\` is kept, and anything else (and `;`, where the
/// nft table text breaks set declarations into lines) becomes `?`; at most `max` bytes.
pub fn quoted_text(s: &str, max: usize) -> String {
    s.chars()
        .filter(|c| *c != '"' && *c != '\\')
        .map(|c| match c {
            ';' => '?',
            ' ' => c,
            c if c.is_ascii_graphic() => c,
            _ => '?',
        })
        .take(max)
        .collect()
}

/// True when `s` can be used verbatim in an identifier (nft chain name, after a
/// prefix): 1–200 characters of `a-z`, `A-Z`, `0-9`, `-`, `.`, `/`. Everything a
/// validated name produces; `_` is left out so that hashed names (`_` + hash) never
/// equal a verbatim one.
pub fn is_plain_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 200
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'/'))
}

/// True for an interface name that can be written bare (`-i NAME`): what Linux and
/// the loader accept, 1–15 characters of `a-z`, `A-Z`, `0-9`, `-`, `_`, `.`.
pub fn is_plain_interface(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 15
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// Which packet-filter backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// nftables (`nft -f`), one `table inet tern`.
    Nftables,
    /// iptables-restore + ip6tables-restore + ipset.
    Iptables,
}

impl std::str::FromStr for Backend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "nftables" | "nft" => Ok(Backend::Nftables),
            "iptables" => Ok(Backend::Iptables),
            o => Err(format!("unknown backend `{o}` (nftables or iptables)")),
        }
    }
}

/// The part of an endpoint chain's name that tells tiers apart: empty without tiers, else
/// a hash of each tier's name and default action (a change of tiers renames the chain,
/// so an incremental apply never keeps a chain built for other tiers).
pub(crate) fn tier_suffix(ir: &crate::ir::Ir, list: &[crate::ir::PolicyKey]) -> String {
    if ir.policy_tiers.is_empty() {
        return String::new();
    }
    let text: Vec<String> = ir
        .tier_groups(list)
        .iter()
        .map(|(t, g)| format!("{}:{:?}:{}", t.name, t.default_action, g.len()))
        .collect();
    format!("-{}", &crate::ir::short_hash(&text.join(","))[..6])
}
