//! `Engine`: the real `ContainerRuntime`. Mounts overlay root filesystems, writes bundles,
//! connects log pipes, asks the helper process to create containers and namespaces, watches
//! container exits through pidfds, and re-adopts containers and sandboxes after a restart.
//!
//! On disk (`data_dir`): `containers/<id>/` (upper, work, bundle, `record.json`),
//! `sandboxes/<id>/` (hosts, resolv.conf, hostname, `sandbox.json`), `network/ipam.json`.
//! Under `run_dir`: libcontainer's state (`libcontainer/`), the log FIFOs (`fifos/`) and the
//! pinned namespaces (`ns/<id>/{net,ipc,uts}`). Nothing goes to `/run/netns`: other tools
//! (`ip netns`) stack mounts there that would hide our pins from their own removal.
//!
//! Exit codes across an agent restart: a container's init is the agent's child only in the
//! agent that started it. A container that exits while the agent is down, or after a new agent
//! re-adopted it, is reaped by its real parent (init), so its exit code is lost; the engine
//! reports `ExitStatus::Unknown` (the pod worker records reason `Unknown`, like the kubelet's
//! `ContainerStatusUnknown`, and applies the restart policy as for a failure). Exits the
//! agent did see are written to `record.json` before anything else happens, so they survive.
use std::collections::{BTreeMap, HashMap};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::{watch, Mutex};

use super::cgroup::CgroupSetup;
use super::helper::{
    CreateRequest, ExecOutcome, ExecRequest, HelperClient, NamespacesRequest, Request, Response,
};
use super::process::{self, ExitStatus, PidFd};
use super::rootfs::{self, RootfsPaths};
use super::{
    bundle, namespaces, now_ms, ContainerConfig, ContainerExit, ContainerId, ContainerRecord,
    ContainerRuntime, ContainerStarted, ExecResult, RuntimeError, SandboxConfig, SandboxId,
    SandboxStatus,
};
use crate::agent::logs::pump::LogPump;
use crate::agent::logs::LogLimits;
use crate::agent::network::{files, NetworkConfig, PodNetwork};

/// Where and how the engine works.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub data_dir: PathBuf,
    pub run_dir: PathBuf,
    /// The binary that serves `runtime-helper` (the agent's own executable).
    pub helper_program: PathBuf,
    /// Containers' cgroups are `/<cgroup_parent>/<container id>`.
    pub cgroup_parent: String,
    pub network: NetworkConfig,
    pub log_limits: LogLimits,
}

impl EngineConfig {
    /// Defaults under `data_dir`, with the helper being this executable.
    pub fn new(data_dir: &Path) -> EngineConfig {
        EngineConfig {
            data_dir: data_dir.to_path_buf(),
            run_dir: PathBuf::from("/run/flotilla/agent"),
            helper_program: PathBuf::from("/proc/self/exe"),
            cgroup_parent: "flotilla".to_string(),
            network: NetworkConfig::default(),
            log_limits: LogLimits::default(),
        }
    }
}

/// What `record.json` keeps about a container.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct DiskRecord {
    id: ContainerId,
    pid: i32,
    start_ticks: u64,
    boot_id: String,
    started_at_ms: u64,
    uid: u32,
    gid: u32,
    cgroup_path: String,
    log_path: PathBuf,
    labels: BTreeMap<String, String>,
    exit: Option<ContainerExit>,
}

/// The containers recorded under an agent's `data_dir` (running or exited, not yet removed) with
/// their labels, read from their `record.json` without an engine: for commands that run beside
/// the agent, such as `edged image rm`.
pub fn recorded_containers(data_dir: &Path) -> Vec<(ContainerId, BTreeMap<String, String>)> {
    let Ok(entries) = std::fs::read_dir(data_dir.join("containers")) else {
        return Vec::new();
    };
    let mut found: Vec<_> = entries
        .flatten()
        .filter_map(|entry| std::fs::read(entry.path().join("record.json")).ok())
        .filter_map(|bytes| serde_json::from_slice::<DiskRecord>(&bytes).ok())
        .map(|record| (record.id, record.labels))
        .collect();
    found.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
    found
}

