//! Taint and toleration matching over the API types, with Kubernetes' rules
//! (`api::Toleration::tolerates` is `ToleratesTaint`).
use crate::api::{Taint, TaintEffect, Toleration, TolerationOperator};

/// Whether the effect keeps pods that do not tolerate it off the node (filters), as opposed
/// to only lowering the node's score.
pub fn is_hard(effect: TaintEffect) -> bool {
    matches!(effect, TaintEffect::NoSchedule | TaintEffect::NoExecute)
}

/// Whether some toleration in `tolerations` tolerates `taint`.
pub fn is_tolerated(taint: &Taint, tolerations: &[Toleration]) -> bool {
    tolerations
        .iter()
        .any(|toleration| toleration.tolerates(taint))
}

/// The first taint with an effect accepted by `effects` that no toleration tolerates, in the
/// node's order (the one Kubernetes names in its message).
pub fn first_untolerated<'a>(
    taints: &'a [Taint],
    tolerations: &[Toleration],
    effects: impl Fn(TaintEffect) -> bool,
) -> Option<&'a Taint> {
    taints
        .iter()
        .find(|taint| effects(taint.effect) && !is_tolerated(taint, tolerations))
}

/// A taint `key` (without value) with `effect`.
pub fn taint(key: &str, effect: TaintEffect) -> Taint {
    Taint {
        key: key.to_string(),
        value: None,
        effect,
        time_added: None,
    }
}

/// A toleration of every taint with `key` and `effect` (any effect when `None`), whatever
/// its value.
pub fn toleration_exists(key: &str, effect: Option<TaintEffect>) -> Toleration {
    Toleration {
        key: (!key.is_empty()).then(|| key.to_string()),
        operator: Some(TolerationOperator::Exists),
        value: None,
        effect,
        toleration_seconds: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_value(key: &str, value: &str, effect: TaintEffect) -> Taint {
        Taint {
            value: Some(value.to_string()),
            ..taint(key, effect)
        }
    }

    fn equal(key: &str, value: &str, effect: Option<TaintEffect>) -> Toleration {
        Toleration {
            key: Some(key.to_string()),
            operator: Some(TolerationOperator::Equal),
            value: Some(value.to_string()),
            effect,
            toleration_seconds: None,
        }
    }

    fn check(toleration: Toleration, taint: Taint, expected: bool) {
        assert_eq!(
            toleration.tolerates(&taint),
            expected,
            "{toleration:?} vs {taint:?}"
        );
    }

    #[test]
    fn equal_operator_needs_the_same_key_and_value() {
        let taint = with_value("dedicated", "gpu", TaintEffect::NoSchedule);
        check(equal("dedicated", "gpu", None), taint.clone(), true);
        check(equal("dedicated", "cpu", None), taint.clone(), false);
        check(equal("other", "gpu", None), taint, false);
    }

    #[test]
    fn exists_operator_matches_any_value_of_its_key() {
        let taint = with_value("dedicated", "gpu", TaintEffect::NoExecute);
        check(toleration_exists("dedicated", None), taint.clone(), true);
        check(toleration_exists("other", None), taint, false);
    }

    #[test]
    fn empty_key_with_exists_tolerates_every_taint() {
        check(
            toleration_exists("", None),
            with_value("anything", "at-all", TaintEffect::NoSchedule),
            true,
        );
        check(
            toleration_exists("", Some(TaintEffect::NoExecute)),
            taint("anything", TaintEffect::NoSchedule),
            false,
        );
    }

    #[test]
    fn effect_must_match_unless_the_toleration_leaves_it_empty() {
        let taint = with_value("k", "v", TaintEffect::NoSchedule);
        check(
            equal("k", "v", Some(TaintEffect::NoSchedule)),
            taint.clone(),
            true,
        );
        check(
            equal("k", "v", Some(TaintEffect::NoExecute)),
            taint.clone(),
            false,
        );
        check(equal("k", "v", None), taint, true);
    }

    #[test]
    fn equal_operator_with_empty_value_matches_a_taint_without_value() {
        check(
            equal("k", "", None),
            taint("k", TaintEffect::NoSchedule),
            true,
        );
    }

    #[test]
    fn first_untolerated_skips_soft_taints_when_asked_for_hard_ones() {
        let taints = [
            taint("soft", TaintEffect::PreferNoSchedule),
            with_value("a", "1", TaintEffect::NoSchedule),
            with_value("b", "2", TaintEffect::NoExecute),
        ];
        let tolerations = [toleration_exists("a", None)];
        let found = first_untolerated(&taints, &tolerations, is_hard);
        assert_eq!(found.map(|t| t.key.as_str()), Some("b"));
    }
}
