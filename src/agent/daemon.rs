//! The agent process: wires the image service, the engine, the pod manager, the local socket
//! and the image garbage collector together (`Agent`, used by both modes), and runs standalone
//! mode (`run_standalone`): the manifest directory and the air-gap image directory watched with
//! inotify, nothing done while idle but a disk-usage check every `image_gc.interval`.
//!
//! Stopping the agent leaves its pods running: a restarted agent re-adopts them (see
//! `runtime::engine`). Pods stop when they leave the desired set.
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::agent::image::gc::GcPolicy;
use crate::agent::image::platform::HostPlatform;
use crate::agent::image::pull::Puller;
use crate::agent::image::registries::RegistriesConfig;
use crate::agent::image::service::{GcOutcome, ImageService};
use crate::agent::image::{Digest, ImageRef, ImageStore};
use crate::agent::pods::{ObjectSet, PodManager, StatusMap, WorkerContext};
use crate::agent::runtime::engine::{Engine, EngineConfig};
use crate::agent::runtime::ContainerRuntime;
use crate::agent::standalone::ManifestDir;
use crate::api;

/// How long the manifest directory must be quiet before it is rescanned.
const MANIFEST_SETTLE: Duration = Duration::from_millis(20);
/// A collection that found a pull or an import under way tries again this soon.
const IMAGE_GC_BUSY_RETRY: Duration = Duration::from_secs(5);

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
    /// When unused images are removed (thresholds on the image store's file system).
    pub image_gc: GcPolicy,
}

