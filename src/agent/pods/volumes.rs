//! Pod volumes on the node: emptyDir (a directory, or a tmpfs with `sizeLimit` for
//! `medium: Memory`), hostPath with its `type` checks, configMap and secret (files written
//! once; secrets on a tmpfs so that they never reach the SD card), and the bind mounts each
//! container gets from its `volumeMounts` (with `readOnly` and `subPath`).
use std::collections::BTreeMap;
use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};

use crate::agent::runtime::MountConfig;
use crate::api;

use super::objects::ObjectSource;

/// Why a volume could not be prepared or mounted.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("volume {volume}: {path}: {source}")]
    Io {
        volume: String,
        path: PathBuf,
        source: io::Error,
    },
    #[error("volume {volume}: hostPath {path} {reason}")]
    HostPathType {
        volume: String,
        path: String,
        reason: &'static str,
    },
    #[error("volume {volume}: {kind} {name:?} not found")]
    MissingObject {
        volume: String,
        kind: &'static str,
        name: String,
    },
    #[error("volume {volume}: key {key:?} not found in {kind} {name:?}")]
    MissingKey {
        volume: String,
        kind: &'static str,
        name: String,
        key: String,
    },
    #[error("volume {volume}: path {path:?} must be relative without '..'")]
    BadPath { volume: String, path: String },
    #[error("container {container}: volumeMount {volume:?} names no volume of the pod")]
    UnknownVolume { container: String, volume: String },
    #[error("volume {volume}: mounting tmpfs on {path}: {source}")]
    Mount {
        volume: String,
        path: PathBuf,
        source: nix::errno::Errno,
    },
    #[error("volume {volume}: {what} is not supported")]
    Unsupported { volume: String, what: &'static str },
}

/// A pod's prepared volumes: name → host path, and which are read-only by nature.
#[derive(Debug, Default, Clone)]
pub struct PodVolumes {
    paths: BTreeMap<String, (PathBuf, bool)>,
}

/// A relative path without `..` or a root: the only shape subPath and item paths may have.
fn safe_relative(path: &str) -> bool {
    !path.is_empty()
        && Path::new(path)
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

fn mount_tmpfs(
    volume: &str,
    path: &Path,
    size_bytes: Option<i64>,
    mode: u32,
) -> Result<(), VolumeError> {
    if super::super::runtime::rootfs::is_mounted(path) {
        return Ok(());
    }
    let mut options = format!("mode={mode:o}");
    if let Some(size) = size_bytes.filter(|s| *s > 0) {
        options.push_str(&format!(",size={size}"));
    }
    nix::mount::mount(
        Some("tmpfs"),
        path,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(options.as_str()),
    )
    .map_err(|source| VolumeError::Mount {
        volume: volume.to_string(),
        path: path.to_path_buf(),
        source,
    })
}

/// Writes the keys of a ConfigMap or Secret as files (all keys, or `items` with their paths).
fn write_keys(
    volume: &str,
    dir: &Path,
    data: &BTreeMap<String, Vec<u8>>,
    items: &[api::KeyToPath],
    default_mode: u32,
    (kind, name): (&'static str, &str),
) -> Result<(), VolumeError> {
    let io_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| VolumeError::Io {
            volume: volume.to_string(),
            path,
            source,
        }
    };
    let files: Vec<(String, &Vec<u8>, u32)> = if items.is_empty() {
        data.iter()
            .map(|(k, v)| (k.clone(), v, default_mode))
            .collect()
    } else {
        let mut files = Vec::new();
        for item in items {
            let value = data.get(&item.key).ok_or_else(|| VolumeError::MissingKey {
                volume: volume.to_string(),
                kind,
                name: name.to_string(),
                key: item.key.clone(),
            })?;
            files.push((
                item.path.clone(),
                value,
                item.mode.map_or(default_mode, |m| m as u32),
            ));
        }
        files
    };
    for (path, value, mode) in files {
        if !safe_relative(&path) {
            return Err(VolumeError::BadPath {
                volume: volume.to_string(),
                path,
            });
        }
        let target = dir.join(&path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(io_error(parent))?;
        }
        std::fs::write(&target, value).map_err(io_error(&target))?;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode & 0o777))
            .map_err(io_error(&target))?;
    }
    Ok(())
}

