//! The scheduler and controllers inside a real master: Node objects applied by the admin with
//! capacity and a Ready condition, pod statuses written through the API as an agent would,
//! and `edgectl` as a user runs it.
mod daemonset;
mod rollout;
mod scaling;
mod scheduling;

use std::time::{Duration, Instant};

use hyper::Method;
use serde_json::{json, Value};

use flotilla::api::pod::pod_condition;
use flotilla::api::{
    ApiObject, ConditionStatus, Deployment, Kind, Pod, PodCondition, PodPhase, ReplicaSet,
    Resource, Time,
};
use flotilla::cli::client::{with_query, Client, JSON, MERGE_PATCH};
use flotilla::master::route::{collection_path, object_path};

use crate::control::harness::{manifest_file, ok, Master};

/// Upper bound on waiting for the cluster to converge: a failure bound for a debug build on a
/// loaded machine, not a speed requirement.
const CONVERGE_WAIT: Duration = Duration::from_secs(90);

/// `edged master` arguments for tests whose Node objects are written by the admin and never
/// heartbeat.
pub const NODES_WITHOUT_AGENTS: [&str; 2] = ["--node-monitor-grace-period", "60m"];

/// The Kubernetes documentation's nginx Deployment, unchanged.
pub const NGINX_DEPLOYMENT: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx-deployment
  labels:
    app: nginx
spec:
  replicas: 3
  selector:
    matchLabels:
      app: nginx
  template:
    metadata:
      labels:
        app: nginx
    spec:
      containers:
      - name: nginx
        image: nginx:1.14.2
        ports:
        - containerPort: 80
";

/// A master with Node objects, and the admin's client.
pub struct Cluster {
    pub master: Master,
    pub client: Client,
}

impl Cluster {
    /// A master with ready nodes of 4 cpus and 4 GiB each. No agent heartbeats for these
    /// nodes, so the master is told to wait an hour before it calls them NotReady (by default
    /// it would after 4.5 s and evict their pods); the cluster tests cover node liveness.
    pub async fn start(nodes: &[&str]) -> Cluster {
        let master = Master::start_with(&NODES_WITHOUT_AGENTS);
        let client = master.admin_client();
        let cluster = Cluster { master, client };
        for name in nodes {
            cluster.add_node(name, &[]).await;
        }
        cluster
    }

    /// Creates a node as the admin would, then reports its capacity and readiness as its agent
    /// would.
    pub async fn add_node(&self, name: &str, labels: &[(&str, &str)]) {
        let mut node_labels = serde_json::Map::new();
        node_labels.insert("kubernetes.io/hostname".into(), json!(name));
        node_labels.insert("kubernetes.io/arch".into(), json!("arm64"));
        for (k, v) in labels {
            node_labels.insert(k.to_string(), json!(v));
        }
        let node = json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": node_labels},
        });
        self.client
            .send_json(
                Method::POST,
                &collection_path(Kind::Node, None),
                JSON,
                &node,
            )
            .await
            .expect("create the node");
        let now = Time::new(time::OffsetDateTime::now_utc()).to_string();
        let resources = json!({"cpu": "4", "memory": "4Gi", "pods": "110"});
        let status = json!({"status": {
            "capacity": resources,
            "allocatable": resources,
            "conditions": [{
                "type": "Ready", "status": "True", "reason": "KubeletReady",
                "lastHeartbeatTime": now, "lastTransitionTime": now,
            }],
            "nodeInfo": {"architecture": "arm64", "operatingSystem": "linux",
                         "kernelVersion": "6.6.0", "kubeletVersion": "flotilla", "osImage": "test"},
        }});
        self.client
            .send_json(
                Method::PATCH,
                &format!("{}/status", object_path(Kind::Node, None, name)),
                MERGE_PATCH,
                &status,
            )
            .await
            .expect("report the node's status");
    }

    /// `edgectl apply` of a manifest.
    pub fn apply(&self, manifest: &str) -> String {
        let (_dir, path) = manifest_file("manifest.yaml", manifest);
        ok(self
            .master
            .edgectl(&["apply", "-f", path.to_str().unwrap()]))
    }

    /// `edgectl ARGS…`, which must succeed.
    pub fn edgectl(&self, args: &[&str]) -> String {
        ok(self.master.edgectl(args))
    }

    /// Objects of `T` in the default namespace (or the nodes).
    pub async fn list<T: ApiObject>(&self) -> Vec<T> {
        let namespace = T::KIND.namespaced().then_some("default");
        self.list_selected(namespace, None).await
    }

    async fn list_selected<T: ApiObject>(
        &self,
        namespace: Option<&str>,
        selector: Option<&str>,
    ) -> Vec<T> {
        let mut params = Vec::new();
        if let Some(selector) = selector {
            params.push(("labelSelector", selector));
        }
        let list = self
            .client
            .get_json(&with_query(&collection_path(T::KIND, namespace), &params))
            .await
            .expect("list");
        list.get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|mut item| {
                let map = item.as_object_mut()?;
                map.entry("apiVersion")
                    .or_insert_with(|| json!(T::KIND.api_version()));
                map.entry("kind").or_insert_with(|| json!(T::KIND.name()));
                Resource::from_value(item).ok()?.downcast()
            })
            .collect()
    }

    pub async fn pods(&self, selector: &str) -> Vec<Pod> {
        self.list_selected(Some("default"), Some(selector)).await
    }

    pub async fn deployment(&self, name: &str) -> Deployment {
        let value = self
            .client
            .get_json(&object_path(Kind::Deployment, Some("default"), name))
            .await
            .expect("get the deployment");
        Resource::from_value(value).unwrap().downcast().unwrap()
    }

    pub async fn replica_sets(&self) -> Vec<ReplicaSet> {
        self.list().await
    }

    /// Reports `pod` Running and Ready, as its agent would once its containers pass their
    /// readiness probes.
    pub async fn report_ready(&self, pod: &Pod) {
        let mut pod = pod.clone();
        let now = Time::new(time::OffsetDateTime::now_utc());
        let status = pod.status.get_or_insert_with(Default::default);
        status.phase = Some(PodPhase::Running);
        status.start_time.get_or_insert(now);
        for type_ in [pod_condition::READY, pod_condition::CONTAINERS_READY] {
            status.conditions.retain(|c| c.type_ != type_);
            status.conditions.push(PodCondition {
                type_: type_.to_string(),
                status: ConditionStatus::True,
                last_transition_time: Some(now),
                ..PodCondition::default()
            });
        }
        let resource: Resource = pod.into();
        let path = format!(
            "{}/status",
            object_path(Kind::Pod, Some("default"), resource.name())
        );
        // A pod deleted or changed meanwhile is simply reported again on the next round.
        let _ = self
            .client
            .send_json(Method::PUT, &path, JSON, &resource.to_value())
            .await;
    }

    /// Reports every bound pod that is not ready yet as ready (a healthy node's agent).
    pub async fn report_all_ready(&self, selector: &str) {
        for pod in self.pods(selector).await {
            if pod.spec.node_name.is_some() && !pod.is_ready() {
                self.report_ready(&pod).await;
            }
        }
    }
}

/// Polls `check` until it returns `Some`, failing the test after [`CONVERGE_WAIT`].
pub async fn until<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + CONVERGE_WAIT;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The image of a pod's first container.
pub fn image_of(pod: &Pod) -> &str {
    pod.spec.containers[0].image.as_deref().unwrap_or("")
}
