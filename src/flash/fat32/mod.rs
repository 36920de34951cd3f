//! FAT32 read/write on a partition of an image or a disk, in user space: no mount, no root, no
//! loop device. Enough of the format for a Raspberry Pi boot partition: directories with long file
//! names, reading, creating, replacing and removing files, with both FATs and FSInfo kept right.
//!
//! Invariants: the FAT is written back to every copy in use (or only the active one when
//! mirroring is off); a file is replaced by writing its new data to newly allocated clusters
//! before its directory entry points at them; nothing is cached between two `FileSystem` values.

mod entry;
#[cfg(test)]
pub(crate) mod format;
mod geometry;
mod table;

use thiserror::Error;

pub use entry::{DirEntry, FatTimestamp};
pub use geometry::Geometry;

use super::storage::Storage;
use entry::{ATTR_ARCHIVE, ATTR_DIRECTORY, DELETED, END_OF_DIRECTORY, SLOT_BYTES};
use table::FatTable;

/// A directory holds at most 65,536 slots (Microsoft's FAT spec).
const DIRECTORY_SLOTS_MAX: usize = 65_536;
/// Paths are at most this many components deep.
const PATH_DEPTH_MAX: usize = 32;
const FSINFO_LEAD: u32 = 0x4161_5252;
const FSINFO_STRUCT: u32 = 0x6141_7272;
const FSINFO_TRAIL: u32 = 0xAA55_0000;

/// What went wrong reading or writing the FAT32 volume.
#[derive(Debug, Error)]
pub enum FatError {
    /// reading or writing the underlying image failed
    #[error("i/o on the FAT volume at byte {offset_bytes}: {source}")]
    Io {
        offset_bytes: u64,
        source: std::io::Error,
    },
    /// the boot sector is not a usable FAT32 boot sector
    #[error("bad FAT32 boot sector: {reason}")]
    BadBootSector { reason: &'static str },
    /// the volume is FAT12/FAT16
    #[error("the boot partition is FAT12/FAT16 ({clusters} clusters), not FAT32")]
    NotFat32 { clusters: u32 },
    /// the volume claims more bytes than its partition has
    #[error("the FAT volume is {volume_bytes} bytes but its partition has {partition_bytes}")]
    VolumeTooLarge {
        volume_bytes: u64,
        partition_bytes: u64,
    },
    /// a cluster chain or directory is inconsistent
    #[error("the FAT volume is corrupt at cluster {cluster}: {reason}")]
    Corrupt { cluster: u32, reason: &'static str },
    /// not enough free clusters
    #[error(
        "no space left on the FAT volume: {needed_clusters} clusters needed, {free_clusters} free"
    )]
    NoSpace {
        needed_clusters: u32,
        free_clusters: u32,
    },
    /// a path component cannot be a FAT name
    #[error("{name:?} is not a valid FAT file name: {reason}")]
    InvalidName { name: String, reason: &'static str },
    /// the path does not exist
    #[error("{path}: no such file or directory on the FAT volume")]
    NotFound { path: String },
    /// a file was expected
    #[error("{path}: is a directory")]
    IsDirectory { path: String },
    /// a directory was expected
    #[error("{path}: is not a directory")]
    NotDirectory { path: String },
    /// a file is larger than the caller allowed, or than FAT32 allows
    #[error("{path}: {size_bytes} bytes is more than the {limit_bytes} bytes allowed")]
    TooLarge {
        path: String,
        size_bytes: u64,
        limit_bytes: u64,
    },
    /// the directory has no room for more entries
    #[error("{path}: the directory is full")]
    DirectoryFull { path: String },
    /// the path is too deep
    #[error("{path}: more than {PATH_DEPTH_MAX} components")]
    PathTooDeep { path: String },
}

/// A loaded directory: its cluster chain and raw bytes.
struct Directory {
    /// Path of the directory, for error messages.
    path: String,
    first_cluster: u32,
    chain: Vec<u32>,
    bytes: Vec<u8>,
}

impl Directory {
    fn entries(&self) -> Vec<DirEntry> {
        entry::parse_directory(&self.bytes)
    }

