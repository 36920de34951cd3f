//! The agent's image service: makes an image available under a pull policy (Kubernetes'
//! `Always` / `IfNotPresent` / `Never`, `:latest` meaning `Always`), pulling through the
//! registry client, one pull per reference at a time, imports the air-gap directory, and
//! collects unused images (remembering when each image was last used).
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;

use super::digest::Digest;
use super::gc::{self, DiskUsage, GcError, GcPolicy, GcReport};
use super::import::import_path;
use super::oci::ImageConfig;
use super::pull::Puller;
use super::reference::ImageRef;
use super::store::{ImageRecord, ImageStore, LockMode, StoreLock};
use crate::api::ImagePullPolicy;

/// Images whose last use is remembered; beyond this, the least recently used is forgotten
/// (it then counts from when it was recorded). Collections also forget removed images.
const LAST_USED_ENTRIES_MAX: usize = 1024;
/// How long `ensure` waits between attempts at the store lock while a collection runs.
const STORE_LOCK_RETRY: Duration = Duration::from_millis(20);

/// An image ready to run: its record (layers) and config (run defaults).
#[derive(Debug, Clone)]
pub struct ReadyImage {
    pub record: ImageRecord,
    pub config: ImageConfig,
    /// Unpacked layers, bottom first.
    pub layers: Vec<PathBuf>,
}

/// Makes images available to pods.
pub struct ImageService {
    store: Arc<ImageStore>,
    puller: Puller,
    in_flight: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    /// When each image (by config digest) was last used by a pod, in milliseconds since the
    /// Unix epoch. In memory, like the kubelet's: after a restart, images count from when they
    /// were recorded until a pod uses them. At most `LAST_USED_ENTRIES_MAX` entries.
    last_used_ms: std::sync::Mutex<HashMap<Digest, u64>>,
}

/// What one collection attempt did.
#[derive(Debug)]
pub enum GcOutcome {
    /// The disk is below the high mark.
    NotDue,
    /// A pull or an import holds the store: try again shortly.
    Busy,
    Collected(GcReport),
}

/// The policy Kubernetes applies when the pod names none.
pub fn effective_policy(reference: &ImageRef, policy: Option<ImagePullPolicy>) -> ImagePullPolicy {
    policy.unwrap_or(if reference.is_latest() {
        ImagePullPolicy::Always
    } else {
        ImagePullPolicy::IfNotPresent
    })
}

