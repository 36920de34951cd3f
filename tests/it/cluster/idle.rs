//! The SD-card rule on a real cluster: heartbeats and pod status live in the master's memory,
//! and agents write their local copy only when it changes, so a master with three agents and
//! their pods writes nothing to disk while nothing changes, and neither do the agents.
use std::time::Duration;

use super::harness::{agent_write_bytes, nginx_deployment, write_bytes, Cluster};

/// The idle period watched (the minute).
const IDLE_PERIOD: Duration = Duration::from_secs(60);

#[test]
fn an_idle_master_with_three_agents_writes_nothing_to_disk_and_neither_do_the_agents() {
    let Some(mut cluster) = Cluster::start(3) else {
        return;
    };
    cluster.apply("nginx.yaml", &nginx_deployment(6));
    cluster.wait_for_replicas(6);
    // Idle starts when nothing changes any more: the pods' new statuses are persisted (batched,
    // once a second) and the controllers have written the deployment's status from them.
    cluster.wait_for_rollout("nginx-deployment", 6);
    let master = cluster.master_pid();
    let agents: Vec<(String, i32)> = cluster
        .agents
        .iter()
        .map(|a| (a.name.clone(), a.pid()))
        .collect();
    let before = write_bytes(master);
    assert!(
        before > 0,
        "write_bytes of the master is 0 although it stored a deployment: this file system \
         does not account writes (tmpfs?); run the tests with TMPDIR on a disk"
    );
    let agents_before: Vec<u64> = agents
        .iter()
        .map(|(_, pid)| agent_write_bytes(*pid))
        .collect();
    std::thread::sleep(IDLE_PERIOD);
    let written = write_bytes(master) - before;
    let agents_written: Vec<(String, u64)> = agents
        .iter()
        .zip(agents_before)
        .map(|((name, pid), before)| (name.clone(), agent_write_bytes(*pid) - before))
        .collect();
    // The cluster was alive all along: the nodes are still Ready, the pods still running.
    assert_eq!(cluster.ready_nodes().len(), 3);
    cluster.wait_for_replicas(6);
    assert_eq!(
        written,
        0,
        "the idle master wrote {written} bytes in {} s",
        IDLE_PERIOD.as_secs()
    );
    assert!(
        agents_written.iter().all(|(_, bytes)| *bytes == 0),
        "idle agents wrote (bytes in {} s): {agents_written:?}",
        IDLE_PERIOD.as_secs()
    );
}
