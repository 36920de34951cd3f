//! The agent runtime, for real: images imported and extracted, containers run through
//! libcontainer, pod networks, the standalone agent and its commands. Most tests need root.
#[path = "../../fixtures/busybox_image.rs"]
pub mod busybox_image;
mod engine;
mod extract;
mod harness;
mod helper;
mod image_gc;
mod images;
mod leak;
mod prereq;
mod registry;
mod standalone;
