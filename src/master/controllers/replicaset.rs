//! The ReplicaSet controller core (kube-controller-manager's `replicaset` controller): claims
//! the pods its selector matches, creates or deletes pods until `replicas` are active, and
//! reports what it sees in `status`. Level-triggered: it reads only the objects it is given.
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashSet};

use crate::api::selector::Selector;
use crate::api::{
    Kind, ObjectMeta, OwnerReference, Pod, PodTemplateSpec, ReplicaSet, ReplicaSetStatus, Time,
};

use super::action::{Action, EventRecord};
use super::claim::{adopted, claim, released, Claim};
use super::names::NameSource;
use super::pod_state::{is_active, is_available, max_container_restarts, phase_rank, ready_since};

/// The component named in this controller's events.
pub const COMPONENT: &str = "replicaset-controller";
/// Most pods created or deleted in one pass (Kubernetes' `burstReplicas`).
pub const BURST_REPLICAS: usize = 500;
/// Annotation ranking pods for deletion: lower cost goes first.
pub const POD_DELETION_COST_ANNOTATION: &str = "controller.kubernetes.io/pod-deletion-cost";
/// Attempts at a pod name that is not taken before giving up until the next pass.
const NAME_ATTEMPTS_MAX: usize = 16;

/// One pass over `rs` with the pods of its namespace (`pods`, all of them: the claim needs
/// the orphans and the released too).
pub fn reconcile(rs: &ReplicaSet, pods: &[&Pod], now: Time, names: &mut NameSource) -> Vec<Action> {
    let mut actions = Vec::new();
    let Ok(selector) = Selector::from_label_selector(rs.spec.selector.as_ref()) else {
        // Validation keeps invalid selectors out; one that slipped through selects nothing.
        return actions;
    };
    let mut owned: Vec<&Pod> = Vec::new();
    for &pod in pods.iter().filter(|p| is_active(p)) {
        match claim(rs, &selector, pod) {
            Claim::Owned => owned.push(pod),
            Claim::Adopt => {
                actions.push(Action::update(adopted(rs, pod)));
                owned.push(pod);
            }
            Claim::Release => actions.push(Action::update(released(rs, pod))),
            Claim::Ignore => {}
        }
    }

    let desired = rs.replicas().max(0) as usize;
    let mut deleted: HashSet<&str> = HashSet::new();
    let mut created = 0;
    if rs.metadata.deletion_timestamp.is_none() {
        if owned.len() < desired {
            let taken: HashSet<&str> = pods.iter().map(|p| p.metadata.name.as_str()).collect();
            let mut fresh: HashSet<String> = HashSet::new();
            for _ in 0..(desired - owned.len()).min(BURST_REPLICAS) {
                let Some(name) = free_name(&rs.metadata.name, &taken, &fresh, names) else {
                    break;
                };
                fresh.insert(name.clone());
                let pod = pod_from_template(
                    &rs.spec.template,
                    &rs.metadata,
                    name.clone(),
                    OwnerReference::controller_of(Kind::ReplicaSet, &rs.metadata),
                );
                actions.push(Action::create(pod));
                actions.push(Action::Event(EventRecord::normal(
                    rs,
                    COMPONENT,
                    "SuccessfulCreate",
                    format!("Created pod: {name}"),
                )));
                created += 1;
            }
        } else if owned.len() > desired {
            let surplus = (owned.len() - desired).min(BURST_REPLICAS);
            for pod in pods_to_delete(&owned, surplus) {
                deleted.insert(pod.metadata.name.as_str());
                actions.push(Action::delete(pod));
                actions.push(Action::Event(EventRecord::normal(
                    rs,
                    COMPONENT,
                    "SuccessfulDelete",
                    format!("Deleted pod: {}", pod.metadata.name),
                )));
            }
        }
    }

    // The status describes the pods as they will be once these actions are done, so a
    // Deployment reading it never counts a pod that is being deleted.
    let remaining: Vec<&Pod> = owned
        .into_iter()
        .filter(|p| !deleted.contains(p.metadata.name.as_str()))
        .collect();
    let status = status(rs, &remaining, created, now);
    if rs.status.as_ref() != Some(&status) {
        let mut updated = rs.clone();
        updated.status = Some(status);
        actions.push(Action::update(updated));
    }
    actions
}

