//! The content-addressed image store under `<data-dir>/images`: verified blobs, layers unpacked
//! once and shared by every container through overlayfs, and the table of image references.
//!
//! On disk: `blobs/sha256/<hex>` (manifests, configs, compressed layers), `layers/<diff-id hex>/`
//! (one unpacked layer, renamed into place only when complete and verified), `refs.json` (written
//! only when it changes, atomically), `tmp/` (in-flight downloads and extractions, emptied at
//! start-up), `gc.lock` (keeps sweeps away from in-flight pulls and imports).
use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::compression;
use super::digest::{Digest, HashingReader, HashingWriter};
use super::extract::{extract_layer, ExtractError};
use super::oci::{self, ImageConfig, Index, Manifest};
use super::platform::{self, HostPlatform};
use super::reference::ImageRef;

/// What the store could not do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// a file of the store could not be read or written
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    /// a blob's content does not match its digest
    #[error("blob {expected} has digest {actual} ({bytes} bytes): corrupt or tampered")]
    DigestMismatch {
        expected: Digest,
        actual: Digest,
        bytes: u64,
    },
    /// a blob the image needs is not in the store
    #[error("blob {0} is missing from the store")]
    MissingBlob(Digest),
    /// a manifest, index or config is not valid JSON of its kind
    #[error("{what} {digest}: {source}")]
    BadDocument {
        what: &'static str,
        digest: Digest,
        source: serde_json::Error,
    },
    /// a document is larger than documents may be
    #[error("{what} {digest} is larger than {} bytes", oci::DOCUMENT_BYTES_MAX)]
    DocumentTooLarge { what: &'static str, digest: Digest },
    /// no manifest of an index runs on this node
    #[error("image has no manifest for {host} (index {index})")]
    NoMatchingPlatform { host: String, index: Digest },
    /// the manifest's layers and the config's diff ids disagree
    #[error("manifest {manifest} lists {layers} layers but its config lists {diff_ids} diff ids")]
    LayerCountMismatch {
        manifest: Digest,
        layers: usize,
        diff_ids: usize,
    },
    /// a layer's uncompressed content does not match the config's diff id
    #[error(
        "layer {blob}: uncompressed digest {actual} differs from the config's diff id {expected}"
    )]
    DiffIdMismatch {
        blob: Digest,
        expected: Digest,
        actual: Digest,
    },
    /// unpacking a layer failed or was refused
    #[error("layer {blob}: {source}")]
    Extract { blob: Digest, source: ExtractError },
    /// the reference is not in the store
    #[error("image {0} not found")]
    NotFound(String),
    /// a media type the store cannot run
    #[error("unsupported media type {media_type:?} for {digest}")]
    UnsupportedMediaType { media_type: String, digest: Digest },
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// An image the store can run: a reference, its manifest, config and unpacked layers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    pub reference: ImageRef,
    pub manifest: Digest,
    /// The config digest: the image's identity (`IMAGE ID`).
    pub config: Digest,
    /// Uncompressed layer digests, bottom first; each is unpacked under `layers/<hex>`.
    pub diff_ids: Vec<Digest>,
    /// Sum of the compressed layer and config sizes, in bytes.
    pub size_bytes: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct RefTable {
    images: BTreeMap<String, ImageRecord>,
}

/// How [`ImageStore::lock`] is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    /// Pulls and imports: any number at once.
    Shared,
    /// Sweeps: alone.
    Exclusive,
}

/// The store's lock, released when dropped.
#[derive(Debug)]
pub struct StoreLock {
    _lock: nix::fcntl::Flock<fs::File>,
}

/// The image store. Blocking file I/O: call from a blocking thread.
pub struct ImageStore {
    root: PathBuf,
    host: HostPlatform,
    refs: Mutex<RefTable>,
}

