//! Deletion cascades through ownerReferences (background, foreground, orphan) and through
//! namespaces; `default` stays.
use hyper::Method;
use serde_json::{json, Value};

use flotilla::cli::client::{Client, JSON};

use super::harness::{fails, ok, Master};

const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/default/deployments";
const REPLICA_SETS: &str = "/apis/apps/v1/namespaces/default/replicasets";
const PODS: &str = "/api/v1/namespaces/default/pods";

fn owner(kind: &str, object: &Value) -> Value {
    json!([{"apiVersion": object["apiVersion"], "kind": kind,
            "name": object["metadata"]["name"], "uid": object["metadata"]["uid"],
            "controller": true, "blockOwnerDeletion": true}])
}

fn template() -> Value {
    json!({"metadata": {"labels": {"app": "web"}},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
}

/// A Deployment owning a ReplicaSet owning two Pods, as the controllers would make them,
/// plus an unrelated Pod.
async fn tree(client: &Client) {
    let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": template()}});
    let (deployment, _) = client
        .send_json(Method::POST, DEPLOYMENTS, JSON, &deployment)
        .await
        .unwrap();
    let replica_set = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "web-abc", "ownerReferences": owner("Deployment", &deployment)},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": template()}});
    let (replica_set, _) = client
        .send_json(Method::POST, REPLICA_SETS, JSON, &replica_set)
        .await
        .unwrap();
    for name in ["web-abc-1", "web-abc-2"] {
        let pod = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": "web"}, "ownerReferences": owner("ReplicaSet", &replica_set)},
            "spec": template()["spec"]});
        client
            .send_json(Method::POST, PODS, JSON, &pod)
            .await
            .unwrap();
    }
    let lonely = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "lonely"}, "spec": template()["spec"]});
    client
        .send_json(Method::POST, PODS, JSON, &lonely)
        .await
        .unwrap();
}

async fn names(client: &Client, path: &str) -> Vec<String> {
    let list = client.get_json(path).await.unwrap();
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn deleting_a_deployment_deletes_its_replica_sets_and_pods() {
    let master = Master::start_api_only();
    let client = master.admin_client();
    tree(&client).await;
    let out = ok(master.edgectl(&["delete", "deployment", "web"]));
    assert_eq!(out, "deployment.apps \"web\" deleted\n");
    assert!(names(&client, REPLICA_SETS).await.is_empty());
    assert_eq!(names(&client, PODS).await, ["lonely"]);
}

#[tokio::test]
async fn foreground_deletion_removes_the_same_tree() {
    let master = Master::start_api_only();
    let client = master.admin_client();
    tree(&client).await;
    ok(master.edgectl(&["delete", "deploy/web", "--cascade", "foreground"]));
    assert!(names(&client, DEPLOYMENTS).await.is_empty());
    assert!(names(&client, REPLICA_SETS).await.is_empty());
    assert_eq!(names(&client, PODS).await, ["lonely"]);
}

#[tokio::test]
async fn orphan_deletion_keeps_dependents_and_drops_their_owner_reference() {
    let master = Master::start_api_only();
    let client = master.admin_client();
    tree(&client).await;
    ok(master.edgectl(&["delete", "deploy", "web", "--cascade", "orphan"]));
    assert!(names(&client, DEPLOYMENTS).await.is_empty());
    let replica_set = client
        .get_json(&format!("{REPLICA_SETS}/web-abc"))
        .await
        .unwrap();
    assert!(
        replica_set["metadata"].get("ownerReferences").is_none(),
        "{replica_set}"
    );
    assert_eq!(names(&client, PODS).await.len(), 3);
}

#[tokio::test]
async fn deleting_a_namespace_deletes_everything_in_it() {
    let master = Master::start_api_only();
    let client = master.admin_client();
    ok(master.edgectl(&["create", "namespace", "shop"]));
    let config = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
    client
        .send_json(
            Method::POST,
            "/api/v1/namespaces/shop/configmaps",
            JSON,
            &config,
        )
        .await
        .unwrap();
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": template()["spec"]});
    client
        .send_json(Method::POST, "/api/v1/namespaces/shop/pods", JSON, &pod)
        .await
        .unwrap();
    client
        .send_json(
            Method::POST,
            "/api/v1/namespaces/default/configmaps",
            JSON,
            &config,
        )
        .await
        .unwrap();

    assert_eq!(
        ok(master.edgectl(&["delete", "namespace", "shop"])),
        "namespace \"shop\" deleted\n"
    );
    assert!(names(&client, "/api/v1/namespaces/shop/pods")
        .await
        .is_empty());
    assert!(names(&client, "/api/v1/namespaces/shop/configmaps")
        .await
        .is_empty());
    assert_eq!(names(&client, "/api/v1/namespaces").await, ["default"]);
    assert_eq!(
        names(&client, "/api/v1/namespaces/default/configmaps").await,
        ["c"]
    );

    let stderr = fails(master.edgectl(&["delete", "ns", "default"]));
    assert_eq!(
        stderr,
        "Error from server (Forbidden): namespaces \"default\" is forbidden: this namespace may not be deleted\n"
    );
}

#[tokio::test]
async fn delete_by_label_and_by_file() {
    let master = Master::start_api_only();
    let client = master.admin_client();
    tree(&client).await;
    let out = ok(master.edgectl(&["delete", "pods", "-l", "app=web", "--cascade", "orphan"]));
    assert_eq!(
        out,
        "pod \"web-abc-1\" deleted\npod \"web-abc-2\" deleted\n"
    );
    let (_dir, file) = super::harness::manifest_file(
        "lonely.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: lonely\nspec:\n  containers:\n  - name: c\n    image: busybox\n",
    );
    let out = ok(master.edgectl(&["delete", "-f", file.to_str().unwrap()]));
    assert_eq!(out, "pod \"lonely\" deleted\n");
    let stderr = fails(master.edgectl(&["delete", "pod", "lonely"]));
    assert_eq!(
        stderr,
        "Error from server (NotFound): pods \"lonely\" not found\n"
    );
}