/// The status for `pods` (owned, active, staying) plus `created` new pods.
pub fn status(rs: &ReplicaSet, pods: &[&Pod], created: usize, now: Time) -> ReplicaSetStatus {
    let template_labels = Selector::from_labels(&rs.spec.template.metadata.labels);
    let min_ready_seconds = rs.spec.min_ready_seconds.unwrap_or(0);
    let count = |f: &dyn Fn(&Pod) -> bool| pods.iter().filter(|p| f(p)).count() as i32;
    let previous = rs.status.clone().unwrap_or_default();
    ReplicaSetStatus {
        replicas: pods.len() as i32 + created as i32,
        fully_labeled_replicas: count(&|p| template_labels.matches(&p.metadata.labels))
            + created as i32,
        ready_replicas: count(&|p| p.is_ready()),
        available_replicas: count(&|p| is_available(p, min_ready_seconds, now)),
        observed_generation: Some(rs.metadata.generation),
        conditions: previous.conditions,
    }
}

/// A pod named `<owner>-<5 random characters>` from `template`, controlled by `owner_ref`
/// (Kubernetes' `GetPodFromTemplate`).
pub fn pod_from_template(
    template: &PodTemplateSpec,
    owner: &ObjectMeta,
    name: String,
    owner_ref: OwnerReference,
) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name,
            generate_name: format!("{}-", owner.name),
            namespace: owner.namespace.clone(),
            labels: template.metadata.labels.clone(),
            annotations: template.metadata.annotations.clone(),
            finalizers: template.metadata.finalizers.clone(),
            owner_references: vec![owner_ref],
            ..ObjectMeta::default()
        },
        spec: template.spec.clone(),
        status: None,
    }
}

/// A generated name for a pod of `owner` that no pod has and this pass has not handed out.
pub fn free_name(
    owner: &str,
    taken: &HashSet<&str>,
    fresh: &HashSet<String>,
    names: &mut NameSource,
) -> Option<String> {
    let prefix = format!("{owner}-");
    (0..NAME_ATTEMPTS_MAX)
        .map(|_| names.generate(&prefix))
        .find(|name| !taken.contains(name.as_str()) && !fresh.contains(name))
}

/// The `count` pods to delete first, in Kubernetes' order (`ActivePodsWithRanks`): unbound
/// before bound, Pending before Unknown before Running, not ready before ready, lower deletion
/// cost first, pods doubled up on a node before lone ones, ready for less time first, more
/// restarts first, younger first.
pub fn pods_to_delete<'a>(pods: &[&'a Pod], count: usize) -> Vec<&'a Pod> {
    let mut on_node: BTreeMap<&str, usize> = BTreeMap::new();
    for pod in pods {
        *on_node.entry(node_of(pod)).or_default() += 1;
    }
    let mut ranked: Vec<(&Pod, usize)> = pods
        .iter()
        .map(|&pod| (pod, on_node[node_of(pod)]))
        .collect();
    ranked.sort_by(|(a, rank_a), (b, rank_b)| deletion_order(a, *rank_a, b, *rank_b));
    ranked.into_iter().take(count).map(|(pod, _)| pod).collect()
}

fn node_of(pod: &Pod) -> &str {
    pod.spec.node_name.as_deref().unwrap_or("")
}

