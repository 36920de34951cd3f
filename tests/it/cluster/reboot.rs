//! Autonomy: a node rebooted while the master is unreachable (agent and containers killed,
//! mounts, cgroups and run directory gone) starts its pods again from its local copy; the
//! master, when it returns, finds them where they were.
use super::harness::{nginx_deployment, process_runs, Cluster};

#[test]
fn a_rebooted_agent_runs_its_pods_again_from_its_local_copy_while_the_master_is_down() {
    let Some(mut cluster) = Cluster::start(2) else {
        return;
    };
    cluster.apply("nginx.yaml", &nginx_deployment(4));
    let pods = cluster.wait_for_replicas(4);
    let rebooted = 0;
    let name = cluster.agents[rebooted].name.clone();
    let other_pids = cluster.agents[1].container_init_pids();

    cluster.kill_master();
    let old_pids = cluster.agents[rebooted].container_init_pids();
    assert_eq!(old_pids.len(), pods[&name].len());
    cluster.agents[rebooted].reboot_wipe(&cluster.lab);
    for pid in old_pids.values() {
        assert!(
            !process_runs(*pid),
            "container process {pid} of {name} survived the reboot"
        );
    }

    cluster.start_agent_process(rebooted, None);
    cluster.wait_for(
        &format!("{name}'s pods running again without a master"),
        |c| {
            let running = c.agents[rebooted].running_pods()?;
            let containers = c.agents[rebooted].container_init_pids().len();
            (running == pods[&name] && containers == running.len()).then_some(())
        },
    );
    assert_eq!(
        cluster.agents[1].container_init_pids(),
        other_pids,
        "the other node's containers were restarted"
    );

    let restarted = cluster.start_master_process();
    cluster.wait_for("both agents heard by the restarted master", |c| {
        (c.ready_nodes_heard_after(restarted).len() == 2).then_some(())
    });
    assert_eq!(cluster.wait_for_replicas(4), pods, "the master moved pods");
}