impl ImageStore {
    /// Opens (creating if needed) the store at `root`, for images of `host`.
    pub fn open(root: &Path, host: HostPlatform) -> Result<ImageStore, StoreError> {
        for dir in ["blobs/sha256", "layers", "tmp", "import"] {
            let path = root.join(dir);
            fs::create_dir_all(&path).map_err(io_at(&path))?;
        }
        // Leftovers of an interrupted download or extraction are never valid; those of a live
        // process (the agent, while `edged image ls` opens the store) are in flight.
        let tmp = root.join("tmp");
        for entry in fs::read_dir(&tmp).map_err(io_at(&tmp))?.flatten() {
            let owner_alive = entry
                .file_name()
                .to_str()
                .and_then(temp_owner_pid)
                .is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
            if !owner_alive {
                let _ = remove_path(&entry.path());
            }
        }
        let refs_path = root.join("refs.json");
        let refs = match fs::read(&refs_path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| StoreError::Io {
                path: refs_path.clone(),
                source: io::Error::new(io::ErrorKind::InvalidData, e),
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => RefTable::default(),
            Err(e) => return Err(io_at(&refs_path)(e)),
        };
        Ok(ImageStore {
            root: root.to_path_buf(),
            host,
            refs: Mutex::new(refs),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn host(&self) -> &HostPlatform {
        &self.host
    }

    /// The air-gap directory: archives dropped here are imported.
    pub fn import_dir(&self) -> PathBuf {
        self.root.join("import")
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    /// The directory holding one unpacked layer.
    pub fn layer_path(&self, diff_id: &Digest) -> PathBuf {
        self.root.join("layers").join(diff_id.hex())
    }

    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// A fresh path under `tmp/` for an in-flight file or directory.
    pub fn temp_path(&self, what: &str) -> PathBuf {
        self.root
            .join("tmp")
            .join(format!("{what}-{}", unique_suffix()))
    }

    /// Streams `reader` into the store. With `expected`, the content must hash to it; the blob
    /// only appears under its digest once complete and verified.
    pub fn write_blob<R: Read>(
        &self,
        reader: R,
        expected: Option<&Digest>,
    ) -> Result<(Digest, u64), StoreError> {
        let tmp = self.temp_path("blob");
        let file = fs::File::create(&tmp).map_err(io_at(&tmp))?;
        let mut writer = HashingWriter::new(io::BufWriter::with_capacity(64 * 1024, file));
        let mut reader = reader;
        let copied = io::copy(&mut reader, &mut writer);
        if let Err(e) = copied {
            let _ = fs::remove_file(&tmp);
            return Err(io_at(&tmp)(e));
        }
        let (buffered, digest, bytes) = writer.finish();
        let file = buffered
            .into_inner()
            .map_err(|e| io_at(&tmp)(e.into_error()))?;
        file.sync_all().map_err(io_at(&tmp))?;
        drop(file);
        self.commit_temp_blob(&tmp, digest, bytes, expected)
    }

    /// Moves a fully written temporary file into the store after checking its digest.
    pub fn commit_temp_blob(
        &self,
        tmp: &Path,
        actual: Digest,
        bytes: u64,
        expected: Option<&Digest>,
    ) -> Result<(Digest, u64), StoreError> {
        if let Some(expected) = expected {
            if *expected != actual {
                let _ = fs::remove_file(tmp);
                return Err(StoreError::DigestMismatch {
                    expected: expected.clone(),
                    actual,
                    bytes,
                });
            }
        }
        let dest = self.blob_path(&actual);
        fs::rename(tmp, &dest).map_err(io_at(&dest))?;
        Ok((actual, bytes))
    }

    /// Stores a small document (manifest, index, config) given as bytes.
    pub fn write_document(&self, bytes: &[u8]) -> Result<Digest, StoreError> {
        let digest = Digest::of(bytes);
        if !self.has_blob(&digest) {
            self.write_blob(bytes, Some(&digest))?;
        }
        Ok(digest)
    }

    /// Reads and verifies a small document from the store.
    pub fn read_document_bytes(
        &self,
        what: &'static str,
        digest: &Digest,
    ) -> Result<Vec<u8>, StoreError> {
        let path = self.blob_path(digest);
        let file = fs::File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StoreError::MissingBlob(digest.clone()),
            _ => io_at(&path)(e),
        })?;
        let mut bytes = Vec::new();
        file.take(oci::DOCUMENT_BYTES_MAX + 1)
            .read_to_end(&mut bytes)
            .map_err(io_at(&path))?;
        if bytes.len() as u64 > oci::DOCUMENT_BYTES_MAX {
            return Err(StoreError::DocumentTooLarge {
                what,
                digest: digest.clone(),
            });
        }
        let actual = Digest::of(&bytes);
        if actual != *digest {
            return Err(StoreError::DigestMismatch {
                expected: digest.clone(),
                actual,
                bytes: bytes.len() as u64,
            });
        }
        Ok(bytes)
    }

    fn read_document<T: serde::de::DeserializeOwned>(
        &self,
        what: &'static str,
        digest: &Digest,
    ) -> Result<T, StoreError> {
        let bytes = self.read_document_bytes(what, digest)?;
        serde_json::from_slice(&bytes).map_err(|source| StoreError::BadDocument {
            what,
            digest: digest.clone(),
            source,
        })
    }

    /// The config of an image in the store.
    pub fn config(&self, record: &ImageRecord) -> Result<ImageConfig, StoreError> {
        self.read_document("config", &record.config)
    }

    /// Follows an index (choosing this host's platform) down to an image manifest.
    pub fn resolve_manifest(
        &self,
        media_type: &str,
        digest: &Digest,
    ) -> Result<(Digest, Manifest), StoreError> {
        let mut media_type = media_type.to_string();
        let mut digest = digest.clone();
        // Nested indexes are legal; two levels are all anyone writes.
        for _ in 0..3 {
            let bytes = self.read_document_bytes("manifest", &digest)?;
            let declared = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| {
                    v.get("mediaType")
                        .and_then(|m| m.as_str())
                        .map(str::to_string)
                });
            let effective = declared.unwrap_or(media_type.clone());
            if oci::is_index(&effective) {
                let index: Index =
                    serde_json::from_slice(&bytes).map_err(|source| StoreError::BadDocument {
                        what: "index",
                        digest: digest.clone(),
                        source,
                    })?;
                let chosen = platform::choose(&self.host, &index.manifests).ok_or_else(|| {
                    StoreError::NoMatchingPlatform {
                        host: self.host.to_string(),
                        index: digest.clone(),
                    }
                })?;
                media_type = chosen.media_type.clone();
                digest = chosen.digest.clone();
                continue;
            }
            if !oci::is_manifest(&effective) {
                return Err(StoreError::UnsupportedMediaType {
                    media_type: effective,
                    digest,
                });
            }
            let manifest =
                serde_json::from_slice(&bytes).map_err(|source| StoreError::BadDocument {
                    what: "manifest",
                    digest: digest.clone(),
                    source,
                })?;
            return Ok((digest, manifest));
        }
        Err(StoreError::UnsupportedMediaType { media_type, digest })
    }

    /// Unpacks a layer blob (once: an existing unpacked layer is reused), checking that its
    /// uncompressed content hashes to `diff_id`.
    pub fn unpack_layer(&self, blob: &Digest, diff_id: &Digest) -> Result<PathBuf, StoreError> {
        let dest = self.layer_path(diff_id);
        if dest.is_dir() {
            return Ok(dest);
        }
        let blob_path = self.blob_path(blob);
        let file = fs::File::open(&blob_path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StoreError::MissingBlob(blob.clone()),
            _ => io_at(&blob_path)(e),
        })?;
        let tmp = self.temp_path("layer");
        fs::create_dir(&tmp).map_err(io_at(&tmp))?;
        let result = (|| {
            let decompressed =
                compression::decompress(io::BufReader::new(file)).map_err(io_at(&blob_path))?;
            let mut hashing = HashingReader::new(decompressed);
            extract_layer(&mut hashing, &tmp).map_err(|source| StoreError::Extract {
                blob: blob.clone(),
                source,
            })?;
            // The tar's end-of-archive padding counts towards the diff id.
            let (actual, _) = hashing.finish().map_err(io_at(&blob_path))?;
            if actual != *diff_id {
                return Err(StoreError::DiffIdMismatch {
                    blob: blob.clone(),
                    expected: diff_id.clone(),
                    actual,
                });
            }
            Ok(())
        })();
        if let Err(e) = result {
            let _ = remove_path(&tmp);
            return Err(e);
        }
        match fs::rename(&tmp, &dest) {
            Ok(()) => Ok(dest),
            // Another pull unpacked the same layer meanwhile: theirs is as good as ours.
            Err(_) if dest.is_dir() => {
                let _ = remove_path(&tmp);
                Ok(dest)
            }
            Err(e) => {
                let _ = remove_path(&tmp);
                Err(io_at(&dest)(e))
            }
        }
    }

    /// Makes an image runnable: checks its manifest and config, unpacks every layer, and records
    /// `reference` → manifest. Blobs must already be in the store.
    pub fn commit_image(
        &self,
        reference: &ImageRef,
        manifest_digest: &Digest,
        manifest: &Manifest,
    ) -> Result<ImageRecord, StoreError> {
        let config: ImageConfig = self.read_document("config", &manifest.config.digest)?;
        if config.rootfs.diff_ids.len() != manifest.layers.len() {
            return Err(StoreError::LayerCountMismatch {
                manifest: manifest_digest.clone(),
                layers: manifest.layers.len(),
                diff_ids: config.rootfs.diff_ids.len(),
            });
        }
        for (layer, diff_id) in manifest.layers.iter().zip(&config.rootfs.diff_ids) {
            self.unpack_layer(&layer.digest, diff_id)?;
        }
        let record = ImageRecord {
            reference: reference.clone(),
            manifest: manifest_digest.clone(),
            config: manifest.config.digest.clone(),
            diff_ids: config.rootfs.diff_ids.clone(),
            size_bytes: manifest.config.size + manifest.layers.iter().map(|l| l.size).sum::<u64>(),
        };
        let unchanged = self
            .refs
            .lock()
            .expect("refs lock")
            .images
            .get(&reference.to_string())
            == Some(&record);
        if !unchanged {
            self.update_refs(|refs| {
                refs.images.insert(reference.to_string(), record.clone());
            })?;
        }
        Ok(record)
    }

    /// The image a reference names, if present. A reference with a digest also matches an
    /// image stored under another name with that manifest digest.
    pub fn resolve(&self, reference: &ImageRef) -> Option<ImageRecord> {
        if let Some(found) = self.resolve_cached(reference) {
            return Some(found);
        }
        // Another process (`edged image import`) may have added it.
        self.reload();
        self.resolve_cached(reference)
    }

    fn resolve_cached(&self, reference: &ImageRef) -> Option<ImageRecord> {
        let refs = self.refs.lock().expect("refs lock");
        if let Some(record) = refs.images.get(&reference.to_string()) {
            return Some(record.clone());
        }
        let digest = reference.digest()?;
        refs.images
            .values()
            .find(|r| r.reference.name() == reference.name() && (&r.manifest == digest))
            .cloned()
    }

    /// Every image, sorted by reference.
    pub fn list(&self) -> Vec<ImageRecord> {
        self.reload();
        self.refs
            .lock()
            .expect("refs lock")
            .images
            .values()
            .cloned()
            .collect()
    }

    /// Forgets a reference. Its blobs and layers go at the next garbage collection.
    pub fn remove(&self, reference: &ImageRef) -> Result<ImageRecord, StoreError> {
        let mut removed = None;
        self.update_refs(|refs| removed = refs.images.remove(&reference.to_string()))?;
        removed.ok_or_else(|| StoreError::NotFound(reference.to_string()))
    }

    fn read_refs(&self) -> Option<RefTable> {
        let bytes = fs::read(self.root.join("refs.json")).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    fn reload(&self) {
        if let Some(table) = self.read_refs() {
            *self.refs.lock().expect("refs lock") = table;
        }
    }

    /// Read-modify-write of refs.json under an exclusive file lock, so that the agent and
    /// `edged image` commands never lose each other's changes.
    fn update_refs(&self, change: impl FnOnce(&mut RefTable)) -> Result<(), StoreError> {
        let lock_path = self.root.join("refs.lock");
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_at(&lock_path))?;
        let _locked = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| io_at(&lock_path)(e.into()))?;
        let mut refs = self.refs.lock().expect("refs lock");
        if let Some(table) = self.read_refs() {
            *refs = table;
        }
        change(&mut refs);
        let path = self.root.join("refs.json");
        let tmp = self.temp_path("refs");
        let bytes = serde_json::to_vec_pretty(&*refs).expect("refs serialise");
        let mut file = fs::File::create(&tmp).map_err(io_at(&tmp))?;
        file.write_all(&bytes).map_err(io_at(&tmp))?;
        file.sync_all().map_err(io_at(&tmp))?;
        fs::rename(&tmp, &path).map_err(io_at(&path))
    }