    fn find(&self, name: &str) -> Option<DirEntry> {
        let wanted = name.to_lowercase();
        self.entries()
            .into_iter()
            .filter(|e| !e.is_dot())
            .find(|e| e.name.to_lowercase() == wanted || short_display(&e.short_name) == wanted)
    }
}

/// The short name as a lower-case `base.ext`, for case-insensitive lookups by short name.
fn short_display(short: &[u8; 11]) -> String {
    let base = String::from_utf8_lossy(&short[..8])
        .trim_end()
        .to_lowercase();
    let ext = String::from_utf8_lossy(&short[8..])
        .trim_end()
        .to_lowercase();
    if ext.is_empty() {
        base
    } else {
        format!("{base}.{ext}")
    }
}

/// An open FAT32 volume at `start_bytes` of `storage`.
pub struct FileSystem<S: Storage> {
    storage: S,
    start_bytes: u64,
    geometry: Geometry,
    fat: FatTable,
    /// Time stamped on created and modified entries (time is an input, not read here).
    now: FatTimestamp,
}

impl<S: Storage> FileSystem<S> {
    /// Opens the volume occupying `len_bytes` from `start_bytes` of `storage`.
    pub fn open(
        storage: S,
        start_bytes: u64,
        len_bytes: u64,
        now: FatTimestamp,
    ) -> Result<FileSystem<S>, FatError> {
        let mut boot = vec![0u8; 512];
        read(&storage, start_bytes, &mut boot)?;
        let geometry = Geometry::parse(&boot, len_bytes)?;
        let fat_index = geometry.fats_in_use().start;
        let mut fat_bytes = vec![0u8; geometry.fat_bytes() as usize];
        read(
            &storage,
            start_bytes + geometry.fat_offset_bytes(fat_index),
            &mut fat_bytes,
        )?;
        let fat = FatTable::decode(&fat_bytes, &geometry);
        Ok(FileSystem {
            storage,
            start_bytes,
            geometry,
            fat,
            now,
        })
    }

    /// The volume's layout.
    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// Free space in bytes.
    pub fn free_bytes(&self) -> u64 {
        u64::from(self.fat.free_clusters()) * u64::from(self.geometry.cluster_bytes())
    }

    /// Gives the storage back (after `flush`).
    pub fn into_storage(self) -> S {
        self.storage
    }

