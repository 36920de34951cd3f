//! The pod reconcile: a sans-IO state machine per pod. Desired spec and observations (images
//! pulled, sandbox created, containers started and exited, probe results) come in with the
//! time; actions for the shell come out. It never touches a socket, a file or the clock.
//!
//! The sequence it drives: pull images and create the sandbox → init containers one at a time,
//! each to success → app containers → probes → restarts under the restart policy with the
//! kubelet's back-off → on deletion: preStop hooks, the stop signal, SIGKILL at the end of the
//! grace period, removal of containers and sandbox.
pub mod backoff;
pub mod pod;
pub mod probe;
pub mod status;

pub use pod::{Observed, PodAction, PodInput, PodMachine, Started};
pub use probe::ProbeKind;

#[cfg(test)]
mod tests;
