//! A cluster in a lab: `edged master` in lab node 0 and one `edged agent` in each other node,
//! real processes of the binaries cargo built for this test, driven with `edgectl` from inside
//! the lab. Each agent has its own data directory, run directory, socket and cgroup parent (the
//! bridge and nftables table may keep their defaults: each node is its own network namespace).
//! Dropping the cluster kills the daemons and removes what their nodes left behind (container
//! processes, mounts, cgroups, run directories, namespaces), also after a failed test.
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

use super::netns::{prerequisites_met, Lab};
use crate::runtime::busybox_image::{self, ImageSpec};

/// The port the master serves its API (and the agent protocol) on.
pub const MASTER_PORT: u16 = 7443;
/// Longest a test waits for the cluster to reach a state; reaching it fails the test.
pub const PATIENCE: Duration = Duration::from_secs(90);
/// How often a waiting test looks again.
const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// The image every agent has: busybox-static under the name of the Kubernetes docs' example,
/// whose default command is a web server on port 80 (what the real nginx image does).
pub const IMAGE: &str = "nginx:1.14.2";
/// The image's command: like nginx, it exits on SIGTERM. busybox httpd installs no handler,
/// and the kernel drops unhandled signals to a namespace's init, so a shell stands in front
/// of it (otherwise every stop would last the whole 30 s grace period).
const IMAGE_CMD: &str =
    "trap 'kill $child; exit 0' TERM; httpd -f -p 80 -h /var/www & child=$!; wait";

const EDGED: &str = env!("CARGO_BIN_EXE_edged");
const EDGECTL: &str = env!("CARGO_BIN_EXE_edgectl");

/// The Kubernetes documentation's nginx Deployment, unchanged but for the replica count.
pub fn nginx_deployment(replicas: u32) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx-deployment
  labels:
    app: nginx
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: nginx
  template:
    metadata:
      labels:
        app: nginx
    spec:
      containers:
      - name: nginx
        image: {IMAGE}
        ports:
        - containerPort: 80
"
    )
}

/// The image archive (`docker save` format), built from /bin/busybox once and shared by test
/// processes: it lives under the temp directory, named after the digest of busybox, and is
/// renamed into place complete.
pub fn image_archive() -> PathBuf {
    static ARCHIVE: OnceLock<PathBuf> = OnceLock::new();
    ARCHIVE
        .get_or_init(|| {
            let binary = fs::read(busybox_image::BUSYBOX).unwrap();
            let key = &busybox_image::sha256(&binary)[7..23];
            let dir = std::env::temp_dir().join("flotilla-cluster-image");
            fs::create_dir_all(&dir).unwrap();
            let cmd_key = &busybox_image::sha256(IMAGE_CMD.as_bytes())[7..15];
            let archive = dir.join(format!("nginx-from-busybox-{key}-{cmd_key}.tar"));
            if !archive.exists() {
                let partial = dir.join(format!(".{}.partial", std::process::id()));
                let mut spec = ImageSpec::busybox();
                spec.cmd = ["sh", "-c", IMAGE_CMD].map(str::to_string).to_vec();
                busybox_image::write_docker_archive(&partial, IMAGE, &spec);
                fs::rename(&partial, &archive).unwrap();
            }
            archive
        })
        .clone()
}

/// Whether cluster tests can run here: root, iproute2, nftables (the agents' hostPorts) and
/// busybox-static. Under `CI=true` a missing prerequisite panics.
pub fn prerequisites() -> bool {
    if !prerequisites_met() {
        return false;
    }
    let nft = Command::new("nft").arg("--version").output().is_ok();
    let missing = if !nft {
        Some("cluster tests need nft (apt install nftables)")
    } else if !Path::new(busybox_image::BUSYBOX).is_file() {
        Some("cluster tests need /bin/busybox (apt install busybox-static)")
    } else {
        None
    };
    let Some(why) = missing else {
        return true;
    };
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{why}");
    }
    eprintln!("skipping outside CI: {why}");
    false
}

/// A daemon process, SIGKILLed on drop.
struct Daemon {
    child: Option<Child>,
}

impl Daemon {
    fn pid(&self) -> Option<i32> {
        self.child.as_ref().map(|c| c.id() as i32)
    }

    fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether the process has exited (and how), reaping it if so.
    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        let status = self.child.as_mut()?.try_wait().ok()??;
        self.child = None;
        Some(status)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Starts `command` with its stdout and stderr copied into `log` (appending) by threads of the
/// test: the daemon itself writes nothing to disk for its logs, so its `write_bytes` count only
/// what it stores (under systemd its logs go to journald, not to a file of its own).
fn spawn_logged(command: &mut Command, log: &Path) -> Child {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {command:?}: {e}"));
    let copy = |mut from: Box<dyn std::io::Read + Send>| {
        let mut file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap_or_else(|e| panic!("open {}: {e}", log.display()));
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut from, &mut file);
        });
    };
    copy(Box::new(child.stdout.take().unwrap()));
    copy(Box::new(child.stderr.take().unwrap()));
    child
}

/// The last `lines` lines of a log file.
fn tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// One agent node.
pub struct Agent {
    /// The node name it joins as.
    pub name: String,
    /// Its lab node.
    pub node: usize,
    pub data_dir: PathBuf,
    pub run_dir: PathBuf,
    pub socket: PathBuf,
    pub cgroup_parent: String,
    pub log: PathBuf,
    daemon: Daemon,
}

impl Agent {
    /// The pods of `edged ps --socket … -o json` (Kubernetes JSON), as the agent itself sees
    /// them; `None` when the agent does not answer.
    pub fn ps(&self) -> Option<Vec<Value>> {
        let output = Command::new(EDGED)
            .args(["ps", "-o", "json", "--socket"])
            .arg(&self.socket)
            .output()
            .expect("run edged ps");
        if !output.status.success() {
            return None;
        }
        match serde_json::from_slice(&output.stdout) {
            Ok(Value::Array(pods)) => Some(pods),
            _ => None,
        }
    }

    /// Names of the pods this agent runs (not being deleted, phase Running, every container
    /// running); `None` when the agent does not answer.
    pub fn running_pods(&self) -> Option<Vec<String>> {
        let mut names: Vec<String> = self
            .ps()?
            .iter()
            .filter(|p| p["metadata"]["deletionTimestamp"].is_null() && pod_is_running(p))
            .filter_map(|p| p["metadata"]["name"].as_str().map(str::to_string))
            .collect();
        names.sort();
        Some(names)
    }

    /// Every container's init process, by container cgroup: the oldest process in each leaf
    /// cgroup under the agent's cgroup parent. A restarted container has a new one.
    pub fn container_init_pids(&self) -> BTreeMap<PathBuf, i32> {
        let root = flotilla::agent::runtime::cgroup::CgroupSetup::detect()
            .dir("pids", &self.cgroup_parent);
        let mut found = BTreeMap::new();
        collect_init_pids(&root, &mut found);
        found
    }

    /// The agent's process id.
    pub fn pid(&self) -> i32 {
        self.daemon.pid().expect("the agent is running")
    }

    /// Kills the agent with SIGKILL; its containers keep running.
    pub fn kill9(&mut self) {
        self.daemon.kill9();
    }

    /// Pauses the agent (SIGSTOP): it stops answering without its connections closing.
    pub fn pause(&self) {
        self.signal(Signal::SIGSTOP);
    }

    /// Lets a paused agent go on (SIGCONT).
    pub fn resume(&self) {
        self.signal(Signal::SIGCONT);
    }

    fn signal(&self, signal: Signal) {
        let _ = kill(Pid::from_raw(self.pid()), signal);
    }

    /// What a reboot of the node takes away, after the agent is killed: every container process,
    /// the cgroups, every mount (overlay root file systems, pinned pod namespaces), the run
    /// directory, the node's bridge and nftables table. The data directory stays, as a disk does.
    pub fn reboot_wipe(&mut self, lab: &Lab) {
        self.kill9();
        self.remove_volatile_state();
        for args in [
            &["ip", "link", "del", "dev", "flot0"][..],
            &["nft", "delete", "table", "ip", "flotilla"][..],
        ] {
            let _ = lab
                .command(self.node, args[0])
                .args(&args[1..])
                .stderr(Stdio::null())
                .status();
        }
    }

