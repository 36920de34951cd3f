//! `cargo bench --bench cluster_heal` (as root): a real cluster on this machine — `edged master`
//! and three `edged agent`s, each in a network namespace of its own on one bridge, running real
//! containers — timed as an operator sees it, through the API. Prints one table:
//!
//! - apply → all Running: `edgectl apply` of a Deployment of 30 replicas (image imported on
//!   every node, so cached) until the API lists 30 pods Running; one sample per round.
//! - node death → replacements Running elsewhere: an agent killed with SIGKILL and its link taken
//!   down at the switch (its containers run on, cut off) until the API lists every replica
//!   Running on the other nodes; median of 5 rounds with min and max, next to the goal and to
//!   other orchestrators' defaults. Each round kills the next node and starts from a fresh,
//!   evenly spread Deployment, so every round replaces the same number of pods.
//! - the dead node back (link up, agent restarted) → its stale pods stopped.
//! - master RSS, peak RSS and CPU with 3 agents and 100 pods, and the bytes the master wrote to
//!   storage (`/proc/<pid>/io` write_bytes) over the same idle 60 s. The master's data directory
//!   is on disk (`/var/tmp`); the daemons' logs go to tmpfs (`/run`), as journald would take them.
//!
//! The API is polled every 100 ms (not during the idle window), so times are 0.1 s coarse.
//! Under `cargo test --bench cluster_heal` (no `--bench` argument) a short smoke run checks the
//! same path: 6 pods, 1 round, 9 pods for the footprint, 5 s idle.
//! `FLOTILLA_BENCH_ROUNDS` and `FLOTILLA_BENCH_IDLE_SECONDS` override the counts.
//!
//! Needs root, `ip`, `nsenter`, `nft` and busybox-static; without them it says why and exits 0,
//! or fails under `CI=true`. Everything it makes — containers, mounts, cgroups, namespaces, files
//! — is removed on exit, on a panic and on Ctrl-C.
//!
//! Agents are started with `nsenter --net`, not `ip netns exec`: the latter also unshares the
//! mount namespace and remounts /sys, which would hide the host's cgroup hierarchies from them.
#[path = "../tests/fixtures/busybox_image.rs"]
mod busybox_image;

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

const IMAGE: &str = "flotilla.bench/busybox:1";
const DEPLOYMENT: &str = "heal";
const MASTER_PORT: u16 = 7443;
const AGENTS: usize = 3;
/// The lab network: node `i` is 192.0.2.(i+1) (TEST-NET-1, only inside the lab); node 0 is the
/// master's.
const LAB_NETWORK: [u8; 3] = [192, 0, 2];
const POLL: Duration = Duration::from_millis(100);
/// The longest any single wait may take before the benchmark gives up.
const PATIENCE: Duration = Duration::from_secs(180);

/// Set by SIGINT/SIGTERM; every wait checks it and unwinds, so the guards clean up.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

fn catch_interrupts() {
    let action = nix::sys::signal::SigAction::new(
        nix::sys::signal::SigHandler::Handler(on_signal),
        nix::sys::signal::SaFlags::empty(),
        nix::sys::signal::SigSet::empty(),
    );
    for signal in [nix::sys::signal::SIGINT, nix::sys::signal::SIGTERM] {
        // SAFETY: the handler only stores to an atomic.
        unsafe { nix::sys::signal::sigaction(signal, &action) }.expect("install signal handler");
    }
}

fn pause(duration: Duration) {
    if INTERRUPTED.load(Ordering::SeqCst) {
        panic!("interrupted");
    }
    std::thread::sleep(duration);
}

