//! Safety checks before writing to a block device: it must be a whole disk, none of its
//! partitions mounted, used as swap or held by device-mapper/md, and not the disk holding `/`.
//!
//! The decision (`check`) is pure and tested with fixtures; `inspect` reads `/sys` and `/proc`.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use thiserror::Error;

/// A block device number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DevNum {
    /// Major number.
    pub major: u32,
    /// Minor number.
    pub minor: u32,
}

impl DevNum {
    /// Splits a Linux `dev_t` (glibc's and musl's encoding).
    pub fn from_dev_t(dev: u64) -> DevNum {
        DevNum {
            major: (((dev >> 32) & 0xFFFF_F000) | ((dev >> 8) & 0x0000_0FFF)) as u32,
            minor: (((dev >> 12) & 0xFFFF_FF00) | (dev & 0x0000_00FF)) as u32,
        }
    }

    /// Parses `major:minor`.
    pub fn parse(text: &str) -> Option<DevNum> {
        let (major, minor) = text.trim().split_once(':')?;
        Some(DevNum {
            major: major.parse().ok()?,
            minor: minor.parse().ok()?,
        })
    }
}

impl std::fmt::Display for DevNum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.major, self.minor)
    }
}

/// Why a device may not be written.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DeviceError {
    /// cannot stat or read the device
    #[error("{path}: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    /// not a block device
    #[error("{path} is not a block device (use --out for an image file)")]
    NotBlockDevice { path: PathBuf },
    /// a partition, not a disk
    #[error("{path} is a partition; give the whole disk (for example /dev/{disk})")]
    Partition { path: PathBuf, disk: String },
    /// the disk holding `/`
    #[error("/dev/{disk} holds the running system's root file system; refusing to overwrite it")]
    HoldsRoot { disk: String },
    /// mounted somewhere
    #[error("/dev/{device} is mounted on {mount_point}; unmount it first")]
    Mounted { device: String, mount_point: String },
    /// used as swap
    #[error("/dev/{device} is in use as swap; swapoff it first")]
    Swap { device: String },
    /// held by device-mapper, md or similar
    #[error("/dev/{device} is in use by /dev/{holder} (device-mapper, RAID or LVM)")]
    Held { device: String, holder: String },
    /// smaller than the image
    #[error("/dev/{disk} has {disk_bytes} bytes, less than the image's {image_bytes}")]
    TooSmall {
        disk: String,
        disk_bytes: u64,
        image_bytes: u64,
    },
}

/// One block device of the disk (the disk itself or a partition).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockDev {
    /// Kernel name (`sdb`, `sdb1`, `mmcblk0p2`).
    pub name: String,
    /// Device number.
    pub dev: DevNum,
    /// Names of devices built on top of it (`/sys/class/block/<name>/holders`).
    pub holders: Vec<String>,
}

/// What `/sys` says about a whole disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskInfo {
    /// The disk.
    pub disk: BlockDev,
    /// Its partitions.
    pub partitions: Vec<BlockDev>,
    /// Size in bytes.
    pub size_bytes: u64,
    /// Vendor and model, when the kernel knows them.
    pub model: String,
}

/// One line of `/proc/self/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Device number of the mounted file system.
    pub dev: DevNum,
    /// Where it is mounted.
    pub mount_point: String,
    /// The mount source (`/dev/sdb1`, `tmpfs` …).
    pub source: String,
}

/// Parses `/proc/self/mountinfo` (octal escapes like `\040` in paths are decoded).
pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let dev = DevNum::parse(fields.get(2)?)?;
            let mount_point = unescape(fields.get(4)?);
            let dash = fields.iter().position(|f| *f == "-")?;
            let source = unescape(fields.get(dash + 2)?);
            Some(Mount {
                dev,
                mount_point,
                source,
            })
        })
        .collect()
}

fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| d[0] <= b'3' && d.iter().all(|b| (b'0'..=b'7').contains(b)));
        if let (b'\\', Some(digits)) = (bytes[i], octal) {
            let value = (digits[0] - b'0') * 64 + (digits[1] - b'0') * 8 + (digits[2] - b'0');
            out.push(value);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What else is using block devices, gathered by `inspect`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SystemState {
    /// Mounted file systems, with the device numbers their sources resolve to.
    pub mounts: Vec<(Mount, Option<DevNum>)>,
    /// Device numbers of active swap devices.
    pub swaps: Vec<DevNum>,
    /// The disk that holds `/`, when it is a plain disk.
    pub root_disk: Option<String>,
}

/// Refuses a disk that is in use. Pure: everything comes in as data.
pub fn check(disk: &DiskInfo, system: &SystemState, image_bytes: u64) -> Result<(), DeviceError> {
    if system.root_disk.as_deref() == Some(disk.disk.name.as_str()) {
        return Err(DeviceError::HoldsRoot {
            disk: disk.disk.name.clone(),
        });
    }
    let all = std::iter::once(&disk.disk).chain(&disk.partitions);
    for dev in all {
        for (mount, source_dev) in &system.mounts {
            if mount.dev == dev.dev || *source_dev == Some(dev.dev) {
                return Err(DeviceError::Mounted {
                    device: dev.name.clone(),
                    mount_point: mount.mount_point.clone(),
                });
            }
        }
        if system.swaps.contains(&dev.dev) {
            return Err(DeviceError::Swap {
                device: dev.name.clone(),
            });
        }
        if let Some(holder) = dev.holders.first() {
            return Err(DeviceError::Held {
                device: dev.name.clone(),
                holder: holder.clone(),
            });
        }
    }
    if disk.size_bytes < image_bytes {
        return Err(DeviceError::TooSmall {
            disk: disk.disk.name.clone(),
            disk_bytes: disk.size_bytes,
            image_bytes,
        });
    }
    Ok(())
}

fn unreadable(path: &Path, err: impl std::fmt::Display) -> DeviceError {
    DeviceError::Unreadable {
        path: path.to_path_buf(),
        reason: err.to_string(),
    }
}

fn read_trimmed(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

fn holders(sys_dir: &Path) -> Vec<String> {
    fs::read_dir(sys_dir.join("holders"))
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The `/sys/devices/...` directory of a device number.
fn sys_dir(dev: DevNum) -> Option<PathBuf> {
    fs::canonicalize(format!("/sys/dev/block/{dev}")).ok()
}

/// The whole disk a device number belongs to (itself when it is a disk).
fn disk_of(dev: DevNum) -> Option<String> {
    let dir = sys_dir(dev)?;
    let dir = if dir.join("partition").exists() {
        dir.parent()?.to_path_buf()
    } else {
        dir
    };
    Some(dir.file_name()?.to_string_lossy().into_owned())
}

fn dev_of_path(path: &str) -> Option<DevNum> {
    let meta = fs::metadata(path).ok()?;
    meta.file_type()
        .is_block_device()
        .then(|| DevNum::from_dev_t(meta.rdev()))
}

/// Reads `/sys` about the disk at `path`, refusing non-devices and partitions.
pub fn inspect_disk(path: &Path) -> Result<DiskInfo, DeviceError> {
    let meta = fs::metadata(path).map_err(|e| unreadable(path, e))?;
    if !meta.file_type().is_block_device() {
        return Err(DeviceError::NotBlockDevice {
            path: path.to_path_buf(),
        });
    }
    let dev = DevNum::from_dev_t(meta.rdev());
    let dir = sys_dir(dev).ok_or_else(|| unreadable(path, format!("no /sys/dev/block/{dev}")))?;
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if dir.join("partition").exists() {
        return Err(DeviceError::Partition {
            path: path.to_path_buf(),
            disk: disk_of(dev).unwrap_or(name),
        });
    }
    let mut partitions = Vec::new();
    for entry in fs::read_dir(&dir)
        .map_err(|e| unreadable(&dir, e))?
        .flatten()
    {
        let child = entry.path();
        if !child.join("partition").exists() {
            continue;
        }
        if let Some(pdev) = read_trimmed(&child.join("dev")).and_then(|d| DevNum::parse(&d)) {
            partitions.push(BlockDev {
                name: entry.file_name().to_string_lossy().into_owned(),
                dev: pdev,
                holders: holders(&child),
            });
        }
    }
    partitions.sort_by(|a, b| a.name.cmp(&b.name));
    let sectors: u64 = read_trimmed(&dir.join("size"))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let model = [dir.join("device/vendor"), dir.join("device/model")]
        .iter()
        .filter_map(|p| read_trimmed(p))
        .collect::<Vec<_>>()
        .join(" ");
    Ok(DiskInfo {
        disk: BlockDev {
            name,
            dev,
            holders: holders(&dir),
        },
        partitions,
        // /sys reports the size in 512-byte units whatever the logical sector size.
        size_bytes: sectors * 512,
        model,
    })
}

/// Reads what is mounted, what swaps, and which disk holds `/`.
pub fn inspect_system() -> Result<SystemState, DeviceError> {
    let mountinfo_path = Path::new("/proc/self/mountinfo");
    let mountinfo =
        fs::read_to_string(mountinfo_path).map_err(|e| unreadable(mountinfo_path, e))?;
    let mounts: Vec<(Mount, Option<DevNum>)> = parse_mountinfo(&mountinfo)
        .into_iter()
        .map(|m| {
            let source_dev = if m.source.starts_with("/dev/") {
                dev_of_path(&m.source)
            } else {
                None
            };
            (m, source_dev)
        })
        .collect();
    let swaps = fs::read_to_string("/proc/swaps")
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(dev_of_path)
        .collect();
    // `/` may sit on a plain partition (its st_dev), or on btrfs/overlay whose st_dev is
    // anonymous: then the mount source of `/` tells.
    let root_meta = fs::metadata("/").map_err(|e| unreadable(Path::new("/"), e))?;
    let root_dev = DevNum::from_dev_t(root_meta.dev());
    let root_disk = disk_of(root_dev).or_else(|| {
        mounts
            .iter()
            .rev()
            .find(|(m, _)| m.mount_point == "/")
            .and_then(|(_, d)| *d)
            .and_then(disk_of)
    });
    Ok(SystemState {
        mounts,
        swaps,
        root_disk,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw
25 22 8:17 / /media/me/boot\\040fs rw,nosuid shared:5 - vfat /dev/sdb1 rw,uid=1000
26 22 0:21 / /run rw,nosuid shared:6 - tmpfs tmpfs rw
";

    fn dev(major: u32, minor: u32) -> DevNum {
        DevNum { major, minor }
    }

    fn sdb() -> DiskInfo {
        let part = |n: u32| BlockDev {
            name: format!("sdb{n}"),
            dev: dev(8, 16 + n),
            holders: vec![],
        };
        DiskInfo {
            disk: BlockDev {
                name: "sdb".into(),
                dev: dev(8, 16),
                holders: vec![],
            },
            partitions: vec![part(1), part(2)],
            size_bytes: 32 << 30,
            model: "Generic SD".into(),
        }
    }

    fn system(mountinfo: &str) -> SystemState {
        SystemState {
            mounts: parse_mountinfo(mountinfo)
                .into_iter()
                .map(|m| (m, None))
                .collect(),
            swaps: vec![],
            root_disk: Some("nvme0n1".into()),
        }
    }

    #[test]
    fn mountinfo_lines_decode_escaped_mount_points() {
        let mounts = parse_mountinfo(MOUNTINFO);
        assert_eq!(mounts.len(), 3);
        assert_eq!(mounts[1].dev, dev(8, 17));
        assert_eq!(mounts[1].mount_point, "/media/me/boot fs");
        assert_eq!(mounts[1].source, "/dev/sdb1");
    }

    #[test]
    fn a_disk_with_a_mounted_partition_is_refused() {
        let err = check(&sdb(), &system(MOUNTINFO), 1 << 30).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/dev/sdb1 is mounted on /media/me/boot fs; unmount it first"
        );
    }

    #[test]
    fn an_unused_disk_large_enough_is_accepted() {
        let only_root = MOUNTINFO.lines().next().unwrap();
        assert_eq!(check(&sdb(), &system(only_root), 1 << 30), Ok(()));
        let err = check(&sdb(), &system(only_root), 64 << 30).unwrap_err();
        assert!(matches!(err, DeviceError::TooSmall { .. }), "{err}");
    }

    #[test]
    fn the_disk_holding_root_is_refused_even_if_nothing_else_matches() {
        let mut state = system("");
        state.root_disk = Some("sdb".into());
        assert_eq!(
            check(&sdb(), &state, 0),
            Err(DeviceError::HoldsRoot { disk: "sdb".into() })
        );
    }

    #[test]
    fn swap_and_device_mapper_users_are_refused() {
        let mut state = system("");
        state.swaps = vec![dev(8, 18)];
        assert_eq!(
            check(&sdb(), &state, 0),
            Err(DeviceError::Swap {
                device: "sdb2".into()
            })
        );
        let mut disk = sdb();
        disk.partitions[0].holders = vec!["dm-0".into()];
        let err = check(&disk, &system(""), 0).unwrap_err();
        assert!(matches!(err, DeviceError::Held { .. }), "{err}");
    }

    #[test]
    fn a_mount_found_through_its_source_path_is_refused() {
        // btrfs reports an anonymous device number; its source still names the partition.
        let line = "30 22 0:45 / /mnt rw - btrfs /dev/sdb2 rw";
        let mut state = system("");
        state.mounts = parse_mountinfo(line)
            .into_iter()
            .map(|m| (m, Some(dev(8, 18))))
            .collect();
        let err = check(&sdb(), &state, 0).unwrap_err();
        assert!(matches!(err, DeviceError::Mounted { .. }), "{err}");
    }

    #[test]
    fn dev_t_splits_like_the_c_macros() {
        assert_eq!(DevNum::from_dev_t(0x0811), dev(8, 17));
        assert_eq!(DevNum::from_dev_t((259 << 8) | 2), dev(259, 2));
        // Large minor numbers use the high bits.
        assert_eq!(DevNum::from_dev_t(0x0100_0103), dev(1, 0x1003));
    }
}
