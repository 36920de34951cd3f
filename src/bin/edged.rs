//! `edged`: the Flotilla daemon. One subcommand per role (`master`, `agent`, …), each a thin
//! function that builds its module's configuration and calls its `run`.
use clap::{Parser, Subcommand};

/// The Flotilla daemon.
#[derive(Debug, Parser)]
#[command(name = "edged", version = flotilla::version::LONG)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the control plane: API server and store
    Master(flotilla::master::MasterArgs),
    /// Run a one-board cluster: a master and an agent in one process
    Server(flotilla::agent::commands::server::Args),
    /// Run pods on this node: join a master (`--master URL --join TOKEN`) or run the
    /// manifests of a directory (`--standalone --manifests DIR`)
    Agent(flotilla::agent::commands::agent::Args),
    /// List this node's pods and containers
    Ps(flotilla::agent::commands::ps::Args),
    /// Print a container's logs
    Logs(flotilla::agent::commands::logs::Args),
    /// Import, pull, list and remove this node's images
    Image(flotilla::agent::commands::image::Args),
    /// Check whether this host can run pods
    Check(flotilla::agent::commands::check::Args),
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
    flotilla::master::run(config, listener, shutdown_signal()).await?;
    Ok(())
}

fn main() -> std::process::ExitCode {
    flotilla::memory::limit_arenas();
    let cli = Cli::parse();
    // The helper forks: it must run before any thread (tracing, tokio) exists.
    if let Command::RuntimeHelper = cli.command {
        return match flotilla::agent::commands::runtime_helper::run() {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("error: {error:#}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    if let Err(error) = flotilla::systemd::init_tracing("edged") {
        eprintln!("error: {error}");
        return std::process::ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        // The daemons' units set WatchdogSec: keep pinging while the runtime makes progress.
        let daemon = matches!(
            cli.command,
            Command::Master(_) | Command::Agent(_) | Command::Server(_)
        );
        if let (true, Some(interval)) = (daemon, flotilla::systemd::watchdog_interval()) {
            tokio::spawn(flotilla::systemd::run_watchdog(
                interval,
                || true,
                shutdown_signal(),
            ));
        }
        match cli.command {
            Command::Master(args) => master(args).await,
            Command::Server(args) => {
                flotilla::agent::commands::server::run(args, shutdown_signal()).await
            }
            Command::Agent(args) => {
                flotilla::agent::commands::agent::run(args, shutdown_signal()).await
            }
            Command::Ps(args) => flotilla::agent::commands::ps::run(args).await,
            Command::Logs(args) => flotilla::agent::commands::logs::run(args).await,
            Command::Image(args) => flotilla::agent::commands::image::run(args).await,
            Command::Check(args) => flotilla::agent::commands::check::run(args).await,
            Command::RuntimeHelper => unreachable!("served above"),
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