/// What `sandbox.json` keeps about a sandbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SandboxRecord {
    config: SandboxConfig,
    status: SandboxStatus,
    boot_id: String,
}

struct Tracked {
    record: DiskRecord,
    exit: watch::Receiver<Option<ContainerExit>>,
    pidfd: Option<Arc<PidFd>>,
}

/// The libcontainer-backed runtime.
pub struct Engine {
    config: EngineConfig,
    helper: HelperClient,
    network: PodNetwork,
    cgroups: CgroupSetup,
    swap_limit: bool,
    boot_id: String,
    containers: Mutex<HashMap<ContainerId, Tracked>>,
    sandboxes: Mutex<BTreeMap<SandboxId, SandboxRecord>>,
}

fn io_error<'a>(
    what: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> RuntimeError + 'a {
    move |source| RuntimeError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), RuntimeError> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec(value).expect("record serialises"))
        .map_err(io_error("writing", &tmp))?;
    std::fs::rename(&tmp, path).map_err(io_error("renaming", path))
}

fn network_error(e: crate::agent::network::NetworkError) -> RuntimeError {
    RuntimeError::Network(e.to_string())
}

/// Opens a FIFO read-write and non-blocking: the agent's end never sees EOF and never blocks.
fn open_fifo_reader(path: &Path) -> Result<OwnedFd, RuntimeError> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map(OwnedFd::from)
        .map_err(io_error("opening", path))
}

