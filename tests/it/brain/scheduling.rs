//! Placement in a real master: spreading, pods that fit nowhere, cordoned nodes.
use std::collections::BTreeSet;

use flotilla::api::pod::pod_condition;
use flotilla::api::{ConditionStatus, Pod};

use super::{until, Cluster, NGINX_DEPLOYMENT};

#[tokio::test]
async fn the_nginx_deployment_spreads_over_three_nodes() {
    let cluster = Cluster::start(&["pi-1", "pi-2", "pi-3"]).await;
    let applied = cluster.apply(NGINX_DEPLOYMENT);
    assert_eq!(applied.trim(), "deployment.apps/nginx-deployment created");

    let nodes: BTreeSet<String> = until("three bound nginx pods", || async {
        let pods = cluster.pods("app=nginx").await;
        let nodes: Vec<String> = pods
            .iter()
            .filter_map(|p| p.spec.node_name.as_ref().map(|n| n.to_string()))
            .collect();
        (pods.len() == 3 && nodes.len() == 3).then(|| nodes.into_iter().collect())
    })
    .await;
    assert_eq!(
        nodes,
        ["pi-1", "pi-2", "pi-3"]
            .map(String::from)
            .into_iter()
            .collect()
    );

    let wide = cluster.edgectl(&["get", "pods", "-o", "wide"]);
    for node in ["pi-1", "pi-2", "pi-3"] {
        assert!(wide.contains(node), "NODE column shows {node}:\n{wide}");
    }
    let events = cluster.edgectl(&["get", "events"]);
    assert!(events.contains("Scheduled"), "{events}");
    assert!(events.contains("SuccessfulCreate"), "{events}");
    assert!(events.contains("ScalingReplicaSet"), "{events}");
}

const BIG_POD: &str = "\
apiVersion: v1
kind: Pod
metadata:
  name: big
spec:
  containers:
  - name: main
    image: nginx:1.27
    resources:
      requests:
        memory: 64Gi
";

#[tokio::test]
async fn a_pod_larger_than_every_node_stays_pending_and_says_why() {
    let cluster = Cluster::start(&["pi-1", "pi-2", "pi-3"]).await;
    cluster.apply(BIG_POD);
    let message = "0/3 nodes are available: 3 Insufficient memory.";
    let pod: Pod = until("the pod to be marked unschedulable", || async {
        let pods: Vec<Pod> = cluster.list().await;
        pods.into_iter()
            .find(|p| p.condition(pod_condition::POD_SCHEDULED).is_some())
    })
    .await;
    assert!(pod.spec.node_name.is_none());
    let condition = pod.condition(pod_condition::POD_SCHEDULED).unwrap();
    assert_eq!(condition.status, ConditionStatus::False);
    assert_eq!(condition.reason.as_deref(), Some("Unschedulable"));
    assert_eq!(condition.message.as_deref(), Some(message));

    let described = until("the FailedScheduling event", || async {
        let described = cluster.edgectl(&["describe", "pod", "big"]);
        described.contains("FailedScheduling").then_some(described)
    })
    .await;
    assert!(described.contains(message), "{described}");
    assert!(described.contains("Pending"), "{described}");
}

#[tokio::test]
async fn cordoned_nodes_take_no_new_pods_until_uncordoned() {
    let cluster = Cluster::start(&["pi-1", "pi-2", "pi-3"]).await;
    assert_eq!(
        cluster.edgectl(&["cordon", "pi-1"]).trim(),
        "node/pi-1 cordoned"
    );
    assert_eq!(
        cluster.edgectl(&["cordon", "pi-1", "pi-2"]).trim(),
        "node/pi-1 already cordoned\nnode/pi-2 cordoned"
    );
    cluster.apply(NGINX_DEPLOYMENT);
    let nodes: Vec<String> = until("three bound pods", || async {
        let pods = cluster.pods("app=nginx").await;
        let nodes: Vec<String> = pods
            .iter()
            .filter_map(|p| p.spec.node_name.as_ref().map(|n| n.to_string()))
            .collect();
        (nodes.len() == 3).then_some(nodes)
    })
    .await;
    assert!(nodes.iter().all(|n| n == "pi-3"), "{nodes:?}");

    assert_eq!(
        cluster.edgectl(&["uncordon", "pi-1"]).trim(),
        "node/pi-1 uncordoned"
    );
    cluster.edgectl(&["scale", "deployment/nginx-deployment", "--replicas", "4"]);
    let fourth = until("a fourth pod", || async {
        let pods = cluster.pods("app=nginx").await;
        let bound: Vec<String> = pods
            .iter()
            .filter_map(|p| p.spec.node_name.as_ref().map(|n| n.to_string()))
            .collect();
        (bound.len() == 4).then_some(bound)
    })
    .await;
    assert!(fourth.contains(&"pi-1".to_string()), "{fourth:?}");
    assert!(!fourth.contains(&"pi-2".to_string()), "{fourth:?}");
}
