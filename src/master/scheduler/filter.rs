//! The filters: may this pod run on this node at all? In Kubernetes' plugin order
//! (NodeUnschedulable, TaintToleration, NodeAffinity, NodePorts, NodeResourcesFit) with our
//! image-architecture check after the selector; the first filter that fails names the reason.
use super::placement::NodeState;
use super::pod::PodRequest;
use super::taint::{first_untolerated, is_hard, is_tolerated};
use crate::api::Taint;

/// Why a node was rejected for a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection<'a> {
    /// The node is cordoned and the pod does not tolerate `node.kubernetes.io/unschedulable`.
    Unschedulable,
    /// The first hard taint the pod does not tolerate.
    Taint(&'a Taint),
    /// The node's labels do not satisfy the pod's `nodeSelector`.
    NodeSelector,
    /// The node's architecture is not one the pod's images exist for.
    Architecture,
    /// A host port the pod asks for is taken.
    HostPorts,
    /// Not enough of one or more resources left.
    Resources { pods: bool, cpu: bool, memory: bool },
}

impl Rejection<'_> {
    /// The reasons as Kubernetes spells them in `FailedScheduling` messages; resources may
    /// give several reasons for one node.
    pub fn reasons(&self, mut push: impl FnMut(String)) {
        match self {
            Rejection::Unschedulable => push("node(s) were unschedulable".to_string()),
            Rejection::Taint(taint) => push(format!(
                "node(s) had untolerated taint {{{}: {}}}",
                taint.key,
                taint.value.as_deref().unwrap_or("")
            )),
            Rejection::NodeSelector => {
                push("node(s) didn't match Pod's node affinity/selector".to_string())
            }
            Rejection::Architecture => {
                push("node(s) didn't match the architecture of the pod's images".to_string())
            }
            Rejection::HostPorts => {
                push("node(s) didn't have free ports for the requested pod ports".to_string())
            }
            Rejection::Resources { pods, cpu, memory } => {
                if *pods {
                    push("Too many pods".to_string());
                }
                if *cpu {
                    push("Insufficient cpu".to_string());
                }
                if *memory {
                    push("Insufficient memory".to_string());
                }
            }
        }
    }
}

/// Runs every filter in order; `Ok` when the pod may be placed on the node.
#[inline]
pub fn filter<'a>(node: &'a NodeState, pod: &PodRequest) -> Result<(), Rejection<'a>> {
    if let Some(cordon) = &node.cordon_taint {
        if !is_tolerated(cordon, &pod.tolerations) {
            return Err(Rejection::Unschedulable);
        }
    }
    if !node.taints.is_empty() {
        if let Some(taint) = first_untolerated(&node.taints, &pod.tolerations, is_hard) {
            return Err(Rejection::Taint(taint));
        }
    }
    if !pod.node_selector.is_empty() && !selector_matches(node, pod) {
        return Err(Rejection::NodeSelector);
    }
    if !pod.image_archs.is_empty() {
        if let Some(arch) = &node.info.arch {
            if !pod.image_archs.iter().any(|a| a == arch) {
                return Err(Rejection::Architecture);
            }
        }
    }
    if !pod.host_ports.is_empty()
        && pod
            .host_ports
            .iter()
            .any(|port| node.host_ports.contains(port))
    {
        return Err(Rejection::HostPorts);
    }
    let pods = node.pods + 1 > node.info.pods_max;
    let cpu = pod.milli_cpu > 0
        && node.requested_milli_cpu + pod.milli_cpu > node.info.allocatable_milli_cpu;
    let memory = pod.memory_bytes > 0
        && node.requested_memory_bytes + pod.memory_bytes > node.info.allocatable_memory_bytes;
    if pods || cpu || memory {
        return Err(Rejection::Resources { pods, cpu, memory });
    }
    Ok(())
}

fn selector_matches(node: &NodeState, pod: &PodRequest) -> bool {
    pod.node_selector
        .iter()
        .all(|(key, value)| node.info.labels.get(key) == Some(value))
}