    fn remove_volatile_state(&self) {
        let setup = flotilla::agent::runtime::cgroup::CgroupSetup::detect();
        // Twice, a moment apart: a container helper of a killed agent may still be finishing a
        // container it was creating.
        for pass in 0..2 {
            if pass == 1 {
                std::thread::sleep(Duration::from_millis(300));
            }
            for controller in CGROUP_CONTROLLERS {
                kill_cgroup_tree(&setup.dir(controller, &self.cgroup_parent));
            }
        }
        unmount_under(&[&self.data_dir, &self.run_dir]);
        let _ = fs::remove_dir_all(&self.run_dir);
        // The shared parents go when no other test uses them.
        if let Some(parent) = self.run_dir.parent() {
            let _ = fs::remove_dir(parent);
        }
        if let Some((top, _)) = self.cgroup_parent.split_once('/') {
            for controller in CGROUP_CONTROLLERS {
                let _ = fs::remove_dir(setup.dir(controller, top));
            }
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.daemon.kill9();
        self.remove_volatile_state();
    }
}

const CGROUP_CONTROLLERS: [&str; 11] = [
    "pids", "memory", "cpu", "cpuacct", "cpuset", "devices", "freezer", "blkio", "systemd",
    "unified", "",
];

/// Whether process `pid` runs (exists and is not a zombie waiting for its parent).
pub fn process_runs(pid: i32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rsplit(')')
        .next()
        .and_then(|rest| rest.split_whitespace().next());
    state != Some("Z")
}

/// Whether a pod object (Kubernetes JSON) is Running with every container running.
pub fn pod_is_running(pod: &Value) -> bool {
    let status = &pod["status"];
    let containers = status["containerStatuses"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    status["phase"] == "Running"
        && !containers.is_empty()
        && containers.iter().all(|c| c["state"]["running"].is_object())
}

fn collect_init_pids(dir: &Path, found: &mut BTreeMap<PathBuf, i32>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut leaf = true;
    for entry in entries.flatten() {
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            leaf = false;
            collect_init_pids(&entry.path(), found);
        }
    }
    if !leaf {
        return;
    }
    let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
    let oldest = procs
        .lines()
        .filter_map(|p| p.trim().parse::<i32>().ok())
        .filter_map(|pid| {
            flotilla::agent::runtime::process::start_time_ticks(pid).map(|t| (t, pid))
        })
        .min();
    if let Some((_, pid)) = oldest {
        found.insert(dir.to_path_buf(), pid);
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
    for _ in 0..100 {
        let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        if procs.trim().is_empty() {
            break;
        }
        for pid in procs.lines().filter_map(|p| p.trim().parse::<i32>().ok()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = fs::remove_dir(dir);
}

/// Lazily unmounts everything mounted under `dirs`, deepest first.
fn unmount_under(dirs: &[&Path]) {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut targets: Vec<&str> = mountinfo
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4))
        .filter(|t| dirs.iter().any(|d| Path::new(t).starts_with(d)))
        .collect();
    targets.sort_by_key(|t| std::cmp::Reverse(t.len()));
    for target in targets {
        let _ = nix::mount::umount2(target, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// A master and its agents in a lab.
pub struct Cluster {
    master: Daemon,
    pub agents: Vec<Agent>,
    pub lab: Lab,
    pub master_dir: PathBuf,
    pub master_log: PathBuf,
    /// The token agents joined with.
    pub token: String,
    dir: tempfile::TempDir,
}

impl Cluster {
    /// A master in lab node 0 and `agents` agents (nodes `agent-1`… in lab nodes 1…), all
    /// joined and Ready. `None` when the prerequisites are missing outside CI.
    pub fn start(agents: usize) -> Option<Cluster> {
        if !prerequisites() {
            return None;
        }
        let mut cluster = Cluster::start_master(agents + 1);
        cluster.token = cluster.create_token();
        for i in 1..=agents {
            let token = cluster.token.clone();
            cluster.add_agent(i, &token);
        }
        cluster.wait_for("every node Ready", |c| {
            let ready = c.ready_nodes();
            (ready.len() == agents).then_some(())
        });
        Some(cluster)
    }

    /// A lab of `nodes` nodes with the master running in node 0 and answering; no agents.
    pub fn start_master(nodes: usize) -> Cluster {
        let image = image_archive();
        assert!(image.is_file());
        let lab = Lab::new(nodes);
        let dir = tempfile::Builder::new()
            .prefix("flotilla-cluster-")
            .tempdir()
            .unwrap();
        let master_dir = dir.path().join("master");
        let master_log = dir.path().join("master.log");
        let mut cluster = Cluster {
            master: Daemon { child: None },
            agents: Vec::new(),
            lab,
            master_dir,
            master_log,
            token: String::new(),
            dir,
        };
        cluster.start_master_process();
        cluster.wait_for("the master to answer", |c| {
            c.edgectl(&["get", "namespaces"])
                .status
                .success()
                .then_some(())
        });
        cluster
    }

    /// The master's address as agents dial it.
    pub fn master_url(&self) -> String {
        format!("https://{}:{MASTER_PORT}", self.lab.nodes[0].address)
    }

    /// Starts (or restarts) `edged master` in node 0; returns the time it was started (Unix
    /// seconds).
    pub fn start_master_process(&mut self) -> i64 {
        assert!(self.master.child.is_none(), "the master is already running");
        let mut command = self.lab.command(0, EDGED);
        command
            .arg("master")
            .arg("--data-dir")
            .arg(&self.master_dir)
            .args(["--listen", &format!("0.0.0.0:{MASTER_PORT}")])
            .args([
                "--advertise-address",
                &self.lab.nodes[0].address.to_string(),
            ])
            .env("FLOTILLA_LOG", "info");
        let started = time::OffsetDateTime::now_utc().unix_timestamp();
        self.master.child = Some(spawn_logged(&mut command, &self.master_log));
        started
    }

    /// Kills the master with SIGKILL.
    pub fn kill_master(&mut self) {
        self.master.kill9();
    }

    /// The master's process id.
    pub fn master_pid(&self) -> i32 {
        self.master.pid().expect("the master is running")
    }

    /// Fails the test at once if a daemon that should run has exited.
    fn check_daemons(&mut self) {
        let mut exited = Vec::new();
        if let Some(status) = self.master.exited() {
            exited.push(format!("edged master exited ({status})"));
        }
        for agent in &mut self.agents {
            if let Some(status) = agent.daemon.exited() {
                exited.push(format!("edged agent {} exited ({status})", agent.name));
            }
        }
        if !exited.is_empty() {
            self.fail(&exited.join("; "));
        }
    }

    /// A join token from `edgectl token create`.
    pub fn create_token(&self) -> String {
        self.edgectl_ok(&["token", "create", "--description", "cluster test"])
            .trim()
            .to_string()
    }

    /// Imports the image into a new agent's data directory and starts it in lab node `node`,
    /// joining with `token`; does not wait for it to be Ready.
    pub fn add_agent(&mut self, node: usize, token: &str) {
        let name = format!("agent-{node}");
        let base = self.dir.path().join(&name);
        // Unique on this host: the cluster's temporary directory name and the node name.
        let unique = format!(
            "{}-{name}",
            self.dir
                .path()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .trim_start_matches("flotilla-cluster-")
        );
        let agent = Agent {
            name: name.clone(),
            node,
            data_dir: base.join("data"),
            run_dir: Path::new("/run/flotilla-cluster-test").join(&unique),
            socket: base.join("agent.sock"),
            cgroup_parent: format!("flotilla-cluster-test/{unique}"),
            log: base.join("agent.log"),
            daemon: Daemon { child: None },
        };
        fs::create_dir_all(&agent.data_dir).unwrap();
        let import = Command::new(EDGED)
            .args(["image", "import", "--data-dir"])
            .arg(&agent.data_dir)
            .arg(image_archive())
            .output()
            .expect("run edged image import");
        assert!(
            import.status.success(),
            "edged image import failed: {}",
            String::from_utf8_lossy(&import.stderr)
        );
        self.agents.push(agent);
        let index = self.agents.len() - 1;
        self.start_agent_process(index, Some(token));
    }

    /// Starts agent `index` (again). With `join`, the first start's flags; without, only what
    /// a restart needs (the identity is in its data directory).
    pub fn start_agent_process(&mut self, index: usize, join: Option<&str>) {
        let url = self.master_url();
        let agent = &mut self.agents[index];
        assert!(agent.daemon.child.is_none(), "{} is running", agent.name);
        let mut command = self.lab.command(agent.node, EDGED);
        command
            .arg("agent")
            .args(["--node-name", &agent.name])
            .arg("--data-dir")
            .arg(&agent.data_dir)
            .arg("--run-dir")
            .arg(&agent.run_dir)
            .arg("--socket")
            .arg(&agent.socket)
            .args(["--cgroup-parent", &agent.cgroup_parent])
            .arg("--registries")
            .arg(agent.data_dir.join("registries.yaml"))
            .env("FLOTILLA_LOG", "info")
            .env_remove("FLOTILLA_URL")
            .env_remove("FLOTILLA_TOKEN");
        if let Some(token) = join {
            command.args(["--master", &url, "--join", token]);
        }
        agent.daemon.child = Some(spawn_logged(&mut command, &agent.log));
    }

    /// Runs `edged agent` in a fresh lab node directory the way a new node joins, and returns
    /// how it ended (for joins that must fail).
    pub fn try_join(&self, node: usize, name: &str, token: &str) -> Output {
        let base = self.dir.path().join(format!("refused-{name}"));
        self.lab
            .command(node, EDGED)
            .arg("agent")
            .args(["--node-name", name])
            .arg("--data-dir")
            .arg(base.join("data"))
            .arg("--run-dir")
            .arg(base.join("run"))
            .arg("--socket")
            .arg(base.join("agent.sock"))
            .args(["--cgroup-parent", "flotilla-cluster-test/refused"])
            .args(["--master", &self.master_url(), "--join", token])
            .stdin(Stdio::null())
            .output()
            .expect("run edged agent")
    }

    /// Runs `edgectl` with the admin credential, from lab node 0.
    pub fn edgectl(&self, args: &[&str]) -> Output {
        self.lab
            .command(0, EDGECTL)
            .arg("--config")
            .arg(self.master_dir.join("admin.conf"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run edgectl")
    }

    /// `edgectl ARGS…`'s standard output; fails the test if it fails.
    pub fn edgectl_ok(&self, args: &[&str]) -> String {
        let output = self.edgectl(args);
        if !output.status.success() {
            self.fail(&format!(
                "edgectl {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        String::from_utf8(output.stdout).unwrap()
    }

    /// Applies a manifest given as text.
    pub fn apply(&self, name: &str, yaml: &str) {
        let file = self.dir.path().join(name);
        fs::write(&file, yaml).unwrap();
        self.edgectl_ok(&["apply", "-f", file.to_str().unwrap()]);
    }

    /// The items of `edgectl get KIND -o json`; empty when the master does not answer.
    pub fn get(&self, kind: &str) -> Vec<Value> {
        let output = self.edgectl(&["get", kind, "-o", "json"]);
        if !output.status.success() {
            return Vec::new();
        }
        let list: Value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
        list["items"].as_array().cloned().unwrap_or_default()
    }

    /// Names of the nodes whose Ready condition is True, per the master.
    pub fn ready_nodes(&self) -> Vec<String> {
        self.ready_nodes_heard_after(0)
    }

    /// Names of the nodes whose Ready condition is True and whose last heartbeat came after
    /// `unix_s` (a restarted master shows the stored status until the agents are back).
    pub fn ready_nodes_heard_after(&self, unix_s: i64) -> Vec<String> {
        self.get("nodes")
            .iter()
            .filter(|n| {
                n["status"]["conditions"].as_array().is_some_and(|cs| {
                    cs.iter().any(|c| {
                        c["type"] == "Ready"
                            && c["status"] == "True"
                            && c["lastHeartbeatTime"].as_str().is_some_and(|t| {
                                time::OffsetDateTime::parse(
                                    t,
                                    &time::format_description::well_known::Rfc3339,
                                )
                                .is_ok_and(|at| at.unix_timestamp() > unix_s)
                            })
                    })
                })
            })
            .filter_map(|n| n["metadata"]["name"].as_str().map(str::to_string))
            .collect()
    }

    /// The master's running pods (not being deleted) as (pod name, node name).
    pub fn running_pods(&self) -> Vec<(String, String)> {
        let mut pods: Vec<(String, String)> = self
            .get("pods")
            .iter()
            .filter(|p| p["metadata"]["deletionTimestamp"].is_null() && pod_is_running(p))
            .map(|p| {
                (
                    p["metadata"]["name"].as_str().unwrap_or("").to_string(),
                    p["spec"]["nodeName"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        pods.sort();
        pods
    }

    /// Every agent's running pods, by agent name, from the agents themselves; `None` unless
    /// every agent answers.
    pub fn pods_on_agents(&self) -> Option<BTreeMap<String, Vec<String>>> {
        self.agents
            .iter()
            .map(|a| Some((a.name.clone(), a.running_pods()?)))
            .collect()
    }

    /// Waits until `replicas` pods run, per the master and per the agents (each pod on the
    /// node the master says), and returns them by agent.
    pub fn wait_for_replicas(&mut self, replicas: usize) -> BTreeMap<String, Vec<String>> {
        self.wait_for(&format!("{replicas} pods running"), |c| {
            let on_agents = c.pods_on_agents()?;
            let master = c.running_pods();
            let agree = master.len() == replicas
                && on_agents.values().map(Vec::len).sum::<usize>() == replicas
                && master
                    .iter()
                    .all(|(pod, node)| on_agents.get(node).is_some_and(|p| p.contains(pod)));
            agree.then_some(on_agents)
        })
    }

    /// Waits until Deployment `name` is rolled out as `kubectl rollout status` sees it, and
    /// its status says so (every replica updated, ready and available, no old one left, the
    /// Progressing condition at NewReplicaSetAvailable): the controllers have nothing left to
    /// write.
    pub fn wait_for_rollout(&mut self, name: &str, replicas: u64) {
        self.wait_for(&format!("deployment {name} rolled out"), |c| {
            let deployment = c
                .get("deployments")
                .into_iter()
                .find(|d| d["metadata"]["name"] == name)?;
            let status = &deployment["status"];
            let count = |field: &str| status[field].as_u64().unwrap_or(0);
            let observed = status["observedGeneration"].as_i64().unwrap_or(0)
                >= deployment["metadata"]["generation"].as_i64().unwrap_or(1);
            let progressed = status["conditions"].as_array().is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Progressing" && c["reason"] == "NewReplicaSetAvailable")
            });
            let done = observed
                && progressed
                && [
                    "replicas",
                    "updatedReplicas",
                    "readyReplicas",
                    "availableReplicas",
                ]
                .iter()
                .all(|f| count(f) == replicas);
            done.then_some(())
        });
    }

    /// Polls `check` until it returns a value; after [`PATIENCE`], fails the test with what it
    /// waited for and the cluster's state.
    pub fn wait_for<T>(
        &mut self,
        what: &str,
        mut check: impl FnMut(&mut Cluster) -> Option<T>,
    ) -> T {
        let started = Instant::now();
        let deadline = started + PATIENCE;
        loop {
            self.check_daemons();
            if let Some(value) = check(self) {
                eprintln!(
                    "cluster: {what} after {:.1} s",
                    started.elapsed().as_secs_f64()
                );
                return value;
            }
            if Instant::now() > deadline {
                self.fail(&format!("timed out waiting for {what}"));
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// Fails the test with `message`, the cluster as the master and agents see it, and the
    /// tails of the daemons' logs.
    pub fn fail(&self, message: &str) -> ! {
        let show = |args: &[&str]| {
            let output = self.edgectl(args);
            format!(
                "$ edgectl {}\n{}{}",
                args.join(" "),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )
        };
        let mut report = format!(
            "{message}\n\n{}\n{}\n--- master log ---\n{}\n",
            show(&["get", "nodes", "-o", "wide"]),
            show(&["get", "pods", "-o", "wide"]),
            tail(&self.master_log, 40)
        );
        for agent in &self.agents {
            let ps = Command::new(EDGED)
                .args(["ps", "--socket"])
                .arg(&agent.socket)
                .output()
                .map(|o| {
                    format!(
                        "{}{}",
                        String::from_utf8_lossy(&o.stdout),
                        String::from_utf8_lossy(&o.stderr)
                    )
                })
                .unwrap_or_else(|e| e.to_string());
            report.push_str(&format!(
                "--- {} ---\n$ edged ps\n{ps}\n{}\n",
                agent.name,
                tail(&agent.log, 40)
            ));
        }
        panic!("{report}");
    }
}

/// What an agent has caused to be written so far: its own `write_bytes` plus its runtime
/// helper's, while one runs. The kernel adds a child's counters to its parent's when the parent
/// reaps it, so when the agent closes an idle helper, the writes the helper made creating
/// containers earlier move into the agent's count; summed this way they are counted once, at
/// the time they happened.
pub fn agent_write_bytes(pid: i32) -> u64 {
    let children: Vec<i32> = fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|task| fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect();
    let helpers = children.into_iter().filter(|child| {
        fs::read(format!("/proc/{child}/cmdline"))
            .is_ok_and(|cmdline| cmdline.windows(14).any(|w| w == b"runtime-helper"))
    });
    write_bytes(pid)
        + helpers
            .map(|helper| {
                fs::read_to_string(format!("/proc/{helper}/io"))
                    .ok()
                    .and_then(|io| {
                        io.lines()
                            .find_map(|l| l.strip_prefix("write_bytes: "))
                            .and_then(|v| v.trim().parse::<u64>().ok())
                    })
                    .unwrap_or(0)
            })
            .sum::<u64>()
}

/// Bytes the process has caused to be written to storage so far (`write_bytes` of
/// `/proc/<pid>/io`, all its threads).
pub fn write_bytes(pid: i32) -> u64 {
    let io = fs::read_to_string(format!("/proc/{pid}/io"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/io: {e}"));
    io.lines()
        .find_map(|l| l.strip_prefix("write_bytes: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("write_bytes in /proc/<pid>/io")
}
