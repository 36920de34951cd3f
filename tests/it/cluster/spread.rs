//! Joining and placement on a real cluster: agents join with a token, a token whose CA pin is
//! not the cluster's is refused, and the Kubernetes docs' nginx Deployment spreads over the
//! agents, each replica a real container that answers on its pod address.
use super::harness::{nginx_deployment, Cluster};

/// A GET of `http://{ip}:80/` from inside lab node `node`: the body, or why it failed.
fn fetch_from(cluster: &Cluster, node: usize, ip: &str) -> Result<String, String> {
    let address: std::net::SocketAddr = format!("{ip}:80").parse().map_err(|e| format!("{e}"))?;
    cluster.lab.within(node, move || {
        crate::cluster::http::get(address, "/").map_err(|e| e.to_string())
    })
}

#[test]
fn agents_join_with_a_token_a_wrong_pin_is_refused_and_six_replicas_spread_over_three_agents() {
    let Some(mut cluster) = Cluster::start(3) else {
        return;
    };
    let mut names = cluster.ready_nodes();
    names.sort();
    assert_eq!(names, ["agent-1", "agent-2", "agent-3"]);

    // The same token with another CA pin: the agent must refuse the master, and say why.
    let mut parts: Vec<String> = cluster.token.split('.').map(str::to_string).collect();
    assert_eq!(parts.len(), 4, "token shape: {}", cluster.token);
    let wrong_pin: String = parts[1]
        .chars()
        .map(|c| if c == '0' { '1' } else { '0' })
        .collect();
    parts[1] = wrong_pin.clone();
    let refused = cluster.try_join(3, "intruder", &parts.join("."));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success(),
        "a wrong pin was accepted: {stderr}"
    );
    assert!(
        stderr.contains("pin") && stderr.contains(&wrong_pin),
        "the refusal does not say the pin is wrong: {stderr}"
    );
    assert!(
        !cluster
            .get("nodes")
            .iter()
            .any(|n| n["metadata"]["name"] == "intruder"),
        "a refused agent became a node"
    );

    cluster.apply("nginx.yaml", &nginx_deployment(6));
    let per_agent = cluster.wait_for_replicas(6);
    assert!(
        per_agent.values().all(|pods| pods.len() == 2),
        "6 replicas are not spread 2 by 2 over 3 agents: {per_agent:?}"
    );

    // Each replica is a web server on its pod address, reachable from its node.
    for pod in cluster.get("pods") {
        let name = pod["metadata"]["name"].as_str().unwrap().to_string();
        let node = pod["spec"]["nodeName"].as_str().unwrap().to_string();
        let ip = pod["status"]["podIP"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let index = cluster.agents.iter().find(|a| a.name == node).unwrap().node;
        let body = cluster.wait_for(&format!("{name} to answer on {ip}:80"), |c| {
            fetch_from(c, index, &ip).ok()
        });
        assert!(
            body.contains("hello from flotilla"),
            "{name} answered {body:?}"
        );
    }

    let wide = cluster.edgectl_ok(&["get", "pods", "-o", "wide"]);
    assert_eq!(wide.matches(" Running ").count(), 6, "{wide}");
    assert_eq!(wide.matches("1/1").count(), 6, "{wide}");
}
