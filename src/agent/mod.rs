//! The node agent: pod workers, the libcontainer runtime, images, pod networking, probes, logs.
pub mod image;
