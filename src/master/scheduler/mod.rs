//! The scheduler: which node runs which pod. A pure core over compact views of nodes and
//! pods (no store, no clock): filters reject nodes the pod may not use, scores rank the rest,
//! a hash of node name and pod uid breaks ties deterministically.
mod filter;
mod fit_error;
mod node;
mod pass;
mod placement;
mod pod;
mod score;
mod taint;
mod view;

pub use filter::Rejection;
pub use fit_error::FitError;
pub use node::{
    NodeInfo, NodeReadiness, TAINT_DISK_PRESSURE, TAINT_MEMORY_PRESSURE, TAINT_NETWORK_UNAVAILABLE,
    TAINT_PID_PRESSURE,
};
pub use pass::{is_pending, schedule, COMPONENT, REASON_UNSCHEDULABLE};
pub use placement::{NodeState, Placement, Scheduler};
pub use pod::{HostPort, PodRequest, DEFAULT_SCORE_MEMORY_BYTES, DEFAULT_SCORE_MILLI_CPU};
pub use score::MAX_NODE_SCORE;
pub use taint::{first_untolerated, is_hard, is_tolerated, taint, toleration_exists};
pub use view::{node_info, pod_request, DEFAULT_PODS_MAX, IMAGE_ARCHITECTURES_ANNOTATION};

#[cfg(test)]
mod tests;
