//! cgroup facts the agent reads itself (libcontainer writes the limits): which hierarchy the
//! host has, whether a container was OOM-killed, whether swap is accounted.
use std::path::{Path, PathBuf};

pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// How the host mounts cgroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CgroupSetup {
    /// v1 controllers only.
    Legacy,
    /// v1 controllers with a controller-less (or nearly) cgroup2 at `/sys/fs/cgroup/unified`.
    Hybrid,
    /// cgroup2 at `/sys/fs/cgroup`.
    Unified,
}

impl CgroupSetup {
    pub fn detect() -> CgroupSetup {
        Self::detect_at(Path::new(CGROUP_ROOT))
    }

    pub fn detect_at(root: &Path) -> CgroupSetup {
        use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC};
        match statfs(root) {
            Ok(fs) if fs.filesystem_type() == CGROUP2_SUPER_MAGIC => CgroupSetup::Unified,
            _ => match statfs(&root.join("unified")) {
                Ok(fs) if fs.filesystem_type() == CGROUP2_SUPER_MAGIC => CgroupSetup::Hybrid,
                _ => CgroupSetup::Legacy,
            },
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            CgroupSetup::Legacy => "v1",
            CgroupSetup::Hybrid => "v1 (hybrid, cgroup2 at /sys/fs/cgroup/unified)",
            CgroupSetup::Unified => "v2",
        }
    }

    /// The directory of `cgroup_path` (absolute, as in config.json) for `controller` (v1), or
    /// the unified directory (v2).
    pub fn dir(self, controller: &str, cgroup_path: &str) -> PathBuf {
        let relative = cgroup_path.trim_start_matches('/');
        match self {
            CgroupSetup::Unified => Path::new(CGROUP_ROOT).join(relative),
            _ => Path::new(CGROUP_ROOT).join(controller).join(relative),
        }
    }

    /// How many times the OOM killer killed a process in the cgroup (`None` if unreadable).
    pub fn oom_kill_count(self, cgroup_path: &str) -> Option<u64> {
        let file = match self {
            CgroupSetup::Unified => self.dir("memory", cgroup_path).join("memory.events"),
            _ => self.dir("memory", cgroup_path).join("memory.oom_control"),
        };
        let text = std::fs::read_to_string(file).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("oom_kill "))
            .and_then(|n| n.trim().parse().ok())
    }

    /// Whether swap use can be limited (v1 `memsw` files exist, or v2 with swap controller files).
    pub fn swap_limit_supported(self) -> bool {
        match self {
            CgroupSetup::Unified => {
                Path::new("/proc/swaps").exists() && {
                    // The root has no memory.swap.max; any child with the memory controller does.
                    std::fs::read_to_string(Path::new(CGROUP_ROOT).join("cgroup.subtree_control"))
                        .map(|c| c.split_whitespace().any(|x| x == "memory"))
                        .unwrap_or(false)
                }
            }
            _ => Path::new(CGROUP_ROOT)
                .join("memory/memory.memsw.limit_in_bytes")
                .exists(),
        }
    }

    /// Controllers the host offers: v2 `cgroup.controllers`, v1 the enabled rows of /proc/cgroups.
    pub fn controllers(self) -> Vec<String> {
        match self {
            CgroupSetup::Unified => {
                std::fs::read_to_string(Path::new(CGROUP_ROOT).join("cgroup.controllers"))
                    .map(|c| c.split_whitespace().map(str::to_string).collect())
                    .unwrap_or_default()
            }
            _ => std::fs::read_to_string("/proc/cgroups")
                .map(|text| enabled_v1_controllers(&text))
                .unwrap_or_default(),
        }
    }
}

/// Removes the cgroup `cgroup_path` (absolute, as in config.json) from every hierarchy it
/// exists in. A cgroup already gone is fine. Fails on the first cgroup that cannot be removed
/// (`EBUSY` while a process is still in it), leaving the rest in place.
pub fn remove(setup: CgroupSetup, cgroup_path: &str) -> std::io::Result<()> {
    let relative = cgroup_path.trim_start_matches('/');
    if relative.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "refusing to remove a cgroup hierarchy's root",
        ));
    }
    let hierarchies: Vec<PathBuf> = match setup {
        CgroupSetup::Unified => vec![PathBuf::from(CGROUP_ROOT)],
        // Every mounted v1 hierarchy (and the hybrid cgroup2): `cpu` and `cpuacct` may be
        // one hierarchy reached through two links, so the second removal finds nothing.
        _ => std::fs::read_dir(CGROUP_ROOT)?
            .flatten()
            .map(|entry| entry.path())
            .collect(),
    };
    for hierarchy in hierarchies {
        match std::fs::remove_dir(hierarchy.join(relative)) {
            Ok(()) => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `/proc/cgroups` rows with `enabled` = 1.
pub fn enabled_v1_controllers(proc_cgroups: &str) -> Vec<String> {
    proc_cgroups
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            (fields.len() >= 4 && fields[3] == "1").then(|| fields[0].to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hierarchy_root_is_never_removed() {
        for path in ["", "/", "//"] {
            for setup in [CgroupSetup::Legacy, CgroupSetup::Unified] {
                let error = remove(setup, path).unwrap_err();
                assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput, "{path:?}");
            }
        }
    }

    #[test]
    fn disabled_v1_controllers_are_not_listed() {
        let text = "#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpu\t2\t1\t1\nmemory\t0\t1\t0\npids\t3\t1\t1\n";
        assert_eq!(enabled_v1_controllers(text), vec!["cpu", "pids"]);
    }
}
