//! Which pods leave a NotReady node, and when, sans-IO.
//!
//! Kubernetes' taint manager rule, with Flotilla's edge default: a pod that does not tolerate
//! the node's NoExecute taint (`node.kubernetes.io/unreachable` or `not-ready`) is evicted as
//! soon as the node is NotReady (Kubernetes adds a default 300 s toleration; Flotilla adds
//! none); `tolerationSeconds: N` evicts it N seconds later; a toleration without seconds keeps
//! it bound to its node for good (Nomad's `disconnect`). Only pods owned by a controller are
//! evicted: their controller replaces them elsewhere. A bare pod has nowhere else to come from,
//! so it stays bound and reappears when its node does.
use std::time::{Duration, Instant};

use crate::api::{Taint, TaintEffect, Toleration};
use crate::store::Object;

/// Whether `toleration` tolerates the valueless NoExecute taint `key` the lifecycle sets.
pub fn tolerates_no_execute(toleration: &Toleration, key: &str) -> bool {
    toleration.tolerates(&Taint {
        key: key.to_string(),
        value: None,
        effect: TaintEffect::NoExecute,
        time_added: None,
    })
}

/// What the eviction logic needs to know about a pod bound to a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundPod {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    /// Whether an ownerReference with `controller: true` exists.
    pub controlled: bool,
    pub tolerations: Vec<Toleration>,
}

impl BoundPod {
    /// Reads the fields it needs from a pod as stored. Unreadable tolerations count as none
    /// (the API validated them on the way in).
    pub fn from_object(pod: &Object) -> Option<BoundPod> {
        let meta = pod.get("metadata")?;
        let text =
            |v: &serde_json::Value, k: &str| v.get(k).and_then(|s| s.as_str()).map(String::from);
        let controlled = meta
            .get("ownerReferences")
            .and_then(|o| o.as_array())
            .is_some_and(|refs| {
                refs.iter()
                    .any(|r| r.get("controller").and_then(|c| c.as_bool()) == Some(true))
            });
        let tolerations = pod
            .pointer("/spec/tolerations")
            .cloned()
            .and_then(|t| serde_json::from_value(t).ok())
            .unwrap_or_default();
        Some(BoundPod {
            namespace: text(meta, "namespace").unwrap_or_else(|| "default".into()),
            name: text(meta, "name")?,
            uid: text(meta, "uid").unwrap_or_default(),
            controlled,
            tolerations,
        })
    }
}

/// What happens to one pod on a NotReady node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvictionDecision {
    /// Delete it now: its controller replaces it elsewhere.
    EvictNow,
    /// Delete it at this instant (its `tolerationSeconds` are running).
    EvictAt(Instant),
    /// Leave it bound: it tolerates the taint forever, or nobody would replace it.
    KeepBound,
}

/// Flotilla's toleration of NotReady for pods that declare none (Kubernetes: 300 s).
pub const DEFAULT_TOLERATION: Duration = Duration::ZERO;

