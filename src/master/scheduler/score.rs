//! The scores: among the nodes that fit, which is best? Kubernetes' default plugins, each
//! 0..=100, weighted as kube-scheduler weighs them: LeastAllocated (1) and
//! BalancedAllocation (1) on the scoring requests, spreading the pods of one owner (2, like
//! PodTopologySpread's default), and avoiding untolerated `PreferNoSchedule` taints (3).
use super::placement::{Hot, NodeState};
use super::pod::PodRequest;
use super::taint::is_tolerated;
use crate::api::TaintEffect;

/// The highest score one plugin gives.
pub const MAX_NODE_SCORE: u64 = 100;
pub const WEIGHT_LEAST_ALLOCATED: u64 = 1;
pub const WEIGHT_BALANCED_ALLOCATION: u64 = 1;
pub const WEIGHT_SPREAD: u64 = 2;
pub const WEIGHT_TAINT_PREFERENCE: u64 = 3;

/// How many pods of the pod's owner run on this node, and on the node that has the most.
#[derive(Debug, Clone, Copy, Default)]
pub struct SpreadCounts {
    pub on_node: u32,
    pub max_on_any_node: u32,
}

/// The weighted total score of a node (its hot numbers, and the rest for soft taints) for
/// `pod`.
#[inline]
pub(super) fn score(hot: &Hot, node: &NodeState, pod: &PodRequest, spread: SpreadCounts) -> u64 {
    let cpu = hot.score_milli_cpu + pod.score_milli_cpu;
    let memory = hot.score_memory_bytes + pod.score_memory_bytes;
    let cpu_fraction = fraction(cpu, hot.inverse_allocatable_milli_cpu);
    let memory_fraction = fraction(memory, hot.inverse_allocatable_memory_bytes);

    // LeastAllocated: the free share of each resource, averaged.
    let least = ((2.0 - cpu_fraction - memory_fraction) * 0.5 * MAX_NODE_SCORE as f64) as u64;
    // BalancedAllocation: one minus the standard deviation of the used shares, which for two
    // resources is half their difference.
    let balanced =
        ((1.0 - (cpu_fraction - memory_fraction).abs() * 0.5) * MAX_NODE_SCORE as f64) as u64;
    let spread_score = if spread.max_on_any_node == 0 {
        MAX_NODE_SCORE
    } else {
        MAX_NODE_SCORE * u64::from(spread.max_on_any_node - spread.on_node)
            / u64::from(spread.max_on_any_node)
    };
    let taint_score = if hot.has_soft_taints {
        taint_preference(node, pod)
    } else {
        MAX_NODE_SCORE
    };

    least * WEIGHT_LEAST_ALLOCATED
        + balanced * WEIGHT_BALANCED_ALLOCATION
        + spread_score * WEIGHT_SPREAD
        + taint_score * WEIGHT_TAINT_PREFERENCE
}

/// The used share of a resource, capped at 1 (a node without the resource counts as full).
#[inline]
fn fraction(used: u64, inverse_allocatable: f64) -> f64 {
    if inverse_allocatable == 0.0 {
        return 1.0;
    }
    (used as f64 * inverse_allocatable).min(1.0)
}

/// Kubernetes' TaintToleration score, normalised per node instead of across nodes: full marks
/// without untolerated `PreferNoSchedule` taints, less for each one.
fn taint_preference(node: &NodeState, pod: &PodRequest) -> u64 {
    let untolerated = node
        .taints
        .iter()
        .filter(|taint| taint.effect == TaintEffect::PreferNoSchedule)
        .filter(|taint| !is_tolerated(taint, &pod.tolerations))
        .count() as u64;
    MAX_NODE_SCORE / (1 + untolerated)
}
