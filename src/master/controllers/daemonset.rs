//! The DaemonSet controller core (kube-controller-manager's `daemon` controller): one pod on
//! every node whose labels match the template's `nodeSelector` and whose taints the pods
//! tolerate, bound directly to the node (`nodeName`); pods leave nodes that stop matching or
//! disappear; a template change rolls out node by node within `maxUnavailable`.
use std::collections::{BTreeMap, HashSet};

use crate::api::node::taint_key::{NOT_READY, UNREACHABLE, UNSCHEDULABLE};
use crate::api::selector::Selector;
use crate::api::template_hash::CONTROLLER_REVISION_HASH_LABEL;
use crate::api::{
    DaemonSet, DaemonSetStatus, DaemonSetUpdateStrategyType, IntOrString, Kind, Node, NodeName,
    OwnerReference, Pod, PodPhase, TaintEffect, Time, Toleration,
};
use crate::master::scheduler::{
    first_untolerated, node_info, toleration_exists, NodeInfo, TAINT_DISK_PRESSURE,
    TAINT_MEMORY_PRESSURE, TAINT_NETWORK_UNAVAILABLE, TAINT_PID_PRESSURE,
};

use super::action::{Action, EventRecord};
use super::claim::{adopted, claim, released, Claim};
use super::names::NameSource;
use super::pod_state::is_available;
use super::replicaset::{free_name, pod_from_template};

/// The component named in this controller's events.
pub const COMPONENT: &str = "daemonset-controller";
/// A failed daemon pod is replaced only once it has existed this long, so a node that keeps
/// rejecting the pod is not hammered (Kubernetes backs off the same way).
pub const FAILED_POD_RETRY_SECONDS: i64 = 10;

/// One pass over `ds` with every node and the pods of its namespace.
pub fn reconcile(
    ds: &DaemonSet,
    nodes: &[&Node],
    pods: &[&Pod],
    now: Time,
    names: &mut NameSource,
) -> Vec<Action> {
    let mut actions = Vec::new();
    let Ok(selector) = Selector::from_label_selector(ds.spec.selector.as_ref()) else {
        return actions;
    };
    let hash = template_hash(ds);
    let mut owned: Vec<&Pod> = Vec::new();
    for &pod in pods {
        match claim(ds, &selector, pod) {
            Claim::Owned => owned.push(pod),
            Claim::Adopt => {
                actions.push(Action::update(adopted(ds, pod)));
                owned.push(pod);
            }
            Claim::Release => actions.push(Action::update(released(ds, pod))),
            Claim::Ignore => {}
        }
    }

    let mut infos: Vec<NodeInfo> = nodes.iter().filter_map(|n| node_info(n)).collect();
    infos.sort_by(|a, b| a.name.cmp(&b.name));
    let mut on_node: BTreeMap<&str, Vec<&Pod>> = BTreeMap::new();
    for &pod in &owned {
        if pod.metadata.deletion_timestamp.is_none() {
            on_node
                .entry(pod.spec.node_name.as_deref().unwrap_or(""))
                .or_default()
                .push(pod);
        }
    }
    for list in on_node.values_mut() {
        list.sort_by(|a, b| by_age_and_phase(a, b));
    }
    let fits: BTreeMap<&str, Fit> = infos
        .iter()
        .map(|info| (info.name.as_str(), fit(ds, info)))
        .collect();
    let status = status(ds, &fits, &on_node, &hash, now);

    let mut to_create: Vec<&NodeName> = Vec::new();
    let mut to_delete: Vec<&Pod> = Vec::new();
    if ds.metadata.deletion_timestamp.is_none() {
        for info in &infos {
            let fit = fits[info.name.as_str()];
            let pods_here = on_node
                .get(info.name.as_str())
                .map_or(&[][..], Vec::as_slice);
            plan_node(
                fit,
                pods_here,
                now,
                &mut to_create,
                &mut to_delete,
                &info.name,
            );
        }
        // Pods on nodes that are gone, or never bound: nothing will run them.
        for (node, list) in &on_node {
            if !fits.contains_key(node) {
                to_delete.extend(list.iter().copied());
            }
        }
        if to_create.is_empty() && to_delete.is_empty() && is_rolling_update(ds) {
            to_delete = rolling_update(
                ds,
                &fits,
                &on_node,
                &hash,
                status.desired_number_scheduled,
                now,
            );
        }
    }

    let taken: HashSet<&str> = pods.iter().map(|p| p.metadata.name.as_str()).collect();
    let mut fresh: HashSet<String> = HashSet::new();
    for node in to_create {
        let Some(name) = free_name(&ds.metadata.name, &taken, &fresh, names) else {
            break;
        };
        fresh.insert(name.clone());
        actions.push(Action::create(daemon_pod(ds, node, &hash, name.clone())));
        actions.push(Action::Event(EventRecord::normal(
            ds,
            COMPONENT,
            "SuccessfulCreate",
            format!("Created pod: {name}"),
        )));
    }
    for pod in to_delete {
        actions.push(Action::delete(pod));
        actions.push(Action::Event(EventRecord::normal(
            ds,
            COMPONENT,
            "SuccessfulDelete",
            format!("Deleted pod: {}", pod.metadata.name),
        )));
    }
    if ds.status.as_ref() != Some(&status) {
        let mut updated = ds.clone();
        updated.status = Some(status);
        actions.push(Action::update(updated));
    }
    actions
}