impl AgentConfig {
    pub fn new(node_name: &str, data_dir: &Path) -> AgentConfig {
        AgentConfig {
            node_name: node_name.to_string(),
            engine: EngineConfig::new(data_dir),
            socket: PathBuf::from(crate::agent::socket::DEFAULT_SOCKET),
            registries: PathBuf::from(crate::agent::image::registries::DEFAULT_PATH),
            image_gc: GcPolicy::default(),
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
    /// Images the desired pods name; `None` until the first desired set.
    desired_images: watch::Sender<Option<DesiredImages>>,
    socket_stop: Option<tokio::sync::oneshot::Sender<()>>,
    socket_task: tokio::task::JoinHandle<Result<(), crate::agent::socket::SocketError>>,
    gc_stop: Option<tokio::sync::oneshot::Sender<()>>,
    gc_task: tokio::task::JoinHandle<()>,
}

/// The image references of the desired pods (containers and init containers).
type DesiredImages = Arc<Vec<ImageRef>>;

fn desired_images(pods: &[api::Pod]) -> DesiredImages {
    let mut images: Vec<ImageRef> = pods
        .iter()
        .flat_map(|pod| pod.spec.init_containers.iter().chain(&pod.spec.containers))
        .filter_map(|container| container.image.as_deref()?.parse().ok())
        .collect();
    images.sort();
    images.dedup();
    Arc::new(images)
}

/// What the image garbage collector reads: the images, the runtime's containers and the
/// desired pods' images. It holds no `Agent`, so that the cluster loop can unwrap its `Arc`.
struct ImageCollector {
    images: Arc<ImageService>,
    engine: Arc<Engine>,
    desired: watch::Receiver<Option<DesiredImages>>,
    policy: GcPolicy,
}

impl ImageCollector {
    /// One collection attempt. Images in use: those of every container the runtime knows
    /// (running, exited, adopted, being removed) and those the desired pods name, whether
    /// their pods run, pull or wait on init containers.
    async fn collect_once(&self) -> GcOutcome {
        // The usual case, every interval: one `statvfs`, nothing read or written.
        match self.images.is_collection_due(&self.policy) {
            Ok(true) => {}
            Ok(false) => return GcOutcome::NotDue,
            Err(e) => {
                tracing::warn!(error = %e, "image garbage collection");
                return GcOutcome::NotDue;
            }
        }
        let lock = match self.images.try_lock_for_collection() {
            Ok(Some(lock)) => lock,
            Ok(None) => return GcOutcome::Busy,
            Err(e) => {
                tracing::warn!(error = %e, "image garbage collection");
                return GcOutcome::NotDue;
            }
        };
        let containers: HashSet<Digest> = self
            .engine
            .list_containers()
            .await
            .iter()
            .filter_map(|c| c.labels.get(crate::agent::pods::naming::LABEL_IMAGE_ID))
            .filter_map(|id| id.parse().ok())
            .collect();
        let desired = self
            .desired
            .borrow()
            .as_ref()
            .map(|d| d.as_ref().clone())
            .unwrap_or_default();
        match self
            .images
            .collect_garbage(lock, self.policy, containers, desired)
            .await
        {
            Ok(GcOutcome::Collected(report)) => {
                tracing::info!(
                    removed = ?report.removed.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
                    disk_used_percent_before = report.before.used_percent(),
                    disk_used_percent_after = report.after.used_percent(),
                    freed_bytes = report.after.available_bytes.saturating_sub(report.before.available_bytes),
                    "image garbage collection"
                );
                if !self.policy.is_satisfied(report.after) {
                    tracing::warn!(
                        disk_used_percent = report.after.used_percent(),
                        low_percent = self.policy.low_percent,
                        "every unused image is gone and the disk is still above the low mark"
                    );
                }
                GcOutcome::Collected(report)
            }
            Ok(outcome) => outcome,
            Err(e) => {
                tracing::warn!(error = %e, "image garbage collection");
                GcOutcome::NotDue
            }
        }
    }

    /// Collects once the first desired set is known (before it, images of pods about to be
    /// started are unknown), then every `policy.interval`, until `stop`.
    async fn run(mut self, mut stop: tokio::sync::oneshot::Receiver<()>) {
        tokio::select! {
            known = self.desired.wait_for(Option::is_some) => if known.is_err() { return },
            _ = &mut stop => return,
        }
        loop {
            let next = match self.collect_once().await {
                GcOutcome::Busy => IMAGE_GC_BUSY_RETRY.min(self.policy.interval),
                _ => self.policy.interval,
            };
            tokio::select! {
                _ = tokio::time::sleep(next) => {}
                _ = &mut stop => return,
            }
        }
    }
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
        for dir in [data_dir.join("pods"), data_dir.join("logs")] {
            std::fs::create_dir_all(&dir).map_err(|source| AgentError::Watch {
                path: dir.clone(),
                source,
            })?;
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
        let (desired_images, desired) = watch::channel(None);
        let (gc_stop, gc_stopped) = tokio::sync::oneshot::channel::<()>();
        let collector = ImageCollector {
            images: images.clone(),
            engine: engine.clone(),
            desired,
            policy: config.image_gc,
        };
        let gc_task = tokio::spawn(collector.run(gc_stopped));
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
            desired_images,
            socket_stop: Some(socket_stop),
            socket_task,
            gc_stop: Some(gc_stop),
            gc_task,
        })
    }

    /// Replaces the desired pods (the cluster loop's entry point; standalone calls it on every
    /// manifest change).
    pub async fn set_desired(&self, pods: Vec<api::Pod>) {
        // Before the workers start: an image a worker readies is already protected.
        self.desired_images
            .send_replace(Some(desired_images(&pods)));
        self.manager.set_desired(pods).await;
    }

    pub fn statuses(&self) -> watch::Receiver<StatusMap> {
        self.manager.statuses()
    }

    /// Runs one image garbage collection now (the agent also runs them every
    /// `image_gc.interval`).
    pub async fn collect_images(&self) -> GcOutcome {
        ImageCollector {
            images: self.images.clone(),
            engine: self.engine.clone(),
            desired: self.desired_images.subscribe(),
            policy: self.config.image_gc,
        }
        .collect_once()
        .await
    }

    /// Stops serving; pods keep running.
    pub async fn stop(mut self) {
        if let Some(stop) = self.socket_stop.take() {
            let _ = stop.send(());
        }
        if let Some(stop) = self.gc_stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.socket_task).await;
        let _ = (&mut self.gc_task).await;
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
            _ = &mut shutdown => break,
        }
    }
    crate::systemd::notify_stopping("stopping; pods keep running");
    agent.stop().await;
    Ok(())
}
