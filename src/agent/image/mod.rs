//! Images: the content-addressed store, safe layer extraction, air-gap import and registry pull.
pub mod compression;
pub mod digest;
pub mod extract;
pub mod gc;
pub mod import;
pub mod oci;
pub mod platform;
pub mod pull;
pub mod reference;
pub mod registries;
pub mod service;
pub mod store;

pub use digest::Digest;
pub use reference::ImageRef;
pub use store::{ImageRecord, ImageStore, StoreError};
