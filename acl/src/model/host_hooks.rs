//! Calico's rules for the host-endpoint hook options of a GlobalNetworkPolicy:
//! `preDNAT` and `doNotTrack` (checked at load, located errors).

use super::calico::{RawRule, Spec};
use super::{child, index, FieldError, PathSeg};

/// Calico's constraints on `preDNAT` and `doNotTrack` (its validator's rules): only a
/// GlobalNetworkPolicy has them, not both at once, only with `applyOnForward: true`; a
/// pre-DNAT policy has ingress rules only. tern also refuses `Pass` in them (their
/// chains run outside the tier walk of the filter hooks).
pub(crate) fn check(spec_path: &[PathSeg], s: &Spec, global: bool) -> Result<(), FieldError> {
    let on = |v: Option<bool>| v == Some(true);
    for (key, v) in [("preDNAT", s.pre_dnat), ("doNotTrack", s.do_not_track)] {
        if !on(v) {
            continue;
        }
        let at = child(spec_path, key);
        if !global {
            return Err(FieldError::new(
                &at,
                format!("{key} is for host endpoints: only a GlobalNetworkPolicy has it"),
            ));
        }
        if key == "doNotTrack" && on(s.pre_dnat) {
            return Err(FieldError::new(
                &at,
                "preDNAT and doNotTrack cannot both be true",
            ));
        }
        if !on(s.apply_on_forward) {
            return Err(FieldError::new(
                &at,
                format!("`{key}: true` needs `applyOnForward: true` (as Calico)"),
            ));
        }
        let pass = |list: &Option<Vec<RawRule>>, dir: &str| {
            list.iter().flatten().enumerate().find_map(|(i, r)| {
                (r.action == "Pass").then(|| {
                    FieldError::new(
                        &child(&index(&child(spec_path, dir), i), "action"),
                        format!(
                            "Pass is not supported in a {key} policy by tern: its rules run before the tiers of the filter hooks (use Allow, Deny or Log)"
                        ),
                    )
                })
            })
        };
        if let Some(e) = pass(&s.ingress, "ingress").or_else(|| pass(&s.egress, "egress")) {
            return Err(e);
        }
    }
    if on(s.pre_dnat) {
        if let Some(eg) = &s.egress {
            if !eg.is_empty() {
                return Err(FieldError::new(
                    &child(spec_path, "egress"),
                    "a preDNAT policy has no egress rules (it runs on traffic arriving at host endpoints only)",
                ));
            }
        }
        if let Some(i) = s.types.iter().flatten().position(|t| t == "Egress") {
            return Err(FieldError::new(
                &index(&child(spec_path, "types"), i),
                "a preDNAT policy cannot have the Egress type",
            ));
        }
    }
    Ok(())
}
