//! Cluster load benchmark: N simulated agents speaking the real agent protocol (join over
//! pinned TLS, then `agent::sync::run` with heartbeats every second, the assignments long-poll
//! and pod status reports, all over mTLS) from this process, against a master in a child
//! process, whose CPU and memory are measured from /proc.
//!
//! `cargo bench --bench cluster_load -- [--agents 500] [--pods-per-agent 0] [--seconds 30]`
//!
//! The master child runs the node service (`master::nodes`) with the in-memory backend and the
//! real PKI; the figures cover the agent protocol, not the API server or the redb store.
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flotilla::agent::sync::https::{HttpsJoinLink, HttpsLink, MasterAddress};
use flotilla::agent::sync::join::join;
use flotilla::agent::sync::node_info::NodeInfoConfig;
use flotilla::agent::sync::{
    self, DesiredPods, LinkError, MasterLink, NodeIdentity, PodRuntime, PollAnswer, SyncConfig,
};
use flotilla::master::nodes::memory::MemoryBackend;
use flotilla::master::nodes::serve::serve;
use flotilla::master::nodes::{NodesConfig, NodesService};
use flotilla::pki::{self, ClientAuth, JoinToken};
use flotilla::wire::{
    self, ConditionStatus, Epoch, Generation, Heartbeat, HeartbeatAck, JoinResponse, Message,
    NodeName, PodCondition, PodConditionKind, PodPhase, PodRef, PodStatusReport, RenewRequest,
    StatusAck,
};
use serde_json::json;
use tokio::sync::{watch, Semaphore};

const ROLE_ENV: &str = "FLOTILLA_BENCH_MASTER";
const TOKEN_ID: &str = "bench0";
const TOKEN_SECRET: &str = "0123456789abcdef";
/// Joins in flight at once (each makes a key and two TLS connections).
const JOINS_IN_FLIGHT_MAX: usize = 16;
/// Time given to the agents to settle (first full status, assignments, pod statuses).
const WARM_UP: Duration = Duration::from_secs(10);
/// Agents start spread over this time, as real nodes are never in phase.
const START_SPREAD: Duration = Duration::from_secs(2);

struct Args {
    agents: usize,
    pods_per_agent: usize,
    seconds: u64,
}

fn args() -> Args {
    let mut args = Args {
        agents: 500,
        pods_per_agent: 0,
        seconds: 30,
    };
    let words: Vec<String> = std::env::args().collect();
    let value = |i: usize| -> u64 {
        words
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{} needs a number", words[i]))
    };
    for (i, word) in words.iter().enumerate() {
        match word.as_str() {
            "--agents" => args.agents = value(i) as usize,
            "--pods-per-agent" => args.pods_per_agent = value(i) as usize,
            "--seconds" => args.seconds = value(i),
            _ => {}
        }
    }
    args
}

fn raise_open_files_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain getrlimit/setrlimit on a properly initialised struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

fn node_name(i: usize) -> NodeName {
    NodeName::new(format!("sim-{i}")).unwrap()
}

/// The master child: node service, in-memory backend, real PKI, TLS on 127.0.0.1. Prints
/// `READY <port> <pin>`, answers `stats` with `STATS <writes>`, exits when stdin closes.
fn run_master() {
    raise_open_files_limit();
    let args = args();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let backend = Arc::new(MemoryBackend::ephemeral().unwrap());
        backend.add_token(TOKEN_ID, TOKEN_SECRET, Duration::from_secs(3600));
        for i in 0..args.agents {
            for k in 0..args.pods_per_agent {
                backend.put_pod(json!({
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": format!("p-{i}-{k}"), "namespace": "default",
                                 "uid": format!("uid-{i}-{k}"), "generation": 1},
                    "spec": {"nodeName": format!("sim-{i}"),
                             "containers": [{"name": "web", "image": "busybox"}]}
                }));
            }
        }
        // The default 10.88.0.0/16 holds 256 nodes; the simulation may have more.
        let config = NodesConfig {
            cluster_cidr: "10.64.0.0/12".parse().unwrap(),
            ..NodesConfig::default()
        };
        let service =
            NodesService::start(backend.clone(), config, Epoch(1), Instant::now()).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let tls = backend
            .pki
            .server_config_with(ClientAuth::Optional)
            .unwrap();
        let (_stop, shutdown) = watch::channel(false);
        tokio::spawn(serve(listener, tls, service.clone(), shutdown.clone()));
        tokio::spawn(service.clone().run(shutdown));
        println!("READY {port} {}", backend.pki.ca_pin());
        let stdin = tokio::task::spawn_blocking(move || {
            for line in std::io::stdin().lines() {
                match line.as_deref() {
                    Ok("stats") => println!("STATS {}", backend.writes()),
                    _ => break,
                }
            }
        });
        let _ = stdin.await;
    });
}

