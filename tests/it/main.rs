//! The integration test binary: one module per area.
mod api;
mod control;
mod cluster;
mod flash;
mod packaging;
mod pki;
mod runtime;
mod store;
