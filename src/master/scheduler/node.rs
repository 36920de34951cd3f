//! The scheduler's view of a node: what it offers (allocatable cpu, memory, pod slots), what it
//! demands of pods (labels for selectors, taints, architecture) and whether it takes pods at all.
//! Built once per scheduling pass from the Node objects, so the hot loop reads plain numbers.
use std::collections::BTreeMap;

use super::taint::taint;
use crate::api::node::taint_key::{NOT_READY, UNREACHABLE};
use crate::api::{NodeName, Taint, TaintEffect};

/// Taint keys for the node pressure conditions (beside `api::node::taint_key`'s); DaemonSet
/// pods tolerate them.
pub const TAINT_MEMORY_PRESSURE: &str = "node.kubernetes.io/memory-pressure";
pub const TAINT_DISK_PRESSURE: &str = "node.kubernetes.io/disk-pressure";
pub const TAINT_PID_PRESSURE: &str = "node.kubernetes.io/pid-pressure";
pub const TAINT_NETWORK_UNAVAILABLE: &str = "node.kubernetes.io/network-unavailable";

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    pub name: NodeName,
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
            NodeReadiness::NotReady => Some(NOT_READY),
            NodeReadiness::Unknown => Some(UNREACHABLE),
        };
        if let Some(key) = implied {
            let present = taints
                .iter()
                .any(|t| t.key == key && t.effect == TaintEffect::NoSchedule);
            if !present {
                taints.push(taint(key, TaintEffect::NoSchedule));
            }
        }
        taints
    }
}

impl NodeInfo {
    /// A node called `name` with nothing to offer yet: not ready, no capacity.
    pub fn named(name: NodeName) -> NodeInfo {
        NodeInfo {
            name,
            allocatable_milli_cpu: 0,
            allocatable_memory_bytes: 0,
            pods_max: 0,
            labels: BTreeMap::new(),
            taints: Vec::new(),
            readiness: NodeReadiness::Unknown,
            unschedulable: false,
            arch: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(readiness: NodeReadiness) -> NodeInfo {
        NodeInfo {
            readiness,
            ..NodeInfo::named(NodeName::new("pi-1").unwrap())
        }
    }

    #[test]
    fn a_node_that_is_not_ready_carries_the_not_ready_taint() {
        assert_eq!(
            node(NodeReadiness::NotReady).effective_taints(),
            vec![taint(NOT_READY, TaintEffect::NoSchedule)]
        );
    }

    #[test]
    fn a_node_never_heard_from_carries_the_unreachable_taint_once() {
        let node = NodeInfo {
            taints: vec![taint(UNREACHABLE, TaintEffect::NoSchedule)],
            ..node(NodeReadiness::Unknown)
        };
        assert_eq!(node.effective_taints().len(), 1);
    }

    #[test]
    fn a_ready_node_keeps_only_its_own_taints() {
        assert!(node(NodeReadiness::Ready).effective_taints().is_empty());
    }
}
