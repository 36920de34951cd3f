//! The integration test binary: one module per area.
mod api;
mod flash;
mod packaging;
mod pki;
mod store;
