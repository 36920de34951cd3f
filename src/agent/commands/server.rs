//! `edged server`: a master and an agent in one process, the one-board cluster (like
//! `k3s server`). The agent joins its own master over 127.0.0.1 with a token the server makes
//! with the admin credential on the first start; later starts reuse the agent's identity.
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args as _, FromArgMatches as _};
use hyper::Method;
use serde_json::json;
use tokio::sync::watch;

use crate::agent::sync::cluster::{run_cluster_agent, CLUSTER_DIR};
use crate::agent::sync::identity::NodeIdentity;
use crate::cli::client::{Client, JSON};
use crate::master::route::TOKENS_PATH;
use crate::master::MasterArgs;
use crate::pki::Credential;

/// How long the server waits for its own API to answer before giving up.
const MASTER_READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Lifetime of the token the local agent joins with (used at once).
const LOCAL_TOKEN_TTL: Duration = Duration::from_secs(600);

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub master: MasterArgs,
    /// Where the local agent keeps images, container state and logs.
    #[arg(long, default_value = "/var/lib/flotilla/agent")]
    pub agent_data_dir: PathBuf,
    /// This node's name (default: the host name).
    #[arg(long)]
    pub node_name: Option<String>,
    /// A label of this node, KEY=VALUE (repeatable).
    #[arg(long = "node-label", value_name = "KEY=VALUE")]
    pub node_labels: Vec<String>,
    /// A taint of this node, KEY[=VALUE]:EFFECT (repeatable).
    #[arg(long = "node-taint", value_name = "KEY[=VALUE]:EFFECT")]
    pub node_taints: Vec<String>,
}

impl Args {
    /// The local agent's flags: `edged agent`'s defaults with this server's data directory,
    /// node name, labels and taints (parsed by clap, so the defaults live in one place).
    fn agent_args(&self) -> anyhow::Result<super::agent::Args> {
        let mut argv = vec![
            "agent".to_string(),
            "--data-dir".to_string(),
            self.agent_data_dir.display().to_string(),
        ];
        if let Some(name) = &self.node_name {
            argv.extend(["--node-name".to_string(), name.clone()]);
        }
        for label in &self.node_labels {
            argv.extend(["--node-label".to_string(), label.clone()]);
        }
        for taint in &self.node_taints {
            argv.extend(["--node-taint".to_string(), taint.clone()]);
        }
        let command = super::agent::Args::augment_args(clap::Command::new("agent"));
        let matches = command.try_get_matches_from(argv)?;
        Ok(super::agent::Args::from_arg_matches(&matches)?)
    }
}

/// Waits until the master answers with the admin credential, and returns a client for it.
async fn admin_client(admin_conf: &std::path::Path, url: &str) -> anyhow::Result<Client> {
    let started = std::time::Instant::now();
    loop {
        let attempt = async {
            let credential = Credential::load(admin_conf)?;
            let client = Client::new(&credential, Some(url))?;
            client.get_json("/api/v1/namespaces").await?;
            anyhow::Ok(client)
        };
        match attempt.await {
            Ok(client) => return Ok(client),
            Err(error) if started.elapsed() > MASTER_READY_TIMEOUT => {
                return Err(error.context(format!(
                    "the master at {url} did not answer within {} s",
                    MASTER_READY_TIMEOUT.as_secs()
                )))
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

pub async fn run(
    args: Args,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    if !nix::unistd::geteuid().is_root() {
        anyhow::bail!(
            "edged server must run as root (its agent creates namespaces, cgroups and mounts)"
        );
    }
    let mut agent_args = args.agent_args()?;
    let config = args.master.into_config();
    let admin_conf = config.admin_conf();
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let port = listener.local_addr()?.port();
    let url = format!("https://127.0.0.1:{port}");

    let (stop, stopped) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        stop.send_replace(true);
    });
    let until_stopped = |mut stopped: watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let master = tokio::spawn(crate::master::run(
        config,
        listener,
        until_stopped(stopped.clone()),
    ));

    agent_args.master = Some(url.clone());
    let identity_dir = agent_args.data_dir.join(CLUSTER_DIR);
    if NodeIdentity::load(&identity_dir).is_err() {
        let client = tokio::select! {
            client = admin_client(&admin_conf, &url) => client?,
            _ = until_stopped(stopped.clone()) => return finish(master).await,
        };
        let body = json!({
            "ttlSeconds": LOCAL_TOKEN_TTL.as_secs(),
            "description": "edged server: its own agent",
        });
        let (created, _) = client
            .send_json(Method::POST, TOKENS_PATH, JSON, &body)
            .await
            .context("creating a join token for the local agent")?;
        agent_args.join = created["token"].as_str().map(str::to_string);
    }
    let agent_config = agent_args.config()?;
    let agent = run_cluster_agent(
        agent_config,
        agent_args.cluster_args(),
        until_stopped(stopped.clone()),
    )
    .await;
    if let Err(error) = agent {
        tracing::error!(error = %error, "the local agent stopped");
        return Err(anyhow::Error::new(error).context("the local agent"));
    }
    finish(master).await
}

async fn finish(
    master: tokio::task::JoinHandle<Result<(), crate::master::MasterError>>,
) -> anyhow::Result<()> {
    master.await.context("the master task")??;
    Ok(())
}
