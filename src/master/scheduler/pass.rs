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
    pod.spec.node_name.is_none() && !pod.is_terminal() && pod.metadata.deletion_timestamp.is_none()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Container, ContainerName, Quantity};
    use crate::master::controllers::fixtures::{node, pod};
    use crate::master::controllers::sim::Sim;

    fn hungry(name: &str, memory: &str) -> Pod {
        let mut p = pod(name, "big");
        let mut container = Container::new(ContainerName::new("main").unwrap(), "big:1");
        container
            .resources
            .requests
            .insert("memory".into(), Quantity::parse(memory).unwrap());
        p.spec.containers = vec![container];
        p
    }

    #[test]
    fn a_pending_pod_is_bound_with_a_condition_and_an_event() {
        let mut sim = Sim::new();
        sim.create(node("pi-1"));
        sim.create(pod("web", "web"));
        sim.settle();
        let bound: Pod = sim.get("web");
        assert_eq!(bound.spec.node_name.as_deref(), Some("pi-1"));
        let condition = bound.condition(pod_condition::POD_SCHEDULED).unwrap();
        assert_eq!(condition.status, ConditionStatus::True);
        assert_eq!(
            sim.event_messages("Scheduled"),
            ["Successfully assigned default/web to pi-1"]
        );
    }

    #[test]
    fn a_pod_that_fits_nowhere_says_why_once() {
        let mut sim = Sim::new();
        for name in ["pi-1", "pi-2", "pi-3"] {
            sim.create(node(name));
        }
        sim.create(hungry("big", "64Gi"));
        sim.settle();
        let pending: Pod = sim.get("big");
        assert!(pending.spec.node_name.is_none());
        let condition = pending.condition(pod_condition::POD_SCHEDULED).unwrap();
        assert_eq!(condition.status, ConditionStatus::False);
        assert_eq!(condition.reason.as_deref(), Some(REASON_UNSCHEDULABLE));
        let message = "0/3 nodes are available: 3 Insufficient memory.";
        assert_eq!(condition.message.as_deref(), Some(message));
        assert_eq!(sim.event_messages("FailedScheduling"), [message]);
        assert_eq!(sim.step(), 0, "the same outcome is not written again");
    }

    #[test]
    fn a_pending_pod_is_placed_once_capacity_appears() {
        let mut sim = Sim::new();
        sim.create(node("pi-1"));
        sim.create(hungry("big", "6Gi"));
        sim.settle();
        let mut bigger = node("pi-big");
        let status = bigger.status.as_mut().unwrap();
        status
            .allocatable
            .insert("memory".into(), Quantity::parse("8Gi").unwrap());
        sim.create(bigger);
        sim.settle();
        assert_eq!(
            sim.get::<Pod>("big").spec.node_name.as_deref(),
            Some("pi-big")
        );
    }

    #[test]
    fn bound_pods_use_up_their_node() {
        let mut sim = Sim::new();
        sim.create(node("pi-1"));
        sim.create(node("pi-2"));
        let mut resident = hungry("resident", "3Gi");
        resident.spec.node_name = Some(crate::api::NodeName::new("pi-1").unwrap());
        sim.create(resident);
        sim.create(hungry("newcomer", "3Gi"));
        sim.settle();
        assert_eq!(
            sim.get::<Pod>("newcomer").spec.node_name.as_deref(),
            Some("pi-2")
        );
    }
}
