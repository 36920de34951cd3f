//! Building the scheduler's compact views from the API objects, once per pass: requests
//! summed as Kubernetes sums them, readiness from the `Ready` condition, architecture from
//! the `kubernetes.io/arch` label or the agent's report.
use crate::api::node::{node_condition, node_label};
use crate::api::{ConditionStatus, Node, Pod, PodSpec};

use super::node::{NodeInfo, NodeReadiness};
use super::pod::{HostPort, PodRequest, DEFAULT_SCORE_MEMORY_BYTES, DEFAULT_SCORE_MILLI_CPU};

/// Pods a node takes when it does not say (Kubernetes' kubelet default `maxPods`).
pub const DEFAULT_PODS_MAX: u32 = 110;

/// Pod annotation listing the architectures the pod's images exist for, comma-separated
/// (`arm64,arm`). Flotilla does not inspect registries when scheduling; whoever knows (the
/// user, or a tool that resolved the image index) may say so here, and the scheduler then
/// keeps the pod off nodes of other architectures.
pub const IMAGE_ARCHITECTURES_ANNOTATION: &str = "flotilla.io/image-architectures";

/// The scheduler's view of `node`. Allocatable falls back to capacity when the agent reports
/// only capacity.
pub fn node_info(node: &Node) -> Option<NodeInfo> {
    let name = crate::api::NodeName::new(node.metadata.name.clone()).ok()?;
    let status = node.status.as_ref();
    let resource =
        |key: &str| status.and_then(|s| s.allocatable.get(key).or_else(|| s.capacity.get(key)));
    let readiness = match node.condition(node_condition::READY).map(|c| c.status) {
        Some(ConditionStatus::True) => NodeReadiness::Ready,
        Some(ConditionStatus::False) => NodeReadiness::NotReady,
        Some(ConditionStatus::Unknown) | None => NodeReadiness::Unknown,
    };
    let arch = node
        .metadata
        .labels
        .get(node_label::ARCH)
        .cloned()
        .or_else(|| {
            status
                .and_then(|s| s.node_info.as_ref())
                .map(|info| info.architecture.clone())
                .filter(|arch| !arch.is_empty())
        });
    Some(NodeInfo {
        name,
        allocatable_milli_cpu: resource("cpu").map_or(0, |q| q.milli_value().max(0) as u64),
        allocatable_memory_bytes: resource("memory").map_or(0, |q| q.value().max(0) as u64),
        pods_max: resource("pods").map_or(DEFAULT_PODS_MAX, |q| {
            q.value().clamp(0, i64::from(u32::MAX)) as u32
        }),
        labels: node.metadata.labels.clone(),
        taints: node.spec.taints.clone(),
        readiness,
        unschedulable: node.spec.unschedulable,
        arch,
    })
}

/// The scheduler's view of `pod`.
pub fn pod_request(pod: &Pod) -> PodRequest {
    let (milli_cpu, memory_bytes) = fit_requests(&pod.spec);
    let (score_milli_cpu, score_memory_bytes) = score_requests(&pod.spec);
    let mut host_ports = Vec::new();
    for container in pod.spec.all_containers() {
        for port in &container.ports {
            if let Some(host_port) = port.host_port.filter(|p| *p > 0) {
                host_ports.push(HostPort {
                    protocol: port.protocol.unwrap_or_default(),
                    port: u16::try_from(host_port).unwrap_or(u16::MAX),
                });
            }
        }
    }
    PodRequest {
        uid: pod.metadata.uid.clone(),
        milli_cpu,
        memory_bytes,
        score_milli_cpu,
        score_memory_bytes,
        node_selector: pod
            .spec
            .node_selector
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        tolerations: pod.spec.tolerations.clone(),
        host_ports,
        owner_uid: pod.metadata.controller_ref().map(|r| r.uid.clone()),
        image_archs: pod
            .metadata
            .annotations
            .get(IMAGE_ARCHITECTURES_ANNOTATION)
            .map(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|a| !a.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// Kubernetes' effective request: the larger of the containers' sum and the largest init
/// container (init containers run one at a time, before the others).
fn fit_requests(spec: &PodSpec) -> (u64, u64) {
    let positive = |v: i64| v.max(0) as u64;
    let sum = spec.containers.iter().fold((0, 0), |(cpu, memory), c| {
        (
            cpu + positive(c.resources.cpu_request_milli()),
            memory + positive(c.resources.memory_request_bytes()),
        )
    });
    spec.init_containers.iter().fold(sum, |(cpu, memory), c| {
        (
            cpu.max(positive(c.resources.cpu_request_milli())),
            memory.max(positive(c.resources.memory_request_bytes())),
        )
    })
}

/// The requests used for scoring: each container that requests nothing counts as
/// Kubernetes' defaults (100m, 200 MiB), so that such pods still spread.
fn score_requests(spec: &PodSpec) -> (u64, u64) {
    spec.containers.iter().fold((0, 0), |(cpu, memory), c| {
        let c_cpu = c.resources.cpu_request_milli().max(0) as u64;
        let c_memory = c.resources.memory_request_bytes().max(0) as u64;
        (
            cpu + if c_cpu == 0 {
                DEFAULT_SCORE_MILLI_CPU
            } else {
                c_cpu
            },
            memory
                + if c_memory == 0 {
                    DEFAULT_SCORE_MEMORY_BYTES
                } else {
                    c_memory
                },
        )
    })
}
