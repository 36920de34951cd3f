//! Master loss: agents keep their pods running while the master is down, and a restarted
//! master recovers from its store and the agents' reports without touching a pod.
use std::time::{Duration, Instant};

use super::harness::{nginx_deployment, Cluster};

/// How long the master stays down: longer than the 4.5 s after which it would call a silent
/// node NotReady, so that a master acting on stale liveness would show.
const OUTAGE: Duration = Duration::from_secs(8);
/// How long the restarted master is watched for changes it should not make.
const WATCH_AFTER_RESTART: Duration = Duration::from_secs(8);

/// Every pod as the master has it: name, node, uid and container restarts.
fn pod_facts(cluster: &Cluster) -> Vec<(String, String, String, u64)> {
    let mut facts: Vec<_> = cluster
        .get("pods")
        .iter()
        .map(|p| {
            let restarts = p["status"]["containerStatuses"].as_array().map_or(0, |cs| {
                cs.iter()
                    .map(|c| c["restartCount"].as_u64().unwrap_or(0))
                    .sum()
            });
            (
                p["metadata"]["name"].as_str().unwrap_or("").to_string(),
                p["spec"]["nodeName"].as_str().unwrap_or("").to_string(),
                p["metadata"]["uid"].as_str().unwrap_or("").to_string(),
                restarts,
            )
        })
        .collect();
    facts.sort();
    facts
}

#[test]
fn pods_keep_running_while_the_master_is_down_and_a_restarted_master_changes_nothing() {
    let Some(mut cluster) = Cluster::start(2) else {
        return;
    };
    cluster.apply("nginx.yaml", &nginx_deployment(4));
    let pods = cluster.wait_for_replicas(4);
    let facts = pod_facts(&cluster);
    let init_pids: Vec<_> = cluster
        .agents
        .iter()
        .map(|a| a.container_init_pids())
        .collect();
    assert_eq!(init_pids.iter().map(|p| p.len()).sum::<usize>(), 4);

    cluster.kill_master();
    let until = Instant::now() + OUTAGE;
    while Instant::now() < until {
        assert_eq!(
            cluster.pods_on_agents().as_ref(),
            Some(&pods),
            "the agents' pods changed while the master was down"
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    let restarted = cluster.start_master_process();
    cluster.wait_for(
        "the restarted master to hear both agents and see 4 pods running",
        |c| {
            let heard = c.ready_nodes_heard_after(restarted).len() == 2;
            (heard && c.running_pods().len() == 4).then_some(())
        },
    );
    let until = Instant::now() + WATCH_AFTER_RESTART;
    while Instant::now() < until {
        assert_eq!(
            pod_facts(&cluster),
            facts,
            "the restarted master changed the pods"
        );
        assert_eq!(cluster.pods_on_agents().as_ref(), Some(&pods));
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(
        cluster.ready_nodes_heard_after(restarted).len(),
        2,
        "the agents stopped talking to the restarted master"
    );
    let now: Vec<_> = cluster
        .agents
        .iter()
        .map(|a| a.container_init_pids())
        .collect();
    assert_eq!(now, init_pids, "containers were restarted");
}
