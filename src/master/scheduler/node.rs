//! The scheduler's view of a node: what it offers (allocatable cpu, memory, pod slots), what it
//! demands of pods (labels for selectors, taints, architecture) and whether it takes pods at all.
//! Built once per scheduling pass from the Node objects, so the hot loop reads plain numbers.
use std::collections::BTreeMap;

use super::taint::{Taint, TaintEffect};

/// Taint key Kubernetes puts on a node whose Ready condition is False.
pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
/// Taint key Kubernetes puts on a node whose Ready condition is Unknown (no heartbeat).
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// Taint key Kubernetes puts on a cordoned node (`spec.unschedulable`).
pub const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
/// Taint keys for the node pressure conditions; DaemonSet pods tolerate them.
pub const TAINT_MEMORY_PRESSURE: &str = "node.kubernetes.io/memory-pressure";
pub const TAINT_DISK_PRESSURE: &str = "node.kubernetes.io/disk-pressure";
pub const TAINT_PID_PRESSURE: &str = "node.kubernetes.io/pid-pressure";
pub const TAINT_NETWORK_UNAVAILABLE: &str = "node.kubernetes.io/network-unavailable";

/// The well-known label holding a node's CPU architecture (`arm64`, `arm`, `amd64`).
pub const LABEL_ARCH: &str = "kubernetes.io/arch";

/// The node's Ready condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum NodeReadiness {
    Ready,
    /// The agent reports the node unhealthy.
    NotReady,
    /// Nothing heard from the agent (no condition yet, or heartbeats stopped).
    #[default]
    Unknown,
}

/// A node as the scheduler sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeInfo {
    pub name: String,
    pub allocatable_milli_cpu: u64,
    pub allocatable_memory_bytes: u64,
    /// The `pods` allocatable: how many pods the node takes.
    pub pods_max: u32,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
    pub readiness: NodeReadiness,
    /// Cordoned: `spec.unschedulable`.
    pub unschedulable: bool,
    /// CPU architecture, from the `kubernetes.io/arch` label or the agent's report; `None`
    /// when unknown (then the image architecture is not checked).
    pub arch: Option<String>,
}

impl NodeInfo {
    /// The taints the scheduler filters on: the node's own, plus the ones Kubernetes' node
    /// lifecycle controller would add for its Ready condition (`not-ready` / `unreachable` with
    /// effect `NoSchedule`). Modelling readiness as taints means pods that tolerate them (like
    /// DaemonSet pods) behave exactly as in Kubernetes, and the message names the taint.
    pub fn effective_taints(&self) -> Vec<Taint> {
        let mut taints = self.taints.clone();
        let implied = match self.readiness {
            NodeReadiness::Ready => None,
            NodeReadiness::NotReady => Some(TAINT_NOT_READY),
            NodeReadiness::Unknown => Some(TAINT_UNREACHABLE),
        };
        if let Some(key) = implied {
            let present = taints
                .iter()
                .any(|t| t.key == key && t.effect == TaintEffect::NoSchedule);
            if !present {
                taints.push(Taint::new(key, "", TaintEffect::NoSchedule));
            }
        }
        taints
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_that_is_not_ready_carries_the_not_ready_taint() {
        let node = NodeInfo {
            readiness: NodeReadiness::NotReady,
            ..NodeInfo::default()
        };
        assert_eq!(
            node.effective_taints(),
            vec![Taint::new(TAINT_NOT_READY, "", TaintEffect::NoSchedule)]
        );
    }

    #[test]
    fn a_node_never_heard_from_carries_the_unreachable_taint_once() {
        let node = NodeInfo {
            taints: vec![Taint::new(TAINT_UNREACHABLE, "", TaintEffect::NoSchedule)],
            ..NodeInfo::default()
        };
        assert_eq!(node.effective_taints().len(), 1);
    }

    #[test]
    fn a_ready_node_keeps_only_its_own_taints() {
        let node = NodeInfo {
            readiness: NodeReadiness::Ready,
            ..NodeInfo::default()
        };
        assert!(node.effective_taints().is_empty());
    }
}
