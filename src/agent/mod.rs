//! The node agent: pod workers, the libcontainer runtime, images, pod networking, probes, logs.
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
pub mod sync;
