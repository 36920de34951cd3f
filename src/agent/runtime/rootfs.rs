//! A container's root filesystem: an overlayfs mount of the image's unpacked layers (shared,
//! read-only) under a per-container upper directory, at `<bundle>/rootfs`.
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use nix::mount::{MntFlags, MsFlags};

/// The overlay option string is limited to a page; each layer costs its path plus a colon.
const MOUNT_OPTIONS_BYTES_MAX: usize = 4000;

/// Why the root filesystem could not be mounted.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("mounting overlay at {target}: {source}")]
    Mount {
        target: PathBuf,
        source: nix::errno::Errno,
    },
    #[error(
        "{layers} layers make the overlay options longer than {MOUNT_OPTIONS_BYTES_MAX} bytes"
    )]
    TooManyLayers { layers: usize },
}

/// The directories of one container's writable layer.
pub struct RootfsPaths {
    pub upper: PathBuf,
    pub work: PathBuf,
    pub target: PathBuf,
}

impl RootfsPaths {
    /// The layout under a container directory: `upper/`, `work/` and `bundle/rootfs`.
    pub fn under(container_dir: &Path) -> RootfsPaths {
        RootfsPaths {
            upper: container_dir.join("upper"),
            work: container_dir.join("work"),
            target: container_dir.join("bundle/rootfs"),
        }
    }
}

/// Mounts `layers` (bottom first) with a fresh writable upper layer at `paths.target`. An image
/// without layers gets an empty lower directory.
pub fn mount(
    layers: &[PathBuf],
    paths: &RootfsPaths,
    empty_lower: &Path,
) -> Result<(), RootfsError> {
    for dir in [&paths.upper, &paths.work, &paths.target] {
        std::fs::create_dir_all(dir).map_err(|source| RootfsError::Io {
            path: dir.clone(),
            source,
        })?;
    }
    let lowers: Vec<String> = if layers.is_empty() {
        std::fs::create_dir_all(empty_lower).map_err(|source| RootfsError::Io {
            path: empty_lower.to_path_buf(),
            source,
        })?;
        vec![empty_lower.display().to_string()]
    } else {
        // overlayfs lists the top layer first.
        layers
            .iter()
            .rev()
            .map(|l| l.display().to_string())
            .collect()
    };
    let options = format!(
        "lowerdir={},upperdir={},workdir={}",
        lowers.join(":"),
        paths.upper.display(),
        paths.work.display()
    );
    if options.len() + ",volatile".len() > MOUNT_OPTIONS_BYTES_MAX {
        return Err(RootfsError::TooManyLayers {
            layers: layers.len(),
        });
    }
    let mount = |options: &str| {
        nix::mount::mount(
            Some("overlay"),
            &paths.target,
            Some("overlay"),
            MsFlags::empty(),
            Some(options),
        )
    };
    // `volatile` (Linux 5.10) skips the sync of the whole upper file system (the node's SD
    // card) that every unmount otherwise does: a container's writable layer never outlives a
    // crash (after a reboot a new container gets a fresh one), so the sync buys nothing but
    // writes and ~2 ms per container. Older kernels refuse the option: mount without it.
    let result = if VOLATILE_REFUSED.load(Ordering::Relaxed) {
        mount(&options)
    } else {
        match mount(&format!("{options},volatile")) {
            Err(nix::errno::Errno::EINVAL) => {
                let plain = mount(&options);
                if plain.is_ok() {
                    VOLATILE_REFUSED.store(true, Ordering::Relaxed);
                }
                plain
            }
            other => other,
        }
    };
    result.map_err(|source| RootfsError::Mount {
        target: paths.target.clone(),
        source,
    })
}

/// Set once the kernel refused a `volatile` overlay while accepting the same mount without it.
static VOLATILE_REFUSED: AtomicBool = AtomicBool::new(false);

/// Unmounts the root filesystem; not mounted is fine.
pub fn unmount(target: &Path) -> io::Result<()> {
    match nix::mount::umount2(target, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Whether `path` is a mount point (its device differs from its parent's).
pub fn is_mounted(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let (Ok(meta), Some(parent)) = (std::fs::metadata(path), path.parent()) else {
        return false;
    };
    std::fs::metadata(parent)
        .map(|p| p.dev() != meta.dev())
        .unwrap_or(false)
}

/// Whether a regular file has something mounted on it (a pinned namespace): it then shows the
/// nsfs file system, not that of its directory.
pub fn is_mounted_file(path: &Path) -> bool {
    is_mounted(path)
}
