//! `edgectl flash`: turns a stock Raspberry Pi OS (or Ubuntu for Pi) image into one that boots
//! straight into the cluster, by editing its FAT32 boot partition in user space: no root, no
//! mounts, no loop devices.
//!
//! The flow: read the base image (MBR, boot partition, `config.txt`, `cmdline.txt`), decide every
//! change (`plan`), and only then copy the image to `--out` or `--device` (`copy`) and write the
//! changes into the copy (`fat32`). Nothing is written before the plan is complete and the
//! partition is known to have room; a failed `--out` is deleted.

pub mod arch;
pub mod cli;
pub mod cmdline;
pub mod config_txt;
pub mod copy;
pub mod device;
pub mod fat32;
pub mod firstboot;
pub mod mbr;
pub mod plan;
pub mod storage;

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use thiserror::Error;

use arch::Arch;
use copy::{CopyStats, Destination};
use fat32::{FatError, FatTimestamp, FileSystem};
use firstboot::{Generation, NodeSettings};
use mbr::{Mbr, MbrError, PartitionEntry};
use plan::{BootContents, Overrides, Plan, PlanError};
use storage::Storage;

/// An `edged` binary larger than this is not an `edged` binary.
pub const EDGED_BYTES_MAX: u64 = 128 * 1024 * 1024;
/// Directories of the boot partition are small; listing more entries than this is corruption.
const ROOT_ENTRIES_MAX: usize = 4096;

/// What went wrong while flashing, with the file it concerns.
#[derive(Debug, Error)]
pub enum FlashError {
    /// reading or writing a file or device
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    /// the partition table
    #[error("{path}: {source}")]
    Mbr { path: PathBuf, source: MbrError },
    /// the boot partition's file system
    #[error("{path}: partition {partition}: {source}")]
    Fat {
        path: PathBuf,
        partition: u8,
        source: FatError,
    },
    /// the changes cannot be decided
    #[error("{path}: {source}")]
    Plan { path: PathBuf, source: PlanError },
    /// the device is unsafe to write
    #[error(transparent)]
    Device(#[from] device::DeviceError),
    /// the boot partition is too full
    #[error(
        "{path}: partition {partition} has {available_bytes} bytes free, {needed_bytes} needed"
    )]
    NoRoom {
        path: PathBuf,
        partition: u8,
        available_bytes: u64,
        needed_bytes: u64,
    },
    /// the output would overwrite the input
    #[error("--out {path} is the base image itself; write to another file")]
    OutIsImage { path: PathBuf },
    /// no edged binary for the image's architecture
    #[error("no edged binary for {arch} found (looked at: {looked}); pass --edged PATH to a {triple} build")]
    NoEdged {
        arch: Arch,
        looked: String,
        triple: &'static str,
    },
    /// the edged binary is too big
    #[error("--edged {path}: {size_bytes} bytes is more than {EDGED_BYTES_MAX}")]
    EdgedTooLarge { path: PathBuf, size_bytes: u64 },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> FlashError + '_ {
    move |source| FlashError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Where the flashed image goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A new image file (sparse).
    File(PathBuf),
    /// A whole disk such as `/dev/sdb`, already checked by `device::check`.
    Device(PathBuf),
}

impl Target {
    /// The path written to.
    pub fn path(&self) -> &Path {
        match self {
            Target::File(p) | Target::Device(p) => p,
        }
    }
}

/// Where the `edged` binary comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EdgedSource {
    /// `--edged PATH`: must match the image's architecture.
    Path(PathBuf),
    /// The first of these files whose ELF header matches the image's architecture.
    Search(Vec<PathBuf>),
}

/// Everything `flash` needs.
#[derive(Debug, Clone)]
pub struct FlashRequest {
    /// The base image (`--image`).
    pub image: PathBuf,
    /// The node's settings.
    pub settings: NodeSettings,
    /// The `edged` to install.
    pub edged: EdgedSource,
    /// `--arch`, `--first-boot`, `--radios-off`, `--wifi`.
    pub overrides: Overrides,
    /// Timestamp for the files written (time is an input).
    pub now: FatTimestamp,
}

/// The base image, read and planned; nothing written yet.
#[derive(Debug)]
pub struct Prepared {
    /// The request's image path.
    pub image: PathBuf,
    /// Size of the base image.
    pub image_bytes: u64,
    /// The boot partition.
    pub partition: PartitionEntry,
    /// The decided changes.
    pub plan: Plan,
    /// Which `edged` was chosen.
    pub edged_path: PathBuf,
    now: FatTimestamp,
}

/// What a flash did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlashReport {
    /// The image's architecture.
    pub arch: Arch,
    /// The first-boot path written.
    pub generation: Generation,
    /// Files written to the boot partition.
    pub files_written: usize,
    /// The copy.
    pub copy: CopyStats,
}

