//! Staged policies' counters as the kernel holds them: parses the listings of tern's
//! rules (`nft list table inet tern`, `iptables-save -c`) into one row per staged rule
//! and verdict (pure; [`crate::apply::staged_counters`] runs the tools).

use std::collections::BTreeMap;

/// What one staged rule (or a staged chain's end) counted.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct StagedCount {
    /// `DIR/POLICY` as the nft chain names it (`ingress/shop/web`), or `POLICY DIR` from
    /// the iptables rule comment (`shop/web ingress`).
    pub policy: String,
    /// Rule index; None for the packets no rule of the policy decided.
    pub rule: Option<usize>,
    /// `allow`, `deny`, `pass`, `log`, or `none` (no rule matched).
    pub verdict: String,
    /// Packets counted.
    pub packets: u64,
    /// Bytes counted.
    pub bytes: u64,
}

/// The text between `start` and the next `end` after it.
fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let rest = &s[s.find(start)? + start.len()..];
    Some(&rest[..rest.find(end)?])
}

/// Rows of `nft list table inet tern` output (rules with a `counter` in `staged-` chains).
pub fn parse_nft(text: &str) -> Vec<StagedCount> {
    let mut out = Vec::new();
    let mut staged = false;
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix("chain ") {
            staged = name.starts_with("staged-");
            continue;
        }
        if !staged {
            continue;
        }
        let Some(counter) = between(line, "counter packets ", " ").and_then(|p| {
            let b = between(line, " bytes ", " ")
                .or_else(|| line.split(" bytes ").nth(1))?
                .parse()
                .ok()?;
            Some((p.parse().ok()?, b))
        }) else {
            continue;
        };
        let row = if let Some(prefix) = between(line, "log prefix \"tern-staged ", ": \"") {
            // VERDICT DIR/POLICY RULE
            let mut words = prefix.split(' ');
            let verdict = words.next().unwrap_or_default().to_string();
            let rule = words.next_back().and_then(|r| r.parse().ok());
            let policy = words.collect::<Vec<_>>().join(" ");
            (policy, rule, verdict)
        } else if let Some(c) = between(line, "comment \"", ": no rule matched\"") {
            (
                c.trim_start_matches("staged-").to_string(),
                None,
                "none".to_string(),
            )
        } else {
            continue;
        };
        out.push(StagedCount {
            policy: row.0,
            rule: row.1,
            verdict: row.2,
            packets: counter.0,
            bytes: counter.1,
        });
    }
    out.sort();
    out
}

/// Rows of `iptables-save -c` output (and of `ip6tables-save -c`, appended: the
/// families' counts are added up).
pub fn parse_iptables_save(text: &str) -> Vec<StagedCount> {
    let mut rows: BTreeMap<(String, Option<usize>, String), (u64, u64)> = BTreeMap::new();
    for line in text.lines() {
        let Some((counts, rule)) = line.strip_prefix('[').and_then(|l| l.split_once("] ")) else {
            continue;
        };
        if !(rule.starts_with("-A tern-si-") || rule.starts_with("-A tern-se-")) {
            continue;
        }
        let Some((p, b)) = counts.split_once(':') else {
            continue;
        };
        let (Ok(p), Ok(b)) = (p.parse::<u64>(), b.parse::<u64>()) else {
            continue;
        };
        let Some(comment) = between(rule, "--comment \"", "\"") else {
            continue;
        };
        let key = if let Some(prefix) = between(rule, "--log-prefix \"tern-staged ", " ") {
            // "POLICY DIR rule N"
            let Some((policy, n)) = comment.rsplit_once(" rule ") else {
                continue;
            };
            (policy.to_string(), n.parse().ok(), prefix.to_string())
        } else if let Some(policy) = comment.strip_suffix(": no rule matched") {
            (policy.to_string(), None, "none".to_string())
        } else {
            continue;
        };
        let e = rows.entry(key).or_default();
        e.0 += p;
        e.1 += b;
    }
    rows.into_iter()
        .map(|((policy, rule, verdict), (packets, bytes))| StagedCount {
            policy,
            rule,
            verdict,
            packets,
            bytes,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nft_listing() {
        let text = r#"table inet tern {
	chain ingress/web {
		meta l4proto tcp th dport 80 accept comment "ingress/web rule 0"
	}
	chain staged-ingress/shop/web-tighter {
		meta l4proto tcp ip saddr @s4-66542c5992f1 th dport 80 counter packets 2 bytes 120 log prefix "tern-staged allow ingress/shop/web-tighter 0: " return comment "staged-ingress/shop/web-tighter rule 0"
		counter packets 7 bytes 420 log prefix "tern-staged deny ingress/shop/web-tighter 1: " return comment "staged-ingress/shop/web-tighter rule 1"
		counter packets 0 bytes 0 comment "staged-ingress/shop/web-tighter: no rule matched"
	}
}"#;
        let rows = parse_nft(text);
        let brief: Vec<(String, Option<usize>, String, u64, u64)> = rows
            .into_iter()
            .map(|r| (r.policy, r.rule, r.verdict, r.packets, r.bytes))
            .collect();
        let p = "ingress/shop/web-tighter".to_string();
        assert_eq!(
            brief,
            [
                (p.clone(), None, "none".into(), 0, 0),
                (p.clone(), Some(0), "allow".into(), 2, 120),
                (p, Some(1), "deny".into(), 7, 420),
            ]
        );
    }

    #[test]
    fn iptables_save_both_families_add_up() {
        let text = r#"*filter
:tern-si-bda18eac1dee - [0:0]
[3:180] -A tern-si-bda18eac1dee -m comment --comment "shop/web-tighter ingress rule 1" -j LOG --log-prefix "tern-staged deny bda18e/1: "
[3:180] -A tern-si-bda18eac1dee -j RETURN
[1:60] -A tern-si-bda18eac1dee -m comment --comment "shop/web-tighter ingress: no rule matched"
[9:9] -A tern-tw-1 -m comment --comment "x ingress rule 1" -j DROP
COMMIT
*filter
[2:160] -A tern-si-bda18eac1dee -m comment --comment "shop/web-tighter ingress rule 1" -j LOG --log-prefix "tern-staged deny bda18e/1: "
COMMIT
"#;
        let rows = parse_iptables_save(text);
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert_eq!(
            (
                rows[1].policy.as_str(),
                rows[1].rule,
                rows[1].verdict.as_str()
            ),
            ("shop/web-tighter ingress", Some(1), "deny")
        );
        assert_eq!((rows[1].packets, rows[1].bytes), (5, 340));
        assert_eq!((rows[0].verdict.as_str(), rows[0].packets), ("none", 1));
    }
}