/// Counts heartbeat outcomes around the real link.
struct Counting {
    inner: HttpsLink,
    acked: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
}

impl MasterLink for Counting {
    async fn heartbeat(&self, heartbeat: Heartbeat) -> Result<HeartbeatAck, LinkError> {
        let result = self.inner.heartbeat(heartbeat).await;
        match &result {
            Ok(_) => self.acked.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.failed.fetch_add(1, Ordering::Relaxed),
        };
        result
    }
    async fn assignments(
        &self,
        node: &NodeName,
        after: Generation,
        epoch_seen: Epoch,
        wait: Duration,
    ) -> Result<PollAnswer, LinkError> {
        self.inner.assignments(node, after, epoch_seen, wait).await
    }
    async fn pod_status(&self, report: PodStatusReport) -> Result<StatusAck, LinkError> {
        self.inner.pod_status(report).await
    }
    async fn renew(&self, request: RenewRequest) -> Result<JoinResponse, LinkError> {
        self.inner.renew(request).await
    }
    fn reload(&self, identity: &NodeIdentity) -> Result<(), LinkError> {
        self.inner.reload(identity)
    }
}

/// A runtime that "runs" whatever it is given: every assigned pod reports Running, Ready.
struct InstantRuntime {
    node: NodeName,
    statuses: std::sync::Mutex<Vec<PodStatusReport>>,
    changes: watch::Sender<u64>,
}

impl PodRuntime for InstantRuntime {
    fn set_desired(&self, desired: DesiredPods) {
        let reports = desired
            .pods
            .iter()
            .filter_map(|p| p.to_value().ok())
            .filter_map(|p| {
                let meta = &p["metadata"];
                PodRef::new(
                    meta["namespace"].as_str()?,
                    meta["name"].as_str()?,
                    meta["uid"].as_str()?,
                )
                .ok()
            })
            .map(|pod| {
                let mut conditions = heapless::Vec::new();
                let _ = conditions.push(PodCondition {
                    kind: PodConditionKind::Ready,
                    status: ConditionStatus::True,
                    reason: None,
                    message: None,
                    last_transition_unix_s: 1_700_000_000,
                });
                PodStatusReport {
                    node: self.node.clone(),
                    pod,
                    phase: PodPhase::Running,
                    conditions,
                    init_container_statuses: vec![],
                    container_statuses: vec![],
                    pod_ips: heapless::Vec::new(),
                    host_ip: None,
                    start_time_unix_s: Some(1_700_000_000),
                    reason: None,
                    message: None,
                }
            })
            .collect();
        *self.statuses.lock().unwrap() = reports;
        self.changes.send_modify(|n| *n += 1);
    }
    fn statuses(&self) -> Vec<PodStatusReport> {
        self.statuses.lock().unwrap().clone()
    }
    fn status_changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
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
    // After the command name: state is field 3, utime 14 and stime 15 (1-based in proc(5)).
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// (VmRSS, VmHWM) in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn main() {
    if std::env::var_os(ROLE_ENV).is_some() {
        run_master();
        return;
    }
    raise_open_files_limit();
    let args = args();
    let mut master = Command::new(std::env::current_exe().unwrap())
        .args(std::env::args().skip(1))
        .env(ROLE_ENV, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the master child");
    let pid = master.id();
    let mut lines = BufReader::new(master.stdout.take().unwrap()).lines();
    let ready = lines.next().expect("master exited").unwrap();
    let mut words = ready.split_whitespace().skip(1);
    let port: u16 = words.next().unwrap().parse().unwrap();
    let pin = words.next().unwrap().to_string();
    let address: MasterAddress = format!("https://127.0.0.1:{port}").parse().unwrap();
    let token: JoinToken = format!("EDGE1.{pin}.{TOKEN_ID}.{TOKEN_SECRET}")
        .parse()
        .unwrap();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let data = tempfile::tempdir().unwrap();
    let (acked, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (_stop, shutdown) = watch::channel(false);
    let joined_in = runtime.block_on(async {
        let started = Instant::now();
        let gate = Arc::new(Semaphore::new(JOINS_IN_FLIGHT_MAX));
        let mut joins = Vec::new();
        for i in 0..args.agents {
            let (gate, address, token) = (gate.clone(), address.clone(), token.clone());
            let dir = data.path().join(format!("sim-{i}"));
            joins.push(tokio::spawn(async move {
                let _permit = gate.acquire().await.unwrap();
                let identity = join(
                    &HttpsJoinLink::new(address.clone()),
                    &address.url,
                    &token,
                    node_name(i),
                    &dir,
                )
                .await
                .unwrap_or_else(|e| panic!("sim-{i} could not join: {e}"));
                (identity, dir)
            }));
        }
        let mut identities = Vec::new();
        for j in joins {
            identities.push(j.await.unwrap());
        }
        let joined_in = started.elapsed();
        let agents = identities.len().max(1) as u32;
        for (i, (identity, dir)) in identities.into_iter().enumerate() {
            let delay = START_SPREAD * i as u32 / agents;
            let link = Arc::new(Counting {
                inner: HttpsLink::new(
                    address.clone(),
                    pki::client_config(&identity.ca_pem, &identity.cert_pem, &identity.key_pem)
                        .unwrap(),
                ),
                acked: acked.clone(),
                failed: failed.clone(),
            });
            let pod_runtime = Arc::new(InstantRuntime {
                node: identity.node.clone(),
                statuses: Default::default(),
                changes: watch::channel(0).0,
            });
            let info = NodeInfoConfig {
                node: identity.node.clone(),
                labels: vec![],
                taints: vec![],
                data_dir: dir.clone(),
                master_host: Some("127.0.0.1".into()),
                agent_version: "bench".into(),
            };
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let _ = sync::run(
                    link,
                    pod_runtime,
                    identity,
                    info,
                    SyncConfig::new(dir),
                    shutdown,
                )
                .await;
            });
        }
        joined_in
    });

