//! The agent's image service: makes an image available under a pull policy (Kubernetes'
//! `Always` / `IfNotPresent` / `Never`, `:latest` meaning `Always`), pulling through the
//! registry client, one pull per reference at a time, and imports the air-gap directory.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::Mutex;

use super::import::import_path;
use super::oci::ImageConfig;
use super::pull::Puller;
use super::reference::ImageRef;
use super::store::{ImageRecord, ImageStore};
use crate::api::ImagePullPolicy;

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
        }
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
        let present = self.store.resolve(&reference);
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
            if let Some(record) = self.store.resolve(&reference) {
                return self.ready(record);
            }
        }
        match self.puller.pull(&self.store, &reference, None).await {
            Ok(record) => self.ready(record),
            // An edge node must keep running what it has when the registry is out of reach:
            // `Always` falls back to the local copy, with the failure logged.
            Err(e) => match self.store.resolve(&reference) {
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
