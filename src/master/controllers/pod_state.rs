//! What controllers ask of a pod: is it active, ready, available (ready for `minReadySeconds`),
//! and which controller owns it. Kubernetes' `podutil` predicates.
use crate::api::pod::pod_condition;
use crate::api::{Pod, PodPhase, Time};

/// Not finished and not being deleted (Kubernetes' `IsPodActive`): counts towards replicas.
pub fn is_active(pod: &Pod) -> bool {
    !pod.is_terminal() && !pod.is_terminating()
}

/// When the pod's `Ready` condition last became `True`, if it is `True`.
pub fn ready_since(pod: &Pod) -> Option<Time> {
    pod.condition(pod_condition::READY)
        .filter(|c| c.status.is_true())
        .and_then(|c| c.last_transition_time)
}

/// Ready for at least `min_ready_seconds` at `now` (Kubernetes' `IsPodAvailable`).
pub fn is_available(pod: &Pod, min_ready_seconds: i32, now: Time) -> bool {
    pod.is_available(min_ready_seconds, now)
}

/// Kubernetes' ordering of phases for surplus deletion: Pending < Unknown < Running.
pub fn phase_rank(pod: &Pod) -> u8 {
    match pod.phase() {
        PodPhase::Pending => 0,
        PodPhase::Unknown => 1,
        PodPhase::Running => 2,
        PodPhase::Succeeded | PodPhase::Failed => 3,
    }
}

/// The most restarts of any one container.
pub fn max_container_restarts(pod: &Pod) -> i32 {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.iter().map(|c| c.restart_count).max())
        .unwrap_or(0)
}

/// The uid of the pod's controller (its owner reference with `controller: true`).
pub fn controller_uid(pod: &Pod) -> Option<&str> {
    pod.metadata.controller_ref().map(|r| r.uid.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ConditionStatus, PodCondition, PodStatus};

    fn at(secs: i64) -> Time {
        Time::from_unix_seconds(secs).unwrap()
    }

    fn ready_pod(since: i64) -> Pod {
        Pod {
            status: Some(PodStatus {
                phase: Some(PodPhase::Running),
                conditions: vec![PodCondition {
                    type_: pod_condition::READY.into(),
                    status: ConditionStatus::True,
                    last_transition_time: Some(at(since)),
                    ..PodCondition::default()
                }],
                ..PodStatus::default()
            }),
            ..Pod::default()
        }
    }

    #[test]
    fn a_ready_pod_is_available_at_once_without_min_ready_seconds() {
        assert!(is_available(&ready_pod(1000), 0, at(1000)));
    }

    #[test]
    fn a_ready_pod_becomes_available_strictly_after_min_ready_seconds() {
        let pod = ready_pod(1000);
        assert!(!is_available(&pod, 10, at(1010)));
        assert!(is_available(&pod, 10, at(1011)));
    }

    #[test]
    fn a_pod_without_status_is_pending_and_not_available() {
        let pod = Pod::default();
        assert!(is_active(&pod));
        assert!(!is_available(&pod, 0, at(0)));
        assert_eq!(phase_rank(&pod), 0);
    }
}
