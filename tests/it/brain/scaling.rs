//! Scaling and deleting Deployments in a real master.
use super::{until, Cluster, NGINX_DEPLOYMENT};

#[tokio::test]
async fn scaling_three_to_ten_to_two_ends_with_exactly_that_many_pods() {
    let cluster = Cluster::start(&["pi-1", "pi-2", "pi-3"]).await;
    cluster.apply(NGINX_DEPLOYMENT);
    for replicas in [3usize, 10, 2] {
        if replicas != 3 {
            let scaled = cluster.edgectl(&[
                "scale",
                "deployment/nginx-deployment",
                "--replicas",
                &replicas.to_string(),
            ]);
            assert_eq!(scaled.trim(), "deployment.apps/nginx-deployment scaled");
        }
        until(&format!("{replicas} available replicas"), || async {
            cluster.report_all_ready("app=nginx").await;
            let d = cluster.deployment("nginx-deployment").await;
            let status = d.status.clone().unwrap_or_default();
            let pods = cluster.pods("app=nginx").await;
            (pods.len() == replicas
                && status.replicas == replicas as i32
                && status.available_replicas == replicas as i32)
                .then_some(())
        })
        .await;
    }
    let replica_sets = cluster.replica_sets().await;
    assert_eq!(replica_sets.len(), 1);
    assert_eq!(replica_sets[0].replicas(), 2);
    let status = cluster.edgectl(&["rollout", "status", "deployment/nginx-deployment"]);
    assert!(status.contains("successfully rolled out"), "{status}");
}

#[tokio::test]
async fn deleting_a_deployment_leaves_no_replica_sets_or_pods() {
    let cluster = Cluster::start(&["pi-1", "pi-2", "pi-3"]).await;
    cluster.apply(NGINX_DEPLOYMENT);
    until("three pods", || async {
        (cluster.pods("app=nginx").await.len() == 3).then_some(())
    })
    .await;
    let deleted = cluster.edgectl(&["delete", "deployment", "nginx-deployment"]);
    assert!(deleted.contains("deleted"), "{deleted}");
    until("no replica sets and no pods", || async {
        (cluster.replica_sets().await.is_empty() && cluster.pods("app=nginx").await.is_empty())
            .then_some(())
    })
    .await;
    // The controllers must not bring anything back.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert!(cluster.replica_sets().await.is_empty());
    assert!(cluster.pods("app=nginx").await.is_empty());
}
