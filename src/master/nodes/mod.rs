//! Nodes as the master sees them: join and renewal, liveness, the node lifecycle (conditions,
//! taints, evictions), pod CIDRs, per-node assignment generations, live pod status, and the
//! HTTP handlers of the agent protocol.
//!
//! The cores (`lifecycle`, `eviction`, `assignments`, `pod_status`, `pod_cidr`, `join`) are
//! sans-IO: they take `now` as a value and never touch the store, a socket or the clock.
//! Liveness and pod status live in memory only; see [`pod_status`] for how reads show them.
pub mod assignments;
pub mod backend;
pub mod epoch;
pub mod eviction;
pub mod follow;
pub mod http;
pub mod join;
pub mod lifecycle;
pub mod memory;
pub mod node_object;
pub mod pod_cidr;
pub mod pod_status;
pub mod serve;
pub mod service;
pub mod store_backend;

pub use assignments::{AssignmentBook, Fingerprint, References};
pub use backend::{BackendError, NodeBackend};
pub use epoch::bump_epoch;
pub use eviction::{BoundPod, EvictionDecision};
pub use join::{JoinPlan, JoinTokens, TokenRejection};
pub use lifecycle::{Health, NodeLifecycle, NodeTimings, NotReadyCause, Transition};
pub use pod_cidr::PodCidrAllocator;
pub use pod_status::PodStatusTable;
pub use service::{NodesConfig, NodesError, NodesService};
pub use store_backend::StoreBackend;
