//! `edged agent --master URL [--join TOKEN]`: a node agent in a cluster. Joins on first start
//! (the identity is kept in `<data dir>/cluster/`), takes its pod CIDR from the master, starts
//! the agent daemon and runs the sync loop until shutdown. With an identity already there it
//! needs no master to start: the pods of the local copy run at once.
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::watch;

use crate::agent::daemon::{Agent, AgentConfig, AgentError};
use crate::pki::{self, JoinToken};
use crate::wire::NodeName;

use super::answers::AgentAnswers;
use super::fence::EpochFence;
use super::https::{AddressError, HttpsJoinLink, HttpsLink, MasterAddress};
use super::identity::{IdentityError, NodeIdentity};
use super::join::{join, JoinError};
use super::node_info::{parse_label, parse_taint, NodeFlagError, NodeInfoConfig};
use super::pod_manager::AgentPods;
use super::requests::{self, RequestsConfig};
use super::run::{run, SyncConfig, SyncError};

/// The identity, fence and local copy live here, inside the agent's data directory.
pub const CLUSTER_DIR: &str = "cluster";

/// The cluster flags of `edged agent`.
#[derive(Debug, Clone, Default)]
pub struct ClusterArgs {
    /// `--master https://HOST[:PORT]`; defaults to the one remembered at join.
    pub master: Option<String>,
    /// `--join TOKEN`: needed on the first start only.
    pub join: Option<String>,
    /// `--node-label KEY=VALUE`, repeatable.
    pub node_labels: Vec<String>,
    /// `--node-taint KEY[=VALUE]:EFFECT`, repeatable.
    pub node_taints: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterAgentError {
    #[error("invalid node name: {0}")]
    NodeName(#[from] crate::api::NameError),
    #[error(transparent)]
    Address(#[from] AddressError),
    #[error(
        "this node has not joined a cluster yet: start it once with --master URL --join TOKEN"
    )]
    NeedToken,
    #[error("this node has not joined a cluster yet: --master URL is needed with --join")]
    NeedMaster,
    #[error("malformed join token: {0}")]
    Token(#[from] pki::TokenParseError),
    #[error(transparent)]
    Join(#[from] JoinError),
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error("{dir} holds the identity of node {joined}, not {asked}; use --node-name {joined} or another --data-dir")]
    OtherNode {
        dir: PathBuf,
        joined: NodeName,
        asked: NodeName,
    },
    #[error("the pod CIDR {cidr} from the master cannot be used: {message}")]
    PodCidr { cidr: String, message: String },
    #[error(transparent)]
    Flag(#[from] NodeFlagError),
    #[error("TLS client configuration: {0}")]
    Tls(#[from] pki::PkiError),
    #[error(transparent)]
    Agent(#[from] AgentError),
    #[error(transparent)]
    Sync(#[from] SyncError),
}

/// The node's identity: the one kept in `dir`, or a fresh one from joining.
pub async fn identity(
    dir: &std::path::Path,
    node: &NodeName,
    args: &ClusterArgs,
) -> Result<NodeIdentity, ClusterAgentError> {
    match NodeIdentity::load(dir) {
        Ok(mut identity) => {
            if &identity.node != node {
                return Err(ClusterAgentError::OtherNode {
                    dir: dir.to_path_buf(),
                    joined: identity.node,
                    asked: node.clone(),
                });
            }
            if let Some(master) = &args.master {
                identity.master = master.clone();
            }
            Ok(identity)
        }
        Err(IdentityError::NotJoined { .. }) => {
            let token: JoinToken = args
                .join
                .as_deref()
                .ok_or(ClusterAgentError::NeedToken)?
                .parse()?;
            let master = args
                .master
                .as_deref()
                .ok_or(ClusterAgentError::NeedMaster)?;
            let address: MasterAddress = master.parse()?;
            let identity = join(
                &HttpsJoinLink::new(address.clone()),
                &address.url,
                &token,
                node.clone(),
                dir,
            )
            .await?;
            tracing::info!(node = %identity.node, pod_cidr = %identity.pod_cidr, "joined the cluster");
            Ok(identity)
        }
        Err(e) => Err(e.into()),
    }
}

/// Runs a cluster agent until `shutdown` completes. Pods keep running after it returns.
pub async fn run_cluster_agent(
    mut config: AgentConfig,
    args: ClusterArgs,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), ClusterAgentError> {
    let node = NodeName::new(config.node_name.clone())?;
    let labels = args
        .node_labels
        .iter()
        .map(|l| parse_label(l))
        .collect::<Result<Vec<_>, _>>()?;
    let taints = args
        .node_taints
        .iter()
        .map(|t| parse_taint(t))
        .collect::<Result<Vec<_>, _>>()?;
    let dir = config.data_dir().join(CLUSTER_DIR);
    let identity = identity(&dir, &node, &args).await?;
    let address: MasterAddress = identity.master.parse()?;
    config.engine.network.pod_cidr =
        identity
            .pod_cidr
            .to_string()
            .parse()
            .map_err(|e| ClusterAgentError::PodCidr {
                cidr: identity.pod_cidr.to_string(),
                message: format!("{e:?}"),
            })?;
    let link = Arc::new(HttpsLink::new(
        address.clone(),
        pki::client_config(&identity.ca_pem, &identity.cert_pem, &identity.key_pem)?,
    ));
    let info = NodeInfoConfig {
        node: node.clone(),
        labels,
        taints,
        data_dir: config.data_dir().to_path_buf(),
        master_host: Some(address.host.clone()),
        agent_version: crate::version::VERSION.to_string(),
    };
    let agent = Arc::new(Agent::start(config).await?);
    let pods = AgentPods::start(agent.clone(), node.clone());
    let (stop, stopped) = watch::channel(false);
    let sync_config = SyncConfig::new(dir);
    // Known before the first request arrives, not only once the sync has started.
    let fence = EpochFence::load(&sync_config.data_dir).map_err(SyncError::from)?;
    sync_config.epoch_seen.send_replace(fence.highest());
    // The reverse tunnel: logs, exec and statistics asked through the master, behind the
    // epoch fence the sync keeps.
    let tunnel = tokio::spawn(requests::run(
        link.clone(),
        Arc::new(AgentAnswers::new(agent.clone(), node.clone())),
        node,
        RequestsConfig::default(),
        sync_config.epoch_seen.subscribe(),
        stopped.clone(),
    ));
    let sync = run(link, pods, identity, info, sync_config, stopped);
    crate::systemd::notify_ready("running pods, following the master");
    tokio::pin!(sync);
    let result = tokio::select! {
        result = &mut sync => result,
        _ = shutdown => {
            stop.send_replace(true);
            sync.await
        }
    };
    stop.send_replace(true);
    let _ = tunnel.await;
    if let Ok(agent) = Arc::try_unwrap(agent) {
        agent.stop().await;
    }
    Ok(result?)
}
