//! `maxSurge` and `maxUnavailable` resolved against the desired replicas with Kubernetes'
//! rounding: surge rounds up, unavailable rounds down, and when both come to zero
//! unavailable becomes one so that the rollout can move at all (`ResolveFenceposts`).
use crate::api::{Deployment, DeploymentStrategyType, IntOrString};

/// Kubernetes' default for both `maxSurge` and `maxUnavailable`.
pub const DEFAULT_FENCEPOST_PERCENT: i32 = 25;

/// The strategy, `RollingUpdate` when unset.
pub fn strategy(d: &Deployment) -> DeploymentStrategyType {
    d.spec
        .strategy
        .as_ref()
        .and_then(|s| s.type_)
        .unwrap_or_default()
}

pub fn is_rolling_update(d: &Deployment) -> bool {
    strategy(d) == DeploymentStrategyType::RollingUpdate
}

/// `(max_surge, max_unavailable)` for `desired` replicas.
pub fn resolve(
    max_surge: Option<&IntOrString>,
    max_unavailable: Option<&IntOrString>,
    desired: i32,
) -> (i32, i32) {
    let default = IntOrString::percent(DEFAULT_FENCEPOST_PERCENT);
    let surge = max_surge
        .unwrap_or(&default)
        .scaled_value(desired, true)
        .unwrap_or(0)
        .max(0);
    let mut unavailable = max_unavailable
        .unwrap_or(&default)
        .scaled_value(desired, false)
        .unwrap_or(0)
        .max(0);
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    (surge, unavailable)
}

fn resolve_deployment(d: &Deployment) -> (i32, i32) {
    let rolling = d
        .spec
        .strategy
        .as_ref()
        .and_then(|s| s.rolling_update.as_ref());
    resolve(
        rolling.and_then(|r| r.max_surge.as_ref()),
        rolling.and_then(|r| r.max_unavailable.as_ref()),
        d.replicas(),
    )
}

/// Pods allowed above the desired count (0 for `Recreate`).
pub fn max_surge(d: &Deployment) -> i32 {
    if !is_rolling_update(d) {
        return 0;
    }
    resolve_deployment(d).0
}

/// Pods allowed to be unavailable (0 for `Recreate` or no replicas; at most the replicas).
pub fn max_unavailable(d: &Deployment) -> i32 {
    if !is_rolling_update(d) || d.replicas() == 0 {
        return 0;
    }
    resolve_deployment(d).1.min(d.replicas())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(surge: &str, unavailable: &str, desired: i32, expected: (i32, i32)) {
        let parse = |v: &str| match v.parse::<i32>() {
            Ok(n) => IntOrString::Int(n),
            Err(_) => IntOrString::from(v),
        };
        assert_eq!(
            resolve(Some(&parse(surge)), Some(&parse(unavailable)), desired),
            expected,
            "maxSurge {surge}, maxUnavailable {unavailable}, {desired} replicas"
        );
    }

    #[test]
    fn percentages_round_surge_up_and_unavailable_down() {
        check("25%", "25%", 10, (3, 2));
        check("25%", "25%", 3, (1, 0));
        check("50%", "50%", 3, (2, 1));
    }

    #[test]
    fn numbers_are_taken_as_they_are() {
        check("1", "0", 3, (1, 0));
        check("2", "1", 10, (2, 1));
    }

    #[test]
    fn when_both_resolve_to_zero_one_pod_may_be_unavailable() {
        check("0", "0", 5, (0, 1));
        check("0%", "10%", 5, (0, 1));
    }

    #[test]
    fn unset_fenceposts_default_to_a_quarter() {
        assert_eq!(resolve(None, None, 4), (1, 1));
    }
}
