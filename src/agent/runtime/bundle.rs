//! The OCI bundle's `config.json` for a container: the process, the pod's namespaces joined by
//! path, fresh mount and PID namespaces, the standard mounts (RUNTIME-NOTES hazard 5), the
//! pod's files and volumes, cgroup limits and the default capability set. Written as JSON and
//! checked against oci-spec's types before libcontainer sees it.
use std::path::Path;

use serde_json::{json, Value};

use super::{ContainerConfig, RuntimeError};

/// The capabilities a container gets by default (containerd's and Docker's list).
pub const DEFAULT_CAPABILITIES: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability, for privileged containers.
const ALL_CAPABILITIES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

const MASKED_PATHS: [&str; 11] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];
const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Kubernetes' capability names come without the `CAP_` prefix.
fn capability_name(name: &str) -> String {
    let upper = name.to_ascii_uppercase();
    if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    }
}

/// The container's capability set after `add` and `drop` (`ALL` is understood in both).
pub fn capabilities(config: &ContainerConfig) -> Vec<String> {
    let process = &config.process;
    if process.privileged {
        return ALL_CAPABILITIES.iter().map(|c| c.to_string()).collect();
    }
    let mut caps: Vec<String> = DEFAULT_CAPABILITIES.iter().map(|c| c.to_string()).collect();
    for add in &process.capabilities_add {
        if add.eq_ignore_ascii_case("ALL") {
            caps = ALL_CAPABILITIES.iter().map(|c| c.to_string()).collect();
        } else if !caps.contains(&capability_name(add)) {
            caps.push(capability_name(add));
        }
    }
    for drop in &process.capabilities_drop {
        if drop.eq_ignore_ascii_case("ALL") {
            caps.clear();
        } else {
            let name = capability_name(drop);
            caps.retain(|c| *c != name);
        }
    }
    caps
}

/// Builds `config.json` for `config`, whose root filesystem is mounted at `<bundle>/rootfs`,
/// in the cgroup `cgroup_path` (absolute, hazard 7).
/// With `swap_limit`, swap is limited to the memory limit (no swapping beyond it) where the
/// kernel accounts swap; otherwise only memory is limited.
pub fn spec(config: &ContainerConfig, cgroup_path: &str, swap_limit: bool) -> Value {
    let process = &config.process;
    let caps = capabilities(config);
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}),
    ];
    let sandbox = &config.sandbox;
    for (source, destination) in [
        (&sandbox.hosts_file, "/etc/hosts"),
        (&sandbox.resolv_conf, "/etc/resolv.conf"),
        (&sandbox.hostname_file, "/etc/hostname"),
    ] {
        mounts.push(bind(source, destination, false));
    }
    for mount in &config.mounts {
        mounts.push(bind(&mount.source, &mount.destination, mount.read_only));
    }
    let mut namespaces = vec![json!({"type": "pid"}), json!({"type": "mount"})];
    let joined = [
        ("network", &sandbox.net_ns),
        ("ipc", &Some(sandbox.ipc_ns.clone())),
        ("uts", &sandbox.uts_ns),
    ];
    for (kind, path) in joined {
        if let Some(path) = path {
            namespaces.push(json!({"type": kind, "path": path}));
        }
    }
    let mut resources = json!({"devices": [{"allow": false, "access": "rwm"}]});
    if let Some(limit) = config.resources.memory_limit_bytes {
        // swap = limit: memory plus swap capped at the limit, so a container over its limit is
        // OOM-killed rather than swapped out (what the kubelet does without swap support).
        resources["memory"] = if swap_limit {
            json!({"limit": limit, "swap": limit})
        } else {
            json!({"limit": limit})
        };
    }
    let mut cpu = serde_json::Map::new();
    if let Some(shares) = config.resources.cpu_shares {
        cpu.insert("shares".into(), json!(shares));
    }
    if let Some(quota) = config.resources.cpu_quota_us {
        cpu.insert("quota".into(), json!(quota));
        cpu.insert("period".into(), json!(config.resources.cpu_period_us));
    }
    if !cpu.is_empty() {
        resources["cpu"] = Value::Object(cpu);
    }
    let annotations: serde_json::Map<String, Value> = config
        .labels
        .iter()
        .map(|(k, v)| (format!("io.flotilla.{k}"), json!(v)))
        .collect();
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": process.uid, "gid": process.gid, "additionalGids": process.additional_gids},
            "args": process.args,
            "env": process.env,
            "cwd": process.cwd,
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "noNewPrivileges": process.no_new_privileges,
        },
        "root": {"path": "rootfs", "readonly": config.read_only_root},
        "mounts": mounts,
        "annotations": annotations,
        "linux": {
            "namespaces": namespaces,
            "cgroupsPath": cgroup_path,
            "resources": resources,
            "maskedPaths": if process.privileged { vec![] } else { MASKED_PATHS.to_vec() },
            "readonlyPaths": if process.privileged { vec![] } else { READONLY_PATHS.to_vec() },
            "rootfsPropagation": "private",
        },
    })
}

fn bind(source: &Path, destination: &str, read_only: bool) -> Value {
    let mut options = vec!["rbind", "rprivate"];
    options.push(if read_only { "ro" } else { "rw" });
    json!({"destination": destination, "type": "bind", "source": source, "options": options})
}

/// Writes `<bundle>/config.json`, after checking it against the OCI runtime spec's types.
pub fn write(
    bundle: &Path,
    config: &ContainerConfig,
    cgroup_path: &str,
    swap_limit: bool,
) -> Result<(), RuntimeError> {
    let value = spec(config, cgroup_path, swap_limit);
    let invalid = |message: String| RuntimeError::Bundle {
        id: config.id.clone(),
        message,
    };
    serde_json::from_value::<super::youki::spec::Spec>(value.clone())
        .map_err(|e| invalid(format!("not a valid OCI spec: {e}")))?;
    let path = bundle.join("config.json");
    std::fs::write(&path, serde_json::to_vec(&value).expect("spec serialises")).map_err(|source| {
        RuntimeError::Io {
            what: "writing",
            path,
            source,
        }
    })
}
