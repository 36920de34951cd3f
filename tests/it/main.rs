//! The integration test binary: one module per area.
mod api;
mod brain;
mod cluster;
mod control;
mod flash;
mod packaging;
mod pki;
mod runtime;
mod store;
mod through_master;