/// Whether a daemon pod should run on a node now, and whether one there may keep running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fit {
    pub should_run: bool,
    pub should_continue: bool,
}

/// Kubernetes' `NodeShouldRunDaemonPod`: the template's nodeSelector (and nodeName, if set)
/// must match; every `NoSchedule`/`NoExecute` taint must be tolerated to start a pod, every
/// `NoExecute` taint to keep one. Cordoning does not matter: daemon pods tolerate it.
pub fn fit(ds: &DaemonSet, node: &NodeInfo) -> Fit {
    let spec = &ds.spec.template.spec;
    let name_ok = spec
        .node_name
        .as_ref()
        .is_none_or(|name| name.as_str() == node.name.as_str());
    let selector_ok = spec
        .node_selector
        .iter()
        .all(|(k, v)| node.labels.get(k) == Some(v));
    if !name_ok || !selector_ok {
        return Fit {
            should_run: false,
            should_continue: false,
        };
    }
    let tolerations = daemon_tolerations(ds);
    let taints = node.effective_taints();
    let hard =
        |effect: TaintEffect| matches!(effect, TaintEffect::NoSchedule | TaintEffect::NoExecute);
    Fit {
        should_run: first_untolerated(&taints, &tolerations, hard).is_none(),
        should_continue: first_untolerated(&taints, &tolerations, |e| e == TaintEffect::NoExecute)
            .is_none(),
    }
}

/// The template's tolerations plus the ones Kubernetes gives every daemon pod, so that node
/// trouble neither evicts it nor keeps it off a cordoned or pressured node
/// (`AddOrUpdateDaemonPodTolerations`).
pub fn daemon_tolerations(ds: &DaemonSet) -> Vec<Toleration> {
    let spec = &ds.spec.template.spec;
    let mut tolerations = spec.tolerations.clone();
    let mut standard = vec![
        toleration_exists(NOT_READY, Some(TaintEffect::NoExecute)),
        toleration_exists(UNREACHABLE, Some(TaintEffect::NoExecute)),
        toleration_exists(TAINT_DISK_PRESSURE, Some(TaintEffect::NoSchedule)),
        toleration_exists(TAINT_MEMORY_PRESSURE, Some(TaintEffect::NoSchedule)),
        toleration_exists(TAINT_PID_PRESSURE, Some(TaintEffect::NoSchedule)),
        toleration_exists(UNSCHEDULABLE, Some(TaintEffect::NoSchedule)),
    ];
    if spec.host_network {
        standard.push(toleration_exists(
            TAINT_NETWORK_UNAVAILABLE,
            Some(TaintEffect::NoSchedule),
        ));
    }
    for toleration in standard {
        if !tolerations.contains(&toleration) {
            tolerations.push(toleration);
        }
    }
    tolerations
}

/// The hash of the DaemonSet's template, carried by its pods as `controller-revision-hash`.
pub fn template_hash(ds: &DaemonSet) -> String {
    ds.spec
        .template
        .hash(ds.status.as_ref().and_then(|s| s.collision_count))
}

