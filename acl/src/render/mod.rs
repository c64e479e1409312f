//! Renderers: the IR as nftables or iptables input.

pub mod iptables;
pub mod nft;

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