struct Plan {
    full: bool,
    pods: usize,
    rounds: usize,
    footprint_pods: usize,
    settle: Duration,
    idle: Duration,
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn plan() -> Plan {
    // `cargo bench` passes `--bench`; `cargo test --bench cluster_heal` does not.
    let full = std::env::args().any(|a| a == "--bench");
    let mut plan = if full {
        Plan {
            full,
            pods: 30,
            rounds: 5,
            footprint_pods: 100,
            settle: Duration::from_secs(10),
            idle: Duration::from_secs(60),
        }
    } else {
        Plan {
            full,
            pods: 6,
            rounds: 1,
            footprint_pods: 9,
            settle: Duration::from_secs(2),
            idle: Duration::from_secs(5),
        }
    };
    if let Some(rounds) = env_number("FLOTILLA_BENCH_ROUNDS") {
        plan.rounds = rounds.max(1) as usize;
    }
    if let Some(seconds) = env_number("FLOTILLA_BENCH_IDLE_SECONDS") {
        plan.idle = Duration::from_secs(seconds.max(1));
    }
    plan
}

fn has_command(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(name).is_file()))
}

fn missing_prerequisite() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("the cluster heal benchmark needs root (namespaces, cgroups, mounts)".into());
    }
    for command in ["ip", "nsenter", "nft"] {
        if !has_command(command) {
            return Some(format!("the cluster heal benchmark needs `{command}`"));
        }
    }
    if !Path::new(busybox_image::BUSYBOX).is_file() {
        return Some(format!(
            "the cluster heal benchmark needs {} (apt install busybox-static)",
            busybox_image::BUSYBOX
        ));
    }
    None
}