fn is_updated(pod: &Pod, hash: &str) -> bool {
    pod.metadata
        .labels
        .get(CONTROLLER_REVISION_HASH_LABEL)
        .map(String::as_str)
        == Some(hash)
}

fn is_rolling_update(ds: &DaemonSet) -> bool {
    ds.spec
        .update_strategy
        .as_ref()
        .and_then(|s| s.type_)
        .unwrap_or_default()
        == DaemonSetUpdateStrategyType::RollingUpdate
}

/// What to do on one node (Kubernetes' `podsShouldBeOnNode`).
fn plan_node<'a, 'n>(
    fit: Fit,
    pods: &[&'a Pod],
    now: Time,
    to_create: &mut Vec<&'n NodeName>,
    to_delete: &mut Vec<&'a Pod>,
    node: &'n NodeName,
) {
    if fit.should_run && pods.is_empty() {
        to_create.push(node);
    } else if fit.should_continue {
        let mut running: Vec<&Pod> = Vec::new();
        for &pod in pods {
            match pod.phase() {
                PodPhase::Failed => {
                    let age = pod
                        .metadata
                        .creation_timestamp
                        .map_or(i64::MAX, |c| now.unix_seconds() - c.unix_seconds());
                    if age >= FAILED_POD_RETRY_SECONDS {
                        to_delete.push(pod);
                    }
                }
                PodPhase::Succeeded => to_delete.push(pod),
                _ => running.push(pod),
            }
        }
        // One pod per node: the oldest stays.
        to_delete.extend(running.into_iter().skip(1));
    } else {
        to_delete.extend(pods.iter().copied());
    }
}

/// Old pods to delete so that new ones take their place, keeping at most `maxUnavailable`
/// nodes without an available daemon pod (Kubernetes' `rollingUpdate` without surge).
fn rolling_update<'a>(
    ds: &DaemonSet,
    fits: &BTreeMap<&str, Fit>,
    on_node: &BTreeMap<&str, Vec<&'a Pod>>,
    hash: &str,
    desired: i32,
    now: Time,
) -> Vec<&'a Pod> {
    let max_unavailable = max_unavailable(ds, desired);
    let min_ready = ds.spec.min_ready_seconds.unwrap_or(0);
    let mut unavailable = 0;
    let mut must_replace: Vec<&Pod> = Vec::new();
    let mut candidates: Vec<&Pod> = Vec::new();
    let nodes: Vec<&str> = fits
        .iter()
        .filter(|(_, fit)| fit.should_run)
        .map(|(node, _)| *node)
        .chain(on_node.keys().copied())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    for node in nodes {
        let pods = on_node.get(node).map_or(&[][..], Vec::as_slice);
        let new: Vec<&&Pod> = pods.iter().filter(|p| is_updated(p, hash)).collect();
        let old: Vec<&&Pod> = pods.iter().filter(|p| !is_updated(p, hash)).collect();
        match (new.as_slice(), old.as_slice()) {
            ([], [old]) => {
                if is_available(old, min_ready, now) {
                    candidates.push(old);
                } else {
                    must_replace.push(old);
                }
            }
            ([new], []) => {
                if !is_available(new, min_ready, now) {
                    unavailable += 1;
                }
            }
            // Nothing yet, both, or duplicates: the node is in flux and counts as unavailable.
            _ => unavailable += 1,
        }
    }
    let room = (max_unavailable - unavailable).max(0) as usize;
    must_replace.extend(candidates.into_iter().take(room));
    must_replace
}

/// `maxUnavailable` of the rolling update against the nodes that should run the pod, rounded
/// up; 1 when unset or when it would come to zero.
fn max_unavailable(ds: &DaemonSet, desired: i32) -> i32 {
    let value = ds
        .spec
        .update_strategy
        .as_ref()
        .and_then(|s| s.rolling_update.as_ref())
        .and_then(|r| r.max_unavailable.clone())
        .unwrap_or(IntOrString::Int(1));
    let scaled = value.scaled_value(desired, true).unwrap_or(1);
    if scaled <= 0 && desired > 0 {
        1
    } else {
        scaled
    }
}

