//! The directions a policy applies to, from its `types` (Calico) or `policyTypes`
//! (Kubernetes) list: one rule for both converters.

use super::{child, index, FieldError, PathSeg};

/// `(ingress, egress)`: whether the policy applies to traffic into and out of its
/// endpoints. Without a list (`types` is `None`) it applies to ingress always and to
/// egress when it has an `egress` section (`has_egress`), as Calico and Kubernetes
/// default it. With a list, exactly the listed directions; an entry other than `Ingress`
/// or `Egress` is an error at `spec_path.FIELD[i]`: "unknown NOUN `X` (Ingress or
/// Egress)".
pub(crate) fn directions(
    spec_path: &[PathSeg],
    field: &str,
    noun: &str,
    types: Option<&[String]>,
    has_egress: bool,
) -> Result<(bool, bool), FieldError> {
    let Some(types) = types else {
        return Ok((true, has_egress));
    };
    let mut io = (false, false);
    for (i, t) in types.iter().enumerate() {
        match t.as_str() {
            "Ingress" => io.0 = true,
            "Egress" => io.1 = true,
            other => {
                return Err(FieldError::new(
                    &index(&child(spec_path, field), i),
                    format!("unknown {noun} `{other}` (Ingress or Egress)"),
                ))
            }
        }
    }
    Ok(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Vec<PathSeg> {
        vec![PathSeg::Key("spec".into())]
    }

    fn list(types: &[&str]) -> Vec<String> {
        types.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn without_a_list_ingress_always_egress_when_there_are_egress_rules() {
        assert_eq!(
            directions(&spec(), "types", "type", None, false),
            Ok((true, false))
        );
        assert_eq!(
            directions(&spec(), "types", "type", None, true),
            Ok((true, true))
        );
    }

    #[test]
    fn a_list_gives_exactly_its_directions() {
        let egress = list(&["Egress"]);
        assert_eq!(
            directions(&spec(), "types", "type", Some(&egress), false),
            Ok((false, true))
        );
        let both = list(&["Egress", "Ingress"]);
        assert_eq!(
            directions(&spec(), "policyTypes", "policy type", Some(&both), false),
            Ok((true, true))
        );
        assert_eq!(
            directions(&spec(), "types", "type", Some(&[]), true),
            Ok((false, false))
        );
    }

    #[test]
    fn an_unknown_entry_is_an_error_at_its_index() {
        let bad = list(&["Ingress", "Sideways"]);
        let e = directions(&spec(), "types", "type", Some(&bad), false).unwrap_err();
        assert_eq!(e.path_text(), "spec.types[1]");
        assert_eq!(e.message, "unknown type `Sideways` (Ingress or Egress)");
        let e = directions(&spec(), "policyTypes", "policy type", Some(&bad), false).unwrap_err();
        assert_eq!(e.path_text(), "spec.policyTypes[1]");
        assert_eq!(
            e.message,
            "unknown policy type `Sideways` (Ingress or Egress)"
        );
    }
}
