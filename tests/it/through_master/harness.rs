//! A small real cluster on this host: an `edged master` process (the control harness) and
//! `edged agent` processes that join it with a token, each isolated by its own data and run
//! directories, socket, bridge, nftables table and cgroup parent, with a cluster CIDR of
//! their own so that tests run side by side. Everything is removed when the cluster is
//! dropped. Needs root and Debian's busybox-static; under `CI=true` a missing prerequisite
//! fails the test instead of skipping it.
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::control::harness::{edged_bin, ok, Master};
use crate::runtime::busybox_image;

/// The test image, imported into every agent from its air-gap directory.
pub const BUSYBOX: &str = "flotilla.test/busybox:1";
/// Where cluster CIDRs are reserved, one file per test process and block.
const CIDR_REGISTRY: &str = "/run/flotilla-test-through-master";

/// Returns true when the prerequisites hold; otherwise panics under `CI=true` or prints why
/// the test is skipped and returns false.
pub fn prerequisites() -> bool {
    let missing = if !nix::unistd::geteuid().is_root() {
        Some("root (agents create namespaces, cgroups and mounts)")
    } else if !Path::new(busybox_image::BUSYBOX).is_file() {
        Some("/bin/busybox (apt install busybox-static)")
    } else {
        None
    };
    match missing {
        None => true,
        Some(what) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("missing test prerequisite under CI=true: {what}")
        }
        Some(what) => {
            eprintln!("\n*** SKIPPED: missing test prerequisite: {what} ***\n");
            false
        }
    }
}

/// A block of pod addresses, `10.218.<4n>.0/22`, reserved by a file naming this process.
struct CidrBlock {
    n: u8,
    file: PathBuf,
}

impl CidrBlock {
    fn reserve() -> CidrBlock {
        fs::create_dir_all(CIDR_REGISTRY).unwrap();
        loop {
            for n in 0..64u8 {
                let file = Path::new(CIDR_REGISTRY).join(n.to_string());
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
                    return CidrBlock { n, file };
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn cidr(&self) -> String {
        format!("10.218.{}.0/22", u16::from(self.n) * 4)
    }
}

impl Drop for CidrBlock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.file);
    }
}

/// The busybox archive, built once per process under the temp directory.
fn busybox_archive() -> PathBuf {
    static ARCHIVE: OnceLock<PathBuf> = OnceLock::new();
    ARCHIVE
        .get_or_init(|| {
            let binary = fs::read(busybox_image::BUSYBOX).unwrap();
            let key = &busybox_image::sha256(&binary)[7..23];
            let dir = std::env::temp_dir().join("flotilla-test-through-master");
            let archive = dir.join(format!("busybox-{key}.tar"));
            if !archive.exists() {
                let work = dir.join(format!("build-{}", std::process::id()));
                fs::create_dir_all(&work).unwrap();
                let built = busybox_image::busybox_archive(&work, BUSYBOX);
                fs::rename(&built, &archive).unwrap();
                let _ = fs::remove_dir_all(&work);
            }
            archive
        })
        .clone()
}

/// One `edged agent` process and everything it owns on the host.
pub struct Agent {
    pub name: String,
    dir: tempfile::TempDir,
    run_dir: PathBuf,
    bridge: String,
    nft_table: String,
    cgroup_parent: String,
    child: Option<Child>,
}

impl Agent {
    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("agent.log")
    }

    /// What the agent logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn spawn(&mut self, master: &str, token: Option<&str>) {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let mut command = Command::new(edged_bin());
        command
            .args(["agent", "--master", master])
            .args(["--node-name", &self.name])
            .arg("--data-dir")
            .arg(self.data_dir())
            .arg("--run-dir")
            .arg(&self.run_dir)
            .arg("--socket")
            .arg(self.dir.path().join("agent.sock"))
            .args(["--bridge", &self.bridge])
            .args(["--nft-table", &self.nft_table])
            .args(["--cgroup-parent", &self.cgroup_parent])
            .arg("--registries")
            .arg(self.dir.path().join("registries.yaml"))
            .env("FLOTILLA_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        if let Some(token) = token {
            command.args(["--join", token]);
        }
        self.child = Some(command.spawn().expect("start edged agent"));
    }

    /// Stops the agent with SIGTERM (its containers keep running) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let _ = child.wait();
        }
    }

    /// Removes what the agent left: container processes (by cgroup), mounts, bridge,
    /// nftables table, run directory and cgroup parent.
    fn cleanup(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let controllers = [
            "pids", "memory", "cpu", "cpuacct", "cpuset", "devices", "freezer", "blkio", "systemd",
            "unified", "",
        ];
        for pass in 0..2 {
            if pass == 1 {
                std::thread::sleep(Duration::from_millis(300));
            }
            for controller in controllers {
                kill_cgroup_tree(
                    &Path::new("/sys/fs/cgroup")
                        .join(controller)
                        .join(&self.cgroup_parent),
                );
            }
        }
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut targets: Vec<&str> = mountinfo
            .lines()
            .filter_map(|l| l.split_whitespace().nth(4))
            .filter(|t| {
                t.starts_with(self.dir.path().to_str().unwrap())
                    || t.starts_with(self.run_dir.to_str().unwrap())
            })
            .collect();
        targets.sort_by_key(|t| std::cmp::Reverse(t.len()));
        for target in targets {
            let _ = nix::mount::umount2(target, nix::mount::MntFlags::MNT_DETACH);
        }
        let _ = Command::new("nft")
            .args(["delete", "table", "ip", &self.nft_table])
            .output();
        let _ = Command::new("ip")
            .args(["link", "del", "dev", &self.bridge])
            .output();
        let _ = fs::remove_dir_all(&self.run_dir);
        for controller in controllers {
            let _ = fs::remove_dir(
                Path::new("/sys/fs/cgroup")
                    .join(controller)
                    .join(&self.cgroup_parent),
            );
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.cleanup();
    }
}

