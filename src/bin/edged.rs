//! `edged`: the Flotilla daemon (`master`, `agent`, `server`, `check`, …).
//!
//! Placeholder from the packaging branch: only `--version`, so the packaging checks can run
//! before the daemon's subcommands land. Keep `version = flotilla::version::LONG` when replacing.
use clap::Parser;

/// The Flotilla daemon.
#[derive(Debug, Parser)]
#[command(name = "edged", version = flotilla::version::LONG)]
struct Cli {}

fn main() {
    let _ = Cli::parse();
}
