//! `edged agent`: runs pods on this node. `--master URL --join TOKEN` joins a cluster (the
//! identity is kept, so later starts need neither); `--standalone --manifests DIR` runs the
//! pods of a directory without any master (like the kubelet's static pods).
use std::path::PathBuf;

use anyhow::Context as _;

use crate::agent::daemon::{self, AgentConfig};
use crate::agent::image::gc::GcPolicy;
use crate::agent::logs::LogLimits;
use crate::agent::network::NetworkConfig;
use crate::agent::sync::cluster::{run_cluster_agent, ClusterArgs};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The master to join or follow, `https://HOST[:7443]` (remembered after the first join).
    #[arg(long, env = "FLOTILLA_URL", conflicts_with = "standalone")]
    pub master: Option<String>,
    /// Join token from `edgectl token create` (needed on the first start only).
    #[arg(
        long,
        env = "FLOTILLA_TOKEN",
        hide_env_values = true,
        conflicts_with = "standalone"
    )]
    pub join: Option<String>,
    /// A label of this node, KEY=VALUE (repeatable).
    #[arg(long = "node-label", value_name = "KEY=VALUE")]
    pub node_labels: Vec<String>,
    /// A taint of this node, KEY[=VALUE]:NoSchedule|PreferNoSchedule|NoExecute (repeatable).
    #[arg(long = "node-taint", value_name = "KEY[=VALUE]:EFFECT")]
    pub node_taints: Vec<String>,
    /// Run without a master: the pods are the manifests in --manifests.
    #[arg(long)]
    pub standalone: bool,
    /// Directory of Pod (and ConfigMap, Secret) manifests, watched for changes.
    #[arg(long, default_value = "/etc/flotilla/manifests")]
    pub manifests: PathBuf,
    /// Where images, container state and logs live.
    #[arg(long, default_value = "/var/lib/flotilla/agent")]
    pub data_dir: PathBuf,
    /// Runtime state that does not outlive a reboot.
    #[arg(long, default_value = "/run/flotilla/agent")]
    pub run_dir: PathBuf,
    /// The local API socket (`edged ps`, `edged logs`).
    #[arg(long, default_value = crate::agent::socket::DEFAULT_SOCKET)]
    pub socket: PathBuf,
    /// This node's name (default: the host name).
    #[arg(long)]
    pub node_name: Option<String>,
    /// The node's pod address range.
    #[arg(long, default_value = "10.88.0.0/24")]
    pub pod_cidr: String,
    /// The bridge pods are attached to.
    #[arg(long, default_value = "flot0")]
    pub bridge: String,
    /// The nftables table holding masquerading and hostPort rules.
    #[arg(long, default_value = "flotilla")]
    pub nft_table: String,
    /// Containers' cgroups live under /<this>/.
    #[arg(long, default_value = "flotilla")]
    pub cgroup_parent: String,
    /// Registry mirrors and credentials (k3s registries.yaml format).
    #[arg(long, default_value = crate::agent::image::registries::DEFAULT_PATH)]
    pub registries: PathBuf,
    /// A container log file is rotated above this many bytes.
    #[arg(long, default_value_t = 10 * 1024 * 1024)]
    pub log_max_bytes: u64,
    /// Log files kept per container, the current one included.
    #[arg(long, default_value_t = 3)]
    pub log_max_files: u32,
    /// Image garbage collection starts when the file system holding the images is at least
    /// this full (percent): unused images are deleted, least recently used first.
    #[arg(long, default_value_t = 85)]
    pub image_gc_high_percent: u8,
    /// Image garbage collection stops once the file system is at most this full (percent,
    /// below the high mark).
    #[arg(long, default_value_t = 80)]
    pub image_gc_low_percent: u8,
    /// How often the disk usage is checked for image garbage collection (the first check
    /// follows the first set of pods).
    #[arg(long, default_value_t = 300)]
    pub image_gc_interval_seconds: u64,
    /// Images used or imported more recently than this are never collected.
    #[arg(long, default_value_t = 120)]
    pub image_gc_min_age_seconds: u64,
}

impl Args {
    pub fn config(&self) -> anyhow::Result<AgentConfig> {
        let node_name = match &self.node_name {
            Some(name) => name.clone(),
            None => nix::unistd::gethostname()
                .context("reading the host name (pass --node-name)")?
                .to_string_lossy()
                .to_ascii_lowercase(),
        };
        let mut config = AgentConfig::new(&node_name, &self.data_dir);
        config.socket = self.socket.clone();
        config.registries = self.registries.clone();
        config.image_gc = GcPolicy::new(
            self.image_gc_high_percent,
            self.image_gc_low_percent,
            std::time::Duration::from_secs(self.image_gc_interval_seconds),
            std::time::Duration::from_secs(self.image_gc_min_age_seconds),
        )?;
        config.engine.run_dir = self.run_dir.clone();
        config.engine.cgroup_parent = self.cgroup_parent.trim_matches('/').to_string();
        config.engine.log_limits = LogLimits {
            file_bytes_max: self.log_max_bytes.max(4096),
            files_max: self.log_max_files.max(1),
        };
        config.engine.network = NetworkConfig {
            bridge: self.bridge.clone(),
            pod_cidr: self
                .pod_cidr
                .parse()
                .with_context(|| format!("--pod-cidr {}", self.pod_cidr))?,
            nft_table: self.nft_table.clone(),
            ..NetworkConfig::default()
        };
        if let Ok(exe) = std::env::current_exe() {
            config.engine.helper_program = exe;
        }
        Ok(config)
    }
}

pub async fn run(
    args: Args,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    if !nix::unistd::geteuid().is_root() {
        anyhow::bail!("edged agent must run as root (it creates namespaces, cgroups and mounts)");
    }
    let config = args.config()?;
    if args.standalone {
        daemon::run_standalone(config, &args.manifests, shutdown).await?;
        return Ok(());
    }
    run_cluster_agent(config, args.cluster_args(), shutdown).await?;
    Ok(())
}

impl Args {
    /// The cluster flags, for [`run_cluster_agent`].
    pub fn cluster_args(&self) -> ClusterArgs {
        ClusterArgs {
            master: self.master.clone().filter(|m| !m.is_empty()),
            join: self.join.clone().filter(|t| !t.is_empty()),
            node_labels: self.node_labels.clone(),
            node_taints: self.node_taints.clone(),
        }
    }
}