fn check_host_path(volume: &str, source: &api::HostPathVolumeSource) -> Result<(), VolumeError> {
    let path = Path::new(&source.path);
    let bad = |reason| VolumeError::HostPathType {
        volume: volume.to_string(),
        path: source.path.clone(),
        reason,
    };
    let io_error = |e| VolumeError::Io {
        volume: volume.to_string(),
        path: path.to_path_buf(),
        source: e,
    };
    let meta = std::fs::metadata(path).ok();
    match source.type_.unwrap_or_default() {
        api::HostPathType::Unset => {}
        api::HostPathType::DirectoryOrCreate => {
            if meta.is_none() {
                std::fs::create_dir_all(path).map_err(io_error)?;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
                    .map_err(io_error)?;
            } else if !meta.as_ref().is_some_and(|m| m.is_dir()) {
                return Err(bad("exists and is not a directory"));
            }
        }
        api::HostPathType::Directory if !meta.as_ref().is_some_and(|m| m.is_dir()) => {
            return Err(bad("is not an existing directory"))
        }
        api::HostPathType::FileOrCreate => {
            if meta.is_none() {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(io_error)?;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
                    .map_err(io_error)?;
            } else if !meta.as_ref().is_some_and(|m| m.is_file()) {
                return Err(bad("exists and is not a file"));
            }
        }
        api::HostPathType::File if !meta.as_ref().is_some_and(|m| m.is_file()) => {
            return Err(bad("is not an existing file"))
        }
        api::HostPathType::Socket if !meta.as_ref().is_some_and(|m| m.file_type().is_socket()) => {
            return Err(bad("is not a socket"))
        }
        api::HostPathType::CharDevice
            if !meta
                .as_ref()
                .is_some_and(|m| m.file_type().is_char_device()) =>
        {
            return Err(bad("is not a character device"))
        }
        api::HostPathType::BlockDevice
            if !meta
                .as_ref()
                .is_some_and(|m| m.file_type().is_block_device()) =>
        {
            return Err(bad("is not a block device"))
        }
        _ => {}
    }
    Ok(())
}

/// Prepares every volume of `pod` under `pod_dir/volumes`.
pub fn prepare(
    pod: &api::Pod,
    pod_dir: &Path,
    objects: &dyn ObjectSource,
) -> Result<PodVolumes, VolumeError> {
    let namespace = pod.metadata.namespace_or_default().to_string();
    let mut volumes = PodVolumes::default();
    for volume in &pod.spec.volumes {
        let name = volume.name.as_str();
        let io_error = |path: &Path| {
            let path = path.to_path_buf();
            move |source| VolumeError::Io {
                volume: name.to_string(),
                path,
                source,
            }
        };
        if let Some(empty_dir) = &volume.empty_dir {
            let dir = pod_dir.join("volumes/empty-dir").join(name);
            std::fs::create_dir_all(&dir).map_err(io_error(&dir))?;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777))
                .map_err(io_error(&dir))?;
            if empty_dir.medium.unwrap_or_default() == api::StorageMedium::Memory {
                mount_tmpfs(
                    name,
                    &dir,
                    empty_dir.size_limit.as_ref().map(|q| q.value()),
                    0o777,
                )?;
            }
            volumes.paths.insert(name.to_string(), (dir, false));
        } else if let Some(host_path) = &volume.host_path {
            check_host_path(name, host_path)?;
            volumes
                .paths
                .insert(name.to_string(), (PathBuf::from(&host_path.path), false));
        } else if let Some(source) = &volume.config_map {
            let dir = pod_dir.join("volumes/configmap").join(name);
            std::fs::create_dir_all(&dir).map_err(io_error(&dir))?;
            match objects.config_map(&namespace, &source.name) {
                Some(config_map) => {
                    let mut data: BTreeMap<String, Vec<u8>> = config_map
                        .data
                        .into_iter()
                        .map(|(k, v)| (k, v.into_bytes()))
                        .collect();
                    data.extend(
                        config_map
                            .binary_data
                            .into_iter()
                            .map(|(k, v)| (k, v.as_bytes().to_vec())),
                    );
                    let mode = source.default_mode.map_or(0o644, |m| m as u32);
                    write_keys(
                        name,
                        &dir,
                        &data,
                        &source.items,
                        mode,
                        ("ConfigMap", &source.name),
                    )?;
                }
                None if source.optional == Some(true) => {}
                None => {
                    return Err(VolumeError::MissingObject {
                        volume: name.to_string(),
                        kind: "ConfigMap",
                        name: source.name.clone(),
                    })
                }
            }
            volumes.paths.insert(name.to_string(), (dir, true));
        } else if let Some(source) = &volume.secret {
            let dir = pod_dir.join("volumes/secret").join(name);
            std::fs::create_dir_all(&dir).map_err(io_error(&dir))?;
            mount_tmpfs(name, &dir, Some(16 * 1024 * 1024), 0o755)?;
            match objects.secret(&namespace, &source.secret_name) {
                Some(secret) => {
                    let data: BTreeMap<String, Vec<u8>> = secret
                        .data
                        .into_iter()
                        .map(|(k, v)| (k, v.as_bytes().to_vec()))
                        .collect();
                    let mode = source.default_mode.map_or(0o644, |m| m as u32);
                    write_keys(
                        name,
                        &dir,
                        &data,
                        &source.items,
                        mode,
                        ("Secret", &source.secret_name),
                    )?;
                }
                None if source.optional == Some(true) => {}
                None => {
                    return Err(VolumeError::MissingObject {
                        volume: name.to_string(),
                        kind: "Secret",
                        name: source.secret_name.clone(),
                    })
                }
            }
            volumes.paths.insert(name.to_string(), (dir, true));
        } else {
            return Err(VolumeError::Unsupported {
                volume: name.to_string(),
                what: "a volume without emptyDir, hostPath, configMap or secret",
            });
        }
    }
    Ok(volumes)
}

