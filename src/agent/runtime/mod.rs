//! The container runtime: pods' namespaces and containers through youki's libcontainer, driven
//! from a single-threaded helper process, behind the `ContainerRuntime` trait the pod workers
//! use (with a recording fake for tests).
pub mod bundle;
pub mod cgroup;
pub mod engine;
pub mod fake;
pub mod helper;
pub mod namespaces;
pub mod process;
pub mod rootfs;
pub mod youki;

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use process::ExitStatus;

/// A container id: what libcontainer, cgroups and the state directories are named after.
/// `[a-z0-9][a-z0-9.-]*`, at most 64 bytes: safe as a file name and a cgroup name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ContainerId(String);

/// A pod sandbox id (the pod's namespaces and network): same rules as a container id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SandboxId(String);

/// Why a string is not a container or sandbox id.
#[derive(Debug, thiserror::Error)]
#[error("invalid id {0:?}: expected [a-z0-9][a-z0-9.-]*, at most 64 bytes")]
pub struct InvalidId(String);

fn valid_id(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 64
        && value.as_bytes()[0].is_ascii_alphanumeric()
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

macro_rules! id_type {
    ($name:ident) => {
        impl $name {
            pub fn new(value: impl Into<String>) -> Result<$name, InvalidId> {
                let value = value.into();
                if valid_id(&value) {
                    Ok($name(value))
                } else {
                    Err(InvalidId(value))
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(value: String) -> Result<$name, InvalidId> {
                $name::new(value)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(ContainerId);
id_type!(SandboxId);

/// A pod's sandbox: its shared namespaces, network and per-pod files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxConfig {
    pub id: SandboxId,
    /// The pod's hostname (its name, truncated to 63 bytes).
    pub hostname: String,
    pub host_network: bool,
    /// `hostPort` mappings to install for this pod.
    pub port_mappings: Vec<PortMapping>,
    /// Extra `/etc/hosts` lines (hostAliases); the pod's own name is always added.
    pub host_aliases: Vec<(Ipv4Addr, String)>,
    /// Kept with the sandbox and returned by `list_sandboxes` (pod uid, namespace, name …).
    pub labels: BTreeMap<String, String>,
}

/// A `hostPort` → pod port mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortMapping {
    pub protocol: Protocol,
    pub host_port: u16,
    pub container_port: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

/// What a created sandbox offers its containers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxStatus {
    pub id: SandboxId,
    /// The pod IP (the node's address for `hostNetwork` pods).
    pub ip: Option<Ipv4Addr>,
    /// Namespace files containers join; `None` means the host's.
    pub net_ns: Option<PathBuf>,
    pub ipc_ns: PathBuf,
    pub uts_ns: Option<PathBuf>,
    /// Files bind-mounted into every container.
    pub hosts_file: PathBuf,
    pub resolv_conf: PathBuf,
    pub hostname_file: PathBuf,
    pub labels: BTreeMap<String, String>,
}

/// A bind or tmpfs mount into a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountConfig {
    pub source: PathBuf,
    pub destination: String,
    pub read_only: bool,
}

/// cgroup limits, in the units the kernel takes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    pub memory_limit_bytes: Option<i64>,
    /// cpu.shares (v1) / converted to cpu.weight (v2) from the cpu request.
    pub cpu_shares: Option<u64>,
    /// CFS quota per period from the cpu limit.
    pub cpu_quota_us: Option<i64>,
    pub cpu_period_us: u64,
}

/// The process a container runs, already combined with the image's defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessConfig {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub privileged: bool,
    pub capabilities_add: Vec<String>,
    pub capabilities_drop: Vec<String>,
    pub no_new_privileges: bool,
}

/// Everything needed to run one container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerConfig {
    pub id: ContainerId,
    pub sandbox: SandboxStatus,
    /// Unpacked image layers, bottom first.
    pub layers: Vec<PathBuf>,
    pub process: ProcessConfig,
    pub mounts: Vec<MountConfig>,
    pub resources: Resources,
    pub read_only_root: bool,
    /// The container's log file (CRI format); rotated beside itself.
    pub log_path: PathBuf,
    /// Kept with the container and returned by `list` (pod uid, container name, attempt …).
    pub labels: BTreeMap<String, String>,
}

/// A container that runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerStarted {
    pub id: ContainerId,
    pub pid: i32,
    /// Wall-clock start, milliseconds since the Unix epoch.
    pub started_at_ms: u64,
}

/// How a container ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerExit {
    pub status: ExitStatus,
    /// The kernel's OOM killer killed a process of the container.
    pub oom_killed: bool,
    pub finished_at_ms: u64,
}

/// A container the runtime knows, as listed after a restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub id: ContainerId,
    pub pid: i32,
    pub started_at_ms: u64,
    pub labels: BTreeMap<String, String>,
    /// `None` while it runs.
    pub exit: Option<ContainerExit>,
}

/// The result of an exec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecResult {
    /// `None` when the command timed out and was killed.
    pub status: Option<ExitStatus>,
    pub output: Vec<u8>,
}

/// Why a runtime operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("container {0} not found")]
    NotFound(ContainerId),
    #[error("sandbox {0} not found")]
    SandboxNotFound(SandboxId),
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Helper(#[from] helper::HelperError),
    #[error("network: {0}")]
    Network(String),
    #[error("bundle for {id}: {message}")]
    Bundle { id: ContainerId, message: String },
}

/// What pod workers need from a container runtime. Implemented by `engine::Engine` (real
/// containers) and `fake::FakeRuntime` (records calls, for tests without root).
pub trait ContainerRuntime: Send + Sync + 'static {
    /// Creates a pod's namespaces, network and per-pod files.
    fn create_sandbox(
        &self,
        config: &SandboxConfig,
    ) -> impl Future<Output = Result<SandboxStatus, RuntimeError>> + Send;
    /// Removes a sandbox and everything it holds (veth, address, port mappings, namespaces).
    /// Removing a missing sandbox succeeds.
    fn remove_sandbox(
        &self,
        id: &SandboxId,
    ) -> impl Future<Output = Result<(), RuntimeError>> + Send;
    /// Creates and starts a container.
    fn start_container(
        &self,
        config: &ContainerConfig,
    ) -> impl Future<Output = Result<ContainerStarted, RuntimeError>> + Send;
    /// Sends a signal to a container's init.
    fn signal(
        &self,
        id: &ContainerId,
        signal: i32,
    ) -> impl Future<Output = Result<(), RuntimeError>> + Send;
    /// Waits until the container exits (immediately if it has).
    fn wait(
        &self,
        id: &ContainerId,
    ) -> impl Future<Output = Result<ContainerExit, RuntimeError>> + Send;
    /// Removes a container that has exited (killing it first if not) with its rootfs, cgroup and
    /// state. Removing a missing container succeeds.
    fn remove_container(
        &self,
        id: &ContainerId,
    ) -> impl Future<Output = Result<(), RuntimeError>> + Send;
    /// Runs a command in a running container.
    fn exec(
        &self,
        id: &ContainerId,
        args: &[String],
        timeout_ms: u64,
    ) -> impl Future<Output = Result<ExecResult, RuntimeError>> + Send;
    /// Containers and sandboxes found at start-up (re-adoption) and since.
    fn list_containers(&self) -> impl Future<Output = Vec<ContainerRecord>> + Send;
    fn list_sandboxes(&self) -> impl Future<Output = Vec<SandboxStatus>> + Send;
}

/// Wall-clock milliseconds since the Unix epoch (shells only; cores get time as input).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
