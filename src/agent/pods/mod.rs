//! Running pods: the manager takes the desired set of pods (from the manifest directory in
//! standalone mode, from the master's assignments in a cluster) and keeps one worker per pod;
//! workers publish each pod's status on a watch channel that `edged ps` and the cluster loop
//! read.
//!
//! The manager is the seam for the cluster loop: `set_desired` replaces the whole set (level
//! triggered, idempotent), `statuses` is how status leaves the node.
pub mod container_config;
pub mod naming;
pub mod objects;
pub mod probes;
pub mod volumes;
pub mod worker;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::{mpsc, watch, Mutex};

use crate::agent::image::service::ImageService;
use crate::agent::reconcile::Observed;
use crate::agent::runtime::{ContainerRecord, ContainerRuntime, SandboxStatus};
use crate::api;

pub use objects::{ObjectSet, ObjectSource};
use worker::WorkerMessage;

/// How many messages a worker's inbox holds.
const WORKER_INBOX_MAX: usize = 4;
/// Orphaned containers (pods gone while the agent was down) get this long after their stop
/// signal before SIGKILL.
const ORPHAN_GRACE_MS: u64 = 10_000;

/// One pod as the node sees it.
#[derive(Debug, Clone)]
pub struct PodView {
    pub pod: Arc<api::Pod>,
    pub status: api::PodStatus,
    /// Deletion in progress (kubectl's `Terminating`).
    pub deleting: bool,
    /// Container name, init or not, last termination message (why it was last restarted).
    pub containers: Vec<(String, bool, Option<String>)>,
}

/// Pod views by pod uid.
pub type StatusMap = BTreeMap<String, Arc<PodView>>;

/// What every worker shares.
pub struct WorkerContext<R> {
    pub runtime: R,
    pub images: Arc<ImageService>,
    pub objects: Arc<dyn ObjectSource>,
    pub node_name: String,
    pub host_ip: Option<String>,
    /// `<data>/pods`: per-pod volumes.
    pub pods_dir: PathBuf,
    /// `<data>/logs`: container logs.
    pub logs_dir: PathBuf,
    pub statuses: watch::Sender<StatusMap>,
}

struct WorkerHandle {
    inbox: mpsc::Sender<WorkerMessage>,
    task: tokio::task::JoinHandle<()>,
}

/// Containers and sandboxes found at start-up, by pod uid, until the first desired set claims
/// them.
#[derive(Default)]
struct Inventory {
    sandboxes: HashMap<String, SandboxStatus>,
    containers: HashMap<String, Vec<ContainerRecord>>,
}

/// Keeps one worker per desired pod.
pub struct PodManager<R: ContainerRuntime + Clone> {
    ctx: Arc<WorkerContext<R>>,
    workers: Mutex<HashMap<String, WorkerHandle>>,
    inventory: Mutex<Option<Inventory>>,
}

fn observed(record: &ContainerRecord) -> Option<Observed> {
    let label = |key: &str| record.labels.get(key).cloned();
    Some(Observed {
        name: label(naming::LABEL_CONTAINER)?,
        init: label(naming::LABEL_INIT).as_deref() == Some("true"),
        id: record.id.clone(),
        restart_count: label(naming::LABEL_RESTART)
            .and_then(|r| r.parse().ok())
            .unwrap_or(0),
        started_at_ms: record.started_at_ms,
        stop_signal: label(naming::LABEL_STOP_SIGNAL)
            .and_then(|s| s.parse().ok())
            .unwrap_or(libc::SIGTERM),
        exit: record.exit,
    })
}

impl<R: ContainerRuntime + Clone> PodManager<R> {
    /// A manager over `ctx`; takes stock of what the runtime already runs (re-adoption).
    pub async fn new(ctx: WorkerContext<R>) -> PodManager<R> {
        let mut inventory = Inventory::default();
        for sandbox in ctx.runtime.list_sandboxes().await {
            if let Some(uid) = sandbox.labels.get(naming::LABEL_POD_UID) {
                inventory.sandboxes.insert(uid.clone(), sandbox);
            }
        }
        for record in ctx.runtime.list_containers().await {
            if let Some(uid) = record.labels.get(naming::LABEL_POD_UID) {
                inventory
                    .containers
                    .entry(uid.clone())
                    .or_default()
                    .push(record);
            }
        }
        PodManager {
            ctx: Arc::new(ctx),
            workers: Mutex::new(HashMap::new()),
            inventory: Mutex::new(Some(inventory)),
        }
    }