fn status(
    ds: &DaemonSet,
    fits: &BTreeMap<&str, Fit>,
    on_node: &BTreeMap<&str, Vec<&Pod>>,
    hash: &str,
    now: Time,
) -> DaemonSetStatus {
    let min_ready = ds.spec.min_ready_seconds.unwrap_or(0);
    let mut status = DaemonSetStatus {
        observed_generation: Some(ds.metadata.generation),
        collision_count: ds.status.as_ref().and_then(|s| s.collision_count),
        conditions: ds
            .status
            .as_ref()
            .map(|s| s.conditions.clone())
            .unwrap_or_default(),
        ..DaemonSetStatus::default()
    };
    for (node, fit) in fits {
        let oldest = on_node.get(node).and_then(|pods| pods.first());
        if fit.should_run {
            status.desired_number_scheduled += 1;
            let Some(pod) = oldest else {
                continue;
            };
            status.current_number_scheduled += 1;
            if pod.is_ready() {
                status.number_ready += 1;
                if is_available(pod, min_ready, now) {
                    status.number_available += 1;
                }
            }
            if is_updated(pod, hash) {
                status.updated_number_scheduled += 1;
            }
        } else if oldest.is_some() {
            status.number_misscheduled += 1;
        }
    }
    status.number_unavailable = status.desired_number_scheduled - status.number_available;
    status
}

/// A pod of `ds` bound to `node`.
fn daemon_pod(ds: &DaemonSet, node: &NodeName, hash: &str, name: String) -> Pod {
    let mut pod = pod_from_template(
        &ds.spec.template,
        &ds.metadata,
        name,
        OwnerReference::controller_of(Kind::DaemonSet, &ds.metadata),
    );
    pod.metadata
        .labels
        .insert(CONTROLLER_REVISION_HASH_LABEL.to_string(), hash.to_string());
    pod.spec.tolerations = daemon_tolerations(ds);
    pod.spec.node_name = Some(node.clone());
    pod
}

