//! Scheduler throughput: placements per second with 1,000 nodes and 10,000 pending pods on one
//! core, the batch API with incremental accounting. Prints a table; run with
//! `cargo bench --bench scheduler`.
use std::hint::black_box;
use std::time::{Duration, Instant};

use flotilla::api::{NodeName, Taint, TaintEffect};
use flotilla::master::scheduler::{
    toleration_exists, NodeInfo, NodeReadiness, Placement, PodRequest, Scheduler,
};

const MIB: u64 = 1024 * 1024;
const ROUNDS: usize = 5;

/// A mixed fleet: Pi 3/4/5-sized boards, a few cordoned, tainted or labelled nodes.
fn nodes(count: usize) -> Vec<NodeInfo> {
    (0..count)
        .map(|i| {
            let (milli_cpu, memory_bytes) = match i % 3 {
                0 => (4000, 1024 * MIB),
                1 => (4000, 4096 * MIB),
                _ => (4000, 8192 * MIB),
            };
            let name = NodeName::new(format!("pi-{i:04}")).expect("a valid node name");
            let mut node = NodeInfo {
                allocatable_milli_cpu: milli_cpu,
                allocatable_memory_bytes: memory_bytes,
                pods_max: 110,
                readiness: NodeReadiness::Ready,
                arch: Some("arm64".to_string()),
                ..NodeInfo::named(name.clone())
            };
            node.labels
                .insert("kubernetes.io/hostname".into(), name.into_string());
            if i % 10 == 0 {
                node.labels.insert("disk".into(), "ssd".into());
            }
            if i % 50 == 0 {
                node.taints = vec![Taint {
                    key: "dedicated".into(),
                    value: Some("camera".into()),
                    effect: TaintEffect::NoSchedule,
                    time_added: None,
                }];
            }
            if i % 97 == 0 {
                node.unschedulable = true;
            }
            node
        })
        .collect()
}

/// Replicas of 100 owners with small requests, some with a selector or a toleration.
fn pods(count: usize) -> Vec<PodRequest> {
    (0..count)
        .map(|i| {
            let owner = i % 100;
            let mut pod = PodRequest::with_requests(
                &format!("0000{i:08x}-pod-uid"),
                [0, 50, 100, 250][owner % 4],
                [0, 32, 64, 128][owner % 4] * MIB,
            );
            pod.owner_uid = Some(format!("owner-{owner}"));
            if owner % 10 == 0 {
                pod.node_selector = vec![("disk".into(), "ssd".into())];
            }
            if owner % 25 == 0 {
                pod.tolerations = vec![toleration_exists("dedicated", None)];
            }
            pod
        })
        .collect()
}

fn main() {
    let node_count = 1_000;
    let pod_count = 10_000;
    let nodes = nodes(node_count);
    let pods = pods(pod_count);

    let mut times = Vec::with_capacity(ROUNDS);
    let mut placed = 0;
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let mut scheduler = Scheduler::new(nodes.clone());
        let placements = scheduler.place_all(black_box(&pods));
        times.push(started.elapsed());
        placed = placements
            .iter()
            .filter(|p| matches!(p, Placement::Node(_)))
            .count();
        black_box(placements);
    }
    times.sort();
    let median = times[ROUNDS / 2];
    let best = times[0];
    let rate = |time: Duration| pod_count as f64 / time.as_secs_f64();

    println!("scheduler: {node_count} nodes, {pod_count} pending pods, one core, {ROUNDS} rounds");
    println!("{:<10} {:>12} {:>18}", "", "time", "placements/s");
    println!(
        "{:<10} {:>10.1}ms {:>18.0}",
        "median",
        median.as_secs_f64() * 1e3,
        rate(median)
    );
    println!(
        "{:<10} {:>10.1}ms {:>18.0}",
        "best",
        best.as_secs_f64() * 1e3,
        rate(best)
    );
    println!("placed {placed} of {pod_count} pods");
}