    /// Bytes used by blobs and unpacked layers.
    pub fn disk_usage_bytes(&self) -> u64 {
        dir_size(&self.root.join("blobs")) + dir_size(&self.root.join("layers"))
    }

    /// Forgets every reference to the image whose config is `config`; returns the references
    /// forgotten. Its blobs and layers go at the next sweep.
    pub fn remove_image(&self, config: &Digest) -> Result<Vec<ImageRef>, StoreError> {
        let mut removed = Vec::new();
        self.update_refs(|refs| {
            refs.images.retain(|_, record| {
                let keep = record.config != *config;
                if !keep {
                    removed.push(record.reference.clone());
                }
                keep
            })
        })?;
        Ok(removed)
    }

    /// When the image was recorded in this store, in milliseconds since the Unix epoch: the
    /// modification time of its config blob (written once, when the image first arrived).
    pub fn recorded_at_ms(&self, record: &ImageRecord) -> u64 {
        fs::metadata(self.blob_path(&record.config))
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_millis() as u64)
    }

    /// Takes the store's lock. Writers of blobs that no recorded image references yet (pulls,
    /// imports) hold it shared; a sweep, which deletes such blobs, holds it exclusive. It is a
    /// `flock` on `<root>/gc.lock`, so it also keeps apart the agent and `edged image`
    /// commands. Without `wait`, `Ok(None)` means someone else holds it.
    pub fn lock(&self, mode: LockMode, wait: bool) -> Result<Option<StoreLock>, StoreError> {
        let path = self.root.join("gc.lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_at(&path))?;
        let arg = match (mode, wait) {
            (LockMode::Shared, true) => nix::fcntl::FlockArg::LockShared,
            (LockMode::Shared, false) => nix::fcntl::FlockArg::LockSharedNonblock,
            (LockMode::Exclusive, true) => nix::fcntl::FlockArg::LockExclusive,
            (LockMode::Exclusive, false) => nix::fcntl::FlockArg::LockExclusiveNonblock,
        };
        match nix::fcntl::Flock::lock(file, arg) {
            Ok(lock) => Ok(Some(StoreLock { _lock: lock })),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) if !wait => Ok(None),
            Err((_, e)) => Err(io_at(&path)(e.into())),
        }
    }

    /// Removes every blob and layer no recorded image reaches. Hold the lock exclusive
    /// ([`ImageStore::lock`]): an in-flight pull's blobs are not referenced yet.
    pub fn sweep(&self) -> Result<(), StoreError> {
        // Another process (`edged image import`) may have recorded images since.
        self.reload();
        let refs = self.refs.lock().expect("refs lock");
        let mut blobs = HashSet::new();
        let mut layers = HashSet::new();
        for record in refs.images.values() {
            blobs.insert(record.config.clone());
            layers.extend(record.diff_ids.iter().cloned());
            // Keep every blob reachable from the recorded manifest, including the index path is
            // not recorded: indexes are cheap and re-fetched on pull.
            blobs.insert(record.manifest.clone());
            if let Ok(manifest) = self.read_document::<Manifest>("manifest", &record.manifest) {
                blobs.extend(manifest.layers.into_iter().map(|l| l.digest));
            }
        }
        drop(refs);
        let blob_dir = self.root.join("blobs/sha256");
        for entry in fs::read_dir(&blob_dir).map_err(io_at(&blob_dir))?.flatten() {
            let keep = entry
                .file_name()
                .to_str()
                .and_then(|n| Digest::from_hex(n).ok())
                .is_some_and(|d| blobs.contains(&d));
            if !keep {
                let _ = fs::remove_file(entry.path());
            }
        }
        let layer_dir = self.root.join("layers");
        for entry in fs::read_dir(&layer_dir)
            .map_err(io_at(&layer_dir))?
            .flatten()
        {
            let keep = entry
                .file_name()
                .to_str()
                .and_then(|n| Digest::from_hex(n).ok())
                .is_some_and(|d| layers.contains(&d));
            if !keep {
                let _ = remove_path(&entry.path());
            }
        }
        Ok(())
    }
}

