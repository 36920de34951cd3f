//! The integration test binary: one module per area.
mod brain;
mod control;
mod flash;
mod packaging;
mod pki;
mod store;