/// Reads the base image and decides every change. Writes nothing.
pub fn prepare(request: &FlashRequest) -> Result<Prepared, FlashError> {
    let path = &request.image;
    let file = File::open(path).map_err(io_error(path))?;
    let image_bytes = file.len_bytes().map_err(io_error(path))?;
    let partition = boot_partition(&file, path, image_bytes)?;
    let fat_error = |source| FlashError::Fat {
        path: path.clone(),
        partition: partition.index,
        source,
    };
    let fs = FileSystem::open(
        file,
        partition.start_bytes(),
        partition.len_bytes(),
        request.now,
    )
    .map_err(fat_error)?;
    let boot = read_boot_contents(&fs).map_err(fat_error)?;
    let arch_hint = match request.overrides.arch {
        Some(a) => Ok(a),
        None => arch::detect_image(&boot.root_names, &boot.config_txt),
    };
    let (edged_path, edged) = load_edged(&request.edged, arch_hint.ok())?;
    let plan =
        plan::plan(&boot, &request.settings, request.overrides, edged).map_err(|source| {
            FlashError::Plan {
                path: path.clone(),
                source,
            }
        })?;
    check_room(&fs, &plan).map_err(|e| match e {
        Room::Fat(source) => fat_error(source),
        Room::Short {
            available_bytes,
            needed_bytes,
        } => FlashError::NoRoom {
            path: path.clone(),
            partition: partition.index,
            available_bytes,
            needed_bytes,
        },
    })?;
    Ok(Prepared {
        image: path.clone(),
        image_bytes,
        partition,
        plan,
        edged_path,
        now: request.now,
    })
}