impl ImageService {
    pub fn new(store: Arc<ImageStore>, puller: Puller) -> ImageService {
        ImageService {
            store,
            puller,
            in_flight: Mutex::new(HashMap::new()),
            last_used_ms: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Records that pods use these images now.
    pub fn mark_used<'a>(&self, configs: impl IntoIterator<Item = &'a Digest>) {
        let now_ms = crate::agent::runtime::now_ms();
        let mut last_used = self.last_used_ms.lock().expect("last used lock");
        for config in configs {
            last_used.insert(config.clone(), now_ms);
        }
        while last_used.len() > LAST_USED_ENTRIES_MAX {
            let Some(oldest) = last_used
                .iter()
                .min_by_key(|(_, at)| **at)
                .map(|(d, _)| d.clone())
            else {
                break;
            };
            last_used.remove(&oldest);
        }
    }

    /// The store lock, shared: waits while a collection runs.
    async fn lock_shared(&self) -> Result<StoreLock, String> {
        loop {
            match self.store.lock(LockMode::Shared, false) {
                Ok(Some(lock)) => return Ok(lock),
                Ok(None) => tokio::time::sleep(STORE_LOCK_RETRY).await,
                Err(e) => return Err(e.to_string()),
            }
        }
    }

    /// Whether the store's file system is at or above the policy's high mark (a `statvfs`).
    pub fn is_collection_due(&self, policy: &GcPolicy) -> Result<bool, GcError> {
        let root = self.store.root();
        let usage = DiskUsage::measure(root).map_err(|source| GcError::Measure {
            path: root.to_path_buf(),
            source,
        })?;
        Ok(policy.is_due(usage))
    }

    /// The store lock, exclusive, if nobody pulls or imports now: what a collection needs.
    /// Take it before deciding which images are in use, so that no pod can start using an
    /// image between that decision and the removal.
    pub fn try_lock_for_collection(&self) -> Result<Option<StoreLock>, GcError> {
        Ok(self.store.lock(LockMode::Exclusive, false)?)
    }

    /// Runs one collection under `policy`, holding `lock` (from
    /// [`ImageService::try_lock_for_collection`]). In use: the images of `containers` (config
    /// digests) and the images `desired` pods name.
    pub async fn collect_garbage(
        &self,
        lock: StoreLock,
        policy: GcPolicy,
        containers: HashSet<Digest>,
        desired: Vec<ImageRef>,
    ) -> Result<GcOutcome, GcError> {
        let store = self.store.clone();
        let desired_configs: HashSet<Digest> = tokio::task::spawn_blocking(move || {
            desired
                .iter()
                .filter_map(|reference| store.resolve(reference))
                .map(|record| record.config)
                .collect()
        })
        .await
        .unwrap_or_default();
        let in_use: HashSet<Digest> = containers.union(&desired_configs).cloned().collect();
        self.mark_used(&in_use);
        let last_used = self.last_used_ms.lock().expect("last used lock").clone();
        let store = self.store.clone();
        let report = tokio::task::spawn_blocking(move || {
            let _lock = lock;
            let root = store.root().to_path_buf();
            let now_ms = crate::agent::runtime::now_ms();
            let report = gc::collect(&store, &policy, &in_use, &last_used, now_ms, || {
                DiskUsage::measure(&root)
            });
            let kept: HashSet<Digest> = store.list().into_iter().map(|r| r.config).collect();
            (report, kept)
        })
        .await;
        let Ok((report, kept)) = report else {
            return Ok(GcOutcome::NotDue);
        };
        self.last_used_ms
            .lock()
            .expect("last used lock")
            .retain(|config, _| kept.contains(config));
        Ok(match report? {
            Some(report) => GcOutcome::Collected(report),
            None => GcOutcome::NotDue,
        })
    }

    pub fn store(&self) -> &Arc<ImageStore> {
        &self.store
    }

    fn ready(&self, record: ImageRecord) -> Result<ReadyImage, String> {
        let config = self.store.config(&record).map_err(|e| e.to_string())?;
        let layers = record
            .diff_ids
            .iter()
            .map(|d| self.store.layer_path(d))
            .collect();
        Ok(ReadyImage {
            record,
            config,
            layers,
        })
    }

    /// Makes `image` available under `policy`; the error is the message pods report.
    pub async fn ensure(
        &self,
        image: &str,
        policy: Option<ImagePullPolicy>,
    ) -> Result<ReadyImage, String> {
        let reference: ImageRef = image
            .parse()
            .map_err(|e: super::reference::InvalidImageRef| e.to_string())?;
        let policy = effective_policy(&reference, policy);
        // Held until the image is returned: a collection never removes it meanwhile, and a pod
        // that becomes desired after a collection decided what is in use waits for it to end.
        let _lock = self.lock_shared().await?;
        let ready = self.ensure_locked(&reference, policy).await;
        if let Ok(image) = &ready {
            self.mark_used([&image.record.config]);
        }
        ready
    }

    async fn ensure_locked(
        &self,
        reference: &ImageRef,
        policy: ImagePullPolicy,
    ) -> Result<ReadyImage, String> {
        let present = self.store.resolve(reference);
        match (policy, present) {
            (ImagePullPolicy::Never, Some(record))
            | (ImagePullPolicy::IfNotPresent, Some(record)) => return self.ready(record),
            (ImagePullPolicy::Never, None) => {
                return Err(format!(
                    "image {reference} is not present on the node and its pull policy is Never"
                ));
            }
            _ => {}
        }
        let lock = self
            .in_flight
            .lock()
            .await
            .entry(reference.to_string())
            .or_default()
            .clone();
        let _guard = lock.lock().await;
        if policy == ImagePullPolicy::IfNotPresent {
            // Another pod may have pulled it while this one waited.
            if let Some(record) = self.store.resolve(reference) {
                return self.ready(record);
            }
        }
        match self.puller.pull(&self.store, reference, None).await {
            Ok(record) => self.ready(record),
            // An edge node must keep running what it has when the registry is out of reach:
            // `Always` falls back to the local copy, with the failure logged.
            Err(e) => match self.store.resolve(reference) {
                Some(record) => {
                    tracing::warn!(image = %reference, error = %e, "pull failed; using the image already on the node");
                    self.ready(record)
                }
                None => Err(e.to_string()),
            },
        }
    }

    /// Imports every archive or layout in the air-gap directory not imported before (a marker
    /// file records what was imported, by name, size and modification time).
    pub async fn import_air_gap(&self) -> Vec<(PathBuf, Result<usize, String>)> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || import_directory(&store, &store.import_dir()))
            .await
            .unwrap_or_default()
    }
}

fn import_marker(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    let modified = meta
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    Some(format!(
        "{}:{}:{}",
        path.file_name()?.to_string_lossy(),
        meta.len(),
        modified
    ))
}

/// Imports new entries of `dir`; returns what was tried and how it went.
pub fn import_directory(store: &ImageStore, dir: &Path) -> Vec<(PathBuf, Result<usize, String>)> {
    let done_path = dir.join(".imported");
    let done = std::fs::read_to_string(&done_path).unwrap_or_default();
    let mut done_lines: Vec<String> = done.lines().map(str::to_string).collect();
    let mut results = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return results;
    };
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with('.') {
            continue;
        }
        let Some(marker) = import_marker(&path) else {
            continue;
        };
        if done_lines.contains(&marker) {
            continue;
        }
        let result = import_path(store, &path)
            .map(|records| records.len())
            .map_err(|e| e.to_string());
        match &result {
            Ok(count) => {
                tracing::info!(file = %path.display(), images = count, "imported air-gap images")
            }
            Err(e) => tracing::warn!(file = %path.display(), error = %e, "air-gap import failed"),
        }
        // Failed imports are recorded too: the same broken file is not retried in a loop; a
        // corrected file has another size or time.
        done_lines.push(marker);
        results.push((path, result));
    }
    if !results.is_empty() {
        let _ = std::fs::write(&done_path, done_lines.join("\n") + "\n");
    }
    results
}
