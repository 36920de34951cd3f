//! A rolling update behind a hostPort: while a Deployment's two replicas are replaced one by one
//! (maxSurge 1, maxUnavailable 0, readiness probes), a client outside the agents asks every
//! node's hostPort in rounds, and in every round some replica answers.
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::harness::{Cluster, IMAGE};

const HOST_PORT: u16 = 8080;
/// Pause between the client's rounds.
const ROUND_PAUSE: Duration = Duration::from_millis(100);

/// The Deployment, serving `version` as its page on every node it runs on.
fn web(version: &str) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 0
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: {IMAGE}
        command:
        - sh
        - -c
        - "trap 'kill $child; exit 0' TERM; echo {version} > /tmp/index.html; httpd -f -p 8080 -h /tmp & child=$!; wait"
        ports:
        - containerPort: 8080
          hostPort: {HOST_PORT}
        readinessProbe:
          httpGet:
            path: /
            port: 8080
          periodSeconds: 1
"#
    )
}

/// What the client saw: one entry per round, the versions that answered (empty: nobody did,
/// with why per node).
#[derive(Default)]
struct Seen {
    rounds: Vec<Result<Vec<String>, Vec<String>>>,
}

impl Seen {
    /// Whether the last round was answered by exactly `count` nodes, all serving `version`.
    fn last_round_is(&self, count: usize, version: &str) -> bool {
        matches!(self.rounds.last(), Some(Ok(v)) if v.len() == count && v.iter().all(|x| x == version))
    }
}

#[test]
fn a_rolling_update_behind_a_host_port_always_leaves_a_replica_answering() {
    let Some(mut cluster) = Cluster::start(3) else {
        return;
    };
    cluster.apply("web.yaml", &web("v1"));
    cluster.wait_for_rollout("web", 2);

    let targets: Vec<SocketAddr> = cluster
        .agents
        .iter()
        .map(|a| SocketAddr::from((cluster.lab.nodes[a.node].address, HOST_PORT)))
        .collect();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let stop = Arc::new(AtomicBool::new(false));
    // The client lives in lab node 0 (the master's): outside every agent.
    let client = {
        let (seen, stop) = (seen.clone(), stop.clone());
        cluster.lab.spawn_within(0, move || {
            while !stop.load(Ordering::SeqCst) {
                let mut versions = Vec::new();
                let mut errors = Vec::new();
                for target in &targets {
                    match super::http::get(*target, "/") {
                        Ok(body) => versions.push(body.trim().to_string()),
                        Err(e) => errors.push(format!("{target}: {e}")),
                    }
                }
                let round = if versions.is_empty() {
                    Err(errors)
                } else {
                    Ok(versions)
                };
                seen.lock().unwrap().rounds.push(round);
                std::thread::sleep(ROUND_PAUSE);
            }
        })
    };
    cluster.wait_for("the client to get v1 from both replicas", |_| {
        seen.lock().unwrap().last_round_is(2, "v1").then_some(())
    });

    cluster.apply("web.yaml", &web("v2"));
    cluster.wait_for_rollout("web", 2);
    cluster.wait_for("the client to get v2 from both replicas", |_| {
        seen.lock().unwrap().last_round_is(2, "v2").then_some(())
    });
    stop.store(true, Ordering::SeqCst);
    client.join().expect("the client panicked");

    let seen = seen.lock().unwrap();
    let unanswered: Vec<_> = seen
        .rounds
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.as_ref().err().map(|e| (i, e)))
        .collect();
    assert!(
        unanswered.is_empty(),
        "{} of {} rounds had no replica answering: {unanswered:?}",
        unanswered.len(),
        seen.rounds.len()
    );
    let mixed = seen.rounds.iter().any(|r| {
        r.as_ref()
            .is_ok_and(|v| v.iter().any(|x| x == "v1") && v.iter().any(|x| x == "v2"))
    });
    eprintln!(
        "rolling update: {} rounds, all answered; old and new served side by side: {mixed}",
        seen.rounds.len()
    );
    assert_eq!(
        cluster.running_pods().len(),
        2,
        "{:?}",
        cluster.running_pods()
    );
}
