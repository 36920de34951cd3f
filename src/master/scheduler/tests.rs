//! Placement tests: the scheduler core as a pure function of nodes and pods.
use super::*;
use crate::api::node::taint_key::UNSCHEDULABLE;
use crate::api::{NodeName, Protocol, Taint, TaintEffect, Toleration, TolerationOperator};

const GI: u64 = 1024 * 1024 * 1024;

fn node(name: &str, milli_cpu: u64, memory_bytes: u64) -> NodeInfo {
    NodeInfo {
        name: NodeName::new(name).unwrap(),
        allocatable_milli_cpu: milli_cpu,
        allocatable_memory_bytes: memory_bytes,
        pods_max: 110,
        readiness: NodeReadiness::Ready,
        arch: Some("arm64".to_string()),
        ..NodeInfo::named(NodeName::new(name).unwrap())
    }
}

fn taint_with(key: &str, value: &str, effect: TaintEffect) -> Taint {
    Taint {
        value: Some(value.to_string()),
        ..taint(key, effect)
    }
}

fn tolerate(key: &str, value: &str) -> Toleration {
    Toleration {
        key: Some(key.to_string()),
        operator: Some(TolerationOperator::Equal),
        value: Some(value.to_string()),
        effect: None,
        toleration_seconds: None,
    }
}

fn pi(name: &str) -> NodeInfo {
    node(name, 4000, 4 * GI)
}

fn pod(uid: &str, milli_cpu: u64, memory_bytes: u64) -> PodRequest {
    PodRequest::with_requests(uid, milli_cpu, memory_bytes)
}

fn replica(owner: &str, index: usize) -> PodRequest {
    PodRequest {
        owner_uid: Some(owner.to_string()),
        ..pod(&format!("{owner}-{index}"), 100, 128 * 1024 * 1024)
    }
}

/// Places `pods` in order on `nodes` and compares the node names (or the failure messages).
fn check(nodes: Vec<NodeInfo>, pods: &[PodRequest], expected: &[&str]) {
    let mut scheduler = Scheduler::new(nodes);
    let placed: Vec<String> = scheduler
        .place_all(pods)
        .into_iter()
        .map(|placement| match placement {
            Placement::Node(name) => name.into_string(),
            Placement::Unschedulable(error) => error.to_string(),
        })
        .collect();
    assert_eq!(placed, expected);
}

fn placed_nodes(nodes: Vec<NodeInfo>, pods: &[PodRequest]) -> Vec<String> {
    Scheduler::new(nodes)
        .place_all(pods)
        .into_iter()
        .map(|placement| match placement {
            Placement::Node(name) => name.into_string(),
            Placement::Unschedulable(error) => panic!("unschedulable: {error}"),
        })
        .collect()
}

#[test]
fn replicas_of_one_owner_spread_over_equal_nodes() {
    let pods: Vec<_> = (0..3).map(|i| replica("web", i)).collect();
    let mut placed = placed_nodes(vec![pi("a"), pi("b"), pi("c")], &pods);
    placed.sort();
    assert_eq!(placed, ["a", "b", "c"]);
}

#[test]
fn pods_without_requests_still_spread() {
    let pods: Vec<_> = (0..6)
        .map(|i| PodRequest {
            owner_uid: Some("web".to_string()),
            ..pod(&format!("p{i}"), 0, 0)
        })
        .collect();
    let mut placed = placed_nodes(vec![pi("a"), pi("b"), pi("c")], &pods);
    placed.sort();
    assert_eq!(placed, ["a", "a", "b", "b", "c", "c"]);
}

#[test]
fn a_pod_larger_than_every_node_names_the_missing_resource() {
    check(
        vec![pi("a"), pi("b"), pi("c")],
        &[pod("big", 100, 64 * GI)],
        &["0/3 nodes are available: 3 Insufficient memory."],
    );
}

#[test]
fn reasons_of_different_node_classes_are_counted_and_sorted() {
    let mut tainted = pi("c");
    tainted.taints = vec![taint_with("dedicated", "gpu", TaintEffect::NoSchedule)];
    check(
        vec![node("a", 4000, GI), node("b", 4000, GI), tainted],
        &[pod("big", 100, 2 * GI)],
        &[
            "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, \
           2 Insufficient memory.",
        ],
    );
}

#[test]
fn cpu_and_memory_shortages_are_both_reported() {
    check(
        vec![node("a", 1000, GI)],
        &[pod("big", 2000, 2 * GI)],
        &["0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory."],
    );
}

#[test]
fn an_empty_cluster_has_no_nodes_available() {
    check(
        vec![],
        &[pod("p", 0, 0)],
        &["no nodes available to schedule pods"],
    );
}

#[test]
fn a_cordoned_node_takes_no_new_pods() {
    let mut cordoned = pi("a");
    cordoned.unschedulable = true;
    check(
        vec![cordoned.clone()],
        &[pod("p", 100, GI)],
        &["0/1 nodes are available: 1 node(s) were unschedulable."],
    );
    check(vec![cordoned, pi("b")], &[pod("p", 100, GI)], &["b"]);
}

#[test]
fn a_pod_tolerating_unschedulable_may_use_a_cordoned_node() {
    let mut cordoned = pi("a");
    cordoned.unschedulable = true;
    let daemon = PodRequest {
        tolerations: vec![toleration_exists(
            UNSCHEDULABLE,
            Some(TaintEffect::NoSchedule),
        )],
        ..pod("d", 100, GI)
    };
    check(vec![cordoned], &[daemon], &["a"]);
}

