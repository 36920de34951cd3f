//! `edged runtime-helper`: the single-threaded container helper (see `agent::runtime::helper`).
//! Hidden; only the agent starts it, with the protocol on stdin/stdout.

/// Serves the agent until it closes the pipe. libcontainer's own diagnostics go to stderr
/// (the agent's) at the level `FLOTILLA_HELPER_LOG` names (default: errors only).
pub fn run() -> anyhow::Result<()> {
    let level = std::env::var("FLOTILLA_HELPER_LOG").unwrap_or_else(|_| "error".to_string());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(level))
        .with_writer(std::io::stderr)
        .without_time()
        .with_ansi(false)
        .try_init();
    crate::agent::runtime::helper::helper_main()?;
    Ok(())
}