impl PodVolumes {
    /// The bind mounts of one container.
    pub fn mounts_for(&self, container: &api::Container) -> Result<Vec<MountConfig>, VolumeError> {
        let mut mounts = Vec::new();
        for mount in &container.volume_mounts {
            let (path, forced_read_only) =
                self.paths
                    .get(&mount.name)
                    .ok_or_else(|| VolumeError::UnknownVolume {
                        container: container.name.to_string(),
                        volume: mount.name.clone(),
                    })?;
            let source = match mount.sub_path.as_deref().filter(|s| !s.is_empty()) {
                Some(sub_path) => {
                    if !safe_relative(sub_path) {
                        return Err(VolumeError::BadPath {
                            volume: mount.name.clone(),
                            path: sub_path.to_string(),
                        });
                    }
                    let source = path.join(sub_path);
                    // A missing subPath is created as a directory, as the kubelet does.
                    if std::fs::symlink_metadata(&source).is_err() {
                        std::fs::create_dir_all(&source).map_err(|e| VolumeError::Io {
                            volume: mount.name.clone(),
                            path: source.clone(),
                            source: e,
                        })?;
                    }
                    // Refuse a subPath that is (or passes through) a symlink: it could point
                    // anywhere on the host.
                    let canonical = source.canonicalize().map_err(|e| VolumeError::Io {
                        volume: mount.name.clone(),
                        path: source.clone(),
                        source: e,
                    })?;
                    let base = path.canonicalize().map_err(|e| VolumeError::Io {
                        volume: mount.name.clone(),
                        path: path.clone(),
                        source: e,
                    })?;
                    if !canonical.starts_with(&base) {
                        return Err(VolumeError::BadPath {
                            volume: mount.name.clone(),
                            path: sub_path.to_string(),
                        });
                    }
                    canonical
                }
                None => path.clone(),
            };
            mounts.push(MountConfig {
                source,
                destination: mount.mount_path.clone(),
                read_only: mount.read_only || *forced_read_only,
            });
        }
        Ok(mounts)
    }
}

/// Removes a pod's volume directory, unmounting its tmpfs volumes first. hostPath volumes are
/// never touched.
pub fn remove(pod_dir: &Path) -> io::Result<()> {
    for kind in ["empty-dir", "secret", "configmap"] {
        let dir = pod_dir.join("volumes").join(kind);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            match nix::mount::umount2(&entry.path(), MntFlags::MNT_DETACH) {
                Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    match std::fs::remove_dir_all(pod_dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_paths_and_item_paths_must_stay_inside() {
        assert!(safe_relative("a/b"));
        assert!(!safe_relative("../x"));
        assert!(!safe_relative("/etc"));
        assert!(!safe_relative("a/../../x"));
    }
}
