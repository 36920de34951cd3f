//! What the agent reports about its node, read from the host: CPUs, memory, kernel, OS,
//! boot id, the address it reaches the master from, pressure conditions, and the labels and
//! taints it was started with. Cheap enough to read every heartbeat (a few small /proc files,
//! no writes).
use std::net::{IpAddr, UdpSocket};
use std::path::{Path, PathBuf};

use crate::api::node::node_label;
use crate::wire::{
    node_status::truncated, ConditionStatus, NodeAddress, NodeAddressKind, NodeCondition,
    NodeConditionKind, NodeName, NodeStatus, Resources, Taint,
};

/// Memory held back from pods for the system and the agent: the smaller of this and a tenth of
/// the node's memory.
pub const SYSTEM_RESERVED_MEMORY_BYTES: u64 = 256 << 20;

/// Below this much available memory the node reports MemoryPressure.
pub const MEMORY_PRESSURE_BYTES: u64 = 100 << 20;

/// Below this share of free space on the data directory's filesystem the node reports
/// DiskPressure (the kubelet's default hard eviction threshold).
pub const DISK_PRESSURE_FREE_PERCENT: u64 = 10;

/// Pods one node runs at most (the kubelet's default).
pub const PODS_PER_NODE_DEFAULT: u32 = 110;

/// How this node describes itself.
#[derive(Debug, Clone)]
pub struct NodeInfoConfig {
    pub node: NodeName,
    /// `--node-label k=v` pairs.
    pub labels: Vec<(String, String)>,
    /// `--node-taint k=v:Effect`.
    pub taints: Vec<Taint>,
    /// The data directory, whose filesystem decides DiskPressure.
    pub data_dir: PathBuf,
    /// The master's host, to find the address this node reaches it from.
    pub master_host: Option<String>,
    pub agent_version: String,
}

/// Go's GOARCH spelling of the architecture this binary runs on.
pub fn architecture() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64",
        "x86_64" => "amd64",
        "arm" => "arm",
        "riscv64" => "riscv64",
        other => other,
    }
}

fn meminfo_bytes(meminfo: &str, key: &str) -> Option<u64> {
    meminfo.lines().find_map(|line| {
        let rest = line.strip_prefix(key)?.strip_prefix(':')?;
        let kib: u64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kib * 1024)
    })
}

fn os_image() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|l| {
                l.strip_prefix("PRETTY_NAME=")
                    .map(|v| v.trim_matches('"').to_string())
            })
        })
        .unwrap_or_else(|| "Linux".to_string())
}

fn kernel_version() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn disk_free_percent(path: &Path) -> Option<u64> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).ok()?;
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `stat` a properly sized out-parameter.
    if unsafe { libc::statvfs(c.as_ptr(), &mut stat) } != 0 || stat.f_blocks == 0 {
        return None;
    }
    Some(stat.f_bavail as u64 * 100 / stat.f_blocks as u64)
}

/// The local address used to reach `host` (no packet is sent: a UDP "connect" only picks the
/// route).
fn address_towards(host: &str) -> Option<IpAddr> {
    let target = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:7443")
    } else {
        format!("{host}:7443")
    };
    let socket = UdpSocket::bind(if host.contains(':') {
        "[::]:0"
    } else {
        "0.0.0.0:0"
    })
    .ok()?;
    socket.connect(target).ok()?;
    socket.local_addr().ok().map(|a| a.ip())
}

fn condition(
    kind: NodeConditionKind,
    on: bool,
    reason: &str,
    message: &str,
    since: i64,
) -> NodeCondition {
    NodeCondition::new(
        kind,
        if on {
            ConditionStatus::True
        } else {
            ConditionStatus::False
        },
        reason,
        message,
        since,
    )
}

/// A `--node-label` or `--node-taint` that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeFlagError {
    #[error("--node-label {text:?}: expected KEY=VALUE")]
    LabelSyntax { text: String },
    #[error("--node-taint {text:?}: expected KEY[=VALUE]:EFFECT with EFFECT NoSchedule, PreferNoSchedule or NoExecute")]
    TaintSyntax { text: String },
    #[error("{flag} {text:?}: invalid key: {reasons}")]
    Key {
        flag: &'static str,
        text: String,
        reasons: String,
    },
    #[error("{flag} {text:?}: invalid value: {reasons}")]
    Value {
        flag: &'static str,
        text: String,
        reasons: String,
    },
}

