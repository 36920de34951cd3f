//! The agent protocol end to end over real TLS on 127.0.0.1: a node service with an in-memory
//! store and a real CA serves `master::nodes::http`; agents join with `HttpsJoinLink` and run
//! `agent::sync::run` against a recording pod runtime.
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flotilla::agent::sync::https::{HttpsJoinLink, HttpsLink, MasterAddress};
use flotilla::agent::sync::join::{join, JoinError};
use flotilla::agent::sync::node_info::NodeInfoConfig;
use flotilla::agent::sync::{
    self, DesiredPods, LinkError, MasterLink, NodeIdentity, PodRuntime, SyncConfig,
};
use flotilla::master::nodes::memory::MemoryBackend;
use flotilla::master::nodes::serve::serve;
use flotilla::master::nodes::{NodeBackend, NodesConfig, NodesService};
use flotilla::pki::{self, ClientAuth, JoinToken};
use flotilla::store::{EventType, WatchEvent};
use flotilla::wire::{
    ConditionStatus, Epoch, Heartbeat, NodeName, PodCondition, PodConditionKind, PodPhase, PodRef,
    PodStatusReport, RefusalReason,
};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;

const TOKEN_ID: &str = "abc123";
const TOKEN_SECRET: &str = "0123456789abcdef";

/// Longest any test waits for something to happen; reaching it fails the test.
const PATIENCE: Duration = Duration::from_secs(20);

/// A pod runtime that records what it is told and reports the statuses a test gives it.
#[derive(Default)]
struct RecordingRuntime {
    desired: Mutex<Vec<DesiredPods>>,
    statuses: Mutex<Vec<PodStatusReport>>,
    changes: Mutex<Option<watch::Sender<u64>>>,
}

impl RecordingRuntime {
    fn calls(&self) -> Vec<DesiredPods> {
        self.desired.lock().unwrap().clone()
    }

    fn set_statuses(&self, statuses: Vec<PodStatusReport>) {
        *self.statuses.lock().unwrap() = statuses;
        if let Some(tx) = self.changes.lock().unwrap().as_ref() {
            tx.send_modify(|n| *n += 1);
        }
    }
}

impl PodRuntime for RecordingRuntime {
    fn set_desired(&self, desired: DesiredPods) {
        self.desired.lock().unwrap().push(desired);
    }
    fn statuses(&self) -> Vec<PodStatusReport> {
        self.statuses.lock().unwrap().clone()
    }
    fn status_changes(&self) -> watch::Receiver<u64> {
        let mut slot = self.changes.lock().unwrap();
        slot.get_or_insert_with(|| watch::channel(0).0).subscribe()
    }
}

/// An in-process master: the node service over its own TLS listener.
struct Master {
    backend: Arc<MemoryBackend>,
    service: Arc<NodesService<Arc<MemoryBackend>>>,
    address: MasterAddress,
    stop: watch::Sender<bool>,
}

impl Master {
    async fn start(backend: Arc<MemoryBackend>, epoch: Epoch, port: u16) -> Master {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let tls = backend
            .pki
            .server_config_with(ClientAuth::Optional)
            .unwrap();
        let service = NodesService::start(
            backend.clone(),
            NodesConfig::default(),
            epoch,
            Instant::now(),
        )
        .unwrap();
        let (stop, shutdown) = watch::channel(false);
        tokio::spawn(serve(listener, tls, service.clone(), shutdown.clone()));
        tokio::spawn(service.clone().run(shutdown));
        Master {
            backend,
            service,
            address: format!("https://127.0.0.1:{port}").parse().unwrap(),
            stop,
        }
    }

    fn token(&self) -> JoinToken {
        let pin = self.backend.pki.ca_pin();
        format!("EDGE1.{pin}.{TOKEN_ID}.{TOKEN_SECRET}")
            .parse()
            .unwrap()
    }

    fn add_pod(&self, name: &str, node: &str) {
        let pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"),
                         "generation": 1},
            "spec": {"nodeName": node, "containers": [{"name": "web", "image": "busybox"}]}
        });
        self.backend.put_pod(pod.clone());
        self.service.on_store_event(&WatchEvent {
            event_type: EventType::Added,
            object: pod,
            revision: 1,
        });
    }

    fn stop(self) -> Arc<MemoryBackend> {
        self.stop.send_replace(true);
        self.backend
    }
}

fn new_backend() -> Arc<MemoryBackend> {
    let backend = Arc::new(MemoryBackend::ephemeral().unwrap());
    backend.add_token(TOKEN_ID, TOKEN_SECRET, Duration::from_secs(3600));
    backend
}

fn name(n: &str) -> NodeName {
    NodeName::new(n).unwrap()
}

fn info(node: &NodeName, dir: &Path) -> NodeInfoConfig {
    NodeInfoConfig {
        node: node.clone(),
        labels: vec![],
        taints: vec![],
        data_dir: dir.to_path_buf(),
        master_host: Some("127.0.0.1".into()),
        agent_version: "test".into(),
    }
}

