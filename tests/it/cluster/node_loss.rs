//! Healing: an agent killed and cut off has its pods replaced on the other nodes, and when it
//! comes back the pods that were replaced are stopped there, so no replica runs twice.
use super::harness::{nginx_deployment, Cluster};

#[test]
fn pods_of_a_killed_and_cut_off_agent_run_elsewhere_and_stop_there_when_it_returns() {
    let Some(mut cluster) = Cluster::start(3) else {
        return;
    };
    cluster.apply("nginx.yaml", &nginx_deployment(6));
    let before = cluster.wait_for_replicas(6);
    let lost = 2;
    let lost_name = cluster.agents[lost].name.clone();
    let lost_pods = before[&lost_name].clone();
    assert!(!lost_pods.is_empty(), "nothing ran on {lost_name}: {before:?}");

    cluster.agents[lost].kill9();
    cluster.lab.cut(cluster.agents[lost].node);
    cluster.wait_for(
        &format!("{lost_name} NotReady and 6 replicas running on the other agents"),
        |c| {
            let elsewhere: Vec<(String, String)> = c
                .running_pods()
                .into_iter()
                .filter(|(_, node)| *node != lost_name)
                .collect();
            let on_others: usize = c.agents[..lost]
                .iter()
                .map(|a| a.running_pods().map_or(0, |p| p.len()))
                .sum();
            let gone = !c.ready_nodes().contains(&lost_name);
            (gone && elsewhere.len() == 6 && on_others == 6).then_some(())
        },
    );
    // Cut off is not dead: the lost node's containers still run, without their agent.
    assert_eq!(
        cluster.agents[lost].container_init_pids().len(),
        lost_pods.len(),
        "the cut-off node's containers stopped without their agent"
    );

    cluster.lab.heal(cluster.agents[lost].node);
    cluster.start_agent_process(lost, None);
    let after = cluster.wait_for(
        &format!("{lost_name} back, its replaced pods stopped there"),
        |c| {
            let back = c.ready_nodes().contains(&lost_name);
            let on_agents = c.pods_on_agents()?;
            let extras_stopped = on_agents[&lost_name]
                .iter()
                .all(|pod| !lost_pods.contains(pod));
            let containers = c.agents[lost].container_init_pids().len();
            (back && extras_stopped && containers == on_agents[&lost_name].len())
                .then_some(on_agents)
        },
    );
    // No replica runs twice: six distinct pods, each on one agent, as the master says.
    let mut all: Vec<&String> = after.values().flatten().collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 6, "replicas after the node returned: {after:?}");
    assert_eq!(cluster.wait_for_replicas(6), after);
}