fn deletion_order(a: &Pod, rank_a: usize, b: &Pod, rank_b: usize) -> Ordering {
    let (node_a, node_b) = (node_of(a), node_of(b));
    if node_a != node_b && (node_a.is_empty() || node_b.is_empty()) {
        return if node_a.is_empty() {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    }
    phase_rank(a)
        .cmp(&phase_rank(b))
        .then_with(|| a.is_ready().cmp(&b.is_ready()))
        .then_with(|| deletion_cost(a).cmp(&deletion_cost(b)))
        .then_with(|| rank_b.cmp(&rank_a))
        .then_with(
            || match (a.is_ready() && b.is_ready(), ready_since(a), ready_since(b)) {
                (true, Some(x), Some(y)) => y.cmp(&x),
                _ => Ordering::Equal,
            },
        )
        .then_with(|| max_container_restarts(b).cmp(&max_container_restarts(a)))
        .then_with(|| {
            // Younger first; a pod without a creation time counts as the youngest.
            let created = |p: &Pod| p.metadata.creation_timestamp.map(Time::unix_seconds);
            match (created(a), created(b)) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
                (Some(x), Some(y)) => y.cmp(&x),
            }
        })
        .then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

fn deletion_cost(pod: &Pod) -> i32 {
    pod.metadata
        .annotations
        .get(POD_DELETION_COST_ANNOTATION)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{PodPhase, PodStatus};
    use crate::master::controllers::fixtures::{pod, replica_set};
    use crate::master::controllers::sim::{at, Sim};

    fn owned_by(rs: &ReplicaSet, mut pod: Pod) -> Pod {
        pod.metadata
            .owner_references
            .push(OwnerReference::controller_of(
                Kind::ReplicaSet,
                &rs.metadata,
            ));
        pod
    }

    /// Runs one pass and describes its writes (`create Pod default/web-…` etc.).
    fn check(rs: &ReplicaSet, pods: &[Pod], now: Time, expected: &[&str]) -> Vec<Action> {
        let refs: Vec<&Pod> = pods.iter().collect();
        let actions = reconcile(rs, &refs, now, &mut NameSource::new(1));
        let described: Vec<String> = actions
            .iter()
            .map(|a| match a {
                Action::Create(r) => format!("create {}", r.meta().generate_name),
                other => other.to_string(),
            })
            .collect();
        assert_eq!(described, expected);
        actions
    }

    #[test]
    fn missing_pods_are_created_from_the_template_and_named_after_the_replica_set() {
        let mut sim = Sim::new();
        let rs = sim.create(replica_set("web-5d8f", "web", 3));
        let actions = check(
            &rs,
            &[],
            sim.now,
            &[
                "create web-5d8f-",
                "event SuccessfulCreate Created pod: web-5d8f-hvls4",
                "create web-5d8f-",
                "event SuccessfulCreate Created pod: web-5d8f-8vcx9",
                "create web-5d8f-",
                "event SuccessfulCreate Created pod: web-5d8f-q2f89",
                "update ReplicaSet default/web-5d8f",
            ],
        );
        let Action::Create(created) = &actions[0] else {
            panic!("not a create");
        };
        let created: Pod = created.clone().downcast().unwrap();
        assert_eq!(created.metadata.labels["app"], "web");
        assert_eq!(
            created.metadata.controller_ref().unwrap().uid,
            rs.metadata.uid
        );
        assert_eq!(created.spec, rs.spec.template.spec);
        let Action::Update(updated) = actions.last().unwrap() else {
            panic!("not an update");
        };
        let updated: ReplicaSet = updated.clone().downcast().unwrap();
        assert_eq!(updated.status.unwrap().replicas, 3);
    }

    #[test]
    fn a_settled_replica_set_writes_nothing() {
        let mut sim = Sim::new();
        sim.create(replica_set("web-5d8f", "web", 2));
        sim.settle();
        sim.make_all_ready();
        sim.settle();
        assert_eq!(sim.step(), 0);
        let status = sim.get::<ReplicaSet>("web-5d8f").status.unwrap();
        assert_eq!(
            (
                status.replicas,
                status.ready_replicas,
                status.available_replicas
            ),
            (2, 2, 2)
        );
    }

    #[test]
    fn surplus_pods_go_unscheduled_first_then_not_ready_then_youngest() {
        let mut sim = Sim::new();
        let rs = sim.create(replica_set("web-5d8f", "web", 1));
        let bound = |name: &str, created: i64, ready: bool| {
            let mut p = owned_by(&rs, pod(name, "web"));
            p.metadata.creation_timestamp = Some(at(created));
            p.spec.node_name = Some(crate::api::NodeName::new(format!("node-{name}")).unwrap());
            p.status = Some(PodStatus {
                phase: Some(PodPhase::Running),
                ..PodStatus::default()
            });
            if ready {
                p.status
                    .as_mut()
                    .unwrap()
                    .conditions
                    .push(crate::api::PodCondition {
                        type_: "Ready".into(),
                        status: crate::api::ConditionStatus::True,
                        last_transition_time: Some(at(created)),
                        ..Default::default()
                    });
            }
            p
        };
        let unscheduled = owned_by(&rs, pod("unscheduled", "web"));
        let pods = [
            bound("old-ready", 100, true),
            bound("young-ready", 300, true),
            bound("not-ready", 50, false),
            unscheduled,
        ];
        let refs: Vec<&Pod> = pods.iter().collect();
        let order: Vec<&str> = pods_to_delete(&refs, 3)
            .into_iter()
            .map(|p| p.metadata.name.as_str())
            .collect();
        assert_eq!(order, ["unscheduled", "not-ready", "young-ready"]);
    }

    #[test]
    fn matching_orphans_are_adopted_and_pods_that_stop_matching_are_released() {
        let mut sim = Sim::new();
        let rs = sim.create(replica_set("web-5d8f", "web", 2));
        let orphan = pod("orphan", "web");
        let strayed = owned_by(&rs, pod("strayed", "db"));
        let actions = check(
            &rs,
            &[orphan, strayed],
            sim.now,
            &[
                "update Pod default/orphan",
                "update Pod default/strayed",
                "create web-5d8f-",
                "event SuccessfulCreate Created pod: web-5d8f-hvls4",
                "update ReplicaSet default/web-5d8f",
            ],
        );
        let Action::Update(adopted) = &actions[0] else {
            panic!("not an update")
        };
        assert_eq!(
            adopted.meta().controller_ref().unwrap().uid,
            rs.metadata.uid
        );
        let Action::Update(released) = &actions[1] else {
            panic!("not an update")
        };
        assert!(released.meta().owner_references.is_empty());
    }

    #[test]
    fn pods_of_another_controller_are_left_alone() {
        let mut sim = Sim::new();
        let rs = sim.create(replica_set("web-5d8f", "web", 0));
        let other = replica_set("other", "web", 1);
        let mut theirs = pod("theirs", "web");
        theirs
            .metadata
            .owner_references
            .push(OwnerReference::controller_of(
                Kind::ReplicaSet,
                &ObjectMeta {
                    uid: "someone-else".into(),
                    ..other.metadata
                },
            ));
        check(
            &rs,
            &[theirs],
            sim.now,
            &["update ReplicaSet default/web-5d8f"],
        );
    }

    #[test]
    fn finished_and_deleting_pods_do_not_count_and_are_replaced() {
        let mut sim = Sim::new();
        let rs = sim.create(replica_set("web-5d8f", "web", 2));
        let mut failed = owned_by(&rs, pod("failed", "web"));
        failed.status = Some(PodStatus {
            phase: Some(PodPhase::Failed),
            ..PodStatus::default()
        });
        let mut leaving = owned_by(&rs, pod("leaving", "web"));
        leaving.metadata.deletion_timestamp = Some(sim.now);
        check(
            &rs,
            &[failed, leaving],
            sim.now,
            &[
                "create web-5d8f-",
                "event SuccessfulCreate Created pod: web-5d8f-hvls4",
                "create web-5d8f-",
                "event SuccessfulCreate Created pod: web-5d8f-8vcx9",
                "update ReplicaSet default/web-5d8f",
            ],
        );
    }

    #[test]
    fn pods_become_available_only_after_min_ready_seconds() {
        let mut sim = Sim::new();
        let mut rs = replica_set("web-5d8f", "web", 1);
        rs.spec.min_ready_seconds = Some(10);
        sim.create(rs);
        sim.settle();
        let name = sim.all::<Pod>()[0].metadata.name.clone();
        sim.set_ready(&name, true);
        sim.settle();
        let status = || sim.get::<ReplicaSet>("web-5d8f").status.unwrap();
        assert_eq!(
            (status().ready_replicas, status().available_replicas),
            (1, 0)
        );
        sim.now = at(sim.now.unix_seconds() + 11);
        sim.settle();
        assert_eq!(
            sim.get::<ReplicaSet>("web-5d8f")
                .status
                .unwrap()
                .available_replicas,
            1
        );
    }

    #[test]
    fn scaling_down_deletes_the_surplus_with_events() {
        let mut sim = Sim::new();
        sim.create(replica_set("web-5d8f", "web", 3));
        sim.settle();
        let mut rs: ReplicaSet = sim.get("web-5d8f");
        rs.spec.replicas = Some(1);
        sim.update(rs.into()).unwrap();
        sim.settle();
        assert_eq!(sim.all::<Pod>().len(), 1);
        assert_eq!(sim.event_messages("SuccessfulDelete").len(), 2);
    }
}
