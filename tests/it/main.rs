//! The integration test binary: one module per area.
mod flash;
mod packaging;
mod pki;
mod store;