    runtime.block_on(async { tokio::time::sleep(WARM_UP).await });
    let mut stdin = master.stdin.take().unwrap();
    let (acked0, failed0) = (
        acked.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
    );
    let ticks0 = cpu_ticks(pid);
    let own_ticks0 = cpu_ticks(std::process::id());
    let started = Instant::now();
    writeln!(stdin, "stats").unwrap();
    let writes0: u64 = lines.next().unwrap().unwrap()[6..].parse().unwrap();
    runtime.block_on(async { tokio::time::sleep(Duration::from_secs(args.seconds)).await });
    let elapsed = started.elapsed().as_secs_f64();
    let ticks = cpu_ticks(pid) - ticks0;
    let own_ticks = cpu_ticks(std::process::id()) - own_ticks0;
    let (rss, hwm) = memory_kib(pid);
    writeln!(stdin, "stats").unwrap();
    let writes1: u64 = lines.next().unwrap().unwrap()[6..].parse().unwrap();
    let (acked1, failed1) = (
        acked.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
    );
    drop(stdin);
    let _ = master.wait();

    let idle = wire::encode(&Message::from(Heartbeat::idle(
        node_name(0),
        Epoch(1),
        86_400,
    )))
    .unwrap()
    .len();
    let percent = |ticks: u64| ticks as f64 / clock_ticks_per_s() as f64 / elapsed * 100.0;
    println!();
    println!(
        "cluster load: {} agents x {} pods, {:.0} s measured after {} s warm-up",
        args.agents,
        args.pods_per_agent,
        elapsed,
        WARM_UP.as_secs()
    );
    println!("{:<24}{:>14}", "what", "figure");
    println!("{:<24}{:>14.1}", "joins (s)", joined_in.as_secs_f64());
    println!(
        "{:<24}{:>14.1}",
        "heartbeats acked (/s)",
        (acked1 - acked0) as f64 / elapsed
    );
    println!("{:<24}{:>14}", "heartbeats failed", failed1 - failed0);
    println!("{:<24}{:>14.1}", "master CPU (% core)", percent(ticks));
    println!("{:<24}{:>14.1}", "master RSS (MiB)", rss as f64 / 1024.0);
    println!(
        "{:<24}{:>14.1}",
        "master peak RSS (MiB)",
        hwm as f64 / 1024.0
    );
    println!("{:<24}{:>14}", "master writes (idle)", writes1 - writes0);
    println!("{:<24}{:>14}", "idle heartbeat (bytes)", idle);
    println!(
        "{:<24}{:>14.1}",
        "generator CPU (% core)",
        percent(own_ticks)
    );
    runtime.shutdown_timeout(Duration::from_secs(1));
}
