//! The agent process: wires the image service, the engine, the pod manager and the local
//! socket together (`Agent`), and runs standalone mode (`run_standalone`): the manifest
//! directory and the air-gap image directory watched with inotify, nothing done while idle.
//!
//! Stopping the agent leaves its pods running: a restarted agent re-adopts them (see
//! `runtime::engine`). Pods stop when they leave the desired set.
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::agent::image::platform::HostPlatform;
use crate::agent::image::pull::Puller;
use crate::agent::image::registries::RegistriesConfig;
use crate::agent::image::service::ImageService;
use crate::agent::image::{Digest, ImageStore};
use crate::agent::pods::{ObjectSet, PodManager, StatusMap, WorkerContext};
use crate::agent::runtime::engine::{Engine, EngineConfig};
use crate::agent::standalone::ManifestDir;
use crate::api;

/// How long the manifest directory must be quiet before it is rescanned.
const MANIFEST_SETTLE: Duration = Duration::from_millis(20);
/// How often disk usage is checked for image garbage collection (a read, no write).
const IMAGE_GC_INTERVAL: Duration = Duration::from_secs(300);

/// Why the agent stopped.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("image store: {0}")]
    Images(#[from] crate::agent::image::StoreError),
    #[error("registries: {0}")]
    Registries(#[from] crate::agent::image::registries::RegistriesError),
    #[error("runtime: {0}")]
    Runtime(#[from] crate::agent::runtime::RuntimeError),
    #[error("agent socket: {0}")]
    Socket(#[from] crate::agent::socket::SocketError),
    #[error("watching {path}: {source}")]
    Watch {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The agent's settings.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub node_name: String,
    pub engine: EngineConfig,
    /// The local API socket (`edged ps`, `edged logs`).
    pub socket: PathBuf,
    /// k3s-style registries.yaml.
    pub registries: PathBuf,
    /// Unused images are removed while the data directory's file system is fuller than this.
    pub image_gc_high_percent: u8,
}

impl AgentConfig {
    pub fn new(node_name: &str, data_dir: &Path) -> AgentConfig {
        AgentConfig {
            node_name: node_name.to_string(),
            engine: EngineConfig::new(data_dir),
            socket: PathBuf::from(crate::agent::socket::DEFAULT_SOCKET),
            registries: PathBuf::from(crate::agent::image::registries::DEFAULT_PATH),
            image_gc_high_percent: 85,
        }
    }

    pub fn data_dir(&self) -> &Path {
        &self.engine.data_dir
    }
}

/// A running agent: pods are whatever `set_desired` said last.
pub struct Agent {
    pub config: AgentConfig,
    pub images: Arc<ImageService>,
    pub engine: Arc<Engine>,
    pub manager: PodManager<Arc<Engine>>,
    /// ConfigMaps and Secrets pods may use.
    pub objects: Arc<ObjectSet>,
    socket_stop: Option<tokio::sync::oneshot::Sender<()>>,
    socket_task: tokio::task::JoinHandle<Result<(), crate::agent::socket::SocketError>>,
}

/// Percentage of the file system holding `path` in use.
fn disk_used_percent(path: &Path) -> Option<u8> {
    let stat = nix::sys::statvfs::statvfs(path).ok()?;
    let total = stat.blocks() as u64;
    let free = stat.blocks_available() as u64;
    (total > 0).then(|| (100 * (total - free) / total) as u8)
}

impl Agent {
    /// Opens the stores, re-adopts running containers, and serves the local socket.
    pub async fn start(config: AgentConfig) -> Result<Agent, AgentError> {
        let data_dir = config.data_dir().to_path_buf();
        let store = Arc::new(ImageStore::open(
            &data_dir.join("images"),
            HostPlatform::detect(),
        )?);
        let puller = Puller::new(RegistriesConfig::load(&config.registries)?);
        let images = Arc::new(ImageService::new(store, puller));
        for (path, result) in images.import_air_gap().await {
            if let Err(e) = result {
                tracing::warn!(file = %path.display(), error = %e, "air-gap import");
            }
        }
        let engine = Engine::open(config.engine.clone()).await?;
        let objects = Arc::new(ObjectSet::default());
        let (statuses, _) = watch::channel(StatusMap::new());
        let host_ip = crate::agent::network::host_ipv4()
            .await
            .map(|ip| ip.to_string());
        let ctx = WorkerContext {
            runtime: engine.clone(),
            images: images.clone(),
            objects: objects.clone(),
            node_name: config.node_name.clone(),
            host_ip,
            pods_dir: data_dir.join("pods"),
            logs_dir: data_dir.join("logs"),
            statuses,
        };
        let manager = PodManager::new(ctx).await;
        let (socket_stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let socket_path = config.socket.clone();
        let views = manager.statuses();
        let logs_dir = data_dir.join("logs");
        let socket_task = tokio::spawn(async move {
            crate::agent::socket::serve(&socket_path, views, logs_dir, async move {
                let _ = stopped.await;
            })
            .await
        });
        Ok(Agent {
            config,
            images,
            engine,
            manager,
            objects,
            socket_stop: Some(socket_stop),
            socket_task,
        })
    }

    /// Replaces the desired pods (the cluster loop's entry point; standalone calls it on every
    /// manifest change).
    pub async fn set_desired(&self, pods: Vec<api::Pod>) {
        self.manager.set_desired(pods).await;
    }

    pub fn statuses(&self) -> watch::Receiver<StatusMap> {
        self.manager.statuses()
    }

    /// Removes unused images while the disk is fuller than the threshold.
    pub async fn collect_images(&self) {
        let Some(used) = disk_used_percent(self.config.data_dir()) else {
            return;
        };
        if used <= self.config.image_gc_high_percent {
            return;
        }
        let in_use: HashSet<Digest> = self
            .manager
            .statuses()
            .borrow()
            .values()
            .flat_map(|v| {
                v.status
                    .container_statuses
                    .iter()
                    .chain(&v.status.init_container_statuses)
            })
            .filter_map(|c| c.image_id.parse().ok())
            .collect();
        let store = self.images.store().clone();
        let freed = tokio::task::spawn_blocking(move || store.garbage_collect(&in_use, 0)).await;
        if let Ok(Ok(bytes)) = freed {
            tracing::info!(
                freed_bytes = bytes,
                disk_used_percent = used,
                "image garbage collection"
            );
        }
    }

    /// Stops serving; pods keep running.
    pub async fn stop(mut self) {
        if let Some(stop) = self.socket_stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.socket_task).await;
    }
}

/// Standalone mode: runs the pods of `manifests` until `shutdown` completes.
pub async fn run_standalone(
    config: AgentConfig,
    manifests: &Path,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), AgentError> {
    std::fs::create_dir_all(manifests).map_err(|source| AgentError::Watch {
        path: manifests.to_path_buf(),
        source,
    })?;
    let agent = Agent::start(config).await?;
    let import_dir = agent.images.store().import_dir();
    let manifest_watch = crate::agent::dirwatch::DirWatch::new(&[manifests]).map_err(|source| {
        AgentError::Watch {
            path: manifests.to_path_buf(),
            source,
        }
    })?;
    let import_watch = crate::agent::dirwatch::DirWatch::new(&[&import_dir]).map_err(|source| {
        AgentError::Watch {
            path: import_dir.clone(),
            source,
        }
    })?;
    let mut directory = ManifestDir::new(manifests, &agent.config.node_name);
    let apply = |directory: &mut ManifestDir| {
        let (found, errors) = directory.scan();
        for error in errors {
            tracing::error!("{error}");
        }
        agent.objects.replace(found.config_maps, found.secrets);
        found.pods
    };
    let pods = apply(&mut directory);
    tracing::info!(pods = pods.len(), manifests = %manifests.display(), "standalone agent running");
    agent.set_desired(pods).await;
    crate::systemd::notify_ready("running pods");
    let mut gc = tokio::time::interval(IMAGE_GC_INTERVAL);
    gc.tick().await;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            changed = manifest_watch.changed(MANIFEST_SETTLE) => {
                changed.map_err(|source| AgentError::Watch { path: manifests.to_path_buf(), source })?;
                let pods = apply(&mut directory);
                agent.set_desired(pods).await;
            }
            changed = import_watch.changed(Duration::from_millis(500)) => {
                changed.map_err(|source| AgentError::Watch { path: import_dir.clone(), source })?;
                for (path, result) in agent.images.import_air_gap().await {
                    if let Err(e) = result {
                        tracing::warn!(file = %path.display(), error = %e, "air-gap import");
                    }
                }
            }
            _ = gc.tick() => agent.collect_images().await,
            _ = &mut shutdown => break,
        }
    }
    crate::systemd::notify_stopping("stopping; pods keep running");
    agent.stop().await;
    Ok(())
}