    /// Whether `path` exists (file or directory).
    pub fn exists(&self, path: &str) -> Result<bool, FatError> {
        match self.lookup(path) {
            Ok(_) => Ok(true),
            Err(FatError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The entries of the directory at `path` (`""` or `"/"` is the root), without `.`/`..`.
    pub fn list_dir(&self, path: &str) -> Result<Vec<DirEntry>, FatError> {
        let dir = self.open_dir(path)?;
        Ok(dir.entries().into_iter().filter(|e| !e.is_dot()).collect())
    }

    /// Reads a whole file, refusing files larger than `limit_bytes`.
    pub fn read_file(&self, path: &str, limit_bytes: u64) -> Result<Vec<u8>, FatError> {
        let found = self.lookup(path)?;
        let entry = found.ok_or_else(|| FatError::IsDirectory { path: path.into() })?;
        if entry.is_dir() {
            return Err(FatError::IsDirectory { path: path.into() });
        }
        let size = u64::from(entry.size_bytes);
        if size > limit_bytes {
            return Err(FatError::TooLarge {
                path: path.into(),
                size_bytes: size,
                limit_bytes,
            });
        }
        if size == 0 {
            return Ok(Vec::new());
        }
        let chain = self.fat.chain(entry.first_cluster)?;
        let cluster_bytes = u64::from(self.geometry.cluster_bytes());
        if (chain.len() as u64) * cluster_bytes < size {
            return Err(FatError::Corrupt {
                cluster: entry.first_cluster,
                reason: "file is larger than its cluster chain",
            });
        }
        let mut data = vec![0u8; (chain.len() as u64 * cluster_bytes) as usize];
        self.read_clusters(&chain, &mut data)?;
        data.truncate(size as usize);
        Ok(data)
    }

    /// Creates or replaces the file at `path` with `data`, creating parent directories.
    pub fn write_file(&mut self, path: &str, data: &[u8]) -> Result<(), FatError> {
        let size_bytes = u32::try_from(data.len()).map_err(|_| FatError::TooLarge {
            path: path.into(),
            size_bytes: data.len() as u64,
            limit_bytes: u64::from(u32::MAX),
        })?;
        let (parent_path, name) = split_parent(path)?;
        entry::validate_name(name)?;
        let parent_cluster = self.create_dir_all(&parent_path)?;
        let mut parent = self.load_dir(parent_cluster, &parent_path)?;
        let existing = parent.find(name);
        if let Some(e) = &existing {
            if e.is_dir() {
                return Err(FatError::IsDirectory { path: path.into() });
            }
        }
        // New data first, then the entry, then the old chain is released.
        let first_cluster = self.write_data(data)?;
        match existing {
            Some(old) => {
                let at = old.short_slot * SLOT_BYTES;
                let slot = &mut parent.bytes[at..at + SLOT_BYTES];
                entry::write_short_fields(slot, first_cluster, size_bytes, self.now, false);
                slot[11] |= ATTR_ARCHIVE;
                self.write_slots(&parent, old.short_slot, 1)?;
                if old.first_cluster != 0 {
                    self.fat.free_chain(old.first_cluster)?;
                }
            }
            None => {
                self.add_entry(&mut parent, name, ATTR_ARCHIVE, first_cluster, size_bytes)?;
            }
        }
        self.flush()
    }

    /// Removes the file at `path`.
    pub fn remove_file(&mut self, path: &str) -> Result<(), FatError> {
        let (parent_path, name) = split_parent(path)?;
        let parent_cluster = self.dir_cluster(&parent_path)?;
        let mut parent = self.load_dir(parent_cluster, &parent_path)?;
        let found = parent
            .find(name)
            .ok_or_else(|| FatError::NotFound { path: path.into() })?;
        if found.is_dir() {
            return Err(FatError::IsDirectory { path: path.into() });
        }
        for slot in found.first_slot..=found.short_slot {
            parent.bytes[slot * SLOT_BYTES] = DELETED;
        }
        let count = found.short_slot - found.first_slot + 1;
        self.write_slots(&parent, found.first_slot, count)?;
        if found.first_cluster != 0 {
            self.fat.free_chain(found.first_cluster)?;
        }
        self.flush()
    }

    /// Creates the directory at `path` and its parents when missing; returns its first cluster.
    pub fn create_dir_all(&mut self, path: &str) -> Result<u32, FatError> {
        let mut cluster = self.geometry.root_cluster;
        let mut walked = String::new();
        for name in components(path)? {
            let mut dir = self.load_dir(cluster, &walked)?;
            walked.push('/');
            walked.push_str(name);
            cluster = match dir.find(name) {
                Some(e) if e.is_dir() => e.first_cluster,
                Some(_) => return Err(FatError::NotDirectory { path: walked }),
                None => {
                    entry::validate_name(name)?;
                    let new = self.make_dir_cluster(cluster)?;
                    self.add_entry(&mut dir, name, ATTR_DIRECTORY, new, 0)?;
                    self.flush()?;
                    new
                }
            };
        }
        Ok(cluster)
    }

    /// Writes the changed FAT sectors to every FAT copy in use, and updates FSInfo.
    pub fn flush(&mut self) -> Result<(), FatError> {
        let bps = u64::from(self.geometry.bytes_per_sector);
        for (sector, bytes) in self.fat.dirty_sectors() {
            for copy in self.geometry.fats_in_use() {
                let at = self.geometry.fat_offset_bytes(copy) + u64::from(sector) * bps;
                self.write(at, &bytes)?;
            }
        }
        self.fat.mark_clean();
        if let Some(sector) = self.geometry.fsinfo_sector {
            let at = u64::from(sector) * bps;
            let mut info = vec![0u8; 512];
            read(&self.storage, self.start_bytes + at, &mut info)?;
            let le = |b: &[u8], i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
            // Only a well-formed FSInfo is updated; a missing one is simply not maintained.
            if le(&info, 0) == FSINFO_LEAD
                && le(&info, 484) == FSINFO_STRUCT
                && le(&info, 508) == FSINFO_TRAIL
            {
                info[488..492].copy_from_slice(&self.fat.free_clusters().to_le_bytes());
                info[492..496].copy_from_slice(&self.fat.next_free_hint().to_le_bytes());
                self.write(at + 484, &info[484..496])?;
            }
        }
        Ok(())
    }

    /// Flushes and makes everything durable.
    pub fn sync(&mut self) -> Result<(), FatError> {
        self.flush()?;
        self.storage.sync().map_err(|source| FatError::Io {
            offset_bytes: self.start_bytes,
            source,
        })
    }

    /// `Some(entry)` for a file or subdirectory, `None` for the root.
    fn lookup(&self, path: &str) -> Result<Option<DirEntry>, FatError> {
        let names = components(path)?;
        let mut cluster = self.geometry.root_cluster;
        let mut walked = String::new();
        let mut found = None;
        for (i, name) in names.iter().enumerate() {
            if i > 0 {
                match &found {
                    Some(e) if DirEntry::is_dir(e) => {}
                    _ => return Err(FatError::NotDirectory { path: walked }),
                }
            }
            let dir = self.load_dir(cluster, &walked)?;
            walked.push('/');
            walked.push_str(name);
            let e = dir.find(name).ok_or_else(|| FatError::NotFound {
                path: walked.clone(),
            })?;
            cluster = e.first_cluster;
            found = Some(e);
        }
        Ok(found)
    }

    fn dir_cluster(&self, path: &str) -> Result<u32, FatError> {
        match self.lookup(path)? {
            None => Ok(self.geometry.root_cluster),
            Some(e) if e.is_dir() => Ok(dir_first_cluster(&e, self.geometry.root_cluster)),
            Some(_) => Err(FatError::NotDirectory { path: path.into() }),
        }
    }

    fn open_dir(&self, path: &str) -> Result<Directory, FatError> {
        let cluster = self.dir_cluster(path)?;
        self.load_dir(cluster, path)
    }

    fn load_dir(&self, first_cluster: u32, path: &str) -> Result<Directory, FatError> {
        let chain = self.fat.chain(first_cluster)?;
        let cluster_bytes = self.geometry.cluster_bytes() as usize;
        if chain.len() * cluster_bytes / SLOT_BYTES > DIRECTORY_SLOTS_MAX {
            return Err(FatError::Corrupt {
                cluster: first_cluster,
                reason: "directory larger than FAT allows",
            });
        }
        let mut bytes = vec![0u8; chain.len() * cluster_bytes];
        self.read_clusters(&chain, &mut bytes)?;
        Ok(Directory {
            path: if path.is_empty() {
                "/".into()
            } else {
                path.into()
            },
            first_cluster,
            chain,
            bytes,
        })
    }

    /// Adds an entry named `name` to `dir`, growing the directory when it has no room.
    fn add_entry(
        &mut self,
        dir: &mut Directory,
        name: &str,
        attr: u8,
        first_cluster: u32,
        size_bytes: u32,
    ) -> Result<(), FatError> {
        let taken: Vec<[u8; 11]> = dir.entries().iter().map(|e| e.short_name).collect();
        let (short, with_lfn) = entry::short_name_for(name, &taken)?;
        let slots = entry::encode_entry(
            name,
            short,
            with_lfn,
            attr,
            first_cluster,
            size_bytes,
            self.now,
        );
        let start = match free_run(&dir.bytes, slots.len()) {
            Some(start) => start,
            None => self.grow_dir(dir, slots.len())?,
        };
        for (i, slot) in slots.iter().enumerate() {
            let at = (start + i) * SLOT_BYTES;
            dir.bytes[at..at + SLOT_BYTES].copy_from_slice(slot);
        }
        self.write_slots(dir, start, slots.len())
    }

    /// Appends zeroed clusters to `dir` so that `needed` slots fit at its end; returns where.
    fn grow_dir(&mut self, dir: &mut Directory, needed: usize) -> Result<usize, FatError> {
        let slots_per_cluster = self.geometry.cluster_bytes() as usize / SLOT_BYTES;
        // The free tail of the directory (after its last used slot) is reused.
        let used_end = dir
            .bytes
            .chunks_exact(SLOT_BYTES)
            .rposition(|s| s[0] != END_OF_DIRECTORY && s[0] != DELETED)
            .map_or(0, |i| i + 1);
        let total = dir.bytes.len() / SLOT_BYTES;
        let missing = needed - (total - used_end).min(needed);
        let clusters = missing.div_ceil(slots_per_cluster) as u32;
        if total + clusters as usize * slots_per_cluster > DIRECTORY_SLOTS_MAX {
            return Err(FatError::DirectoryFull {
                path: dir.path.clone(),
            });
        }
        let last = *dir.chain.last().expect("a directory chain is never empty");
        let added = self.fat.extend(last, clusters)?;
        let zero = vec![0u8; self.geometry.cluster_bytes() as usize];
        for &cluster in &added {
            self.write(self.geometry.cluster_offset_bytes(cluster), &zero)?;
        }
        dir.chain.extend(&added);
        dir.bytes.resize(dir.chain.len() * zero.len(), 0);
        // Slots between the used end and the old end may be deleted entries: reuse them as
        // part of the run only if they are free, which the check above guarantees.
        Ok(used_end)
    }

    /// Allocates and zeroes a cluster for a new subdirectory of `parent` with `.` and `..`.
    fn make_dir_cluster(&mut self, parent: u32) -> Result<u32, FatError> {
        let cluster = self.fat.allocate(1)?[0];
        let mut bytes = vec![0u8; self.geometry.cluster_bytes() as usize];
        // `..` of a directory in the root points at cluster 0, by the FAT spec.
        let dotdot = if parent == self.geometry.root_cluster {
            0
        } else {
            parent
        };
        let dot = entry::encode_entry(
            ".",
            *b".          ",
            false,
            ATTR_DIRECTORY,
            cluster,
            0,
            self.now,
        );
        let up = entry::encode_entry(
            "..",
            *b"..         ",
            false,
            ATTR_DIRECTORY,
            dotdot,
            0,
            self.now,
        );
        bytes[..SLOT_BYTES].copy_from_slice(&dot[0]);
        bytes[SLOT_BYTES..2 * SLOT_BYTES].copy_from_slice(&up[0]);
        self.write(self.geometry.cluster_offset_bytes(cluster), &bytes)?;
        Ok(cluster)
    }

    /// Writes `data` into newly allocated clusters; returns the first (0 for empty data).
    fn write_data(&mut self, data: &[u8]) -> Result<u32, FatError> {
        if data.is_empty() {
            return Ok(0);
        }
        let cluster_bytes = self.geometry.cluster_bytes() as usize;
        let count = data.len().div_ceil(cluster_bytes) as u32;
        let chain = self.fat.allocate(count)?;
        let mut done = 0;
        for run in contiguous_runs(&chain) {
            let bytes = (run.len() * cluster_bytes).min(data.len() - done);
            let mut buf = data[done..done + bytes].to_vec();
            buf.resize(run.len() * cluster_bytes, 0);
            self.write(self.geometry.cluster_offset_bytes(run[0]), &buf)?;
            done += bytes;
        }
        Ok(chain[0])
    }

    fn read_clusters(&self, chain: &[u32], out: &mut [u8]) -> Result<(), FatError> {
        let cluster_bytes = self.geometry.cluster_bytes() as usize;
        let mut at = 0;
        for run in contiguous_runs(chain) {
            let len = run.len() * cluster_bytes;
            let offset = self.start_bytes + self.geometry.cluster_offset_bytes(run[0]);
            read(&self.storage, offset, &mut out[at..at + len])?;
            at += len;
        }
        Ok(())
    }

    /// Writes `count` slots of `dir` starting at slot `first` to their clusters.
    fn write_slots(&mut self, dir: &Directory, first: usize, count: usize) -> Result<(), FatError> {
        let slots_per_cluster = self.geometry.cluster_bytes() as usize / SLOT_BYTES;
        for slot in first..first + count {
            let cluster = dir.chain[slot / slots_per_cluster];
            let within = (slot % slots_per_cluster) * SLOT_BYTES;
            let at = self.geometry.cluster_offset_bytes(cluster) + within as u64;
            self.write(at, &dir.bytes[slot * SLOT_BYTES..(slot + 1) * SLOT_BYTES])?;
        }
        debug_assert!(dir.first_cluster == dir.chain[0]);
        Ok(())
    }

    fn write(&mut self, volume_offset: u64, bytes: &[u8]) -> Result<(), FatError> {
        let offset_bytes = self.start_bytes + volume_offset;
        self.storage
            .write_at(offset_bytes, bytes)
            .map_err(|source| FatError::Io {
                offset_bytes,
                source,
            })
    }

    #[cfg(test)]
    pub(crate) fn fat(&self) -> &FatTable {
        &self.fat
    }
}

fn read<S: Storage>(storage: &S, offset_bytes: u64, buf: &mut [u8]) -> Result<(), FatError> {
    storage
        .read_at(offset_bytes, buf)
        .map_err(|source| FatError::Io {
            offset_bytes,
            source,
        })
}

/// A `..` entry pointing at 0 means the root; so does a directory entry with cluster 0.
fn dir_first_cluster(entry: &DirEntry, root: u32) -> u32 {
    if entry.first_cluster == 0 {
        root
    } else {
        entry.first_cluster
    }
}

/// The first run of `needed` consecutive free slots, if any.
fn free_run(bytes: &[u8], needed: usize) -> Option<usize> {
    let mut run_start = 0;
    let mut run_len = 0;
    for (i, slot) in bytes.chunks_exact(SLOT_BYTES).enumerate() {
        if slot[0] == END_OF_DIRECTORY || slot[0] == DELETED {
            if run_len == 0 {
                run_start = i;
            }
            run_len += 1;
            if run_len == needed {
                return Some(run_start);
            }
        } else {
            run_len = 0;
        }
    }
    None
}

/// Splits a chain into runs of consecutive cluster numbers, to read and write them in one go.
fn contiguous_runs(chain: &[u32]) -> Vec<&[u32]> {
    let mut runs = Vec::new();
    let mut start = 0;
    for i in 1..=chain.len() {
        if i == chain.len() || chain[i] != chain[i - 1] + 1 {
            runs.push(&chain[start..i]);
            start = i;
        }
    }
    runs
}

fn components(path: &str) -> Result<Vec<&str>, FatError> {
    let names: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    if names.len() > PATH_DEPTH_MAX {
        return Err(FatError::PathTooDeep { path: path.into() });
    }
    Ok(names)
}

/// `("/a/b", "c")` for `"/a/b/c"`; the root cannot be written as a file.
fn split_parent(path: &str) -> Result<(String, &str), FatError> {
    let mut names = components(path)?;
    let name = names.pop().ok_or_else(|| FatError::InvalidName {
        name: path.into(),
        reason: "the root is not a file",
    })?;
    Ok((names.join("/"), name))
}

#[cfg(test)]
mod tests;
