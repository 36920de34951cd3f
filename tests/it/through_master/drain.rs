//! `edgectl drain` on a two-node cluster: a Deployment's pod leaves the drained node (its
//! replacement lands on the other one), the DaemonSet's pod stays, and a pod without a
//! controller blocks a drain until `--force`.
use serde_json::Value;

use super::harness::{all_running, node_of, prerequisites, Cluster, BUSYBOX};
use crate::control::harness::{fails, ok};

fn workloads() -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: {BUSYBOX}
        command: ["sleep", "100000"]
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agentd
spec:
  selector:
    matchLabels: {{app: agentd}}
  template:
    metadata:
      labels: {{app: agentd}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: agentd
        image: {BUSYBOX}
        command: ["sleep", "100000"]
"#
    )
}

fn solo(node: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: solo
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: 1
  containers:
  - name: solo
    image: {BUSYBOX}
    command: ["sleep", "100000"]
"#
    )
}

fn uid(pod: &Value) -> String {
    pod["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn name(pod: &Value) -> String {
    pod["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn drain_moves_a_deployments_pod_away_and_leaves_the_daemon_sets() {
    if !prerequisites() {
        return;
    }
    let cluster = Cluster::start(2);
    cluster.apply(&workloads());
    let nodes: Vec<String> = cluster.agents.iter().map(|a| a.name.clone()).collect();
    let (web, daemons) = cluster
        .wait_for("web and a daemon per node running", 180, |c| {
            let web = c.pods("web-").into_iter().find(all_running)?;
            let daemons = c.pods("agentd-");
            let covered = nodes.iter().all(|n| {
                daemons
                    .iter()
                    .any(|d| node_of(d).as_deref() == Some(n.as_str()) && all_running(d))
            });
            covered.then_some((web, daemons))
        })
        .expect("waited for");
    let drained = node_of(&web).unwrap();
    let other = nodes.iter().find(|n| **n != drained).unwrap().clone();
    let daemon_there = daemons
        .iter()
        .find(|d| node_of(d).as_deref() == Some(drained.as_str()))
        .unwrap();

    let output = cluster.edgectl(&["drain", &drained]);
    let stdout = ok(output.clone());
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    println!("{stdout}{stderr}");
    let web_name = name(&web);
    assert_eq!(
        stdout,
        format!(
            "node/{drained} cordoned\nevicting pod default/{web_name}\npod/{web_name} evicted\nnode/{drained} drained\n"
        )
    );
    assert!(
        stderr.contains(&format!(
            "Warning: ignoring DaemonSet-managed Pods: default/{}",
            name(daemon_there)
        )),
        "{stderr}"
    );

    // The replacement runs on the other node; the daemon on the drained node is untouched.
    cluster.wait_for("the replacement running on the other node", 120, |c| {
        c.pods("web-").iter().any(|p| {
            name(p) != web_name && node_of(p).as_deref() == Some(other.as_str()) && all_running(p)
        })
    });
    let still = cluster.pods("agentd-");
    assert!(
        still.iter().any(|d| uid(d) == uid(daemon_there)),
        "the DaemonSet pod on the drained node was evicted:\n{}",
        cluster.state()
    );
    let node: Value = serde_json::from_str(&ok(
        cluster.edgectl(&["get", "node", &drained, "-o", "json"])
    ))
    .unwrap();
    assert_eq!(node["spec"]["unschedulable"], true);

    // A pod without a controller blocks a drain (nothing is evicted) until --force.
    cluster.apply(&solo(&other));
    cluster.wait_for("solo running", 120, |c| {
        c.pods("solo").first().is_some_and(all_running)
    });
    let before: Vec<String> = cluster.list("pods").iter().map(uid).collect();
    let stderr = fails(cluster.edgectl(&["drain", &other]));
    assert!(
        stderr.contains(
            "cannot delete Pods that declare no controller (use --force to override): default/solo"
        ),
        "{stderr}"
    );
    let after: Vec<String> = cluster.list("pods").iter().map(uid).collect();
    assert_eq!(before, after, "a refused drain evicted pods");
    let stdout = ok(cluster.edgectl(&["drain", &other, "--force", "--timeout", "60s"]));
    assert!(stdout.contains("pod/solo evicted"), "{stdout}");
    assert!(
        stdout.ends_with(&format!("node/{other} drained\n")),
        "{stdout}"
    );
    // With both nodes cordoned, the Deployment's pod waits as Pending.
    cluster.wait_for("web Pending with nowhere to go", 60, |c| {
        let web = c.pods("web-");
        web.len() == 1 && node_of(&web[0]).is_none()
    });
    assert!(cluster.pods("solo").is_empty());
    assert_eq!(cluster.pods("agentd-").len(), 2);
}