fn dir_size(path: &Path) -> u64 {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    fs::read_dir(path)
        .map(|entries| entries.flatten().map(|e| dir_size(&e.path())).sum())
        .unwrap_or(0)
}

/// Removes a file or a directory tree without following symlinks.
pub(crate) fn remove_path(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// The process that made a temporary name (`<what>-<pid>-<counter>-<time>`).
fn temp_owner_pid(name: &str) -> Option<u32> {
    let mut parts = name.rsplitn(4, '-');
    let (_time, _counter, pid) = (parts.next()?, parts.next()?, parts.next()?);
    parts.next()?;
    pid.parse().ok()
}

/// A suffix that keeps concurrent temporary names apart: pid, a counter and the time.
pub(crate) fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{}-{n}-{nanos:x}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opening_the_store_keeps_temporary_files_of_live_processes_only() {
        let dir = tempfile::tempdir().unwrap();
        ImageStore::open(dir.path(), HostPlatform::detect()).unwrap();
        let tmp = dir.path().join("tmp");
        let live = tmp.join(format!("blob-{}-0-1f", std::process::id()));
        // Above the kernel's pid_max limit: never a live process.
        let dead = tmp.join("pull-999999999-3-2e");
        let unnamed = tmp.join("leftover");
        for path in [&live, &dead, &unnamed] {
            fs::write(path, b"x").unwrap();
        }
        ImageStore::open(dir.path(), HostPlatform::detect()).unwrap();
        assert!(live.exists());
        assert!(!dead.exists() && !unnamed.exists());
        assert_eq!(temp_owner_pid("refs-12-0-a"), Some(12));
        assert_eq!(temp_owner_pid("12-0-a"), None);
    }
}
