//! Calico tiers: `Tier` resources (`order`, `defaultAction`) and the policies in them.
//! Evaluation, as Calico documents it: tiers in `order` (unset last, then by name; the
//! `default` tier has order 1,000,000), only tiers with a policy that applies to the
//! endpoint; in a tier the first Allow/Deny decides, `Pass` goes to the next tier, and
//! when no rule of the tier's policies matched, the tier's `defaultAction` applies (`Deny`,
//! or `Pass` to the next tier). Past the last tier the endpoint's default (deny) applies:
//! tern has no profiles.

use serde::Deserialize;

use crate::model::calico::{Metadata, OrderValue};
use crate::model::{child, FieldError, PathSeg};

/// The tier of policies that name none (and of Kubernetes policies).
pub const DEFAULT_TIER: &str = "default";
/// Order of the `default` tier (as Calico).
pub const DEFAULT_TIER_ORDER: f64 = 1_000_000.0;

/// What happens when no policy of a tier decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TierAction {
    /// Drop (Calico's default).
    Deny,
    /// Continue with the next tier.
    Pass,
}

/// A tier.
#[derive(Debug, Clone, PartialEq)]
pub struct Tier {
    /// Name.
    pub name: String,
    /// Order (lower first); None sorts after every ordered tier.
    pub order: Option<f64>,
    /// When none of its policies decided.
    pub default_action: TierAction,
}

impl Tier {
    /// The `default` tier as Calico defines it.
    pub fn default_tier() -> Tier {
        Tier {
            name: DEFAULT_TIER.to_string(),
            order: Some(DEFAULT_TIER_ORDER),
            default_action: TierAction::Deny,
        }
    }
}

/// A `Tier` document.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawTier {
    /// `projectcalico.org/v3`.
    pub api_version: String,
    /// `Tier`.
    pub kind: String,
    /// Name.
    pub metadata: Metadata,
    /// Order and default action.
    #[serde(default)]
    pub spec: RawTierSpec,
    /// Ignored (server-set).
    #[serde(default)]
    pub status: Option<serde_yaml::Value>,
}

/// `spec` of a tier.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawTierSpec {
    /// Order.
    #[serde(default)]
    pub order: Option<OrderValue>,
    /// `Deny` (default) or `Pass`.
    #[serde(default)]
    pub default_action: Option<String>,
}

/// Converts a tier document.
pub fn convert(raw: &RawTier) -> Result<Tier, FieldError> {
    let root: &[PathSeg] = &[];
    let meta = child(root, "metadata");
    let spec = child(root, "spec");
    crate::names::check_name(&child(&meta, "name"), &raw.metadata.name)?;
    if raw.metadata.name.contains('.') {
        return Err(FieldError::new(
            &child(&meta, "name"),
            "a tier name has no `.` (policies in the tier are named TIER.NAME)",
        ));
    }
    if raw.metadata.namespace.is_some() {
        return Err(FieldError::new(
            &child(&meta, "namespace"),
            "a Tier has no namespace",
        ));
    }
    let order = match &raw.spec.order {
        None => None,
        Some(o) => Some(o.value().ok_or_else(|| {
            FieldError::new(&child(&spec, "order"), "order must be a finite number")
        })?),
    };
    let default_action = match raw.spec.default_action.as_deref() {
        None | Some("Deny") => TierAction::Deny,
        Some("Pass") => TierAction::Pass,
        Some(other) => {
            return Err(FieldError::new(
                &child(&spec, "defaultAction"),
                format!(
                    "unknown default action `{}` (Deny or Pass)",
                    other.escape_debug()
                ),
            ))
        }
    };
    if raw.metadata.name == DEFAULT_TIER
        && (order.is_some_and(|o| o != DEFAULT_TIER_ORDER) || default_action != TierAction::Deny)
    {
        return Err(FieldError::new(
            &spec,
            "the default tier keeps order 1000000 and defaultAction Deny",
        ));
    }
    Ok(Tier {
        name: raw.metadata.name.clone(),
        order: if raw.metadata.name == DEFAULT_TIER {
            Some(DEFAULT_TIER_ORDER)
        } else {
            order
        },
        default_action,
    })
}
