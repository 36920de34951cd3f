//! `edged ps`: this node's pods and containers, from the local agent (like `crictl ps`).
use std::io::Write;
use std::path::PathBuf;

use crate::agent::socket::{self, PsPod};
use crate::api;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The agent's socket.
    #[arg(long, default_value = socket::DEFAULT_SOCKET)]
    pub socket: PathBuf,
    /// Output format: table (default) or json.
    #[arg(short = 'o', long, default_value = "table")]
    pub output: String,
}

fn age(since: Option<api::Time>) -> String {
    let Some(since) = since else {
        return "-".to_string();
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    api::human_duration(now - since.unix_seconds())
}

/// kubectl's STATE words for a container.
fn state(status: &api::ContainerStatus) -> String {
    match &status.state {
        Some(api::ContainerState {
            running: Some(_), ..
        }) => "Running".to_string(),
        Some(api::ContainerState {
            waiting: Some(w), ..
        }) => w.reason.clone().unwrap_or_else(|| "Waiting".to_string()),
        Some(api::ContainerState {
            terminated: Some(t),
            ..
        }) => t
            .reason
            .clone()
            .unwrap_or_else(|| format!("Exited({})", t.exit_code)),
        _ => "Unknown".to_string(),
    }
}

/// The last termination of a container: reason, exit code and why (e.g. a failed probe).
fn last_termination(status: &api::ContainerStatus, message: Option<&str>) -> String {
    let terminated = status
        .last_state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .or_else(|| status.state.as_ref().and_then(|s| s.terminated.as_ref()));
    let Some(t) = terminated else {
        return "-".to_string();
    };
    let mut text = format!(
        "{} ({})",
        t.reason.as_deref().unwrap_or("Exited"),
        t.exit_code
    );
    if let Some(message) = message.or(t.message.as_deref()) {
        text.push_str(": ");
        text.push_str(&message.replace('\n', " "));
    }
    text
}

/// The table `edged ps` prints.
pub fn table(pods: &[PsPod]) -> String {
    let mut out = tabwriter::TabWriter::new(Vec::new()).minwidth(3).padding(3);
    let _ = writeln!(
        out,
        "POD\tCONTAINER\tSTATE\tREADY\tRESTARTS\tLAST TERMINATION\tIP\tAGE"
    );
    for entry in pods {
        let pod = &entry.pod;
        let status = pod.status.clone().unwrap_or_default();
        let name = format!(
            "{}/{}",
            pod.metadata.namespace_or_default(),
            pod.metadata.name
        );
        let ip = status.pod_ip.clone().unwrap_or_else(|| "-".to_string());
        for (init, container) in status
            .init_container_statuses
            .iter()
            .map(|c| (true, c))
            .chain(status.container_statuses.iter().map(|c| (false, c)))
        {
            let message = entry
                .last_messages
                .iter()
                .find(|(n, _)| *n == container.name)
                .and_then(|(_, m)| m.as_deref());
            let mut state = state(container);
            if entry.deleting {
                state = format!("{state},Terminating");
            }
            let started = container
                .state
                .as_ref()
                .and_then(|s| s.running.as_ref())
                .and_then(|r| r.started_at);
            let _ = writeln!(
                out,
                "{name}\t{}{}\t{state}\t{}\t{}\t{}\t{ip}\t{}",
                container.name,
                if init { " (init)" } else { "" },
                container.ready,
                container.restart_count,
                last_termination(container, message),
                age(started.or(status.start_time)),
            );
        }
    }
    let bytes = out.into_inner().unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let pods = socket::ps(&args.socket).await?;
    match args.output.as_str() {
        "json" => println!(
            "{}",
            serde_json::to_string_pretty(&pods.iter().map(|p| &p.pod).collect::<Vec<_>>())?
        ),
        "table" | "wide" => print!("{}", table(&pods)),
        other => anyhow::bail!("unknown output format {other:?} (table, json)"),
    }
    Ok(())
}
