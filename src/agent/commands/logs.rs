//! `edged logs POD [-c CONTAINER] [-f]`: a container's output, from the local agent.
use std::path::PathBuf;

use crate::agent::socket::{self, LogsRequest};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The pod: NAME (namespace default) or NAMESPACE/NAME.
    pub pod: String,
    /// The container (needed when the pod has several).
    #[arg(short = 'c', long)]
    pub container: Option<String>,
    /// Keep printing new lines until the container stops.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// The previous instance of the container (before its last restart).
    #[arg(short = 'p', long)]
    pub previous: bool,
    /// Only the last N lines.
    #[arg(long)]
    pub tail: Option<usize>,
    /// Prefix each line with its time.
    #[arg(long)]
    pub timestamps: bool,
    /// The agent's socket.
    #[arg(long, default_value = socket::DEFAULT_SOCKET)]
    pub socket: PathBuf,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let request = LogsRequest {
        pod: args.pod,
        container: args.container,
        follow: args.follow,
        previous: args.previous,
        tail: args.tail,
        timestamps: args.timestamps,
    };
    socket::logs(&args.socket, request, &mut std::io::stdout()).await?;
    Ok(())
}