/// The last few lines of a container log, their CRI prefixes removed: what a failed start said.
fn log_tail(path: &Path) -> String {
    const TAIL_BYTES_MAX: usize = 1024;
    let text = std::fs::read(path).unwrap_or_default();
    let start = text.len().saturating_sub(TAIL_BYTES_MAX);
    String::from_utf8_lossy(&text[start..])
        .lines()
        .filter_map(|l| {
            crate::agent::logs::cri::parse_line(l.as_bytes())
                .map(|p| String::from_utf8_lossy(p.content).into_owned())
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn mkfifo(path: &Path) -> Result<(), RuntimeError> {
    let _ = std::fs::remove_file(path);
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600)).map_err(|e| {
        RuntimeError::Io {
            what: "creating",
            path: path.to_path_buf(),
            source: e.into(),
        }
    })
}

impl Engine {
    /// Opens the engine: creates its directories, prepares the node network, and re-adopts
    /// the containers and sandboxes a previous agent left running.
    pub async fn open(config: EngineConfig) -> Result<Arc<Engine>, RuntimeError> {
        for dir in [
            config.data_dir.join("containers"),
            config.data_dir.join("sandboxes"),
            config.run_dir.join("libcontainer"),
            config.run_dir.join("fifos"),
            config.run_dir.join("ns"),
        ] {
            std::fs::create_dir_all(&dir).map_err(io_error("creating", &dir))?;
        }
        process::become_subreaper().map_err(io_error(
            "setting child subreaper on",
            Path::new("/proc/self"),
        ))?;
        let network = PodNetwork::open(config.network.clone(), &config.data_dir.join("network"))
            .map_err(network_error)?;
        network.ensure_node().await.map_err(network_error)?;
        let cgroups = CgroupSetup::detect();
        let engine = Arc::new(Engine {
            helper: HelperClient::new(&config.helper_program),
            network,
            cgroups,
            swap_limit: cgroups.swap_limit_supported(),
            boot_id: process::boot_id(),
            containers: Mutex::new(HashMap::new()),
            sandboxes: Mutex::new(BTreeMap::new()),
            config,
        });
        engine.readopt_sandboxes().await?;
        engine.readopt_containers().await?;
        Ok(engine)
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    pub fn cgroups(&self) -> CgroupSetup {
        self.cgroups
    }

    /// The cgroup path (as in config.json) of a container.
    pub fn cgroup_path(&self, id: &ContainerId) -> String {
        format!("/{}/{}", self.config.cgroup_parent, id)
    }

    fn container_dir(&self, id: &ContainerId) -> PathBuf {
        self.config.data_dir.join("containers").join(id.as_str())
    }

    fn sandbox_dir(&self, id: &SandboxId) -> PathBuf {
        self.config.data_dir.join("sandboxes").join(id.as_str())
    }

    fn fifo_paths(&self, id: &ContainerId) -> (PathBuf, PathBuf) {
        let dir = self.config.run_dir.join("fifos");
        (dir.join(format!("{id}.out")), dir.join(format!("{id}.err")))
    }

    fn state_root(&self) -> PathBuf {
        self.config.run_dir.join("libcontainer")
    }

    /// Where a sandbox's namespaces are pinned: `<run>/ns/<id>/{net,ipc,uts}`.
    fn ns_dir(&self, id: &SandboxId) -> PathBuf {
        self.config.run_dir.join("ns").join(id.as_str())
    }

    /// Starts watching a container's exit: the exit is recorded on disk first, then published.
    fn watch_exit(
        self: &Arc<Engine>,
        id: ContainerId,
        pidfd: Arc<PidFd>,
        pump: Option<LogPump>,
    ) -> watch::Receiver<Option<ContainerExit>> {
        let (tx, rx) = watch::channel(None);
        let engine = Arc::downgrade(self);
        tokio::spawn(async move {
            let status = pidfd.wait().await.unwrap_or(ExitStatus::Unknown);
            let finished_at_ms = now_ms();
            let Some(engine) = engine.upgrade() else {
                return;
            };
            let cgroup_path = engine.cgroup_path(&id);
            let oom_killed = matches!(status, ExitStatus::Signal(libc::SIGKILL))
                && engine.cgroups.oom_kill_count(&cgroup_path).unwrap_or(0) > 0;
            if let Some(pump) = pump {
                pump.finish().await;
            }
            let exit = ContainerExit {
                status,
                oom_killed,
                finished_at_ms,
            };
            let mut containers = engine.containers.lock().await;
            if let Some(tracked) = containers.get_mut(&id) {
                tracked.record.exit = Some(exit);
                let path = engine.container_dir(&id).join("record.json");
                if let Err(e) = write_json(&path, &tracked.record) {
                    tracing::warn!(container = %id, error = %e, "recording container exit");
                }
            }
            tx.send_replace(Some(exit));
        });
        rx
    }

    async fn readopt_containers(self: &Arc<Engine>) -> Result<(), RuntimeError> {
        let dir = self.config.data_dir.join("containers");
        let mut adopted = Vec::new();
        for entry in std::fs::read_dir(&dir)
            .map_err(io_error("reading", &dir))?
            .flatten()
        {
            let path = entry.path().join("record.json");
            let Ok(bytes) = std::fs::read(&path) else {
                // A container directory without a record never started: clean it up.
                self.cleanup_container_files(entry.path().as_path(), None)
                    .await;
                continue;
            };
            let Ok(mut record) = serde_json::from_slice::<DiskRecord>(&bytes) else {
                continue;
            };
            adopted.push(record.id.as_str().to_string());
            let alive = record.exit.is_none()
                && record.boot_id == self.boot_id
                && process::start_time_ticks(record.pid) == Some(record.start_ticks);
            let id = record.id.clone();
            let tracked = if alive {
                let pidfd = match PidFd::open(record.pid) {
                    Ok(pidfd) => Arc::new(pidfd),
                    Err(_) => continue,
                };
                let (out, err) = self.fifo_paths(&id);
                let pump = match (open_fifo_reader(&out), open_fifo_reader(&err)) {
                    (Ok(o), Ok(e)) => {
                        LogPump::spawn(o, e, &record.log_path, self.config.log_limits).ok()
                    }
                    _ => None,
                };
                tracing::info!(container = %id, pid = record.pid, "re-adopted running container");
                let exit = self.watch_exit(id.clone(), pidfd.clone(), pump);
                Tracked {
                    record,
                    exit,
                    pidfd: Some(pidfd),
                }
            } else {
                if record.exit.is_none() {
                    record.exit = Some(ContainerExit {
                        status: ExitStatus::Unknown,
                        oom_killed: false,
                        finished_at_ms: now_ms(),
                    });
                    let _ = write_json(&path, &record);
                }
                let (_tx, exit) = watch::channel(record.exit);
                Tracked {
                    record,
                    exit,
                    pidfd: None,
                }
            };
            self.containers.lock().await.insert(id, tracked);
        }
        // libcontainer state without a record belongs to a create that never finished.
        let state_root = self.state_root();
        for entry in std::fs::read_dir(&state_root)
            .map_err(io_error("reading", &state_root))?
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !adopted.contains(&name) {
                let _ = self
                    .helper
                    .call(Request::Delete {
                        id: name,
                        state_root: state_root.clone(),
                    })
                    .await;
            }
        }
        Ok(())
    }

    async fn readopt_sandboxes(self: &Arc<Engine>) -> Result<(), RuntimeError> {
        let dir = self.config.data_dir.join("sandboxes");
        let mut live = Vec::new();
        for entry in std::fs::read_dir(&dir)
            .map_err(io_error("reading", &dir))?
            .flatten()
        {
            let record = std::fs::read(entry.path().join("sandbox.json"))
                .ok()
                .and_then(|b| serde_json::from_slice::<SandboxRecord>(&b).ok());
            let Some(record) = record else {
                let _ = std::fs::remove_dir_all(entry.path());
                continue;
            };
            let pinned = record
                .status
                .net_ns
                .as_deref()
                .is_none_or(rootfs::is_mounted_file)
                && rootfs::is_mounted_file(&record.status.ipc_ns);
            if record.boot_id == self.boot_id && pinned {
                if let (Some(ip), false) = (
                    record.status.ip,
                    record.config.port_mappings.is_empty() || record.config.host_network,
                ) {
                    self.network
                        .map_ports(record.config.id.as_str(), ip, &record.config.port_mappings)
                        .await
                        .map_err(network_error)?;
                }
                live.push(record.config.id.as_str().to_string());
                self.sandboxes
                    .lock()
                    .await
                    .insert(record.config.id.clone(), record);
            } else {
                self.teardown_sandbox(&record.config.id, &record.status)
                    .await;
            }
        }
        self.network
            .release_unknown(&live)
            .await
            .map_err(network_error)?;
        Ok(())
    }

    async fn teardown_sandbox(&self, id: &SandboxId, status: &SandboxStatus) {
        if status.net_ns.is_some() {
            if let Err(e) = self
                .network
                .detach(id.as_str(), &self.ns_dir(id).join("net"))
                .await
            {
                tracing::warn!(sandbox = %id, error = %e, "detaching sandbox network");
            }
        }
        for pin in [
            status.net_ns.as_deref(),
            Some(status.ipc_ns.as_path()),
            status.uts_ns.as_deref(),
        ]
        .into_iter()
        .flatten()
        {
            if let Err(e) = namespaces::unpin(pin) {
                tracing::warn!(sandbox = %id, path = %pin.display(), error = %e, "releasing namespace");
            }
        }
        let _ = std::fs::remove_dir_all(self.ns_dir(id));
        let _ = std::fs::remove_dir_all(self.sandbox_dir(id));
    }

    /// Unmounts and deletes a container's files; with an id, also its FIFOs.
    async fn cleanup_container_files(&self, dir: &Path, id: Option<&ContainerId>) {
        let target = RootfsPaths::under(dir).target;
        let dir = dir.to_path_buf();
        let _ = tokio::task::spawn_blocking(move || {
            let _ = rootfs::unmount(&target);
            let _ = std::fs::remove_dir_all(&dir);
        })
        .await;
        if let Some(id) = id {
            let (out, err) = self.fifo_paths(id);
            let _ = std::fs::remove_file(out);
            let _ = std::fs::remove_file(err);
        }
    }

    async fn start_inner(
        self: &Arc<Engine>,
        config: &ContainerConfig,
    ) -> Result<ContainerStarted, RuntimeError> {
        let id = &config.id;
        let dir = self.container_dir(id);
        let paths = RootfsPaths::under(&dir);
        let layers = config.layers.clone();
        let empty = self.config.data_dir.join("empty-layer");
        let mount_paths = RootfsPaths::under(&dir);
        tokio::task::spawn_blocking(move || rootfs::mount(&layers, &mount_paths, &empty))
            .await
            .expect("mount task")
            .map_err(|e| RuntimeError::Bundle {
                id: id.clone(),
                message: e.to_string(),
            })?;
        let bundle_dir = paths
            .target
            .parent()
            .expect("rootfs has a parent")
            .to_path_buf();
        let cgroup_path = self.cgroup_path(id);
        bundle::write(&bundle_dir, config, &cgroup_path, self.swap_limit)?;
        let (out, err) = self.fifo_paths(id);
        mkfifo(&out)?;
        mkfifo(&err)?;
        let pump = LogPump::spawn(
            open_fifo_reader(&out)?,
            open_fifo_reader(&err)?,
            &config.log_path,
            self.config.log_limits,
        )
        .map_err(io_error("opening log", &config.log_path))?;
        let created = self
            .helper
            .call(Request::Create(CreateRequest {
                id: id.to_string(),
                bundle: bundle_dir,
                state_root: self.state_root(),
                stdout: out,
                stderr: err,
            }))
            .await;
        let response = match created {
            Ok(response) => response,
            Err(e) => {
                // libcontainer's init reports why it failed on the container's stderr.
                pump.finish().await;
                let detail = log_tail(&config.log_path);
                return Err(match (e, detail.is_empty()) {
                    (super::helper::HelperError::Failed(message), false) => RuntimeError::Helper(
                        super::helper::HelperError::Failed(format!("{message}: {detail}")),
                    ),
                    (e, _) => RuntimeError::Helper(e),
                });
            }
        };
        let Response::Created { pid } = response else {
            return Err(RuntimeError::Helper(super::helper::HelperError::Failed(
                format!("unexpected answer {response:?}"),
            )));
        };
        let pidfd =
            Arc::new(PidFd::open(pid).map_err(io_error("opening pidfd of", Path::new("/proc")))?);
        let started_at_ms = now_ms();
        let record = DiskRecord {
            id: id.clone(),
            pid,
            start_ticks: process::start_time_ticks(pid).unwrap_or(0),
            boot_id: self.boot_id.clone(),
            started_at_ms,
            uid: config.process.uid,
            gid: config.process.gid,
            cgroup_path,
            log_path: config.log_path.clone(),
            labels: config.labels.clone(),
            exit: None,
        };
        write_json(&dir.join("record.json"), &record)?;
        let mut containers = self.containers.lock().await;
        let exit = self.watch_exit(id.clone(), pidfd.clone(), Some(pump));
        containers.insert(
            id.clone(),
            Tracked {
                record,
                exit,
                pidfd: Some(pidfd),
            },
        );
        Ok(ContainerStarted {
            id: id.clone(),
            pid,
            started_at_ms,
        })
    }
}

impl Engine {
    /// Runs a command in a running container, keeping at most `output_bytes_max` bytes of
    /// its output (stdout and stderr interleaved); `edgectl exec` asks for more than probes.
    pub async fn exec_with_output_limit(
        &self,
        id: &ContainerId,
        args: &[String],
        timeout_ms: u64,
        output_bytes_max: u32,
    ) -> Result<ExecResult, RuntimeError> {
        let (uid, gid) = {
            let containers = self.containers.lock().await;
            let tracked = containers
                .get(id)
                .ok_or_else(|| RuntimeError::NotFound(id.clone()))?;
            (tracked.record.uid, tracked.record.gid)
        };
        let response = self
            .helper
            .call(Request::Exec(ExecRequest {
                id: id.to_string(),
                state_root: self.state_root(),
                args: args.to_vec(),
                uid,
                gid,
                timeout_ms,
                output_bytes_max,
            }))
            .await?;
        match response {
            Response::Exec {
                outcome: ExecOutcome::Exited(status),
                output,
            } => Ok(ExecResult {
                status: Some(status),
                output,
            }),
            Response::Exec {
                outcome: ExecOutcome::TimedOut,
                output,
            } => Ok(ExecResult {
                status: None,
                output,
            }),
            other => Err(RuntimeError::Helper(super::helper::HelperError::Failed(
                format!("unexpected answer {other:?}"),
            ))),
        }
    }
}

impl ContainerRuntime for Arc<Engine> {
    async fn create_sandbox(&self, config: &SandboxConfig) -> Result<SandboxStatus, RuntimeError> {
        if let Some(existing) = self.sandboxes.lock().await.get(&config.id) {
            return Ok(existing.status.clone());
        }
        let id = &config.id;
        let dir = self.sandbox_dir(id);
        let ns_dir = self.ns_dir(id);
        for d in [&dir, &ns_dir] {
            std::fs::create_dir_all(d).map_err(io_error("creating", d))?;
        }
        let net_ns = (!config.host_network).then(|| ns_dir.join("net"));
        let status = SandboxStatus {
            id: id.clone(),
            ip: None,
            net_ns: net_ns.clone(),
            ipc_ns: ns_dir.join("ipc"),
            uts_ns: (!config.host_network).then(|| ns_dir.join("uts")),
            hosts_file: dir.join("hosts"),
            resolv_conf: dir.join("resolv.conf"),
            hostname_file: dir.join("hostname"),
            labels: config.labels.clone(),
        };
        let result = async {
            self.helper
                .call(Request::Namespaces(NamespacesRequest {
                    net: status.net_ns.clone(),
                    ipc: status.ipc_ns.clone(),
                    uts: status.uts_ns.clone(),
                    hostname: config.hostname.clone(),
                }))
                .await?;
            let mut status = status.clone();
            status.ip = if config.host_network {
                crate::agent::network::host_ipv4().await
            } else {
                let ip = self
                    .network
                    .attach(id.as_str(), &ns_dir.join("net"))
                    .await
                    .map_err(network_error)?;
                if !config.port_mappings.is_empty() {
                    self.network
                        .map_ports(id.as_str(), ip, &config.port_mappings)
                        .await
                        .map_err(network_error)?;
                }
                Some(ip)
            };
            let hostname = if config.host_network {
                nix::unistd::gethostname()
                    .map(|h| h.to_string_lossy().into_owned())
                    .unwrap_or_default()
            } else {
                config.hostname.clone()
            };
            let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
            for (path, content) in [
                (
                    &status.hosts_file,
                    files::hosts(status.ip, &hostname, &config.host_aliases),
                ),
                (
                    &status.resolv_conf,
                    files::resolv_conf(&host_resolv, &self.config.network.fallback_dns),
                ),
                (&status.hostname_file, format!("{hostname}\n")),
            ] {
                std::fs::write(path, content).map_err(io_error("writing", path))?;
            }
            let record = SandboxRecord {
                config: config.clone(),
                status: status.clone(),
                boot_id: self.boot_id.clone(),
            };
            write_json(&dir.join("sandbox.json"), &record)?;
            Ok::<_, RuntimeError>(record)
        }
        .await;
        match result {
            Ok(record) => {
                let status = record.status.clone();
                self.sandboxes.lock().await.insert(id.clone(), record);
                Ok(status)
            }
            Err(e) => {
                self.teardown_sandbox(id, &status).await;
                Err(e)
            }
        }
    }

    async fn remove_sandbox(&self, id: &SandboxId) -> Result<(), RuntimeError> {
        let record = self.sandboxes.lock().await.remove(id);
        if let Some(record) = record {
            self.teardown_sandbox(id, &record.status).await;
        }
        Ok(())
    }

    async fn start_container(
        &self,
        config: &ContainerConfig,
    ) -> Result<ContainerStarted, RuntimeError> {
        if self.containers.lock().await.contains_key(&config.id) {
            return Err(RuntimeError::Bundle {
                id: config.id.clone(),
                message: "a container with this id exists".to_string(),
            });
        }
        match self.start_inner(config).await {
            Ok(started) => Ok(started),
            Err(e) => {
                let _ = self
                    .helper
                    .call(Request::Delete {
                        id: config.id.to_string(),
                        state_root: self.state_root(),
                    })
                    .await;
                self.cleanup_container_files(&self.container_dir(&config.id), Some(&config.id))
                    .await;
                Err(e)
            }
        }
    }

    async fn signal(&self, id: &ContainerId, signal: i32) -> Result<(), RuntimeError> {
        let containers = self.containers.lock().await;
        let tracked = containers
            .get(id)
            .ok_or_else(|| RuntimeError::NotFound(id.clone()))?;
        if let Some(pidfd) = &tracked.pidfd {
            pidfd
                .signal(signal)
                .map_err(io_error("signalling", Path::new("/proc")))?;
        }
        Ok(())
    }

    async fn wait(&self, id: &ContainerId) -> Result<ContainerExit, RuntimeError> {
        let mut exit = {
            let containers = self.containers.lock().await;
            containers
                .get(id)
                .ok_or_else(|| RuntimeError::NotFound(id.clone()))?
                .exit
                .clone()
        };
        loop {
            if let Some(status) = *exit.borrow_and_update() {
                return Ok(status);
            }
            if exit.changed().await.is_err() {
                return Ok(ContainerExit {
                    status: ExitStatus::Unknown,
                    oom_killed: false,
                    finished_at_ms: now_ms(),
                });
            }
        }
    }

    async fn remove_container(&self, id: &ContainerId) -> Result<(), RuntimeError> {
        let pidfd = {
            let containers = self.containers.lock().await;
            containers.get(id).and_then(|t| t.pidfd.clone())
        };
        if let Some(pidfd) = &pidfd {
            if pidfd.is_alive() {
                pidfd
                    .signal(libc::SIGKILL)
                    .map_err(io_error("killing", Path::new("/proc")))?;
            }
            let _ = self.wait(id).await;
        }
        // The container's init has been reaped (and with it its PID namespace): what
        // libcontainer keeps of it is its cgroups and its state directory, which the agent
        // removes itself, next to the container's files. Only when a cgroup is still busy
        // (an exec'd process not gone yet) does the helper's libcontainer delete, which kills
        // and retries, take over.
        let exited = pidfd.is_some_and(|p| !p.is_alive());
        let container_dir = self.container_dir(id);
        let (removed, ()) = tokio::join!(
            async {
                if !exited {
                    return false;
                }
                let setup = self.cgroups;
                let cgroup_path = self.cgroup_path(id);
                let state = self.state_root().join(id.as_str());
                tokio::task::spawn_blocking(move || {
                    super::cgroup::remove(setup, &cgroup_path).is_ok()
                        && match std::fs::remove_dir_all(&state) {
                            Ok(()) => true,
                            Err(e) => e.kind() == std::io::ErrorKind::NotFound,
                        }
                })
                .await
                .unwrap_or(false)
            },
            self.cleanup_container_files(&container_dir, Some(id))
        );
        if !removed {
            self.helper
                .call(Request::Delete {
                    id: id.to_string(),
                    state_root: self.state_root(),
                })
                .await?;
        }
        self.containers.lock().await.remove(id);
        Ok(())
    }

    async fn exec(
        &self,
        id: &ContainerId,
        args: &[String],
        timeout_ms: u64,
    ) -> Result<ExecResult, RuntimeError> {
        // Probes and hooks report a message, not a log: a little output is plenty.
        self.exec_with_output_limit(id, args, timeout_ms, 10 * 1024)
            .await
    }

    async fn list_containers(&self) -> Vec<ContainerRecord> {
        let containers = self.containers.lock().await;
        let mut list: Vec<ContainerRecord> = containers
            .values()
            .map(|t| ContainerRecord {
                id: t.record.id.clone(),
                pid: t.record.pid,
                started_at_ms: t.record.started_at_ms,
                labels: t.record.labels.clone(),
                exit: *t.exit.borrow(),
            })
            .collect();
        list.sort_by(|a, b| a.id.cmp(&b.id));
        list
    }

    async fn list_sandboxes(&self) -> Vec<SandboxStatus> {
        self.sandboxes
            .lock()
            .await
            .values()
            .map(|r| r.status.clone())
            .collect()
    }
}