fn fast(dir: &Path) -> SyncConfig {
    let mut config = SyncConfig::new(dir.to_path_buf());
    config.heartbeat_interval = Duration::from_millis(100);
    config.long_poll_wait = Duration::from_secs(2);
    config.status_check_interval = Duration::from_millis(200);
    config
}

/// A running agent sync loop.
struct Agent {
    runtime: Arc<RecordingRuntime>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Agent {
    fn start(identity: NodeIdentity, dir: &Path, config: SyncConfig) -> Agent {
        let runtime = Arc::new(RecordingRuntime::default());
        let link = Arc::new(HttpsLink::new(
            identity.master.parse().unwrap(),
            pki::client_config(&identity.ca_pem, &identity.cert_pem, &identity.key_pem).unwrap(),
        ));
        let (stop, shutdown) = watch::channel(false);
        let info = info(&identity.node, dir);
        let task = tokio::spawn({
            let runtime = runtime.clone();
            async move {
                sync::run(link, runtime, identity, info, config, shutdown)
                    .await
                    .unwrap();
            }
        });
        Agent {
            runtime,
            stop,
            task,
        }
    }

    async fn stop(self) {
        self.stop.send_replace(true);
        self.task.await.unwrap();
    }
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !check() {
        assert!(Instant::now() < deadline, "gave up waiting: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn join_node(master: &Master, node: &NodeName, dir: &Path) -> NodeIdentity {
    join(
        &HttpsJoinLink::new(master.address.clone()),
        &master.address.url,
        &master.token(),
        node.clone(),
        dir,
    )
    .await
    .unwrap()
}

fn running(node: &NodeName, pod: &str) -> PodStatusReport {
    let mut conditions = heapless::Vec::new();
    conditions
        .push(PodCondition {
            kind: PodConditionKind::Ready,
            status: ConditionStatus::True,
            reason: None,
            message: None,
            last_transition_unix_s: 1_700_000_000,
        })
        .unwrap();
    let mut pod_ips = heapless::Vec::new();
    pod_ips.push("10.88.0.2".parse().unwrap()).unwrap();
    PodStatusReport {
        node: node.clone(),
        pod: PodRef::new("default", pod, format!("uid-{pod}")).unwrap(),
        phase: PodPhase::Running,
        conditions,
        init_container_statuses: vec![],
        container_statuses: vec![],
        pod_ips,
        host_ip: None,
        start_time_unix_s: Some(1_700_000_000),
        reason: None,
        message: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_joins_over_mtls_runs_its_assignments_and_reports_their_status() {
    let master = Master::start(new_backend(), Epoch(1), 0).await;
    let dir = tempfile::tempdir().unwrap();
    let node = name("pi-1");
    let identity = join_node(&master, &node, dir.path()).await;
    assert_eq!(identity.pod_cidr.to_string(), "10.88.0.0/24");
    let agent = Agent::start(identity, dir.path(), fast(dir.path()));

    eventually("the node's status reaches the Node object", || {
        master
            .backend
            .get_node(&node)
            .unwrap()
            .is_some_and(|n| n["status"]["nodeInfo"]["kubeletVersion"] == "test")
    })
    .await;
    master.add_pod("web-1", "pi-1");
    eventually("the pod reaches the runtime", || {
        agent
            .runtime
            .calls()
            .last()
            .is_some_and(|d| d.pods.len() == 1)
    })
    .await;
    agent.runtime.set_statuses(vec![running(&node, "web-1")]);
    eventually("the master shows the pod Running", || {
        let mut pod =
            master.backend.pods.lock().unwrap()[&("default".into(), "web-1".into())].clone();
        master.service.overlay_pod(&mut pod);
        pod["status"]["phase"] == "Running" && pod["status"]["podIP"] == "10.88.0.2"
    })
    .await;
    agent.stop().await;
    master.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_with_another_pin_is_refused_before_the_secret_is_sent() {
    let master = Master::start(new_backend(), Epoch(1), 0).await;
    let dir = tempfile::tempdir().unwrap();
    let other_pin = "0".repeat(64);
    let token: JoinToken = format!("EDGE1.{other_pin}.{TOKEN_ID}.{TOKEN_SECRET}")
        .parse()
        .unwrap();
    let err = join(
        &HttpsJoinLink::new(master.address.clone()),
        &master.address.url,
        &token,
        name("pi-1"),
        dir.path(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, JoinError::PinMismatch { .. }), "{err}");
    assert_eq!(master.backend.tokens.lock().unwrap()[TOKEN_ID].uses, 0);
    master.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_node_itself_may_heartbeat_for_its_name() {
    let master = Master::start(new_backend(), Epoch(1), 0).await;
    let dir1 = tempfile::tempdir().unwrap();
    let dir2 = tempfile::tempdir().unwrap();
    join_node(&master, &name("pi-1"), dir1.path()).await;
    let pi2 = join_node(&master, &name("pi-2"), dir2.path()).await;

    let as_pi2 = HttpsLink::new(
        master.address.clone(),
        pki::client_config(&pi2.ca_pem, &pi2.cert_pem, &pi2.key_pem).unwrap(),
    );
    let err = as_pi2
        .heartbeat(Heartbeat::idle(name("pi-1"), Epoch(1), 1))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, LinkError::Refused(r) if r.reason == RefusalReason::Forbidden),
        "{err}"
    );

    let anonymous = HttpsLink::new(
        master.address.clone(),
        pki::client_config_ca_only(master.backend.pki.ca_pem()).unwrap(),
    );
    let err = anonymous
        .heartbeat(Heartbeat::idle(name("pi-1"), Epoch(1), 1))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, LinkError::Refused(r) if r.message.contains("without a certificate")),
        "{err}"
    );
    master.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_agent_cannot_take_a_joined_name() {
    let master = Master::start(new_backend(), Epoch(1), 0).await;
    let dir1 = tempfile::tempdir().unwrap();
    let dir2 = tempfile::tempdir().unwrap();
    join_node(&master, &name("pi-1"), dir1.path()).await;
    let err = join(
        &HttpsJoinLink::new(master.address.clone()),
        &master.address.url,
        &master.token(),
        name("pi-1"),
        dir2.path(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, JoinError::NameTaken(_)), "{err}");
    master.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_started_without_a_master_runs_its_pods_from_the_local_copy() {
    let master = Master::start(new_backend(), Epoch(1), 0).await;
    let dir = tempfile::tempdir().unwrap();
    let node = name("pi-1");
    let identity = join_node(&master, &node, dir.path()).await;
    master.add_pod("web-1", "pi-1");
    let agent = Agent::start(identity.clone(), dir.path(), fast(dir.path()));
    eventually("the pod reaches the runtime", || {
        agent
            .runtime
            .calls()
            .last()
            .is_some_and(|d| d.pods.len() == 1)
    })
    .await;
    agent.stop().await;
    master.stop();

    // "Reboot": a new agent, the master gone.
    let rebooted = Agent::start(identity, dir.path(), fast(dir.path()));
    eventually("the rebooted agent starts the pod from its copy", || {
        rebooted
            .runtime
            .calls()
            .first()
            .is_some_and(|d| d.pods.len() == 1)
    })
    .await;
    rebooted.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_master_changes_nothing_on_the_agent_and_idle_writes_nothing() {
    let master = Master::start(new_backend(), Epoch(1), 0).await;
    let port = master.address.port;
    let dir = tempfile::tempdir().unwrap();
    let node = name("pi-1");
    let identity = join_node(&master, &node, dir.path()).await;
    master.add_pod("web-1", "pi-1");
    let agent = Agent::start(identity, dir.path(), fast(dir.path()));
    agent.runtime.set_statuses(vec![running(&node, "web-1")]);
    eventually(
        "the pod reaches the runtime and its status the master",
        || {
            agent.runtime.calls().len() == 1
                && master.backend.pods.lock().unwrap()[&("default".into(), "web-1".into())]
                    ["status"]["phase"]
                    == "Running"
        },
    )
    .await;

    // The node's first full status (from the heartbeat loop, not ordered with the pod status
    // above) is one write more: wait until half a second passes without a write. Heartbeats
    // that wrote would never let this settle.
    let deadline = Instant::now() + PATIENCE;
    let mut writes = master.backend.writes();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = master.backend.writes();
        if now == writes {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the master's writes never settled"
        );
        writes = now;
    }
    // Idle: a second of heartbeats (10 at this test's pace) writes nothing at the master.
    let writes = master.backend.writes();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        master.backend.writes(),
        writes,
        "idle heartbeats wrote to the store"
    );

    let copy = dir.path().join(sync::local_copy::ASSIGNMENTS_FILE);
    let copy_written = std::fs::metadata(&copy).unwrap().modified().unwrap();
    let backend = master.stop();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let writes = backend.writes();
    let restarted = Master::start(backend, Epoch(2), port).await;
    eventually("the agent follows the new epoch", || {
        std::fs::read_to_string(dir.path().join(sync::fence::EPOCH_FILE))
            .is_ok_and(|e| e.trim() == "2")
    })
    .await;
    eventually("the agent resynced its node status", || {
        restarted.service.has_status(&node)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(agent.runtime.calls().len(), 1, "the runtime was told again");
    assert_eq!(
        std::fs::metadata(&copy).unwrap().modified().unwrap(),
        copy_written,
        "the local copy was rewritten"
    );
    assert_eq!(
        restarted.backend.writes(),
        writes,
        "the restart rewrote unchanged state"
    );
    assert_eq!(restarted.backend.pods.lock().unwrap().len(), 1);
    agent.stop().await;
    restarted.stop();
}