#[test]
fn nodes_that_are_not_ready_or_unreachable_are_skipped_with_their_taint_named() {
    let mut not_ready = pi("a");
    not_ready.readiness = NodeReadiness::NotReady;
    let mut silent = pi("b");
    silent.readiness = NodeReadiness::Unknown;
    check(
        vec![not_ready, silent],
        &[pod("p", 100, GI)],
        &["0/2 nodes are available: 1 node(s) had untolerated taint \
           {node.kubernetes.io/not-ready: }, 1 node(s) had untolerated taint \
           {node.kubernetes.io/unreachable: }."],
    );
}

#[test]
fn a_toleration_lets_a_pod_onto_a_tainted_node() {
    let mut tainted = pi("a");
    tainted.taints = vec![taint_with("dedicated", "gpu", TaintEffect::NoExecute)];
    let tolerant = PodRequest {
        tolerations: vec![tolerate("dedicated", "gpu")],
        ..pod("p", 100, GI)
    };
    check(vec![tainted], &[tolerant], &["a"]);
}

#[test]
fn prefer_no_schedule_taints_are_avoided_but_not_forbidden() {
    let mut soft = pi("a");
    soft.taints = vec![taint("busy", TaintEffect::PreferNoSchedule)];
    check(vec![soft.clone(), pi("b")], &[pod("p1", 100, GI)], &["b"]);
    check(vec![soft], &[pod("p1", 100, GI)], &["a"]);
}

#[test]
fn node_selector_must_match_every_label() {
    let mut labelled = pi("a");
    labelled.labels.insert("disk".into(), "ssd".into());
    labelled.labels.insert("zone".into(), "attic".into());
    let picky = PodRequest {
        node_selector: vec![("disk".into(), "ssd".into())],
        ..pod("p", 100, GI)
    };
    check(vec![pi("b"), labelled.clone()], &[picky], &["a"]);
    let pickier = PodRequest {
        node_selector: vec![
            ("disk".into(), "ssd".into()),
            ("zone".into(), "cellar".into()),
        ],
        ..pod("p", 100, GI)
    };
    check(
        vec![labelled],
        &[pickier],
        &["0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."],
    );
}

#[test]
fn images_for_another_architecture_do_not_land_on_the_node() {
    let mut amd = pi("x86");
    amd.arch = Some("amd64".to_string());
    let mut unknown = pi("mystery");
    unknown.arch = None;
    let arm_only = PodRequest {
        image_archs: vec!["arm64".into(), "arm".into()],
        ..pod("p", 100, GI)
    };
    check(
        vec![amd.clone()],
        std::slice::from_ref(&arm_only),
        &["0/1 nodes are available: 1 node(s) didn't match the architecture of the pod's images."],
    );
    check(vec![amd, unknown], &[arm_only], &["mystery"]);
}

#[test]
fn two_pods_never_share_a_host_port_on_one_node() {
    let port = HostPort {
        protocol: Protocol::Tcp,
        port: 8080,
    };
    let web = |uid: &str| PodRequest {
        host_ports: vec![port],
        ..pod(uid, 100, 0)
    };
    check(
        vec![pi("a")],
        &[web("p1"), web("p2")],
        &[
            "a",
            "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports.",
        ],
    );
}

#[test]
fn the_pod_count_limit_is_respected() {
    let mut small = pi("a");
    small.pods_max = 1;
    check(
        vec![small],
        &[pod("p1", 0, 0), pod("p2", 0, 0)],
        &["a", "0/1 nodes are available: 1 Too many pods."],
    );
}

#[test]
fn a_batch_never_overcommits_a_node() {
    let pods: Vec<_> = (0..10).map(|i| pod(&format!("p{i}"), 1000, 0)).collect();
    let mut scheduler = Scheduler::new(vec![pi("a"), pi("b")]);
    let placements = scheduler.place_all(&pods);
    let placed = placements
        .iter()
        .filter(|p| matches!(p, Placement::Node(_)))
        .count();
    assert_eq!(placed, 8);
    for node in scheduler.nodes() {
        assert_eq!(node.requested_milli_cpu, 4000);
    }
}

#[test]
fn pods_already_bound_count_against_their_node() {
    let mut scheduler = Scheduler::new(vec![pi("a"), pi("b")]);
    assert!(scheduler.account("a", &pod("old", 3500, 0)));
    assert!(!scheduler.account("gone", &pod("lost", 3500, 0)));
    assert_eq!(
        scheduler.place(&pod("new", 1000, 0)),
        Placement::Node(NodeName::new("b").unwrap())
    );
}

#[test]
fn the_least_allocated_node_wins() {
    let mut scheduler = Scheduler::new(vec![pi("a"), pi("b"), pi("c")]);
    scheduler.account("a", &pod("x", 2000, 2 * GI));
    scheduler.account("c", &pod("y", 1000, GI));
    assert_eq!(
        scheduler.place(&pod("new", 500, 512 * 1024 * 1024)),
        Placement::Node(NodeName::new("b").unwrap())
    );
}

#[test]
fn placement_does_not_depend_on_the_order_nodes_are_given_in() {
    let pods: Vec<_> = (0..20).map(|i| pod(&format!("p{i}"), 100, 0)).collect();
    let forward = placed_nodes(vec![pi("a"), pi("b"), pi("c"), pi("d")], &pods);
    let backward = placed_nodes(vec![pi("d"), pi("c"), pi("b"), pi("a")], &pods);
    assert_eq!(forward, backward);
}

#[test]
fn ties_are_broken_differently_for_different_pods() {
    let firsts: std::collections::BTreeSet<String> = (0..32)
        .map(|i| {
            placed_nodes(
                vec![pi("a"), pi("b"), pi("c")],
                &[pod(&format!("p{i}"), 0, 0)],
            )
        })
        .map(|mut placed| placed.remove(0))
        .collect();
    assert_eq!(firsts.len(), 3, "every node wins some tie: {firsts:?}");
}
