//! One scheduling pass over the API objects: every pending pod (no `nodeName`) is placed by
//! the batch scheduler and bound, or marked `PodScheduled=False` with reason `Unschedulable`
//! and a `FailedScheduling` event that says why. Pure: objects and `now` in, actions out.
//!
//! A pod that still fits nowhere for the same reasons is left alone, so retrying on every
//! cluster change writes nothing until the outcome changes (the SD-card rule).
use crate::api::pod::pod_condition;
use crate::api::{ConditionStatus, Node, Pod, PodCondition, Time};
use crate::master::controllers::action::{Action, EventRecord};

use super::placement::{Placement, Scheduler};
use super::view::{node_info, pod_request};

/// The component named in the scheduler's events.
pub const COMPONENT: &str = "default-scheduler";
/// The `PodScheduled` reason of a pod that fits nowhere.
pub const REASON_UNSCHEDULABLE: &str = "Unschedulable";

/// Whether `pod` waits for the scheduler: not bound, not finished, not being deleted.
pub fn is_pending(pod: &Pod) -> bool {
    pod.spec.node_name.is_none()
        && !pod.is_terminal()
        && pod.metadata.deletion_timestamp.is_none()
}

/// Places every pending pod among `pods` on `nodes`, oldest first.
pub fn schedule(nodes: &[&Node], pods: &[&Pod], now: Time) -> Vec<Action> {
    let mut pending: Vec<&Pod> = pods.iter().copied().filter(|p| is_pending(p)).collect();
    if pending.is_empty() {
        return Vec::new();
    }
    pending.sort_by(|a, b| {
        let created = |p: &Pod| p.metadata.creation_timestamp.map(Time::unix_seconds);
        created(a)
            .cmp(&created(b))
            .then_with(|| a.metadata.namespace.cmp(&b.metadata.namespace))
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });

    let mut scheduler = Scheduler::new(nodes.iter().filter_map(|n| node_info(n)));
    for pod in pods {
        if let Some(node) = &pod.spec.node_name {
            if !pod.is_terminal() {
                scheduler.account(node, &pod_request(pod));
            }
        }
    }

    let mut actions = Vec::new();
    for pod in pending {
        match scheduler.place(&pod_request(pod)) {
            Placement::Node(node) => {
                let mut bound = pod.clone();
                set_scheduled(&mut bound, ConditionStatus::True, None, now);
                let namespace = pod.metadata.namespace_or_default();
                let message = format!(
                    "Successfully assigned {namespace}/{} to {node}",
                    pod.metadata.name
                );
                bound.spec.node_name = Some(node);
                actions.push(Action::update(bound));
                actions.push(Action::Event(EventRecord::normal(
                    pod,
                    COMPONENT,
                    "Scheduled",
                    message,
                )));
            }
            Placement::Unschedulable(error) => {
                let message = error.to_string();
                let current = pod.condition(pod_condition::POD_SCHEDULED);
                let already_reported = current.is_some_and(|c| {
                    c.status == ConditionStatus::False
                        && c.reason.as_deref() == Some(REASON_UNSCHEDULABLE)
                        && c.message.as_deref() == Some(message.as_str())
                });
                if already_reported {
                    continue;
                }
                let mut marked = pod.clone();
                set_scheduled(&mut marked, ConditionStatus::False, Some(&message), now);
                actions.push(Action::update(marked));
                actions.push(Action::Event(EventRecord::warning(
                    pod,
                    COMPONENT,
                    "FailedScheduling",
                    message,
                )));
            }
        }
    }
    actions
}

/// Sets the `PodScheduled` condition (and the phase `Pending` when none is reported yet).
fn set_scheduled(pod: &mut Pod, status: ConditionStatus, message: Option<&str>, now: Time) {
    let pod_status = pod.status.get_or_insert_with(Default::default);
    if pod_status.phase.is_none() {
        pod_status.phase = Some(crate::api::PodPhase::Pending);
    }
    let previous = pod_status
        .conditions
        .iter()
        .find(|c| c.type_ == pod_condition::POD_SCHEDULED)
        .cloned();
    let condition = PodCondition {
        type_: pod_condition::POD_SCHEDULED.to_string(),
        status,
        last_probe_time: None,
        last_transition_time: match &previous {
            Some(p) if p.status == status => p.last_transition_time,
            _ => Some(now),
        },
        reason: message.map(|_| REASON_UNSCHEDULABLE.to_string()),
        message: message.map(str::to_string),
    };
    match pod_status
        .conditions
        .iter_mut()
        .find(|c| c.type_ == pod_condition::POD_SCHEDULED)
    {
        Some(existing) => *existing = condition,
        None => pod_status.conditions.push(condition),
    }
}