/// Decides for one pod on a node NotReady since `since` with NoExecute taint `taint_key`.
pub fn decide(pod: &BoundPod, taint_key: &str, since: Instant, now: Instant) -> EvictionDecision {
    if !pod.controlled {
        return EvictionDecision::KeepBound;
    }
    let matching = pod
        .tolerations
        .iter()
        .filter(|t| tolerates_no_execute(t, taint_key));
    // Kubernetes: the shortest tolerationSeconds among matching tolerations wins, and any
    // matching toleration without seconds tolerates forever only if none has seconds.
    let mut any = false;
    let mut shortest: Option<i64> = None;
    for toleration in matching {
        any = true;
        if let Some(seconds) = toleration.toleration_seconds {
            shortest = Some(shortest.map_or(seconds, |s| s.min(seconds)));
        }
    }
    let grace = match (any, shortest) {
        (false, _) => DEFAULT_TOLERATION,
        (true, None) => return EvictionDecision::KeepBound,
        (true, Some(seconds)) => Duration::from_secs(seconds.max(0) as u64),
    };
    let at = since + grace;
    if at <= now {
        EvictionDecision::EvictNow
    } else {
        EvictionDecision::EvictAt(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const UNREACHABLE: &str = "node.kubernetes.io/unreachable";

    fn pod(tolerations: serde_json::Value, controlled: bool) -> BoundPod {
        BoundPod::from_object(&json!({
            "metadata": {
                "name": "web-1", "namespace": "default", "uid": "u1",
                "ownerReferences": [{"kind": "ReplicaSet", "name": "web", "controller": controlled}]
            },
            "spec": {"tolerations": tolerations}
        }))
        .unwrap()
    }

    fn check(pod: BoundPod, after_s: u64, expected: EvictionDecision, since: Instant) {
        assert_eq!(
            decide(
                &pod,
                UNREACHABLE,
                since,
                since + Duration::from_secs(after_s)
            ),
            expected
        );
    }

    #[test]
    fn a_controlled_pod_without_tolerations_is_evicted_as_soon_as_its_node_is_not_ready() {
        let since = Instant::now();
        check(pod(json!([]), true), 0, EvictionDecision::EvictNow, since);
    }

    #[test]
    fn toleration_seconds_delay_the_eviction() {
        let since = Instant::now();
        let p = pod(
            json!([{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30}]),
            true,
        );
        check(
            p.clone(),
            10,
            EvictionDecision::EvictAt(since + Duration::from_secs(30)),
            since,
        );
        check(p, 30, EvictionDecision::EvictNow, since);
    }

    #[test]
    fn an_explicit_toleration_without_seconds_keeps_the_pod_bound() {
        let since = Instant::now();
        check(
            pod(
                json!([{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute"}]),
                true,
            ),
            3_600,
            EvictionDecision::KeepBound,
            since,
        );
    }

    #[test]
    fn an_empty_key_with_exists_tolerates_every_taint() {
        let since = Instant::now();
        check(
            pod(json!([{"operator": "Exists"}]), true),
            3_600,
            EvictionDecision::KeepBound,
            since,
        );
    }

    #[test]
    fn a_toleration_of_another_taint_or_effect_does_not_help() {
        let since = Instant::now();
        check(
            pod(
                json!([
                    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
                    {"key": UNREACHABLE, "operator": "Exists", "effect": "NoSchedule"}
                ]),
                true,
            ),
            0,
            EvictionDecision::EvictNow,
            since,
        );
    }

    #[test]
    fn the_shortest_matching_toleration_seconds_win() {
        let since = Instant::now();
        check(
            pod(
                json!([
                    {"key": UNREACHABLE, "operator": "Exists", "tolerationSeconds": 60},
                    {"key": UNREACHABLE, "operator": "Exists", "tolerationSeconds": 5},
                    {"key": UNREACHABLE, "operator": "Exists"}
                ]),
                true,
            ),
            5,
            EvictionDecision::EvictNow,
            since,
        );
    }

    #[test]
    fn a_bare_pod_stays_bound_because_nothing_would_replace_it() {
        let since = Instant::now();
        check(
            pod(json!([]), false),
            600,
            EvictionDecision::KeepBound,
            since,
        );
    }

    #[test]
    fn an_equal_toleration_with_a_value_does_not_match_a_valueless_taint() {
        let p = pod(
            json!([{"key": UNREACHABLE, "operator": "Equal", "value": "x", "effect": "NoExecute"}]),
            true,
        );
        assert!(!tolerates_no_execute(&p.tolerations[0], UNREACHABLE));
    }

    #[test]
    fn an_equal_toleration_without_a_value_matches_the_taint() {
        let p = pod(json!([{"key": UNREACHABLE, "effect": "NoExecute"}]), true);
        assert!(tolerates_no_execute(&p.tolerations[0], UNREACHABLE));
    }
}