fn check_key_value(
    flag: &'static str,
    text: &str,
    key: &str,
    value: &str,
) -> Result<(), NodeFlagError> {
    let key_errors = crate::api::names::qualified_name_errors(key);
    if !key_errors.is_empty() {
        return Err(NodeFlagError::Key {
            flag,
            text: text.to_string(),
            reasons: key_errors.join("; "),
        });
    }
    let value_errors = crate::api::names::label_value_errors(value);
    if !value_errors.is_empty() {
        return Err(NodeFlagError::Value {
            flag,
            text: text.to_string(),
            reasons: value_errors.join("; "),
        });
    }
    Ok(())
}

/// Parses `--node-label key=value`.
pub fn parse_label(text: &str) -> Result<(String, String), NodeFlagError> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| NodeFlagError::LabelSyntax {
            text: text.to_string(),
        })?;
    check_key_value("--node-label", text, key, value)?;
    Ok((key.to_string(), value.to_string()))
}

/// Parses `--node-taint key[=value]:Effect`.
pub fn parse_taint(text: &str) -> Result<Taint, NodeFlagError> {
    let syntax = || NodeFlagError::TaintSyntax {
        text: text.to_string(),
    };
    let (key_value, effect) = text.rsplit_once(':').ok_or_else(syntax)?;
    let effect = match effect {
        "NoSchedule" => crate::api::TaintEffect::NoSchedule,
        "PreferNoSchedule" => crate::api::TaintEffect::PreferNoSchedule,
        "NoExecute" => crate::api::TaintEffect::NoExecute,
        _ => return Err(syntax()),
    };
    let (key, value) = key_value.split_once('=').unwrap_or((key_value, ""));
    check_key_value("--node-taint", text, key, value)?;
    Ok(Taint {
        key: key.to_string(),
        value: value.to_string(),
        effect,
    })
}

/// Reads the node's status now. `since_unix_s` stamps conditions (the sync keeps transition
/// times stable by only sending conditions that changed).
pub fn read_node_status(config: &NodeInfoConfig, since_unix_s: i64) -> NodeStatus {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_bytes = meminfo_bytes(&meminfo, "MemTotal").unwrap_or(0);
    let available = meminfo_bytes(&meminfo, "MemAvailable").unwrap_or(memory_bytes);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let capacity = Resources {
        cpu_milli: cpus * 1000,
        memory_bytes,
        pods: PODS_PER_NODE_DEFAULT,
    };
    let reserved = SYSTEM_RESERVED_MEMORY_BYTES.min(memory_bytes / 10);
    let allocatable = Resources {
        memory_bytes: memory_bytes - reserved,
        ..capacity
    };
    let mut addresses = heapless::Vec::new();
    if let Some(ip) = config.master_host.as_deref().and_then(address_towards) {
        let _ = addresses.push(NodeAddress {
            kind: NodeAddressKind::InternalIP,
            address: ip.to_string(),
        });
    }
    let _ = addresses.push(NodeAddress {
        kind: NodeAddressKind::Hostname,
        address: config.node.to_string(),
    });
    let disk_free = disk_free_percent(&config.data_dir).unwrap_or(100);
    let mut conditions = heapless::Vec::new();
    for c in [
        condition(
            NodeConditionKind::Ready,
            true,
            "AgentReady",
            "Flotilla agent is posting ready status.",
            since_unix_s,
        ),
        condition(
            NodeConditionKind::MemoryPressure,
            available < MEMORY_PRESSURE_BYTES,
            if available < MEMORY_PRESSURE_BYTES {
                "AgentHasInsufficientMemory"
            } else {
                "AgentHasSufficientMemory"
            },
            "",
            since_unix_s,
        ),
        condition(
            NodeConditionKind::DiskPressure,
            disk_free < DISK_PRESSURE_FREE_PERCENT,
            if disk_free < DISK_PRESSURE_FREE_PERCENT {
                "AgentHasDiskPressure"
            } else {
                "AgentHasNoDiskPressure"
            },
            "",
            since_unix_s,
        ),
        condition(
            NodeConditionKind::PIDPressure,
            false,
            "AgentHasSufficientPID",
            "",
            since_unix_s,
        ),
    ] {
        let _ = conditions.push(c);
    }
    let mut labels: Vec<(String, String)> = vec![
        (node_label::ARCH.into(), architecture().into()),
        (node_label::OS.into(), "linux".into()),
        (node_label::HOSTNAME.into(), config.node.to_string()),
    ];
    labels.extend(config.labels.iter().cloned());
    labels.sort();
    labels.dedup_by(|a, b| a.0 == b.0);
    let mut bounded_labels = heapless::Vec::new();
    for l in labels {
        let _ = bounded_labels.push(l);
    }
    let mut taints = heapless::Vec::new();
    for t in &config.taints {
        let _ = taints.push(t.clone());
    }
    NodeStatus {
        capacity,
        allocatable,
        architecture: architecture().into(),
        operating_system: "linux".into(),
        kernel_version: kernel_version(),
        os_image: os_image(),
        agent_version: config.agent_version.clone(),
        boot_id: std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .map(|s| truncated::<64>(s.trim()).to_string())
            .unwrap_or_default(),
        addresses,
        conditions,
        labels: bounded_labels,
        taints,
    }
}