/// Copies the base image to `target` and applies the plan to the copy. A failed `--out` file is
/// removed, so no half-made image is left behind.
pub fn write(
    prepared: &Prepared,
    target: &Target,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<FlashReport, FlashError> {
    let result = write_inner(prepared, target, progress);
    if result.is_err() {
        if let Target::File(out) = target {
            let _ = std::fs::remove_file(out);
        }
    }
    result
}

fn write_inner(
    prepared: &Prepared,
    target: &Target,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<FlashReport, FlashError> {
    let image = &prepared.image;
    let source = File::open(image).map_err(io_error(image))?;
    let out_path = target.path();
    let (dest, destination) = match target {
        Target::File(out) => {
            if same_file(image, out) {
                return Err(FlashError::OutIsImage { path: out.clone() });
            }
            let f = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(out)
                .map_err(io_error(out))?;
            (f, Destination::SparseFile)
        }
        Target::Device(dev) => {
            // O_EXCL on a block device fails with EBUSY while the kernel has it (or a partition
            // of it) mounted or claimed: a last guard behind `device::check`.
            let f = OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(libc::O_EXCL)
                .open(dev)
                .map_err(io_error(dev))?;
            (f, Destination::Device)
        }
    };
    let copy =
        copy::copy_image(&source, &dest, destination, progress).map_err(io_error(out_path))?;
    let partition = prepared.partition;
    let fat_error = |source| FlashError::Fat {
        path: out_path.to_path_buf(),
        partition: partition.index,
        source,
    };
    let mut fs = FileSystem::open(
        dest,
        partition.start_bytes(),
        partition.len_bytes(),
        prepared.now,
    )
    .map_err(fat_error)?;
    apply(&mut fs, &prepared.plan).map_err(fat_error)?;
    fs.sync().map_err(fat_error)?;
    if let Target::Device(_) = target {
        reread_partition_table(&fs.into_storage());
    }
    Ok(FlashReport {
        arch: prepared.plan.arch,
        generation: prepared.plan.generation,
        files_written: prepared.plan.files.len(),
        copy,
    })
}

/// Writes the plan into a boot partition: stale files out, then `flotilla/`, then the hooks,
/// and `cmdline.txt`/`config.txt` last, so an interrupted write never leaves a boot hook that
/// points at files that are not there yet.
pub fn apply<S: Storage>(fs: &mut FileSystem<S>, plan: &Plan) -> Result<(), FatError> {
    for path in &plan.stale {
        fs.remove_file(path)?;
    }
    let last = |p: &str| p == "cmdline.txt" || p == "config.txt";
    let in_dir = |p: &str| p.starts_with(&format!("{}/", firstboot::DIR));
    let ordered = plan
        .files
        .iter()
        .filter(|f| in_dir(&f.path))
        .chain(
            plan.files
                .iter()
                .filter(|f| !in_dir(&f.path) && !last(&f.path)),
        )
        .chain(plan.files.iter().filter(|f| last(&f.path)));
    for file in ordered {
        fs.write_file(&file.path, &file.contents)?;
    }
    Ok(())
}

/// Asks the kernel to re-read the card's partition table, so that `/dev/sdX1` … show the new
/// partitions at once. Best effort: a desktop may have grabbed the disk meanwhile, and the
/// kernel re-reads it anyway when the card is next inserted.
fn reread_partition_table(device: &File) {
    use std::os::fd::AsRawFd;
    // _IO(0x12, 95) from <linux/fs.h>.
    const BLKRRPART: libc::c_ulong = 0x125F;
    // SAFETY: BLKRRPART takes no argument and only acts on the open block device.
    let rc = unsafe { libc::ioctl(device.as_raw_fd(), BLKRRPART as _, 0) };
    if rc != 0 {
        tracing::debug!(error = %io::Error::last_os_error(), "BLKRRPART failed");
    }
}

fn boot_partition(
    file: &File,
    path: &Path,
    image_bytes: u64,
) -> Result<PartitionEntry, FlashError> {
    let mut sector = vec![0u8; mbr::SECTOR_BYTES as usize];
    if image_bytes >= mbr::SECTOR_BYTES {
        file.read_at(0, &mut sector).map_err(io_error(path))?;
    }
    let mbr_error = |source| FlashError::Mbr {
        path: path.to_path_buf(),
        source,
    };
    Mbr::parse(&sector, image_bytes)
        .and_then(|m| m.boot_partition())
        .map_err(mbr_error)
}

fn read_boot_contents<S: Storage>(fs: &FileSystem<S>) -> Result<BootContents, FatError> {
    let root = fs.list_dir("/")?;
    if root.len() > ROOT_ENTRIES_MAX {
        return Err(FatError::DirectoryFull { path: "/".into() });
    }
    let optional = |path: &str, limit: u64| match fs.read_file(path, limit) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(FatError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    };
    let config_txt = optional("config.txt", config_txt::CONFIG_TXT_BYTES_MAX)?
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let cmdline_txt = optional("cmdline.txt", cmdline::CMDLINE_BYTES_MAX)?;
    let flotilla_names = match fs.list_dir(firstboot::DIR) {
        Ok(entries) => entries
            .into_iter()
            .filter(|e| !e.is_dir())
            .map(|e| e.name)
            .collect(),
        Err(FatError::NotFound { .. }) | Err(FatError::NotDirectory { .. }) => Vec::new(),
        Err(e) => return Err(e),
    };
    Ok(BootContents {
        root_names: root.into_iter().map(|e| e.name).collect(),
        config_txt,
        cmdline_txt,
        flotilla_names,
    })
}

enum Room {
    Fat(FatError),
    Short {
        available_bytes: u64,
        needed_bytes: u64,
    },
}

/// The partition must hold the new files, counting the space of those they replace, plus a
/// cluster for each directory that may have to grow.
fn check_room<S: Storage>(fs: &FileSystem<S>, plan: &Plan) -> Result<(), Room> {
    let cluster = u64::from(fs.geometry().cluster_bytes());
    let rounded = |len: u64| len.div_ceil(cluster) * cluster;
    let mut available = fs.free_bytes();
    let mut needed = 4 * cluster;
    let existing = |dir: &str| match fs.list_dir(dir) {
        Ok(entries) => Ok(entries),
        Err(FatError::NotFound { .. }) | Err(FatError::NotDirectory { .. }) => Ok(Vec::new()),
        Err(e) => Err(Room::Fat(e)),
    };
    let root = existing("/")?;
    let flotilla = existing(firstboot::DIR)?;
    for file in &plan.files {
        needed += rounded(file.contents.len() as u64);
        let (dir, name) = match file.path.rsplit_once('/') {
            Some((_, name)) => (&flotilla, name),
            None => (&root, file.path.as_str()),
        };
        if let Some(old) = dir.iter().find(|e| e.name.eq_ignore_ascii_case(name)) {
            available += rounded(u64::from(old.size_bytes));
        }
    }
    if needed > available {
        return Err(Room::Short {
            available_bytes: available,
            needed_bytes: needed,
        });
    }
    Ok(())
}

fn load_edged(source: &EdgedSource, arch: Option<Arch>) -> Result<(PathBuf, Vec<u8>), FlashError> {
    match source {
        EdgedSource::Path(path) => Ok((path.clone(), read_edged(path)?)),
        EdgedSource::Search(candidates) => {
            // Without a known architecture nothing can be matched; the plan reports why.
            let arch = arch.unwrap_or(Arch::Aarch64);
            for path in candidates {
                let mut header = [0u8; 64];
                let matches = File::open(path)
                    .and_then(|mut f| f.read_exact(&mut header))
                    .is_ok()
                    && arch::detect_elf(&header) == Ok(arch);
                if matches {
                    return Ok((path.clone(), read_edged(path)?));
                }
            }
            Err(FlashError::NoEdged {
                arch,
                looked: candidates
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                triple: arch.target_triple(),
            })
        }
    }
}

fn read_edged(path: &Path) -> Result<Vec<u8>, FlashError> {
    let file = File::open(path).map_err(io_error(path))?;
    let size_bytes = file.metadata().map_err(io_error(path))?.len();
    if size_bytes > EDGED_BYTES_MAX {
        return Err(FlashError::EdgedTooLarge {
            path: path.to_path_buf(),
            size_bytes,
        });
    }
    let mut data = Vec::with_capacity(size_bytes as usize);
    file.take(EDGED_BYTES_MAX)
        .read_to_end(&mut data)
        .map_err(io_error(path))?;
    Ok(data)
}

fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}
