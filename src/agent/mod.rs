//! The node agent: runs pods as OCI containers through youki's libcontainer, without Docker,
//! containerd or a runc binary.
//!
//! Code map, from the outside in:
//! - `daemon`: `Agent` wires the pieces; `run_standalone` runs the pods of a manifest directory.
//!   The cluster loop drives the same `Agent` with `set_desired(pods)` (the whole set, level
//!   triggered) and reads pod status from `statuses()`; ConfigMaps and Secrets go to `objects`.
//! - `pods`: one worker per pod (the shell around `reconcile::PodMachine`), the manager that keeps
//!   workers in line with the desired set and re-adopts containers after a restart, container
//!   configuration from spec and image, volumes, probes.
//! - `reconcile`: the sans-IO pod state machine. It never reads the clock, a file or a socket.
//! - `runtime`: the `ContainerRuntime` trait, its libcontainer engine and a recording fake. Only
//!   `runtime::youki` imports libcontainer, and it only runs in the single-threaded helper
//!   process (`edged runtime-helper`), never in the multi-threaded agent.
//! - `image`: content-addressed store, safe extraction, archive import, registry pull, and
//!   garbage collection of unused images above a disk-usage mark (`image::gc`, run by `daemon`
//!   in both modes).
//! - `network`: bridge, veth, IPAM, nftables; `logs`: CRI log files; `socket`: `edged ps`/`logs`.
//! - `check`: `edged check`; `commands`: the `edged` subcommands this module owns.
//!
//! Invariants: an idle agent writes nothing to disk (state is written when pods change); every
//! queue and read is bounded; containers outlive the agent, and a restarted agent re-adopts them
//! (see `runtime::engine` for what happens to exit codes meanwhile).
pub mod check;
pub mod commands;
pub mod daemon;
pub mod dirwatch;
pub mod image;
pub mod logs;
pub mod network;
pub mod pods;
pub mod reconcile;
pub mod runtime;
pub mod socket;
pub mod standalone;
pub mod stats;
pub mod sync;
