//! When time next matters to a controller, so that the driver sleeps until then instead of
//! polling: a ready pod becoming available after `minReadySeconds`, a rollout reaching its
//! progress deadline, a failed daemon pod's retry, an event's time to live. With none of those
//! pending the driver has no timer at all, and an idle master does nothing.
use crate::api::{DaemonSet, Deployment, Event, Pod, PodPhase, ReplicaSet, Time};

use super::daemonset::FAILED_POD_RETRY_SECONDS;
use super::deployment::{has_progress_deadline, reason, DEFAULT_PROGRESS_DEADLINE_SECONDS};
use super::pod_state::{is_available, ready_since};

/// The objects whose conditions depend on time.
pub struct Timed<'a> {
    pub deployments: Vec<&'a Deployment>,
    pub replica_sets: Vec<&'a ReplicaSet>,
    pub daemon_sets: Vec<&'a DaemonSet>,
    pub pods: Vec<&'a Pod>,
    pub events: Vec<&'a Event>,
}

/// The earliest moment after `now` at which a pass could decide differently than at `now`,
/// if any.
pub fn next_wake(objects: &Timed<'_>, now: Time, event_ttl_seconds: i64) -> Option<Time> {
    let mut due: Vec<i64> = Vec::new();
    let becoming_available = |uid: &str, min_ready_seconds: i32, due: &mut Vec<i64>| {
        if min_ready_seconds <= 0 {
            return;
        }
        for pod in controlled_by(&objects.pods, uid) {
            if pod.is_ready() && !is_available(pod, min_ready_seconds, now) {
                if let Some(since) = ready_since(pod) {
                    due.push(since.unix_seconds() + i64::from(min_ready_seconds) + 1);
                }
            }
        }
    };
    for rs in &objects.replica_sets {
        let min_ready = rs.spec.min_ready_seconds.unwrap_or(0);
        becoming_available(&rs.metadata.uid, min_ready, &mut due);
    }
    for ds in &objects.daemon_sets {
        let min_ready = ds.spec.min_ready_seconds.unwrap_or(0);
        becoming_available(&ds.metadata.uid, min_ready, &mut due);
        for pod in controlled_by(&objects.pods, &ds.metadata.uid) {
            if pod.phase() == PodPhase::Failed {
                if let Some(created) = pod.metadata.creation_timestamp {
                    due.push(created.unix_seconds() + FAILED_POD_RETRY_SECONDS);
                }
            }
        }
    }
    for d in &objects.deployments {
        if d.spec.paused || !has_progress_deadline(d) || d.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let Some(progressing) =
            d.condition(crate::api::deployment::deployment_condition::PROGRESSING)
        else {
            continue;
        };
        let settled = matches!(
            progressing.reason.as_deref(),
            Some(reason::NEW_REPLICA_SET_AVAILABLE)
                | Some(reason::PROGRESS_DEADLINE_EXCEEDED)
                | Some(reason::DEPLOYMENT_PAUSED)
        );
        if let (false, Some(updated)) = (settled, progressing.last_update_time) {
            let deadline = d
                .spec
                .progress_deadline_seconds
                .unwrap_or(DEFAULT_PROGRESS_DEADLINE_SECONDS);
            due.push(updated.unix_seconds() + i64::from(deadline) + 1);
        }
    }
    for event in &objects.events {
        let last = event
            .last_timestamp
            .or(event.first_timestamp)
            .or(event.metadata.creation_timestamp);
        if let Some(last) = last {
            due.push(last.unix_seconds() + event_ttl_seconds + 1);
        }
    }
    // Anything already due was handled by the pass just run; look again a second later at
    // the earliest, never in a tight loop.
    let earliest = due.into_iter().min()?;
    Time::from_unix_seconds(earliest.max(now.unix_seconds() + 1))
}

fn controlled_by<'a>(pods: &'a [&'a Pod], uid: &'a str) -> impl Iterator<Item = &'a Pod> + 'a {
    pods.iter()
        .copied()
        .filter(move |p| p.metadata.controller_ref().is_some_and(|r| r.uid == uid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::pod::pod_condition;
    use crate::api::{
        ConditionStatus, DeploymentCondition, DeploymentStatus, Kind, OwnerReference, PodCondition,
        PodStatus,
    };
    use crate::master::controllers::fixtures::{deployment, pod, replica_set};
    use crate::master::controllers::sim::at;

    fn empty<'a>() -> Timed<'a> {
        Timed {
            deployments: Vec::new(),
            replica_sets: Vec::new(),
            daemon_sets: Vec::new(),
            pods: Vec::new(),
            events: Vec::new(),
        }
    }

    #[test]
    fn nothing_time_dependent_means_no_wake_at_all() {
        let d = deployment("web", 1, "nginx", "1", "0");
        let objects = Timed {
            deployments: vec![&d],
            ..empty()
        };
        assert_eq!(next_wake(&objects, at(1000), 3600), None);
    }

    #[test]
    fn a_ready_pod_wakes_the_driver_when_min_ready_seconds_have_passed() {
        let mut rs = replica_set("web-1", "web", 1);
        rs.metadata.uid = "rs-uid".into();
        rs.spec.min_ready_seconds = Some(30);
        let mut p = pod("web-1-abcde", "web");
        p.metadata
            .owner_references
            .push(OwnerReference::controller_of(
                Kind::ReplicaSet,
                &rs.metadata,
            ));
        p.status = Some(PodStatus {
            conditions: vec![PodCondition {
                type_: pod_condition::READY.into(),
                status: ConditionStatus::True,
                last_transition_time: Some(at(1000)),
                ..PodCondition::default()
            }],
            ..PodStatus::default()
        });
        let objects = Timed {
            replica_sets: vec![&rs],
            pods: vec![&p],
            ..empty()
        };
        assert_eq!(next_wake(&objects, at(1010), 3600), Some(at(1031)));
        assert_eq!(next_wake(&objects, at(1031), 3600), None);
    }

    #[test]
    fn a_rollout_in_progress_wakes_the_driver_at_its_deadline() {
        let mut d = deployment("web", 1, "nginx", "1", "0");
        d.spec.progress_deadline_seconds = Some(60);
        d.status = Some(DeploymentStatus {
            conditions: vec![DeploymentCondition {
                type_: "Progressing".into(),
                status: ConditionStatus::True,
                reason: Some(reason::REPLICA_SET_UPDATED.into()),
                last_update_time: Some(at(1000)),
                ..DeploymentCondition::default()
            }],
            ..DeploymentStatus::default()
        });
        let objects = Timed {
            deployments: vec![&d],
            ..empty()
        };
        assert_eq!(next_wake(&objects, at(1020), 3600), Some(at(1061)));
        d.spec.paused = true;
        let objects = Timed {
            deployments: vec![&d],
            ..empty()
        };
        assert_eq!(next_wake(&objects, at(1020), 3600), None);
    }
}
