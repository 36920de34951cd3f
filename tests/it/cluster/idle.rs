//! The SD-card rule on a real cluster: heartbeats and pod status live in the master's memory,
//! so a master with three agents and their pods writes nothing to disk while nothing changes.
use std::time::Duration;

use super::harness::{nginx_deployment, write_bytes, Cluster};

/// The idle period watched (the minute).
const IDLE_PERIOD: Duration = Duration::from_secs(60);

#[test]
fn an_idle_master_with_three_agents_writes_nothing_to_disk() {
    let Some(mut cluster) = Cluster::start(3) else {
        return;
    };
    cluster.apply("nginx.yaml", &nginx_deployment(6));
    cluster.wait_for_replicas(6);
    // Idle starts when nothing changes any more: the pods' new statuses are persisted (batched,
    // once a second) and the controllers have written the deployment's status from them.
    cluster.wait_for_rollout("nginx-deployment", 6);
    let pid = cluster.master_pid();
    let before = write_bytes(pid);
    assert!(
        before > 0,
        "write_bytes of the master is 0 although it stored a deployment: this file system \
         does not account writes (tmpfs?); run the tests with TMPDIR on a disk"
    );
    std::thread::sleep(IDLE_PERIOD);
    let after = write_bytes(pid);
    // The cluster was alive all along: the nodes are still Ready, the pods still running.
    assert_eq!(cluster.ready_nodes().len(), 3);
    cluster.wait_for_replicas(6);
    assert_eq!(
        after - before,
        0,
        "the idle master wrote {} bytes in {} s",
        after - before,
        IDLE_PERIOD.as_secs()
    );
}
