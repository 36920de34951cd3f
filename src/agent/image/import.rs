//! Air-gap import: OCI image layouts (directories), OCI archives and `docker save` archives
//! (tar, plain or gzip or zstd), by command and from the store's `import/` directory.
//!
//! Archives are read in one streaming pass: every file becomes a verified blob in the store (OCI
//! `blobs/sha256/<hex>` entries are checked against their names), the small metadata files
//! (`index.json`, `manifest.json`) are kept in memory, and the images they name are committed
//! once the pass is over. Nothing is held whole in memory except those metadata files.
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::compression;
use super::digest::Digest;
use super::oci::{self, Descriptor, DockerArchiveEntry, Index, Manifest};
use super::reference::ImageRef;
use super::store::{ImageRecord, ImageStore, LockMode, StoreError};

/// Why an import failed. Every variant names the file it was importing.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: {source}")]
    Store { path: PathBuf, source: StoreError },
    #[error("{path}: {member}: {source}")]
    BadMetadata {
        path: PathBuf,
        member: &'static str,
        source: serde_json::Error,
    },
    #[error("{path}: not an OCI layout, OCI archive or docker save archive (no index.json or manifest.json)")]
    UnknownFormat { path: PathBuf },
    #[error("{path}: {member} is larger than {} bytes", oci::DOCUMENT_BYTES_MAX)]
    MetadataTooLarge { path: PathBuf, member: String },
    #[error("{path}: {member} names {name:?}, which is not an image reference: {reason}")]
    BadName {
        path: PathBuf,
        member: &'static str,
        name: String,
        reason: String,
    },
    #[error("{path}: manifest.json refers to {member:?}, which is not in the archive")]
    MissingMember { path: PathBuf, member: String },
    #[error("{path}: the archive holds no named image")]
    NoImages { path: PathBuf },
}

