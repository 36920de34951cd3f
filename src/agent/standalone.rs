//! Standalone mode's source of desired pods: the Pod, ConfigMap and Secret manifests of a
//! directory, like the kubelet's static pods. Each file is decoded whole (a file with an error
//! changes nothing: its last good version stays in force, and the error names the file, the
//! document and the field); a pod's uid is a digest of its node and manifest, so that an
//! unchanged pod keeps its containers across agent restarts and an edited one is replaced.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::agent::image::Digest;
use crate::api::{self, Resource};

/// Largest manifest file read.
const MANIFEST_BYTES_MAX: u64 = 4 * 1024 * 1024;
/// Files considered in the directory.
const MANIFEST_FILES_MAX: usize = 1024;

/// What one manifest file declares.
#[derive(Debug, Clone, Default)]
struct FileContent {
    pods: Vec<api::Pod>,
    config_maps: Vec<api::ConfigMap>,
    secrets: Vec<api::Secret>,
}

/// The objects the manifest directory declares, as of the last scan.
#[derive(Debug, Clone, Default)]
pub struct Manifests {
    pub pods: Vec<api::Pod>,
    pub config_maps: Vec<api::ConfigMap>,
    pub secrets: Vec<api::Secret>,
}

/// Reads a manifest directory, remembering each file's last good content.
pub struct ManifestDir {
    dir: PathBuf,
    node_name: String,
    files: BTreeMap<PathBuf, FileContent>,
}

fn is_manifest(path: &Path) -> bool {
    let hidden = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_none_or(|n| n.starts_with('.'));
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    !hidden && matches!(extension, "yaml" | "yml" | "json")
}

/// The uid of a standalone pod: node name and the manifest's canonical JSON, digested.
pub fn static_pod_uid(node_name: &str, pod: &api::Pod) -> String {
    let canonical = serde_json::to_vec(
        &serde_json::json!({"node": node_name, "metadata": pod.metadata, "spec": pod.spec}),
    )
    .expect("pods serialise");
    Digest::of(&canonical).hex()[..32].to_string()
}

impl ManifestDir {
    pub fn new(dir: &Path, node_name: &str) -> ManifestDir {
        ManifestDir {
            dir: dir.to_path_buf(),
            node_name: node_name.to_string(),
            files: BTreeMap::new(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn read_file(&self, path: &Path) -> Result<FileContent, String> {
        use std::io::Read;
        let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut text = String::new();
        file.take(MANIFEST_BYTES_MAX + 1)
            .read_to_string(&mut text)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if text.len() as u64 > MANIFEST_BYTES_MAX {
            return Err(format!(
                "{}: larger than {MANIFEST_BYTES_MAX} bytes",
                path.display()
            ));
        }
        let documents =
            api::decode_manifests(&path.display().to_string(), &text).map_err(|e| e.to_string())?;
        let mut content = FileContent::default();
        for document in documents {
            for warning in &document.warnings {
                tracing::warn!(file = %path.display(), document = document.index, "{warning}");
            }
            match document.resource {
                Resource::Pod(mut pod) => {
                    if pod.metadata.namespace.is_none() {
                        pod.metadata.namespace = Some(api::NamespaceName::default_namespace());
                    }
                    pod.spec.node_name = api::NodeName::new(&self.node_name).ok();
                    pod.metadata.uid = String::new();
                    pod.metadata.uid = static_pod_uid(&self.node_name, &pod);
                    content.pods.push(pod);
                }
                Resource::ConfigMap(config_map) => content.config_maps.push(config_map),
                Resource::Secret(secret) => content.secrets.push(secret),
                other => {
                    tracing::warn!(file = %path.display(), document = document.index, kind = %other.kind(), "ignored: standalone mode runs Pods and reads ConfigMaps and Secrets")
                }
            }
        }
        Ok(content)
    }

    /// Rescans the directory. Returns the objects in force and the errors met (each naming
    /// its file); a file with errors keeps its previous content.
    pub fn scan(&mut self) -> (Manifests, Vec<String>) {
        let mut errors = Vec::new();
        let mut paths: Vec<PathBuf> = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| is_manifest(p) && p.is_file())
                .collect(),
            Err(e) => {
                errors.push(format!("{}: {e}", self.dir.display()));
                Vec::new()
            }
        };
        paths.sort();
        if paths.len() > MANIFEST_FILES_MAX {
            errors.push(format!(
                "{}: more than {MANIFEST_FILES_MAX} manifest files; the rest are ignored",
                self.dir.display()
            ));
            paths.truncate(MANIFEST_FILES_MAX);
        }
        self.files.retain(|path, _| paths.contains(path));
        for path in &paths {
            match self.read_file(path) {
                Ok(content) => {
                    self.files.insert(path.clone(), content);
                }
                Err(e) => errors.push(e),
            }
        }
        let mut manifests = Manifests::default();
        let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
        for (path, content) in &self.files {
            for pod in &content.pods {
                let key = format!(
                    "{}/{}",
                    pod.metadata.namespace_or_default(),
                    pod.metadata.name
                );
                if let Some(first) = seen.get(&key) {
                    errors.push(format!(
                        "{}: pod {key} is already declared in {}; ignored",
                        path.display(),
                        first.display()
                    ));
                    continue;
                }
                seen.insert(key, path.clone());
                manifests.pods.push(pod.clone());
            }
            manifests
                .config_maps
                .extend(content.config_maps.iter().cloned());
            manifests.secrets.extend(content.secrets.iter().cloned());
        }
        (manifests, errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - name: app\n    image: busybox\n";

    #[test]
    fn pods_get_stable_uids_that_change_with_the_manifest() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("web.yaml"), POD).unwrap();
        let mut manifests = ManifestDir::new(dir.path(), "node-1");
        let (first, errors) = manifests.scan();
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(first.pods.len(), 1);
        assert_eq!(
            first.pods[0].metadata.namespace_or_default().as_str(),
            "default"
        );
        let (again, _) = manifests.scan();
        assert_eq!(again.pods[0].metadata.uid, first.pods[0].metadata.uid);
        std::fs::write(
            dir.path().join("web.yaml"),
            POD.replace("busybox", "busybox:2"),
        )
        .unwrap();
        let (edited, _) = manifests.scan();
        assert_ne!(edited.pods[0].metadata.uid, first.pods[0].metadata.uid);
    }

    #[test]
    fn a_broken_edit_keeps_the_last_good_version_and_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("web.yaml");
        std::fs::write(&file, POD).unwrap();
        let mut manifests = ManifestDir::new(dir.path(), "node-1");
        let (good, _) = manifests.scan();
        std::fs::write(
            &file,
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers: 3\n",
        )
        .unwrap();
        let (kept, errors) = manifests.scan();
        assert_eq!(kept.pods[0].metadata.uid, good.pods[0].metadata.uid);
        assert_eq!(errors.len(), 1);
        assert!(errors[0].contains("web.yaml"), "{errors:?}");
        std::fs::remove_file(&file).unwrap();
        let (gone, _) = manifests.scan();
        assert!(gone.pods.is_empty());
    }
}
