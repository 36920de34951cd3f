//! The integration test binary: one module per area.
mod pki;
mod runtime;
mod store;
