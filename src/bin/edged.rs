//! `edged`: the Flotilla daemon. One subcommand per role (`master`, …), each a thin function
//! that builds its module's configuration and calls its `run`.
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

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
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
        match cli.command {
            Command::Master(args) => master(args).await,
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
