//! The controllers: level-triggered, idempotent reconcilers that turn declared state
//! (Deployments, ReplicaSets, DaemonSets) into pods. Each controller is a pure core —
//! objects and `now` in, [`Action`]s out, no store, no clock — and one driver
//! ([`driver::run`]) watches the store, keeps a cache, runs the cores and the scheduler on
//! changes and on a periodic requeue, and writes their actions back in batches.
//!
//! Nothing here keeps state that matters across passes: names and hash labels make creation
//! idempotent, and every decision is recomputed from the objects, so a master killed mid-
//! rollout continues where the store says it was.
pub mod action;
pub mod cache;
pub mod claim;
pub mod daemonset;
pub mod deployment;
pub mod driver;
pub mod events;
pub mod names;
pub mod pod_state;
pub mod replicaset;
pub mod wake;

pub use action::{Action, EventRecord, ObjectRef};
pub use driver::{run, spawn, Brain, BrainConfig, BrainError};
pub use names::NameSource;

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
pub(crate) mod sim;
