//! The agent's side of the cluster loop: joining (`pki::JoinToken`, pin, local key, CSR), the identity
//! files, heartbeats with status deltas, the assignments long-poll behind the epoch fence, the
//! local copy that keeps pods running without a master, pod status reports and certificate
//! renewal.
//!
//! The cores (`heartbeat`, `reporter`, `fence`, `local_copy`) are small and tested on
//! their own; `run` is the async shell; the network is behind [`link::MasterLink`] (real
//! implementation: [`https::HttpsLink`]) and the pods behind [`runtime::PodRuntime`], which the
//! runtime's pod manager implements.
pub mod answers;
pub mod cluster;
pub mod fence;
pub mod files;
pub mod heartbeat;
pub mod https;
pub mod identity;
pub mod join;
pub mod link;
pub mod local_copy;
pub mod node_info;
pub mod pod_manager;
pub mod reporter;
pub mod requests;
pub mod run;
pub mod runtime;

pub use identity::NodeIdentity;
pub use link::{JoinLink, LinkError, MasterLink, PollAnswer};
pub use run::{run, SyncConfig, SyncError};
pub use runtime::{DesiredPods, PodRuntime};