/// SIGKILLs every process in a cgroup directory tree, then removes its directories.
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
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = fs::remove_dir(dir);
}

/// A master and its agents.
pub struct Cluster {
    pub agents: Vec<Agent>,
    pub master: Master,
    block: CidrBlock,
}

impl Cluster {
    /// Starts a master and `agents` agents that join it, and waits until every node is Ready.
    pub fn start(agents: usize) -> Cluster {
        let block = CidrBlock::reserve();
        let master = Master::start_with(&["--cluster-cidr", &block.cidr()]);
        let mut cluster = Cluster {
            agents: Vec::new(),
            master,
            block,
        };
        for i in 0..agents {
            cluster.add_agent(i);
        }
        let names: Vec<String> = cluster.agents.iter().map(|a| a.name.clone()).collect();
        cluster.wait_for("every node Ready", 90, |c| {
            let nodes = c.list("nodes");
            names.iter().all(|name| {
                nodes.iter().any(|n| {
                    n["metadata"]["name"] == name.as_str()
                        && n["status"]["conditions"].as_array().is_some_and(|cs| {
                            cs.iter()
                                .any(|c| c["type"] == "Ready" && c["status"] == "True")
                        })
                })
            })
        });
        cluster
    }

    fn add_agent(&mut self, i: usize) {
        let token = ok(self.master.edgectl(&["token", "create"]));
        let token = token.lines().last().expect("a token").trim().to_string();
        let tag = format!("tm{}x{i}", self.block.n);
        let dir = tempfile::Builder::new()
            .prefix("flotilla-through-master-")
            .tempdir()
            .unwrap();
        let import = dir.path().join("data/images/import");
        fs::create_dir_all(&import).unwrap();
        fs::copy(busybox_archive(), import.join("busybox.tar")).unwrap();
        let mut agent = Agent {
            name: format!("tm{}-{i}", self.block.n),
            dir,
            run_dir: PathBuf::from(format!("/run/flotilla-test/{tag}-{}", std::process::id())),
            bridge: format!("{tag}br"),
            nft_table: format!("flotilla_{tag}"),
            cgroup_parent: format!("flotilla-test/{tag}"),
            child: None,
        };
        agent.spawn(&self.master.url(), Some(&token));
        self.agents.push(agent);
    }

    /// Runs `edgectl` with the admin credential.
    pub fn edgectl(&self, args: &[&str]) -> Output {
        self.master.edgectl(args)
    }

    /// Objects of a kind (`pods`, `nodes`, …) in the default namespace, as JSON.
    pub fn list(&self, kind: &str) -> Vec<Value> {
        let output = self.edgectl(&["get", kind, "-o", "json"]);
        if !output.status.success() {
            return Vec::new();
        }
        let list: Value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
        list["items"].as_array().cloned().unwrap_or_default()
    }

    /// Pods whose name starts with `prefix`.
    pub fn pods(&self, prefix: &str) -> Vec<Value> {
        self.list("pods")
            .into_iter()
            .filter(|p| {
                p["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with(prefix))
            })
            .collect()
    }

    /// Polls `done` until it holds; on timeout, panics with the cluster's state and logs.
    pub fn wait_for<T>(&self, what: &str, timeout_s: u64, mut done: impl FnMut(&Cluster) -> T) -> T
    where
        T: Truthy,
    {
        let deadline = Instant::now() + Duration::from_secs(timeout_s);
        loop {
            let value = done(self);
            if value.holds() {
                return value;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}\n{}", self.state());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Pods, nodes and every log, for failure messages.
    pub fn state(&self) -> String {
        let pods = String::from_utf8_lossy(&self.edgectl(&["get", "pods", "-o", "wide"]).stdout)
            .into_owned();
        let nodes = String::from_utf8_lossy(&self.edgectl(&["get", "nodes"]).stdout).into_owned();
        let mut text = format!(
            "pods:\n{pods}\nnodes:\n{nodes}\nmaster log:\n{}",
            self.master.log()
        );
        for agent in &self.agents {
            text.push_str(&format!("\nagent {} log:\n{}", agent.name, agent.log()));
        }
        text
    }

    /// Writes a manifest and applies it.
    pub fn apply(&self, yaml: &str) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifest.yaml");
        fs::write(&path, yaml).unwrap();
        ok(self.edgectl(&["apply", "-f", path.to_str().unwrap()]));
    }
}

/// A wait's result: `bool`, or `Option` (holds when `Some`).
pub trait Truthy {
    fn holds(&self) -> bool;
}

impl Truthy for bool {
    fn holds(&self) -> bool {
        *self
    }
}

impl<T> Truthy for Option<T> {
    fn holds(&self) -> bool {
        self.is_some()
    }
}

/// Whether every container of `pod` runs.
pub fn all_running(pod: &Value) -> bool {
    let statuses = pod["status"]["containerStatuses"].as_array();
    let containers = pod["spec"]["containers"].as_array().map_or(0, Vec::len);
    statuses.is_some_and(|s| {
        s.len() == containers && s.iter().all(|c| c["state"]["running"].is_object())
    })
}

/// The pod's node.
pub fn node_of(pod: &Value) -> Option<String> {
    pod["spec"]["nodeName"].as_str().map(str::to_string)
}
