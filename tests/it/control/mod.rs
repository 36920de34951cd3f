//! The control plane from the outside: a real `edged master` process, `edgectl` runs and
//! in-process TLS clients.
pub mod harness;

mod apply;
mod delete;
mod durability;
mod get;
mod rest;
mod tls;
mod tokens;
