//! The `edged` subcommands this agent owns: flags (clap) and what each does. The binary only
//! dispatches.
pub mod agent;
pub mod check;
pub mod image;
pub mod logs;
pub mod ps;
pub mod runtime_helper;
pub mod server;
