//! The integration test binary: one module per area.
mod control;
mod pki;
mod store;