/// Keeps condition transition times stable: a condition whose status did not change keeps the
/// time it had, so re-reading the node does not make every condition look new.
pub fn keep_transition_times(previous: &NodeStatus, current: &mut NodeStatus) {
    for c in current.conditions.iter_mut() {
        if let Some(p) = previous.condition(c.kind) {
            if p.status == c.status {
                c.last_transition_unix_s = p.last_transition_unix_s;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> NodeInfoConfig {
        NodeInfoConfig {
            node: NodeName::new("pi-2").unwrap(),
            labels: vec![("zone".into(), "attic".into())],
            taints: vec![],
            data_dir: std::env::temp_dir(),
            master_host: Some("127.0.0.1".into()),
            agent_version: "0.1.0".into(),
        }
    }

    #[test]
    fn the_host_is_described_with_kubernetes_labels_and_conditions() {
        let status = read_node_status(&config(), 100);
        assert!(status.capacity.cpu_milli >= 1000);
        assert!(status.capacity.memory_bytes > 0);
        assert!(status.allocatable.memory_bytes < status.capacity.memory_bytes);
        assert!(status
            .labels
            .iter()
            .any(|(k, v)| k == "kubernetes.io/hostname" && v == "pi-2"));
        assert!(status
            .labels
            .iter()
            .any(|(k, v)| k == "zone" && v == "attic"));
        assert_eq!(status.conditions.len(), 4);
        assert_eq!(status.addresses[0].address, "127.0.0.1");
    }

    #[test]
    fn rereading_an_unchanged_node_keeps_condition_times() {
        let first = read_node_status(&config(), 100);
        let mut second = read_node_status(&config(), 200);
        keep_transition_times(&first, &mut second);
        assert_eq!(first.conditions, second.conditions);
    }

    #[test]
    fn node_labels_and_taints_parse_from_their_flags() {
        assert_eq!(
            parse_label("topology.kubernetes.io/zone=attic").unwrap(),
            ("topology.kubernetes.io/zone".into(), "attic".into())
        );
        assert!(matches!(
            parse_label("zone"),
            Err(NodeFlagError::LabelSyntax { .. })
        ));
        assert!(matches!(
            parse_label("bad key=x"),
            Err(NodeFlagError::Key { .. })
        ));
        let t = parse_taint("dedicated=camera:NoSchedule").unwrap();
        assert_eq!((t.key.as_str(), t.value.as_str()), ("dedicated", "camera"));
        assert_eq!(t.effect, crate::api::TaintEffect::NoSchedule);
        assert_eq!(parse_taint("gpu:NoExecute").unwrap().value, "");
        assert!(matches!(
            parse_taint("gpu=x:Never"),
            Err(NodeFlagError::TaintSyntax { .. })
        ));
        assert!(matches!(
            parse_taint("gpu=x"),
            Err(NodeFlagError::TaintSyntax { .. })
        ));
    }

    #[test]
    fn meminfo_values_are_read_in_bytes() {
        let text = "MemTotal:        3884428 kB\nMemAvailable:    1000 kB\n";
        assert_eq!(meminfo_bytes(text, "MemTotal"), Some(3884428 * 1024));
        assert_eq!(meminfo_bytes(text, "MemAvailable"), Some(1000 * 1024));
        assert_eq!(meminfo_bytes(text, "Nope"), None);
    }
}
