//! Rollouts in a real master: one surge pod at a time, undo, history, and a master killed
//! mid-rollout.
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use flotilla::api::deployment::REVISION_ANNOTATION;
use flotilla::api::Pod;

use super::{image_of, until, Cluster, NGINX_DEPLOYMENT};

const NEW_IMAGE: &str = "nginx:1.16.1";
/// Failure bound for a rollout driven by the test.
const ROLLOUT_WAIT: Duration = Duration::from_secs(120);

async fn available(cluster: &Cluster, replicas: i32) {
    until(&format!("{replicas} available replicas"), || async {
        cluster.report_all_ready("app=nginx").await;
        let d = cluster.deployment("nginx-deployment").await;
        let status = d.status.clone().unwrap_or_default();
        (status.available_replicas == replicas
            && status.updated_replicas == replicas
            && status.replicas == replicas)
            .then_some(())
    })
    .await;
}

/// Drives a rollout by making one new pod ready at a time, checking on the way that there is
/// never more than one pod beyond the three replicas and never more than one not ready.
async fn roll_one_at_a_time(cluster: &Cluster, image: &str) {
    let mut seen = BTreeSet::new();
    loop {
        let pods: Vec<Pod> = cluster.pods("app=nginx").await;
        assert!(
            pods.len() <= 4,
            "at most replicas + maxSurge pods: {}",
            pods.len()
        );
        let not_ready: Vec<&Pod> = pods.iter().filter(|p| !p.is_ready()).collect();
        assert!(
            not_ready.len() <= 1,
            "one surge pod at a time: {}",
            not_ready.len()
        );
        if pods.len() == 3 && pods.iter().all(|p| p.is_ready() && image_of(p) == image) {
            let d = cluster.deployment("nginx-deployment").await;
            if d.status.unwrap_or_default().updated_replicas == 3 {
                return;
            }
        }
        for pod in not_ready {
            if pod.spec.node_name.is_some() {
                assert_eq!(image_of(pod), image, "new pods have the new image");
                seen.insert(pod.metadata.name.clone());
                cluster.report_ready(pod).await;
            }
        }
        assert!(seen.len() <= 3, "no more new pods than replicas: {seen:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn an_image_change_rolls_out_one_surge_pod_at_a_time_and_undo_restores_it() {
    let cluster = Cluster::start(&["pi-1", "pi-2", "pi-3"]).await;
    cluster.apply(NGINX_DEPLOYMENT);
    available(&cluster, 3).await;

    let changed = cluster.apply(&NGINX_DEPLOYMENT.replace("nginx:1.14.2", NEW_IMAGE));
    assert_eq!(
        changed.trim(),
        "deployment.apps/nginx-deployment configured"
    );
    tokio::time::timeout(ROLLOUT_WAIT, roll_one_at_a_time(&cluster, NEW_IMAGE))
        .await
        .expect("the rollout finishes");
    let status = cluster.edgectl(&[
        "rollout",
        "status",
        "deployment/nginx-deployment",
        "--timeout",
        "60s",
    ]);
    assert_eq!(
        status.trim(),
        "deployment \"nginx-deployment\" successfully rolled out"
    );
    let history = cluster.edgectl(&["rollout", "history", "deployment/nginx-deployment"]);
    assert_eq!(
        history,
        "deployment.apps/nginx-deployment \nREVISION  CHANGE-CAUSE\n1         <none>\n2         <none>\n"
    );

    let undone = cluster.edgectl(&["rollout", "undo", "deployment/nginx-deployment"]);
    assert_eq!(
        undone.trim(),
        "deployment.apps/nginx-deployment rolled back"
    );
    tokio::time::timeout(ROLLOUT_WAIT, roll_one_at_a_time(&cluster, "nginx:1.14.2"))
        .await
        .expect("the rollback finishes");
    let d = cluster.deployment("nginx-deployment").await;
    assert_eq!(image_of_template(&d), "nginx:1.14.2");
    assert_eq!(d.metadata.annotations[REVISION_ANNOTATION], "3");
    assert_eq!(
        cluster.replica_sets().await.len(),
        2,
        "the first replica set was reused"
    );
    let history = cluster.edgectl(&["rollout", "history", "deployment/nginx-deployment"]);
    assert!(
        history.contains("\n2  ") && history.contains("\n3  "),
        "{history}"
    );
}

fn image_of_template(d: &flotilla::api::Deployment) -> &str {
    d.spec.template.spec.containers[0]
        .image
        .as_deref()
        .unwrap_or("")
}

#[tokio::test]
async fn rollout_status_fails_when_the_progress_deadline_passes() {
    let cluster = Cluster::start(&["pi-1"]).await;
    let manifest =
        NGINX_DEPLOYMENT.replace("replicas: 3", "replicas: 1\n  progressDeadlineSeconds: 3");
    cluster.apply(&manifest);
    available(&cluster, 1).await;
    cluster.apply(&manifest.replace("nginx:1.14.2", "nginx:does-not-start"));
    let output = cluster.master.edgectl(&[
        "rollout",
        "status",
        "deployment/nginx-deployment",
        "--timeout",
        "60s",
    ]);
    let stderr = crate::control::harness::fails(output);
    assert!(
        stderr.contains("exceeded its progress deadline"),
        "{stderr}"
    );
    let output = cluster.master.edgectl(&[
        "rollout",
        "status",
        "deployment/nginx-deployment",
        "--timeout",
        "1s",
    ]);
    crate::control::harness::fails(output);
}

#[tokio::test]
async fn a_master_killed_mid_rollout_finishes_it_after_restart() {
    let mut cluster = Cluster::start(&["pi-1", "pi-2", "pi-3"]).await;
    cluster.apply(NGINX_DEPLOYMENT);
    available(&cluster, 3).await;
    cluster.apply(&NGINX_DEPLOYMENT.replace("nginx:1.14.2", NEW_IMAGE));

    // Let the rollout get under way: the first new pod ready, the second one created.
    let mut new_pods: BTreeSet<String> = BTreeSet::new();
    let deadline = Instant::now() + ROLLOUT_WAIT;
    loop {
        let pods = cluster.pods("app=nginx").await;
        let fresh: Vec<&Pod> = pods.iter().filter(|p| image_of(p) == NEW_IMAGE).collect();
        new_pods.extend(fresh.iter().map(|p| p.metadata.name.clone()));
        if fresh.len() >= 2 {
            break;
        }
        if let Some(first) = fresh.first().filter(|p| p.spec.node_name.is_some()) {
            if !first.is_ready() {
                cluster.report_ready(first).await;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the rollout did not get under way"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cluster.master.kill9();
    cluster.master.start_again();
    cluster.client = cluster.master.admin_client();

    let deadline = Instant::now() + ROLLOUT_WAIT;
    loop {
        let pods = cluster.pods("app=nginx").await;
        assert!(
            pods.len() <= 4,
            "never more than replicas + maxSurge: {}",
            pods.len()
        );
        new_pods.extend(
            pods.iter()
                .filter(|p| image_of(p) == NEW_IMAGE)
                .map(|p| p.metadata.name.clone()),
        );
        cluster.report_all_ready("app=nginx").await;
        let status = cluster
            .deployment("nginx-deployment")
            .await
            .status
            .unwrap_or_default();
        let done = pods.len() == 3
            && pods
                .iter()
                .all(|p| image_of(p) == NEW_IMAGE && p.is_ready())
            && status.updated_replicas == 3
            && status.available_replicas == 3
            && status.replicas == 3;
        if done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the rollout did not finish: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        new_pods.len(),
        3,
        "no new pod was lost or duplicated: {new_pods:?}"
    );
    let replica_sets = cluster.replica_sets().await;
    assert_eq!(replica_sets.len(), 2);
    let sizes: BTreeSet<i32> = replica_sets.iter().map(|rs| rs.replicas()).collect();
    assert_eq!(sizes, [0, 3].into());
}

#[tokio::test]
async fn pause_holds_template_changes_and_restart_replaces_every_pod() {
    let cluster = Cluster::start(&["pi-1", "pi-2", "pi-3"]).await;
    cluster.apply(NGINX_DEPLOYMENT);
    available(&cluster, 3).await;

    assert_eq!(
        cluster
            .edgectl(&["rollout", "pause", "deployment/nginx-deployment"])
            .trim(),
        "deployment.apps/nginx-deployment paused"
    );
    cluster.apply(&NGINX_DEPLOYMENT.replace("nginx:1.14.2", NEW_IMAGE));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        cluster.replica_sets().await.len(),
        1,
        "paused: no new replica set"
    );
    let undo = cluster
        .master
        .edgectl(&["rollout", "undo", "deployment/nginx-deployment"]);
    assert!(crate::control::harness::fails(undo).contains("paused"));

    assert_eq!(
        cluster
            .edgectl(&["rollout", "resume", "deployment/nginx-deployment"])
            .trim(),
        "deployment.apps/nginx-deployment resumed"
    );
    available(&cluster, 3).await;
    let before: BTreeSet<String> = cluster
        .pods("app=nginx")
        .await
        .iter()
        .map(|p| p.metadata.name.clone())
        .collect();
    assert_eq!(cluster.replica_sets().await.len(), 2);

    assert_eq!(
        cluster
            .edgectl(&["rollout", "restart", "deployment/nginx-deployment"])
            .trim(),
        "deployment.apps/nginx-deployment restarted"
    );
    until("every pod replaced", || async {
        cluster.report_all_ready("app=nginx").await;
        let pods = cluster.pods("app=nginx").await;
        let status = cluster
            .deployment("nginx-deployment")
            .await
            .status
            .unwrap_or_default();
        let fresh = pods.iter().all(|p| !before.contains(&p.metadata.name));
        (pods.len() == 3 && fresh && status.updated_replicas == 3 && status.available_replicas == 3)
            .then_some(())
    })
    .await;
    assert_eq!(cluster.replica_sets().await.len(), 3);
}
