//! Flotilla: a container orchestrator for clusters of ARM single-board computers.
//!
//! Layers, from the inside out (see ARCHITECTURE.md): `api` (model), the sans-IO cores
//! (`master::scheduler`, `master::controllers`, `agent::reconcile`), the protocol (`wire`, `pki`),
//! the shells (`store`, `master::server`, `agent::runtime`, …) and the binaries (`cli`, `src/bin`).
#[cfg(feature = "runtime")]
pub mod agent;
pub mod api;
pub mod cli;
pub mod flash;
pub mod master;
pub mod memory;
pub mod pki;
pub mod store;
pub mod systemd;
pub mod version;
pub mod wire;
