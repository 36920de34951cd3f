//! Kubernetes-shaped resource model: types, decoding, validation, quantities, label selectors.
//! Pure data, no I/O.
pub mod kind;

pub use kind::Kind;
