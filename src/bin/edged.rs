//! `edged`: the Flotilla daemon (`master`, `agent`, `check`, …). A thin dispatcher: each
//! subcommand's flags and behaviour live in the library.
use clap::{Parser, Subcommand};

/// The Flotilla daemon.
#[derive(Parser)]
#[command(name = "edged", version = flotilla::version::LONG, about = "The Flotilla daemon")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the control plane: API server, store, scheduler and controllers
    Master(flotilla::master::MasterArgs),
    /// Run pods on this node (`--standalone --manifests DIR` without a master)
    Agent(flotilla::agent::commands::agent::Args),
    /// List this node's pods and containers
    Ps(flotilla::agent::commands::ps::Args),
    /// Print a container's logs
    Logs(flotilla::agent::commands::logs::Args),
    /// Manage the node's images
    Image(flotilla::agent::commands::image::Args),
    /// Check whether this host can run pods
    Check(flotilla::agent::commands::check::Args),
    /// Benchmarks that print tables
    Bench(flotilla::agent::commands::bench::Args),
    /// Internal: the single-threaded container helper the agent starts
    #[command(name = "runtime-helper", hide = true)]
    RuntimeHelper,
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

async fn master(args: flotilla::master::MasterArgs) -> anyhow::Result<()> {
    let config = args.into_config();
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    if let Some(interval) = flotilla::systemd::watchdog_interval() {
        tokio::spawn(flotilla::systemd::run_watchdog(
            interval,
            || true,
            shutdown_signal(),
        ));
    }
    flotilla::master::run(config, listener, shutdown_signal()).await?;
    Ok(())
}

fn run_master(args: flotilla::master::MasterArgs) -> anyhow::Result<()> {
    flotilla::systemd::init_tracing("edged")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
    runtime.block_on(master(args))
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        // Before anything starts a thread: the helper forks.
        Command::RuntimeHelper => flotilla::agent::commands::runtime_helper::run(),
        Command::Master(args) => run_master(args),
        Command::Agent(args) => flotilla::agent::commands::agent::run(args),
        Command::Ps(args) => flotilla::agent::commands::ps::run(args),
        Command::Logs(args) => flotilla::agent::commands::logs::run(args),
        Command::Image(args) => flotilla::agent::commands::image::run(args),
        Command::Check(args) => flotilla::agent::commands::check::run(args),
        Command::Bench(args) => flotilla::agent::commands::bench::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
