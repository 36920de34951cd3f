//! Test nodes: an `Engine` with its own data directory, run directory, bridge, pod subnet,
//! nftables table and cgroup parent, so that tests run in parallel (threads or
//! processes) without seeing each other; everything is removed when the node is dropped.
use std::fs;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use flotilla::agent::image::import::import_path;
use flotilla::agent::image::platform::HostPlatform;
use flotilla::agent::image::ImageStore;
use flotilla::agent::network::NetworkConfig;
use flotilla::agent::runtime::engine::{Engine, EngineConfig};

use super::busybox_image;

/// The busybox test image's name.
pub const BUSYBOX: &str = "flotilla.test/busybox:1";
const SUBNET_REGISTRY: &str = "/run/flotilla-test-subnets";

/// A pod subnet reserved for one test: `10.213.<n>.0/24`, held by a registry file naming the
/// owning process (reclaimed when that process is gone).
pub struct Subnet {
    pub n: u8,
    file: PathBuf,
}

impl Subnet {
    pub fn reserve() -> Subnet {
        fs::create_dir_all(SUBNET_REGISTRY).unwrap();
        loop {
            for n in 1..=250u8 {
                let file = Path::new(SUBNET_REGISTRY).join(n.to_string());
                if let Ok(owner) = fs::read_to_string(&file) {
                    let alive = owner
                        .trim()
                        .parse::<i32>()
                        .is_ok_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
                    if alive {
                        continue;
                    }
                    let _ = fs::remove_file(&file);
                }
                if let Ok(mut f) = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&file)
                {
                    let _ = write!(f, "{}", std::process::id());
                    return Subnet { n, file };
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    pub fn cidr(&self) -> String {
        format!("10.213.{}.0/24", self.n)
    }
}

impl Drop for Subnet {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.file);
    }
}

/// The busybox archive, built once and shared by every test process: it lives under the temp
/// directory, named after the digest of `/bin/busybox`, and is renamed into place complete.
pub fn busybox_archive() -> PathBuf {
    static ARCHIVE: OnceLock<PathBuf> = OnceLock::new();
    ARCHIVE
        .get_or_init(|| {
            let binary = fs::read(busybox_image::BUSYBOX).unwrap();
            let key = &busybox_image::sha256(&binary)[7..23];
            let dir = std::env::temp_dir().join("flotilla-test-busybox");
            let archive = dir.join(format!("busybox-{key}.tar"));
            if !archive.exists() {
                let work = dir.join(format!(
                    "build-{}-{:?}",
                    std::process::id(),
                    std::thread::current().id()
                ));
                fs::create_dir_all(&work).unwrap();
                let built = busybox_image::busybox_archive(&work, BUSYBOX);
                fs::rename(&built, &archive).unwrap();
                let _ = fs::remove_dir_all(&work);
            }
            archive
        })
        .clone()
}

/// Names and places unique to one test node.
pub struct NodeSettings {
    pub name: String,
    pub subnet: Subnet,
    pub dir: tempfile::TempDir,
    pub engine: EngineConfig,
}

impl NodeSettings {
    pub fn new() -> NodeSettings {
        let subnet = Subnet::reserve();
        let name = format!("ft{}", subnet.n);
        let dir = tempfile::Builder::new()
            .prefix("flotilla-node-")
            .tempdir()
            .unwrap();
        let mut engine = EngineConfig::new(&dir.path().join("data"));
        engine.run_dir = PathBuf::from(format!("/run/flotilla-test/{name}-{}", std::process::id()));
        engine.helper_program = PathBuf::from(env!("CARGO_BIN_EXE_edged"));
        engine.cgroup_parent = format!("flotilla-test/{name}");
        engine.network = NetworkConfig {
            bridge: format!("{name}br"),
            pod_cidr: subnet.cidr().parse().unwrap(),
            nft_table: format!("flotilla_{name}"),
            fallback_dns: vec![Ipv4Addr::new(1, 1, 1, 1)],
        };
        NodeSettings {
            name,
            subnet,
            dir,
            engine,
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.engine.data_dir.clone()
    }

    /// Removes what the node left, even after a failed test: container processes (by
    /// cgroup), mounts under its directories (pinned namespaces included), bridge, nftables
    /// table, run directory and cgroup parent.
    pub fn cleanup(&self) {
        let cgroup_root = Path::new("/sys/fs/cgroup");
        // Twice, a moment apart: a helper child of a killed agent may still be finishing a
        // container it was creating.
        for pass in 0..2 {
            if pass == 1 {
                std::thread::sleep(std::time::Duration::from_millis(300));
            }
            for controller in [
                "pids", "memory", "cpu", "cpuacct", "cpuset", "devices", "freezer", "blkio",
                "systemd", "unified", "",
            ] {
                kill_cgroup_tree(
                    &cgroup_root
                        .join(controller)
                        .join(self.engine.cgroup_parent.trim_start_matches('/')),
                );
            }
        }
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut targets: Vec<&str> = mountinfo
            .lines()
            .filter_map(|l| l.split_whitespace().nth(4))
            .filter(|t| {
                t.starts_with(self.dir.path().to_str().unwrap())
                    || t.starts_with(self.engine.run_dir.to_str().unwrap())
            })
            .collect();
        targets.sort_by_key(|t| std::cmp::Reverse(t.len()));
        for target in targets {
            let _ = nix::mount::umount2(target, nix::mount::MntFlags::MNT_DETACH);
        }
        let network = &self.engine.network;
        let _ = std::process::Command::new("nft")
            .args(["delete", "table", "ip", &network.nft_table])
            .output();
        let _ = std::process::Command::new("ip")
            .args(["link", "del", "dev", &network.bridge])
            .output();
        let _ = fs::remove_dir_all(&self.engine.run_dir);
        for controller in [
            "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "systemd",
            "unified", "",
        ] {
            let dir = Path::new("/sys/fs/cgroup")
                .join(controller)
                .join(self.engine.cgroup_parent.trim_start_matches('/'));
            let _ = fs::remove_dir(&dir);
        }
    }
}

/// SIGKILLs every process in a cgroup directory tree, then removes the tree's directories.
fn kill_cgroup_tree(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            kill_cgroup_tree(&entry.path());
        }
    }
    for _ in 0..50 {
        let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        if procs.trim().is_empty() {
            break;
        }
        for pid in procs.lines() {
            if let Ok(pid) = pid.trim().parse::<i32>() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = fs::remove_dir(dir);
}

impl Drop for NodeSettings {
    fn drop(&mut self) {
        self.cleanup();
    }
}

/// An engine on a test node, with the busybox image imported.
pub struct TestEngine {
    pub engine: Arc<Engine>,
    pub images: ImageStore,
    pub settings: NodeSettings,
}

impl TestEngine {
    pub async fn start() -> TestEngine {
        let settings = NodeSettings::new();
        let images =
            ImageStore::open(&settings.data_dir().join("images"), HostPlatform::detect()).unwrap();
        import_path(&images, &busybox_archive()).unwrap();
        let engine = Engine::open(settings.engine.clone()).await.unwrap();
        TestEngine {
            engine,
            images,
            settings,
        }
    }

    /// Unpacked layers of the busybox image.
    pub fn busybox_layers(&self) -> Vec<PathBuf> {
        let record = self.images.resolve(&BUSYBOX.parse().unwrap()).unwrap();
        record
            .diff_ids
            .iter()
            .map(|d| self.images.layer_path(d))
            .collect()
    }
}

/// Runs `f` on a fresh multi-threaded runtime (what the agent uses).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// A standalone `edged agent` process on a test node.
pub struct TestAgent {
    pub settings: NodeSettings,
    pub manifests: PathBuf,
    pub socket: PathBuf,
    pub log: PathBuf,
    /// More `edged agent` flags, used by every start. By default image garbage collection
    /// waits for a full disk, so that tests do not depend on how full the host's disk is.
    pub extra_args: Vec<String>,
    child: Option<std::process::Child>,
}

impl TestAgent {
    /// Starts an agent whose air-gap directory holds the busybox image.
    pub fn start() -> TestAgent {
        Self::start_with_images(true)
    }

    /// Starts an agent, with or without the busybox image in its air-gap directory.
    pub fn start_with_images(busybox: bool) -> TestAgent {
        let mut agent = Self::prepare(busybox);
        agent.spawn();
        agent
    }

    /// A test node ready for an agent, not started yet (see [`TestAgent::spawn`]).
    pub fn prepare(busybox: bool) -> TestAgent {
        let settings = NodeSettings::new();
        let import = settings.data_dir().join("images/import");
        fs::create_dir_all(&import).unwrap();
        if busybox {
            fs::copy(busybox_archive(), import.join("busybox.tar")).unwrap();
        }
        let manifests = settings.dir.path().join("manifests");
        fs::create_dir_all(&manifests).unwrap();
        let socket = settings.dir.path().join("agent.sock");
        let log = settings.dir.path().join("agent.log");
        TestAgent {
            settings,
            manifests,
            socket,
            log,
            extra_args: [
                "--image-gc-high-percent",
                "100",
                "--image-gc-low-percent",
                "99",
            ]
            .map(str::to_string)
            .to_vec(),
            child: None,
        }
    }

    /// Starts the agent process (again).
    pub fn spawn(&mut self) {
        let engine = &self.settings.engine;
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_edged"))
            .args(["agent", "--standalone", "--manifests"])
            .arg(&self.manifests)
            .arg("--data-dir")
            .arg(&engine.data_dir)
            .arg("--run-dir")
            .arg(&engine.run_dir)
            .arg("--socket")
            .arg(&self.socket)
            .args(["--node-name", &self.settings.name])
            .args(["--bridge", &engine.network.bridge])
            .args(["--pod-cidr", &self.settings.subnet.cidr()])
            .args(["--nft-table", &engine.network.nft_table])
            .args(["--cgroup-parent", &engine.cgroup_parent])
            .arg("--registries")
            .arg(self.settings.dir.path().join("registries.yaml"))
            .args(&self.extra_args)
            .env("FLOTILLA_LOG", "info")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !self.socket.exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "the agent did not open its socket:\n{}",
                self.log_text()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn write_manifest(&self, name: &str, yaml: &str) {
        // Written aside and renamed in: the agent never sees half a file.
        let tmp = self.manifests.join(format!(".{name}.tmp"));
        fs::write(&tmp, yaml).unwrap();
        fs::rename(&tmp, self.manifests.join(name)).unwrap();
    }

    pub fn remove_manifest(&self, name: &str) {
        fs::remove_file(self.manifests.join(name)).unwrap();
    }

    pub fn ps(&self) -> Vec<flotilla::agent::socket::PsPod> {
        let socket = self.socket.clone();
        current_thread(async move { flotilla::agent::socket::ps(&socket).await })
            .unwrap_or_default()
    }

    /// Polls `ps` until `done` holds; on timeout, panics with what was seen and the agent log.
    pub fn wait_for(
        &self,
        what: &str,
        timeout_s: u64,
        done: impl Fn(&[flotilla::agent::socket::PsPod]) -> bool,
    ) -> Vec<flotilla::agent::socket::PsPod> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(timeout_s);
        loop {
            let pods = self.ps();
            if done(&pods) {
                return pods;
            }
            if std::time::Instant::now() > deadline {
                panic!(
                    "timed out waiting for {what}\nps:\n{}\nagent log:\n{}",
                    flotilla::agent::commands::ps::table(&pods),
                    self.log_text()
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    pub fn logs(&self, pod: &str, container: Option<&str>, previous: bool) -> String {
        let request = flotilla::agent::socket::LogsRequest {
            pod: pod.to_string(),
            container: container.map(str::to_string),
            follow: false,
            previous,
            tail: None,
            timestamps: false,
        };
        let socket = self.socket.clone();
        let mut out = Vec::new();
        current_thread(async move {
            flotilla::agent::socket::logs(&socket, request, &mut out)
                .await
                .map(|()| out)
        })
        .map(|out| String::from_utf8_lossy(&out).into_owned())
        .unwrap_or_else(|e| format!("error: {e}"))
    }

    /// SIGKILLs the agent (its containers keep running).
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERMs the agent and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let _ = child.wait();
        }
    }
}

impl Drop for TestAgent {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Runs a future on a fresh current-thread runtime.
pub fn current_thread<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// The pod named `name` in `pods`.
pub fn pod<'a>(
    pods: &'a [flotilla::agent::socket::PsPod],
    name: &str,
) -> Option<&'a flotilla::agent::socket::PsPod> {
    pods.iter()
        .find(|p| p.pod.metadata.name == name && !p.deleting)
}

/// The status of container `container` of pod `name`.
pub fn container(
    pods: &[flotilla::agent::socket::PsPod],
    name: &str,
    container: &str,
) -> Option<flotilla::api::ContainerStatus> {
    let status = pod(pods, name)?.pod.status.clone()?;
    status
        .init_container_statuses
        .into_iter()
        .chain(status.container_statuses)
        .find(|c| c.name == container)
}

pub fn is_running(status: &Option<flotilla::api::ContainerStatus>) -> bool {
    status
        .as_ref()
        .is_some_and(|c| c.state.as_ref().is_some_and(|s| s.running.is_some()))
}

/// A minimal HTTP/1.1 GET: status code and body.
pub fn http_get(address: std::net::SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    use std::io::Read;
    let mut stream =
        std::net::TcpStream::connect_timeout(&address, std::time::Duration::from_secs(3))?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(3)))?;
    stream.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").as_bytes(),
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// The host's primary IPv4 address.
pub fn host_ip() -> Ipv4Addr {
    current_thread(flotilla::agent::network::host_ipv4()).expect("a host address")
}

/// The init process of the container whose cgroup is `dir`: the process that is PID 1 in its
/// own PID namespace (the last `NSpid` field). Not the lowest pid: after a pid wraparound a
/// short-lived command the container runs may have a lower one.
pub fn container_init_pid(dir: &Path) -> Option<i32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .ok()?
        .lines()
        .filter_map(|l| l.parse::<i32>().ok())
        .find(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|status| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix("NSpid:"))
                    .and_then(|ids| ids.split_whitespace().last())
                    == Some("1")
            })
        })
}
