//! `edged`: the Flotilla daemon (`master`, `agent`, `server`, `check`, …). A thin dispatcher:
//! each subcommand's flags and behaviour live in the library.
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "edged", version, about = "The Flotilla daemon")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run pods on this node (`--standalone --manifests DIR` without a master).
    Agent(flotilla::agent::commands::agent::Args),
    /// List this node's pods and containers.
    Ps(flotilla::agent::commands::ps::Args),
    /// Print a container's logs.
    Logs(flotilla::agent::commands::logs::Args),
    /// Manage the node's images.
    Image(flotilla::agent::commands::image::Args),
    /// Check whether this host can run pods.
    Check(flotilla::agent::commands::check::Args),
    /// Benchmarks that print tables.
    Bench(flotilla::agent::commands::bench::Args),
    /// Internal: the single-threaded container helper the agent starts.
    #[command(name = "runtime-helper", hide = true)]
    RuntimeHelper,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        // Before anything starts a thread: the helper forks.
        Command::RuntimeHelper => flotilla::agent::commands::runtime_helper::run(),
        Command::Agent(args) => flotilla::agent::commands::agent::run(args),
        Command::Ps(args) => flotilla::agent::commands::ps::run(args),
        Command::Logs(args) => flotilla::agent::commands::logs::run(args),
        Command::Image(args) => flotilla::agent::commands::image::run(args),
        Command::Check(args) => flotilla::agent::commands::check::run(args),
        Command::Bench(args) => flotilla::agent::commands::bench::run(args),
    }
}
