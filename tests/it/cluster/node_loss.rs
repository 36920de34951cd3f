//! Healing: an agent killed and cut off, paused, or only cut off, has its pods replaced on the
//! other nodes, and when it comes back the pods that were replaced are stopped there, so no
//! replica runs twice.
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
    assert!(
        !lost_pods.is_empty(),
        "nothing ran on {lost_name}: {before:?}"
    );

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

#[test]
fn a_paused_agent_loses_its_pods_to_the_others_and_stops_them_when_it_resumes() {
    let Some(mut cluster) = Cluster::start(2) else {
        return;
    };
    cluster.apply("nginx.yaml", &nginx_deployment(4));
    let before = cluster.wait_for_replicas(4);
    let paused = 1;
    let paused_name = cluster.agents[paused].name.clone();
    let paused_pods = before[&paused_name].clone();
    assert!(
        !paused_pods.is_empty(),
        "nothing ran on {paused_name}: {before:?}"
    );

    // Stopped, not dead: its connections stay open, its containers run on.
    cluster.agents[paused].pause();
    cluster.wait_for(
        &format!("{paused_name} NotReady and 4 replicas running on the other agent"),
        |c| {
            let elsewhere = c
                .running_pods()
                .into_iter()
                .filter(|(_, node)| *node != paused_name)
                .count();
            let on_other = c.agents[0].running_pods().map_or(0, |p| p.len());
            let gone = !c.ready_nodes().contains(&paused_name);
            (gone && elsewhere == 4 && on_other == 4).then_some(())
        },
    );

    // Resumed, the agent carries on from where it stopped, with assignments that are stale.
    cluster.agents[paused].resume();
    let after = cluster.wait_for(
        &format!("{paused_name} Ready again, its replaced pods stopped there"),
        |c| {
            let back = c.ready_nodes().contains(&paused_name);
            let on_agents = c.pods_on_agents()?;
            let extras_stopped = on_agents[&paused_name]
                .iter()
                .all(|pod| !paused_pods.contains(pod));
            let containers = c.agents[paused].container_init_pids().len();
            (back && extras_stopped && containers == on_agents[&paused_name].len())
                .then_some(on_agents)
        },
    );
    assert_eq!(after.values().map(Vec::len).sum::<usize>(), 4, "{after:?}");
    assert_eq!(cluster.wait_for_replicas(4), after);
}

#[test]
fn a_cut_off_agent_keeps_its_pods_running_and_stops_the_replaced_ones_when_the_link_heals() {
    let Some(mut cluster) = Cluster::start(2) else {
        return;
    };
    cluster.apply("nginx.yaml", &nginx_deployment(4));
    let before = cluster.wait_for_replicas(4);
    let cut = 1;
    let cut_name = cluster.agents[cut].name.clone();
    let cut_pods = before[&cut_name].clone();
    assert!(
        !cut_pods.is_empty(),
        "nothing ran on {cut_name}: {before:?}"
    );

    cluster.lab.cut(cluster.agents[cut].node);
    cluster.wait_for(
        &format!("{cut_name} NotReady and 4 replicas running on the other agent"),
        |c| {
            let elsewhere = c
                .running_pods()
                .into_iter()
                .filter(|(_, node)| *node != cut_name)
                .count();
            let on_other = c.agents[0].running_pods().map_or(0, |p| p.len());
            let gone = !c.ready_nodes().contains(&cut_name);
            (gone && elsewhere == 4 && on_other == 4).then_some(())
        },
    );
    // Without its master the agent keeps what it was told: the uplink died, not the node.
    assert_eq!(
        cluster.agents[cut].running_pods().as_ref(),
        Some(&cut_pods),
        "the cut-off agent stopped its pods"
    );

    cluster.lab.heal(cluster.agents[cut].node);
    let after = cluster.wait_for(
        &format!("{cut_name} Ready again, its replaced pods stopped there"),
        |c| {
            let back = c.ready_nodes().contains(&cut_name);
            let on_agents = c.pods_on_agents()?;
            let extras_stopped = on_agents[&cut_name]
                .iter()
                .all(|pod| !cut_pods.contains(pod));
            let containers = c.agents[cut].container_init_pids().len();
            (back && extras_stopped && containers == on_agents[&cut_name].len())
                .then_some(on_agents)
        },
    );
    assert_eq!(after.values().map(Vec::len).sum::<usize>(), 4, "{after:?}");
    assert_eq!(cluster.wait_for_replicas(4), after);
}
