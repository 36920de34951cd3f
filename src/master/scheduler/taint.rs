//! Taints and tolerations as the scheduler sees them, with Kubernetes' matching rules
//! (`ToleratesTaint` in k8s.io/api/core/v1/toleration.go).

/// What a taint does to pods that do not tolerate it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TaintEffect {
    /// New pods that do not tolerate the taint are not placed on the node.
    NoSchedule,
    /// The scheduler avoids the node for pods that do not tolerate the taint, but may use it.
    PreferNoSchedule,
    /// Like `NoSchedule`, and running pods that do not tolerate it are evicted.
    NoExecute,
}

impl TaintEffect {
    /// Parses the API spelling (`NoSchedule`, `PreferNoSchedule`, `NoExecute`).
    pub fn parse(text: &str) -> Option<TaintEffect> {
        match text {
            "NoSchedule" => Some(TaintEffect::NoSchedule),
            "PreferNoSchedule" => Some(TaintEffect::PreferNoSchedule),
            "NoExecute" => Some(TaintEffect::NoExecute),
            _ => None,
        }
    }

    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TaintEffect::NoSchedule => "NoSchedule",
            TaintEffect::PreferNoSchedule => "PreferNoSchedule",
            TaintEffect::NoExecute => "NoExecute",
        }
    }

    /// Whether the effect keeps pods that do not tolerate it off the node (filters), as opposed
    /// to only lowering the node's score.
    pub fn is_hard(self) -> bool {
        matches!(self, TaintEffect::NoSchedule | TaintEffect::NoExecute)
    }
}

/// A taint on a node.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Taint {
    pub key: String,
    /// Empty when the taint has no value; it prints as `{key: }` like Kubernetes.
    pub value: String,
    pub effect: TaintEffect,
}

impl Taint {
    pub fn new(key: &str, value: &str, effect: TaintEffect) -> Taint {
        Taint {
            key: key.to_string(),
            value: value.to_string(),
            effect,
        }
    }
}

/// How a toleration compares its value with a taint's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TolerationOperator {
    /// The values must be equal (the default when the operator is empty).
    #[default]
    Equal,
    /// Any value matches; with an empty key, any taint matches.
    Exists,
}

/// A toleration on a pod.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Toleration {
    /// Empty matches every key (only meaningful with `Exists`).
    pub key: String,
    pub operator: TolerationOperator,
    pub value: String,
    /// `None` matches every effect.
    pub effect: Option<TaintEffect>,
    /// How long a pod stays bound to a node once a matching `NoExecute` taint appears; `None`
    /// is forever. The scheduler ignores it; the node lifecycle controller uses it.
    pub toleration_seconds: Option<i64>,
}

impl Toleration {
    /// A toleration of every taint with `key` and `effect`, whatever its value.
    pub fn exists(key: &str, effect: Option<TaintEffect>) -> Toleration {
        Toleration {
            key: key.to_string(),
            operator: TolerationOperator::Exists,
            value: String::new(),
            effect,
            toleration_seconds: None,
        }
    }

    /// A toleration of the taint `key=value` with `effect`.
    pub fn equal(key: &str, value: &str, effect: Option<TaintEffect>) -> Toleration {
        Toleration {
            key: key.to_string(),
            operator: TolerationOperator::Equal,
            value: value.to_string(),
            effect,
            toleration_seconds: None,
        }
    }

    /// Kubernetes' rule: the effect must match unless the toleration's is empty, the key must
    /// match unless the toleration's is empty, and then `Exists` matches any value while
    /// `Equal` needs the same value.
    pub fn tolerates(&self, taint: &Taint) -> bool {
        if self.effect.is_some_and(|effect| effect != taint.effect) {
            return false;
        }
        if !self.key.is_empty() && self.key != taint.key {
            return false;
        }
        match self.operator {
            TolerationOperator::Exists => true,
            TolerationOperator::Equal => self.value == taint.value,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn check(toleration: Toleration, taint: Taint, expected: bool) {
        assert_eq!(
            toleration.tolerates(&taint),
            expected,
            "{toleration:?} vs {taint:?}"
        );
    }

    #[test]
    fn equal_operator_needs_the_same_key_and_value() {
        let taint = Taint::new("dedicated", "gpu", TaintEffect::NoSchedule);
        check(
            Toleration::equal("dedicated", "gpu", None),
            taint.clone(),
            true,
        );
        check(
            Toleration::equal("dedicated", "cpu", None),
            taint.clone(),
            false,
        );
        check(Toleration::equal("other", "gpu", None), taint, false);
    }

    #[test]
    fn exists_operator_matches_any_value_of_its_key() {
        let taint = Taint::new("dedicated", "gpu", TaintEffect::NoExecute);
        check(Toleration::exists("dedicated", None), taint.clone(), true);
        check(Toleration::exists("other", None), taint, false);
    }

    #[test]
    fn empty_key_with_exists_tolerates_every_taint() {
        check(
            Toleration::exists("", None),
            Taint::new("anything", "at-all", TaintEffect::NoSchedule),
            true,
        );
        check(
            Toleration::exists("", Some(TaintEffect::NoExecute)),
            Taint::new("anything", "", TaintEffect::NoSchedule),
            false,
        );
    }

    #[test]
    fn effect_must_match_unless_the_toleration_leaves_it_empty() {
        let taint = Taint::new("k", "v", TaintEffect::NoSchedule);
        check(
            Toleration::equal("k", "v", Some(TaintEffect::NoSchedule)),
            taint.clone(),
            true,
        );
        check(
            Toleration::equal("k", "v", Some(TaintEffect::NoExecute)),
            taint.clone(),
            false,
        );
        check(Toleration::equal("k", "v", None), taint, true);
    }

    #[test]
    fn equal_operator_with_empty_value_matches_a_taint_without_value() {
        check(
            Toleration::equal("k", "", None),
            Taint::new("k", "", TaintEffect::NoSchedule),
            true,
        );
    }

    #[test]
    fn first_untolerated_skips_soft_taints_when_asked_for_hard_ones() {
        let taints = [
            Taint::new("soft", "", TaintEffect::PreferNoSchedule),
            Taint::new("a", "1", TaintEffect::NoSchedule),
            Taint::new("b", "2", TaintEffect::NoExecute),
        ];
        let tolerations = [Toleration::exists("a", None)];
        let found = first_untolerated(&taints, &tolerations, TaintEffect::is_hard);
        assert_eq!(found.map(|t| t.key.as_str()), Some("b"));
    }
}