/// Imports the layout or archive at `path`. Images named only by a tag (`1.0`) are named after
/// the file (`busybox.tar` → `busybox:1.0`).
pub fn import_path(store: &ImageStore, path: &Path) -> Result<Vec<ImageRecord>, ImportError> {
    // Blobs land before the images naming them are recorded: no sweep meanwhile.
    let _lock = store
        .lock(LockMode::Shared, true)
        .map_err(|source| ImportError::Store {
            path: path.to_path_buf(),
            source,
        })?;
    let meta = fs::metadata(path).map_err(|source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if meta.is_dir() {
        import_layout_dir(store, path)
    } else {
        let file = fs::File::open(path).map_err(|source| ImportError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        import_archive(store, file, path)
    }
}

/// The repository name implied by a file name, for tag-only names.
fn default_name(path: &Path) -> String {
    let stem = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("image")
        .split('.')
        .next()
        .unwrap_or("image")
        .to_ascii_lowercase();
    let cleaned: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if cleaned.is_empty() {
        "image".to_string()
    } else {
        cleaned
    }
}

/// The reference an index entry names, from containerd's or the OCI annotation.
fn entry_name(path: &Path, entry: &Descriptor) -> Result<Option<ImageRef>, ImportError> {
    let bad = |name: &str, reason: String| ImportError::BadName {
        path: path.to_path_buf(),
        member: "index.json",
        name: name.to_string(),
        reason,
    };
    if let Some(name) = entry.annotations.get(oci::ANNOTATION_CONTAINERD_NAME) {
        return name
            .parse()
            .map(Some)
            .map_err(|e: super::reference::InvalidImageRef| bad(name, e.to_string()));
    }
    let Some(name) = entry.annotations.get(oci::ANNOTATION_REF_NAME) else {
        return Ok(None);
    };
    let full = if name.contains('/') || name.contains(':') || name.contains('@') {
        name.clone()
    } else {
        format!("{}:{name}", default_name(path))
    };
    full.parse()
        .map(Some)
        .map_err(|e: super::reference::InvalidImageRef| bad(name, e.to_string()))
}

/// Where blobs come from while committing: a layout directory, or the store itself when an
/// archive pass already put them there.
enum BlobSource<'a> {
    Dir(&'a Path),
    Store,
}

fn ensure_blob(
    store: &ImageStore,
    source: &BlobSource<'_>,
    digest: &Digest,
    path: &Path,
) -> Result<(), ImportError> {
    if store.has_blob(digest) {
        return Ok(());
    }
    let store_error = |source| ImportError::Store {
        path: path.to_path_buf(),
        source,
    };
    match source {
        BlobSource::Store => Err(store_error(StoreError::MissingBlob(digest.clone()))),
        BlobSource::Dir(dir) => {
            let blob = dir.join("blobs/sha256").join(digest.hex());
            let file = fs::File::open(&blob).map_err(|source| ImportError::Io {
                path: blob.clone(),
                source,
            })?;
            store.write_blob(file, Some(digest)).map_err(store_error)?;
            Ok(())
        }
    }
}

/// Commits the image an index entry points at under `name`.
fn commit_entry(
    store: &ImageStore,
    source: &BlobSource<'_>,
    entry: &Descriptor,
    name: &ImageRef,
    path: &Path,
) -> Result<ImageRecord, ImportError> {
    let store_error = |source| ImportError::Store {
        path: path.to_path_buf(),
        source,
    };
    // Copy documents level by level: an index must be stored before the store can resolve it.
    let mut pending = vec![entry.digest.clone()];
    while let Some(digest) = pending.pop() {
        ensure_blob(store, source, &digest, path)?;
        let bytes = store
            .read_document_bytes("manifest", &digest)
            .map_err(store_error)?;
        if let Ok(index) = serde_json::from_slice::<Index>(&bytes) {
            if !index.manifests.is_empty() {
                if let Some(chosen) = super::platform::choose(store.host(), &index.manifests) {
                    pending.push(chosen.digest.clone());
                }
                continue;
            }
        }
        if let Ok(manifest) = serde_json::from_slice::<Manifest>(&bytes) {
            ensure_blob(store, source, &manifest.config.digest, path)?;
            for layer in &manifest.layers {
                ensure_blob(store, source, &layer.digest, path)?;
            }
        }
    }
    let (manifest_digest, manifest) = store
        .resolve_manifest(&entry.media_type, &entry.digest)
        .map_err(store_error)?;
    store
        .commit_image(name, &manifest_digest, &manifest)
        .map_err(store_error)
}

fn import_index(
    store: &ImageStore,
    source: BlobSource<'_>,
    index_bytes: &[u8],
    path: &Path,
) -> Result<Vec<ImageRecord>, ImportError> {
    let index: Index =
        serde_json::from_slice(index_bytes).map_err(|source| ImportError::BadMetadata {
            path: path.to_path_buf(),
            member: "index.json",
            source,
        })?;
    let unnamed_default = index.manifests.len() == 1;
    let mut records = Vec::new();
    for entry in &index.manifests {
        let name = match entry_name(path, entry)? {
            Some(name) => name,
            None if unnamed_default => format!("{}:latest", default_name(path)).parse().map_err(
                |e: super::reference::InvalidImageRef| ImportError::BadName {
                    path: path.to_path_buf(),
                    member: "index.json",
                    name: default_name(path),
                    reason: e.to_string(),
                },
            )?,
            None => continue,
        };
        records.push(commit_entry(store, &source, entry, &name, path)?);
    }
    if records.is_empty() {
        return Err(ImportError::NoImages {
            path: path.to_path_buf(),
        });
    }
    Ok(records)
}

fn import_layout_dir(store: &ImageStore, dir: &Path) -> Result<Vec<ImageRecord>, ImportError> {
    let index_path = dir.join("index.json");
    let bytes = read_small(&index_path)?;
    import_index(store, BlobSource::Dir(dir), &bytes, dir)
}

fn read_small(path: &Path) -> Result<Vec<u8>, ImportError> {
    let file = fs::File::open(path).map_err(|source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut bytes = Vec::new();
    file.take(oci::DOCUMENT_BYTES_MAX + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| ImportError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    if bytes.len() as u64 > oci::DOCUMENT_BYTES_MAX {
        return Err(ImportError::MetadataTooLarge {
            path: path.to_path_buf(),
            member: "index.json".to_string(),
        });
    }
    Ok(bytes)
}

/// Imports an OCI or docker archive read from `reader` (`path` names it in errors and gives the
/// default repository name).
pub fn import_archive<R: Read>(
    store: &ImageStore,
    reader: R,
    path: &Path,
) -> Result<Vec<ImageRecord>, ImportError> {
    let io_error = |source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    };
    let store_error = |source| ImportError::Store {
        path: path.to_path_buf(),
        source,
    };
    let mut archive = tar::Archive::new(compression::decompress(reader).map_err(io_error)?);
    let mut index_json = None;
    let mut manifest_json = None;
    // Member path → blob digest, for docker archives whose manifest names files by path.
    let mut members: BTreeMap<String, Digest> = BTreeMap::new();
    for entry in archive.entries().map_err(io_error)? {
        let mut entry = entry.map_err(io_error)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let member = String::from_utf8_lossy(&entry.path_bytes())
            .trim_start_matches("./")
            .to_string();
        match member.as_str() {
            "index.json" | "manifest.json" => {
                if entry.size() > oci::DOCUMENT_BYTES_MAX {
                    return Err(ImportError::MetadataTooLarge {
                        path: path.to_path_buf(),
                        member,
                    });
                }
                let mut bytes = Vec::new();
                entry.read_to_end(&mut bytes).map_err(io_error)?;
                if member == "index.json" {
                    index_json = Some(bytes);
                } else {
                    manifest_json = Some(bytes);
                }
            }
            "oci-layout" | "repositories" => {}
            _ => {
                let expected = member
                    .strip_prefix("blobs/sha256/")
                    .and_then(|hex| Digest::from_hex(hex).ok());
                let digest = match &expected {
                    Some(d) if store.has_blob(d) => d.clone(),
                    _ => {
                        store
                            .write_blob(&mut entry, expected.as_ref())
                            .map_err(store_error)?
                            .0
                    }
                };
                members.insert(member, digest);
            }
        }
    }
    if let Some(index) = index_json {
        return import_index(store, BlobSource::Store, &index, path);
    }
    let Some(manifest_json) = manifest_json else {
        return Err(ImportError::UnknownFormat {
            path: path.to_path_buf(),
        });
    };
    import_docker(store, &manifest_json, &members, path)
}

/// `docker save`'s format: manifest.json lists config and layer files by path; an OCI manifest
/// is written for each image so that the store holds only OCI documents.
fn import_docker(
    store: &ImageStore,
    manifest_json: &[u8],
    members: &BTreeMap<String, Digest>,
    path: &Path,
) -> Result<Vec<ImageRecord>, ImportError> {
    let store_error = |source| ImportError::Store {
        path: path.to_path_buf(),
        source,
    };
    let entries: Vec<DockerArchiveEntry> =
        serde_json::from_slice(manifest_json).map_err(|source| ImportError::BadMetadata {
            path: path.to_path_buf(),
            member: "manifest.json",
            source,
        })?;
    let lookup = |member: &str| {
        members
            .get(member.trim_start_matches("./"))
            .cloned()
            .ok_or_else(|| ImportError::MissingMember {
                path: path.to_path_buf(),
                member: member.to_string(),
            })
    };
    let blob_size = |digest: &Digest| {
        fs::metadata(store.blob_path(digest))
            .map(|m| m.len())
            .unwrap_or(0)
    };
    let mut records = Vec::new();
    for entry in entries {
        let config = lookup(&entry.config)?;
        let mut layers = Vec::new();
        for layer in &entry.layers {
            let digest = lookup(layer)?;
            let blob = store.blob_path(&digest);
            let mut file =
                io::BufReader::new(fs::File::open(&blob).map_err(|source| ImportError::Io {
                    path: blob.clone(),
                    source,
                })?);
            let media_type =
                match compression::detect(&mut file).map_err(|source| ImportError::Io {
                    path: blob.clone(),
                    source,
                })? {
                    compression::Compression::None => oci::MEDIA_TYPE_OCI_LAYER,
                    compression::Compression::Gzip => oci::MEDIA_TYPE_OCI_LAYER_GZIP,
                    compression::Compression::Zstd => oci::MEDIA_TYPE_OCI_LAYER_ZSTD,
                };
            layers.push(Descriptor {
                media_type: media_type.to_string(),
                size: blob_size(&digest),
                digest,
                platform: None,
                annotations: Default::default(),
            });
        }
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(oci::MEDIA_TYPE_OCI_MANIFEST.to_string()),
            config: Descriptor {
                media_type: oci::MEDIA_TYPE_OCI_CONFIG.to_string(),
                size: blob_size(&config),
                digest: config,
                platform: None,
                annotations: Default::default(),
            },
            layers,
        };
        let bytes = serde_json::to_vec(&manifest).expect("manifest serialises");
        let manifest_digest = store.write_document(&bytes).map_err(store_error)?;
        for tag in entry.repo_tags.iter().flatten() {
            let name: ImageRef = tag
                .parse()
                .map_err(
                    |e: super::reference::InvalidImageRef| ImportError::BadName {
                        path: path.to_path_buf(),
                        member: "manifest.json",
                        name: tag.clone(),
                        reason: e.to_string(),
                    },
                )?;
            records.push(
                store
                    .commit_image(&name, &manifest_digest, &manifest)
                    .map_err(store_error)?,
            );
        }
    }
    if records.is_empty() {
        return Err(ImportError::NoImages {
            path: path.to_path_buf(),
        });
    }
    Ok(records)
}