    /// Pod views, updated by the workers.
    pub fn statuses(&self) -> watch::Receiver<StatusMap> {
        self.ctx.statuses.subscribe()
    }

    pub fn context(&self) -> &Arc<WorkerContext<R>> {
        &self.ctx
    }

    /// Makes `pods` the node's pods: new ones start, missing ones are stopped and removed,
    /// existing ones are left alone. Pods without a uid are refused (logged).
    pub async fn set_desired(&self, pods: Vec<api::Pod>) {
        let mut workers = self.workers.lock().await;
        let mut inventory = self.inventory.lock().await.take();
        let desired: HashMap<String, api::Pod> = pods
            .into_iter()
            .filter(|p| {
                if p.metadata.uid.is_empty() {
                    tracing::warn!(pod = %naming::pod_key(p), "pod without uid ignored");
                }
                !p.metadata.uid.is_empty()
            })
            .map(|p| (p.metadata.uid.clone(), p))
            .collect();
        workers.retain(|_, w| !w.task.is_finished());
        for (uid, worker) in workers.iter() {
            if !desired.contains_key(uid) {
                let _ = worker.inbox.try_send(WorkerMessage::Delete);
            }
        }
        for (uid, pod) in desired {
            if workers.contains_key(&uid) {
                continue;
            }
            let adopted = match inventory.as_mut() {
                Some(inventory) => (
                    inventory.sandboxes.remove(&uid),
                    inventory
                        .containers
                        .remove(&uid)
                        .unwrap_or_default()
                        .iter()
                        .filter_map(observed)
                        .collect(),
                ),
                None => (None, Vec::new()),
            };
            let (inbox, messages) = mpsc::channel(WORKER_INBOX_MAX);
            let task = tokio::spawn(worker::run(
                self.ctx.clone(),
                Arc::new(pod),
                adopted,
                messages,
            ));
            workers.insert(uid, WorkerHandle { inbox, task });
        }
        if let Some(orphans) = inventory {
            self.remove_orphans(orphans);
        }
    }

    /// Stops and removes what belongs to pods that are no longer desired (deleted while the
    /// agent was down): stop signal, a short grace, SIGKILL, removal.
    fn remove_orphans(&self, orphans: Inventory) {
        let runtime = self.ctx.runtime.clone();
        let pods_dir = self.ctx.pods_dir.clone();
        tokio::spawn(async move {
            for (uid, records) in orphans.containers {
                tracing::info!(pod_uid = %uid, containers = records.len(), "removing containers of a pod that is no longer assigned");
                for record in &records {
                    if record.exit.is_none() {
                        let signal = observed(record).map_or(libc::SIGTERM, |o| o.stop_signal);
                        let _ = runtime.signal(&record.id, signal).await;
                    }
                }
                for record in &records {
                    let _ = tokio::time::timeout(
                        std::time::Duration::from_millis(ORPHAN_GRACE_MS),
                        runtime.wait(&record.id),
                    )
                    .await;
                    if let Err(e) = runtime.remove_container(&record.id).await {
                        tracing::warn!(container = %record.id, error = %e, "removing orphaned container");
                    }
                }
            }
            for (uid, sandbox) in orphans.sandboxes {
                if let Err(e) = runtime.remove_sandbox(&sandbox.id).await {
                    tracing::warn!(sandbox = %sandbox.id, error = %e, "removing orphaned sandbox");
                }
                let dir = worker::pod_dir(&pods_dir, &uid);
                let _ = tokio::task::spawn_blocking(move || volumes::remove(&dir)).await;
            }
        });
    }

    /// Deletes every pod and waits (up to `timeout`) until all are gone.
    pub async fn shutdown(&self, timeout: std::time::Duration) {
        self.set_desired(Vec::new()).await;
        let mut workers = self.workers.lock().await;
        let deadline = tokio::time::Instant::now() + timeout;
        for (_, worker) in workers.drain() {
            let _ = tokio::time::timeout_at(deadline, worker.task).await;
        }
    }

    /// How many workers run (pods being run or being removed).
    pub async fn worker_count(&self) -> usize {
        let mut workers = self.workers.lock().await;
        workers.retain(|_, w| !w.task.is_finished());
        workers.len()
    }
}