/// Oldest first, running before not running among equals (Kubernetes'
/// `podByCreationTimestampAndPhase`).
fn by_age_and_phase(a: &Pod, b: &Pod) -> std::cmp::Ordering {
    let created = |p: &Pod| p.metadata.creation_timestamp.map(Time::unix_seconds);
    let running = |p: &Pod| p.phase() == PodPhase::Running;
    match (created(a), created(b)) {
        (Some(x), Some(y)) if x != y => x.cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        _ => running(b)
            .cmp(&running(a))
            .then_with(|| a.metadata.name.cmp(&b.metadata.name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{DaemonSetUpdateStrategy, RollingUpdateDaemonSet, Taint};
    use crate::master::controllers::fixtures::{daemon_set, node};
    use crate::master::controllers::sim::Sim;

    /// `node name: pod count` for the DaemonSet's pods.
    fn placement(sim: &Sim) -> Vec<(String, usize)> {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for pod in sim.all::<Pod>() {
            let node = pod
                .spec
                .node_name
                .map(|n| n.to_string())
                .unwrap_or_default();
            *counts.entry(node).or_default() += 1;
        }
        counts.into_iter().collect()
    }

    fn on(nodes: &[&str]) -> Vec<(String, usize)> {
        nodes.iter().map(|n| (n.to_string(), 1)).collect()
    }

    #[test]
    fn every_ready_node_gets_one_pod_bound_to_it() {
        let mut sim = Sim::new();
        for name in ["pi-1", "pi-2", "pi-3"] {
            sim.create(node(name));
        }
        sim.create(daemon_set("logs", "logs"));
        sim.settle();
        assert_eq!(placement(&sim), on(&["pi-1", "pi-2", "pi-3"]));
        let pod = &sim.all::<Pod>()[0];
        assert!(pod
            .spec
            .tolerations
            .iter()
            .any(|t| t.key.as_deref() == Some(NOT_READY)));
        assert!(pod
            .metadata
            .labels
            .contains_key(CONTROLLER_REVISION_HASH_LABEL));
        let status = sim.get::<DaemonSet>("logs").status.unwrap();
        assert_eq!(
            (
                status.desired_number_scheduled,
                status.current_number_scheduled
            ),
            (3, 3)
        );
        assert_eq!(sim.step(), 0);
    }

    #[test]
    fn node_selector_and_untolerated_taints_keep_pods_off_but_cordoning_does_not() {
        let mut sim = Sim::new();
        let mut ssd = node("pi-ssd");
        ssd.metadata.labels.insert("disk".into(), "ssd".into());
        let mut cordoned = node("pi-cordoned");
        cordoned.metadata.labels.insert("disk".into(), "ssd".into());
        cordoned.spec.unschedulable = true;
        let mut tainted = node("pi-tainted");
        tainted.metadata.labels.insert("disk".into(), "ssd".into());
        tainted.spec.taints.push(Taint {
            key: "dedicated".into(),
            value: Some("camera".into()),
            effect: TaintEffect::NoSchedule,
            time_added: None,
        });
        for n in [ssd, cordoned, tainted, node("pi-sd")] {
            sim.create(n);
        }
        let mut ds = daemon_set("logs", "logs");
        ds.spec
            .template
            .spec
            .node_selector
            .insert("disk".into(), "ssd".into());
        sim.create(ds);
        sim.settle();
        assert_eq!(placement(&sim), on(&["pi-cordoned", "pi-ssd"]));
    }

    #[test]
    fn nodes_joining_get_a_pod_and_nodes_leaving_lose_theirs() {
        let mut sim = Sim::new();
        sim.create(node("pi-1"));
        sim.create(daemon_set("logs", "logs"));
        sim.settle();
        sim.create(node("pi-2"));
        sim.settle();
        assert_eq!(placement(&sim), on(&["pi-1", "pi-2"]));
        sim.objects.retain(|key, _| key.name != "pi-1");
        sim.settle();
        assert_eq!(placement(&sim), on(&["pi-2"]));
        assert_eq!(sim.event_messages("SuccessfulDelete").len(), 1);
    }

    #[test]
    fn a_node_that_is_not_ready_gets_no_new_pod_but_keeps_its_pod() {
        let mut sim = Sim::new();
        sim.create(node("pi-1"));
        let mut silent = node("pi-2");
        silent.status.as_mut().unwrap().conditions.clear();
        sim.create(silent);
        sim.create(daemon_set("logs", "logs"));
        sim.settle();
        assert_eq!(placement(&sim), on(&["pi-1"]));
        let mut failing: Node = sim.get("pi-1");
        failing.status.as_mut().unwrap().conditions[0].status = crate::api::ConditionStatus::False;
        sim.update(failing.into()).unwrap();
        sim.settle();
        assert_eq!(placement(&sim), on(&["pi-1"]));
    }

    #[test]
    fn a_template_change_replaces_pods_one_node_at_a_time() {
        let mut sim = Sim::new();
        for name in ["pi-1", "pi-2", "pi-3"] {
            sim.create(node(name));
        }
        let mut ds = daemon_set("logs", "logs");
        ds.spec.update_strategy = Some(DaemonSetUpdateStrategy {
            type_: Some(DaemonSetUpdateStrategyType::RollingUpdate),
            rolling_update: Some(RollingUpdateDaemonSet {
                max_unavailable: Some(IntOrString::Int(1)),
                max_surge: None,
            }),
        });
        sim.create(ds);
        sim.settle();
        sim.make_all_ready();
        sim.settle();
        let mut ds: DaemonSet = sim.get("logs");
        ds.spec.template.spec.containers[0].image = Some("fluent-bit:4".into());
        sim.update(ds.into()).unwrap();
        let new_hash = template_hash(&sim.get("logs"));
        let updated = |sim: &Sim| {
            sim.all::<Pod>()
                .iter()
                .filter(|p| is_updated(p, &new_hash))
                .count()
        };
        for expected in 1..=3 {
            sim.settle();
            assert_eq!(updated(&sim), expected);
            let unavailable = sim.all::<Pod>().iter().filter(|p| !p.is_ready()).count()
                + (3 - sim.all::<Pod>().len());
            assert!(unavailable <= 1, "at most one node without a ready pod");
            sim.make_all_ready();
        }
        sim.settle();
        let status = sim.get::<DaemonSet>("logs").status.unwrap();
        assert_eq!(
            (status.updated_number_scheduled, status.number_available),
            (3, 3)
        );
    }
}