fn ip(args: &[&str]) {
    let output = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        output.status.success(),
        "ip {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Nodes on one bridge that lives in a "switch" namespace of its own: nothing touches the
/// host's network. Node `i`'s link is cut at the switch end.
struct Lab {
    switch: String,
    nodes: Vec<String>,
}

impl Lab {
    fn new(prefix: &str, count: usize) -> Lab {
        let mut lab = Lab {
            switch: format!("{prefix}-sw"),
            nodes: Vec::new(),
        };
        ip(&["netns", "add", &lab.switch]);
        ip(&["-n", &lab.switch, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &lab.switch, "link", "set", "br0", "up"]);
        for i in 0..count {
            let netns = format!("{prefix}-n{i}");
            let (node_end, switch_end) = (format!("{prefix}v{i}"), Lab::switch_end(prefix, i));
            ip(&["netns", "add", &netns]);
            lab.nodes.push(netns.clone());
            ip(&["-n", &netns, "link", "set", "lo", "up"]);
            ip(&[
                "link",
                "add",
                &node_end,
                "type",
                "veth",
                "peer",
                "name",
                &switch_end,
            ]);
            ip(&["link", "set", &node_end, "netns", &netns]);
            ip(&["link", "set", &switch_end, "netns", &lab.switch]);
            ip(&["-n", &netns, "link", "set", &node_end, "name", "eth0"]);
            let address = format!("{}/24", Lab::address(i));
            ip(&["-n", &netns, "addr", "add", &address, "dev", "eth0"]);
            ip(&["-n", &netns, "link", "set", "eth0", "up"]);
            ip(&[
                "-n",
                &lab.switch,
                "link",
                "set",
                &switch_end,
                "master",
                "br0",
            ]);
            ip(&["-n", &lab.switch, "link", "set", &switch_end, "up"]);
        }
        lab
    }

    fn switch_end(prefix: &str, i: usize) -> String {
        format!("{prefix}s{i}")
    }

    fn address(i: usize) -> std::net::Ipv4Addr {
        std::net::Ipv4Addr::new(LAB_NETWORK[0], LAB_NETWORK[1], LAB_NETWORK[2], i as u8 + 1)
    }

    fn set_link(&self, i: usize, state: &str) {
        let prefix = self.switch.trim_end_matches("-sw");
        ip(&[
            "-n",
            &self.switch,
            "link",
            "set",
            &Lab::switch_end(prefix, i),
            state,
        ]);
    }

    fn netns_path(&self, i: usize) -> PathBuf {
        PathBuf::from(format!("/run/netns/{}", self.nodes[i]))
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Deleting a namespace deletes the veth ends in it, and with them their peers (the
        // pods' veths included, once their own namespaces are unmounted).
        for netns in self.nodes.iter().chain(std::iter::once(&self.switch)) {
            let _ = Command::new("ip").args(["netns", "del", netns]).status();
        }
    }
}

/// A daemon started inside a node's network namespace, its output going to a log file on
/// tmpfs. Stopped (SIGTERM, then SIGKILL) on drop.
struct Daemon {
    name: String,
    child: Option<Child>,
    log: PathBuf,
}

impl Daemon {
    fn spawn(name: &str, netns: &Path, log: &Path, args: &[OsString]) -> Daemon {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap_or_else(|e| panic!("open {}: {e}", log.display()));
        let child = Command::new("nsenter")
            .arg(format!("--net={}", netns.display()))
            .arg("--")
            .arg(env!("CARGO_BIN_EXE_edged"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            // Its own process group: a Ctrl-C reaches the benchmark only, which cleans up.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        Daemon {
            name: name.to_string(),
            child: Some(child),
            log: log.to_path_buf(),
        }
    }

    /// `nsenter` execs into `edged`: the child's pid is the daemon's.
    fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: a plain kill(2) of our own child.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(15);
        format!(
            "--- {} ({}):\n{}",
            self.name,
            self.log.display(),
            lines[from..].join("\n")
        )
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

type Reply = mpsc::Sender<Result<Value, String>>;

/// The admin's API client, on a thread of its own inside the master's node (a socket lives in
/// the network namespace of the thread that opened it).
struct Api {
    requests: Option<mpsc::Sender<(String, Reply)>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Api {
    fn start(netns: PathBuf, admin_conf: PathBuf) -> Api {
        let (requests, incoming) = mpsc::channel::<(String, Reply)>();
        let thread = std::thread::spawn(move || {
            let ns = std::fs::File::open(&netns).expect("open the master's namespace");
            nix::sched::setns(ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
                .expect("enter the master's namespace");
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let credential = flotilla::pki::Credential::load(&admin_conf).expect("load admin.conf");
            let client = flotilla::cli::client::Client::new(&credential, None).unwrap();
            for (path, reply) in incoming {
                let answer = runtime.block_on(async {
                    tokio::time::timeout(Duration::from_secs(5), client.get_json(&path)).await
                });
                let _ = reply.send(match answer {
                    Ok(Ok(value)) => Ok(value),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err(format!("GET {path}: no answer in 5 s")),
                });
            }
        });
        Api {
            requests: Some(requests),
            thread: Some(thread),
        }
    }

    fn get(&self, path: &str) -> Result<Value, String> {
        let (reply, answer) = mpsc::channel();
        self.requests
            .as_ref()
            .unwrap()
            .send((path.to_string(), reply))
            .map_err(|_| "the API thread is gone".to_string())?;
        answer
            .recv()
            .map_err(|_| "the API thread is gone".to_string())?
    }

    /// The Deployment's pods: (node, Running and not terminating).
    fn pods(&self) -> Result<Vec<(String, bool)>, String> {
        let path = flotilla::cli::client::with_query(
            "/api/v1/namespaces/default/pods",
            &[("labelSelector", &format!("app={DEPLOYMENT}"))],
        );
        let list = self.get(&path)?;
        Ok(items(&list)
            .iter()
            .map(|pod| {
                let node = pod["spec"]["nodeName"].as_str().unwrap_or("").to_string();
                let running = pod["status"]["phase"] == "Running"
                    && pod["metadata"]["deletionTimestamp"].is_null();
                (node, running)
            })
            .collect())
    }

    /// Names of the nodes whose Ready condition is True.
    fn ready_nodes(&self) -> Result<BTreeSet<String>, String> {
        let list = self.get("/api/v1/nodes")?;
        Ok(items(&list)
            .iter()
            .filter(|node| {
                node["status"]["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
            .filter_map(|node| node["metadata"]["name"].as_str().map(String::from))
            .collect())
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        self.requests.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn items(list: &Value) -> Vec<Value> {
    list["items"].as_array().cloned().unwrap_or_default()
}

/// The master and three agents in a lab, with everything they make. Dropping it deletes the
/// Deployment (so the agents remove their pods properly), stops the daemons, then sweeps what
/// may remain after a crash: container processes, mounts, cgroups, namespaces, files.
struct Cluster {
    // Dropped by hand, in order, in `Drop`.
    api: Option<Api>,
    agents: Vec<Daemon>,
    master: Option<Daemon>,
    lab: Option<Lab>,
    dir: Option<tempfile::TempDir>,
    run_dir: PathBuf,
    cgroup_root: String,
    admin_conf: PathBuf,
}

fn node_name(agent: usize) -> String {
    format!("node-{}", agent + 1)
}

impl Cluster {
    fn start() -> Cluster {
        let prefix = format!("fh{:05x}", std::process::id() & 0xfffff);
        let dir = tempfile::Builder::new()
            .prefix("flotilla-heal-")
            .tempdir_in("/var/tmp")
            .unwrap();
        let mut cluster = Cluster {
            api: None,
            agents: Vec::new(),
            master: None,
            lab: None,
            admin_conf: dir.path().join("master/admin.conf"),
            dir: Some(dir),
            run_dir: PathBuf::from(format!("/run/{prefix}")),
            cgroup_root: prefix.clone(),
        };
        std::fs::create_dir_all(cluster.run_dir.join("logs")).unwrap();
        cluster.lab = Some(Lab::new(&prefix, AGENTS + 1));

        let dir = cluster.dir().to_path_buf();
        let archive = busybox_image::busybox_archive(&dir, IMAGE);
        for agent in 0..AGENTS {
            let output = Command::new(env!("CARGO_BIN_EXE_edged"))
                .args(["image", "import", "--data-dir"])
                .arg(cluster.agent_data(agent))
                .arg(&archive)
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "edged image import: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }

        let master_address = Lab::address(0);
        let args: Vec<OsString> = vec![
            "master".into(),
            "--data-dir".into(),
            dir.join("master").into(),
            "--listen".into(),
            format!("{master_address}:{MASTER_PORT}").into(),
            "--advertise-address".into(),
            master_address.to_string().into(),
        ];
        let log = cluster.run_dir.join("logs/master.log");
        cluster.master = Some(Daemon::spawn(
            "master",
            &cluster.lab().netns_path(0),
            &log,
            &args,
        ));
        cluster.wait("the master's admin.conf", |c| Ok(c.admin_conf.is_file()));
        cluster.api = Some(Api::start(
            cluster.lab().netns_path(0),
            cluster.admin_conf.clone(),
        ));
        cluster.wait("the master's API", |c| {
            c.api().get("/api/v1/nodes").map(|_| true)
        });

        let token = cluster.edgectl(&["token", "create"]).trim().to_string();
        for agent in 0..AGENTS {
            cluster.start_agent(agent, Some(&token));
        }
        cluster.wait("3 Ready nodes", |c| {
            Ok(c.api().ready_nodes()?.len() == AGENTS)
        });
        cluster
    }

    fn dir(&self) -> &Path {
        self.dir.as_ref().unwrap().path()
    }

    fn lab(&self) -> &Lab {
        self.lab.as_ref().unwrap()
    }

    fn api(&self) -> &Api {
        self.api.as_ref().unwrap()
    }

    fn master_pid(&self) -> u32 {
        self.master.as_ref().unwrap().pid()
    }

    fn agent_data(&self, agent: usize) -> PathBuf {
        self.dir().join(format!("agent-{agent}"))
    }

    fn agent_cgroup(&self, agent: usize) -> String {
        format!("{}/{}", self.cgroup_root, node_name(agent))
    }

    /// Starts agent `agent` in lab node `agent + 1`; `token` on the first start only.
    fn start_agent(&mut self, agent: usize, token: Option<&str>) {
        let run = self.run_dir.join(node_name(agent));
        let mut args: Vec<OsString> = vec![
            "agent".into(),
            "--master".into(),
            format!("https://{}:{MASTER_PORT}", Lab::address(0)).into(),
            "--node-name".into(),
            node_name(agent).into(),
            "--data-dir".into(),
            self.agent_data(agent).into(),
            "--run-dir".into(),
            run.join("state").into(),
            "--socket".into(),
            run.join("agent.sock").into(),
            "--cgroup-parent".into(),
            self.agent_cgroup(agent).into(),
            "--registries".into(),
            self.dir().join("registries.yaml").into(),
        ];
        if let Some(token) = token {
            args.extend(["--join".into(), token.into()]);
        }
        let log = self.run_dir.join(format!("logs/{}.log", node_name(agent)));
        let daemon = Daemon::spawn(
            &node_name(agent),
            &self.lab().netns_path(agent + 1),
            &log,
            &args,
        );
        if agent < self.agents.len() {
            self.agents[agent] = daemon;
        } else {
            self.agents.push(daemon);
        }
    }

    /// `edgectl ARGS…` run in the master's node; its standard output.
    fn edgectl(&self, args: &[&str]) -> String {
        let output = Command::new("nsenter")
            .arg(format!("--net={}", self.lab().netns_path(0).display()))
            .arg("--")
            .arg(env!("CARGO_BIN_EXE_edgectl"))
            .args(args)
            .env("EDGECONFIG", &self.admin_conf)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        if !output.status.success() {
            self.fail(&format!(
                "edgectl {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Applies the Deployment with `replicas`.
    fn apply(&self, replicas: usize) {
        let manifest = self.dir().join("heal.yaml");
        std::fs::write(
            &manifest,
            format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {DEPLOYMENT}\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels: {{app: {DEPLOYMENT}}}\n  template:\n    metadata:\n      labels: {{app: {DEPLOYMENT}}}\n    spec:\n      terminationGracePeriodSeconds: 1\n      containers:\n      - name: app\n        image: {IMAGE}\n        imagePullPolicy: Never\n        command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 3600; done\"]\n"
            ),
        )
        .unwrap();
        self.edgectl(&["apply", "-f", manifest.to_str().unwrap()]);
    }

    /// Polls `done` every 100 ms until it holds; the time it took. `Err` (an API error, or
    /// what is still missing) is retried like `false` (a master under load may be slow) until
    /// the patience runs out, then reported.
    fn wait(&self, what: &str, mut done: impl FnMut(&Cluster) -> Result<bool, String>) -> Duration {
        let started = Instant::now();
        let mut last_error = String::new();
        loop {
            match done(self) {
                Ok(true) => return started.elapsed(),
                Ok(false) => {}
                Err(e) => last_error = e,
            }
            if started.elapsed() > PATIENCE {
                self.fail(&format!(
                    "waited {} s for {what} (last: {last_error})",
                    PATIENCE.as_secs()
                ));
            }
            pause(POLL);
        }
    }

    /// Container processes under `cgroup` (below the root of every hierarchy mounted).
    fn container_processes(&self, cgroup: &str) -> usize {
        let mut pids = BTreeSet::new();
        for dir in cgroup_dirs(cgroup) {
            collect_pids(&dir, &mut pids);
        }
        pids.len()
    }

    fn fail(&self, message: &str) -> ! {
        let mut logs = Vec::new();
        logs.extend(self.master.iter().map(Daemon::tail));
        logs.extend(self.agents.iter().map(Daemon::tail));
        panic!("{message}\n{}", logs.join("\n"));
    }

    /// Deletes the Deployment and waits until no pod is listed and no container runs.
    fn clear(&self) {
        self.edgectl(&["delete", "deployment", DEPLOYMENT]);
        self.wait("the Deployment's pods gone", |c| {
            let pods = c.api().pods()?;
            let processes: Vec<usize> = (0..AGENTS)
                .map(|a| c.container_processes(&c.agent_cgroup(a)))
                .collect();
            if pods.is_empty() && processes.iter().all(|&p| p == 0) {
                return Ok(true);
            }
            Err(format!(
                "pods listed (node, running): {pods:?}; container processes per agent: {processes:?}"
            ))
        });
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // The graceful part: the agents delete their pods (containers, mounts, veths, cgroups).
        let agents_up = self.agents.iter_mut().all(|a| {
            a.child
                .as_mut()
                .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
        });
        if let (Some(api), true, false) = (&self.api, agents_up, INTERRUPTED.load(Ordering::SeqCst))
        {
            let deleted = Command::new("nsenter")
                .arg(format!("--net={}", self.lab().netns_path(0).display()))
                .arg("--")
                .arg(env!("CARGO_BIN_EXE_edgectl"))
                .args(["delete", "deployment", DEPLOYMENT, "--ignore-not-found"])
                .env("EDGECONFIG", &self.admin_conf)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            let deadline = Instant::now() + Duration::from_secs(30);
            while deleted && Instant::now() < deadline {
                let pods_gone = api.pods().is_ok_and(|p| p.is_empty());
                if pods_gone && self.container_processes(&self.cgroup_root) == 0 {
                    break;
                }
                std::thread::sleep(POLL);
            }
        }
        self.api.take();
        for agent in &mut self.agents {
            agent.stop();
        }
        if let Some(mut master) = self.master.take() {
            master.stop();
        }
        // The sweep: whatever a crash or an unfinished deletion left.
        kill_cgroup_processes(&self.cgroup_root);
        let dir = self.dir.as_ref().map(|d| d.path().to_path_buf());
        unmount_below(
            &[Some(self.run_dir.clone()), dir]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>(),
        );
        remove_cgroups(&self.cgroup_root);
        if std::thread::panicking() {
            // The daemons' logs outlive a failure, for the post-mortem.
            let kept = std::env::temp_dir().join(format!("{}-logs", self.cgroup_root));
            let _ = std::fs::remove_dir_all(&kept);
            if std::fs::rename(self.run_dir.join("logs"), &kept).is_err() {
                let _ = Command::new("cp")
                    .arg("-a")
                    .arg(self.run_dir.join("logs"))
                    .arg(&kept)
                    .status();
            }
            eprintln!("the daemons' logs are kept in {}", kept.display());
        }
        let _ = std::fs::remove_dir_all(&self.run_dir);
        self.lab.take();
        self.dir.take();
    }
}

/// `<hierarchy>/<cgroup>` for every cgroup hierarchy where it exists (v1 controllers, the v2
/// unified mount of a hybrid host, or a pure v2 root).
fn cgroup_dirs(cgroup: &str) -> Vec<PathBuf> {
    let root = Path::new("/sys/fs/cgroup");
    let mut hierarchies = vec![root.to_path_buf()];
    hierarchies.extend(
        std::fs::read_dir(root)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir() && !p.is_symlink()),
    );
    hierarchies
        .into_iter()
        .map(|h| h.join(cgroup))
        .filter(|d| d.is_dir())
        .collect()
}

fn collect_pids(dir: &Path, pids: &mut BTreeSet<i32>) {
    if let Ok(text) = std::fs::read_to_string(dir.join("cgroup.procs")) {
        pids.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    }
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            collect_pids(&entry.path(), pids);
        }
    }
}

fn kill_cgroup_processes(cgroup: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut pids = BTreeSet::new();
        for dir in cgroup_dirs(cgroup) {
            collect_pids(&dir, &mut pids);
        }
        if pids.is_empty() || Instant::now() > deadline {
            return;
        }
        for pid in pids {
            // SAFETY: kill(2); these are the benchmark's own containers.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn remove_cgroups(cgroup: &str) {
    fn remove_tree(dir: &Path) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree(&entry.path());
            }
        }
        let _ = std::fs::remove_dir(dir);
    }
    for dir in cgroup_dirs(cgroup) {
        remove_tree(&dir);
    }
}

/// Unmounts every mount point below `roots`, deepest first.
fn unmount_below(roots: &[PathBuf]) {
    for _ in 0..3 {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut points: Vec<PathBuf> = mountinfo
            .lines()
            .filter_map(|l| l.split_whitespace().nth(4))
            .map(|p| PathBuf::from(p.replace("\\040", " ")))
            .filter(|p| roots.iter().any(|r| p.starts_with(r)))
            .collect();
        if points.is_empty() {
            return;
        }
        points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        for point in points {
            let _ = nix::mount::umount2(&point, nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

fn clock_ticks_per_s() -> u64 {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) as u64 }
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// A field of /proc/<pid>/status in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn write_bytes(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/io"))
        .ok()
        .and_then(|io| {
            io.lines().find_map(|l| {
                l.strip_prefix("write_bytes: ")
                    .and_then(|v| v.trim().parse().ok())
            })
        })
        .unwrap_or(0)
}

fn median(values: &[f64]) -> f64 {
    let mut values = values.to_vec();
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn spread(values: &[f64]) -> (String, String, String) {
    let min = values.iter().cloned().fold(f64::INFINITY, f64::min);
    let max = values.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    (
        format!("{:.1} s", median(values)),
        format!("{min:.1} s"),
        format!("{max:.1} s"),
    )
}

struct Round {
    victim: usize,
    replaced: usize,
    apply_s: f64,
    heal_s: f64,
    stale_stopped_s: f64,
}

/// One round: a fresh Deployment applied and timed, then node `victim` killed and cut off and
/// the replacements timed, then the node brought back and its stale pods timed, then cleared.
fn round(cluster: &mut Cluster, pods: usize, victim: usize) -> Round {
    let started = Instant::now();
    cluster.apply(pods);
    cluster.wait(&format!("{pods} pods Running"), |c| {
        Ok(c.api()
            .pods()?
            .iter()
            .filter(|(_, running)| *running)
            .count()
            == pods)
    });
    let apply_s = started.elapsed().as_secs_f64();

    let dead = node_name(victim);
    let replaced = cluster
        .api()
        .pods()
        .unwrap_or_default()
        .iter()
        .filter(|(node, _)| *node == dead)
        .count();
    let started = Instant::now();
    cluster.agents[victim].kill9();
    cluster.lab().set_link(victim + 1, "down");
    cluster.wait(&format!("{pods} pods Running without {dead}"), |c| {
        let pods_now = c.api().pods()?;
        Ok(pods_now
            .iter()
            .filter(|(node, running)| *running && *node != dead)
            .count()
            == pods)
    });
    let heal_s = started.elapsed().as_secs_f64();

    cluster.lab().set_link(victim + 1, "up");
    let started = Instant::now();
    cluster.start_agent(victim, None);
    let cgroup = cluster.agent_cgroup(victim);
    cluster.wait(&format!("{dead} back with its stale pods stopped"), |c| {
        Ok(c.api().ready_nodes()?.contains(&dead) && c.container_processes(&cgroup) == 0)
    });
    let stale_stopped_s = started.elapsed().as_secs_f64();
    cluster.clear();
    Round {
        victim,
        replaced,
        apply_s,
        heal_s,
        stale_stopped_s,
    }
}

struct Footprint {
    apply_s: f64,
    rss_kib: u64,
    peak_kib: u64,
    cpu_percent: f64,
    written: u64,
}

/// The Deployment at `pods` replicas, settled, then measured without a single API call.
fn footprint(cluster: &Cluster, pods: usize, settle: Duration, idle: Duration) -> Footprint {
    let started = Instant::now();
    cluster.apply(pods);
    cluster.wait(&format!("{pods} pods Running"), |c| {
        Ok(c.api()
            .pods()?
            .iter()
            .filter(|(_, running)| *running)
            .count()
            == pods)
    });
    let apply_s = started.elapsed().as_secs_f64();
    pause(settle);
    let pid = cluster.master_pid();
    let (ticks, written) = (cpu_ticks(pid), write_bytes(pid));
    let started = Instant::now();
    let deadline = started + idle;
    while Instant::now() < deadline {
        pause(Duration::from_millis(250).min(deadline - Instant::now()));
    }
    let seconds = started.elapsed().as_secs_f64();
    let footprint = Footprint {
        apply_s,
        rss_kib: status_kib(pid, "VmRSS:"),
        peak_kib: status_kib(pid, "VmHWM:"),
        cpu_percent: (cpu_ticks(pid) - ticks) as f64 / clock_ticks_per_s() as f64 / seconds * 100.0,
        written: write_bytes(pid) - written,
    };
    // The client's connection may have been closed while idle: retry errors, not answers.
    let listed = (0..5)
        .map(|_| {
            let answer = cluster.api().pods();
            if answer.is_err() {
                pause(Duration::from_secs(1));
            }
            answer
        })
        .find(Result::is_ok)
        .unwrap_or_else(|| cluster.api().pods());
    let running = match listed {
        Ok(listed) => listed.iter().filter(|(_, running)| *running).count(),
        Err(e) => cluster.fail(&format!("listing pods after the idle window: {e}")),
    };
    if running != pods {
        cluster.fail(&format!(
            "{running} of {pods} pods Running after the idle window"
        ));
    }
    footprint
}

fn main() {
    if let Some(why) = missing_prerequisite() {
        eprintln!("{why}");
        std::process::exit(if std::env::var("CI").as_deref() == Ok("true") {
            1
        } else {
            0
        });
    }
    catch_interrupts();
    let plan = plan();
    let mut cluster = Cluster::start();
    let mut rounds = Vec::new();
    for r in 0..plan.rounds {
        let done = round(&mut cluster, plan.pods, r % AGENTS);
        eprintln!(
            "round {}: apply {:.1} s; {} killed, {} pods replaced in {:.1} s; stale pods stopped {:.1} s after its return",
            r + 1,
            done.apply_s,
            node_name(done.victim),
            done.replaced,
            done.heal_s,
            done.stale_stopped_s
        );
        rounds.push(done);
    }
    let footprint = footprint(&cluster, plan.footprint_pods, plan.settle, plan.idle);
    drop(cluster);

    let n = rounds.len();
    let column = |f: fn(&Round) -> f64| spread(&rounds.iter().map(f).collect::<Vec<_>>());
    let replaced = rounds.iter().map(|r| r.replaced).max().unwrap_or(0);
    let idle_s = plan.idle.as_secs();
    let mut rows: Vec<[String; 6]> = vec![[
        "what".into(),
        "median".into(),
        "min".into(),
        "max".into(),
        "goal".into(),
        "reference (defaults)".into(),
    ]];
    let (m, lo, hi) = column(|r| r.apply_s);
    rows.push([
        format!(
            "apply -> {} pods Running on {AGENTS} agents, cached image (n={n})",
            plan.pods
        ),
        m,
        lo,
        hi,
        String::new(),
        String::new(),
    ]);
    let (m, lo, hi) = column(|r| r.heal_s);
    rows.push([
        format!("node death (kill -9 + link down) -> {replaced} replacements Running (n={n})"),
        m,
        lo,
        hi,
        "<= 6 s".into(),
        "k8s/k3s ~5 min 40 s; Nomad ~20 s; Swarm ~15 s".into(),
    ]);
    let (m, lo, hi) = column(|r| r.stale_stopped_s);
    rows.push([
        format!("dead node back (link up, agent restarted) -> its stale pods stopped (n={n})"),
        m,
        lo,
        hi,
        String::new(),
        String::new(),
    ]);
    rows.push([
        format!(
            "apply -> {} pods Running on {AGENTS} agents",
            plan.footprint_pods
        ),
        format!("{:.1} s", footprint.apply_s),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
    ]);
    rows.push([
        format!("master RSS, {AGENTS} agents, {} pods", plan.footprint_pods),
        format!("{:.1} MiB", footprint.rss_kib as f64 / 1024.0),
        String::new(),
        String::new(),
        "<= 24 MiB".into(),
        String::new(),
    ]);
    rows.push([
        "master peak RSS (VmHWM) over the whole run".into(),
        format!("{:.1} MiB", footprint.peak_kib as f64 / 1024.0),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
    ]);
    rows.push([
        format!(
            "master CPU, {AGENTS} agents, {} pods, idle {idle_s} s",
            plan.footprint_pods
        ),
        format!("{:.2} % core", footprint.cpu_percent),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
    ]);
    rows.push([
        format!("master disk writes, idle {idle_s} s, {AGENTS} agents"),
        format!("{} B", footprint.written),
        String::new(),
        String::new(),
        "0".into(),
        String::new(),
    ]);
    let widths: Vec<usize> = (0..6)
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    println!(
        "\nFlotilla cluster heal benchmark ({}, {} run: master + {AGENTS} agents in network namespaces, real containers)",
        std::env::consts::ARCH,
        if plan.full { "full" } else { "smoke" }
    );
    for row in rows {
        println!(
            "  {:<w0$}  {:>w1$}  {:>w2$}  {:>w3$}  {:<w4$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            row[5],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
            w4 = widths[4],
        );
    }
}
