//! The scheduler: which node runs which pod. A pure core over compact views of nodes and
//! pods (no store, no clock): filters reject nodes the pod may not use, scores rank the rest,
//! a hash of node name and pod uid breaks ties deterministically.
mod filter;
mod fit_error;
mod node;
mod placement;
mod pod;
mod score;
mod taint;

pub use filter::Rejection;
pub use fit_error::FitError;
pub use node::{
    NodeInfo, NodeReadiness, LABEL_ARCH, TAINT_DISK_PRESSURE, TAINT_MEMORY_PRESSURE,
    TAINT_NETWORK_UNAVAILABLE, TAINT_NOT_READY, TAINT_PID_PRESSURE, TAINT_UNREACHABLE,
    TAINT_UNSCHEDULABLE,
};
pub use placement::{NodeState, Placement, Scheduler};
pub use pod::{
    HostPort, PodRequest, PortProtocol, DEFAULT_SCORE_MEMORY_BYTES, DEFAULT_SCORE_MILLI_CPU,
};
pub use score::MAX_NODE_SCORE;
pub use taint::{
    first_untolerated, is_tolerated, Taint, TaintEffect, Toleration, TolerationOperator,
};

#[cfg(test)]
mod tests;
