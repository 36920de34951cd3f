//! `edgectl drain NODE [--force] [--delete-emptydir-data] [--timeout 2m]`: cordons the node,
//! then evicts (deletes) its pods so that their controllers re-create them elsewhere, and
//! waits until they are gone — like `kubectl drain --ignore-daemonsets`. DaemonSet pods stay
//! (their controller would put them right back); pods without a controller are refused
//! unless `--force` (nothing would re-create them), and so are pods with emptyDir volumes
//! unless `--delete-emptydir-data` (their data is lost). Nothing is evicted when a pod is
//! refused.
use std::time::Duration;

use hyper::Method;
use serde_json::{json, Value};

use super::client::{with_query, ClientError, JSON};
use super::cordon::{self, Cordon, CordonArgs};
use super::rollout::{parse_timeout, Timeout};
use super::Context;
use crate::api::Kind;
use crate::master::route::{collection_path, object_path};

/// How often the pods being evicted are checked.
const WAIT_POLL: Duration = Duration::from_millis(500);

#[derive(Debug, clap::Args)]
pub struct DrainArgs {
    /// The node
    #[arg(value_name = "NODE")]
    pub node: String,
    /// Also delete pods that no controller manages (they are not re-created)
    #[arg(long)]
    pub force: bool,
    /// Also delete pods with emptyDir volumes (their data is lost)
    #[arg(long)]
    pub delete_emptydir_data: bool,
    /// Leave DaemonSet pods in place (always so; accepted for kubectl's command lines)
    #[arg(long)]
    pub ignore_daemonsets: bool,
    /// How long to wait for the pods to be gone (0: forever)
    #[arg(long, default_value = "2m", value_parser = parse_timeout)]
    pub timeout: Timeout,
}

/// One pod on the node being drained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrainPod {
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

impl std::fmt::Display for DrainPod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// What a drain does with each pod, decided before anything is deleted.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct DrainPlan {
    pub evict: Vec<DrainPod>,
    /// DaemonSet pods, left in place.
    pub daemon_set: Vec<DrainPod>,
    /// Pods without a controller (evicted with `--force`, else refused).
    pub unmanaged: Vec<DrainPod>,
    /// Pods with emptyDir volumes (evicted with `--delete-emptydir-data`, else refused).
    pub local_storage: Vec<DrainPod>,
}

fn text(pod: &Value, pointer: &str) -> String {
    pod.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn controller_kind(pod: &Value) -> Option<String> {
    pod.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)?
        .iter()
        .find(|o| o.get("controller").and_then(Value::as_bool) == Some(true))
        .map(|o| text(o, "/kind"))
}

fn has_empty_dir(pod: &Value) -> bool {
    pod.pointer("/spec/volumes")
        .and_then(Value::as_array)
        .is_some_and(|v| v.iter().any(|v| v.get("emptyDir").is_some()))
}

/// Sorts the node's pods into what a drain does with them.
pub fn plan(pods: &[Value], force: bool, delete_emptydir_data: bool) -> DrainPlan {
    let mut plan = DrainPlan::default();
    for pod in pods {
        let entry = DrainPod {
            namespace: text(pod, "/metadata/namespace"),
            name: text(pod, "/metadata/name"),
            uid: text(pod, "/metadata/uid"),
        };
        let finished = matches!(text(pod, "/status/phase").as_str(), "Succeeded" | "Failed");
        match controller_kind(pod).as_deref() {
            Some("DaemonSet") => {
                plan.daemon_set.push(entry);
                continue;
            }
            None if !finished => {
                plan.unmanaged.push(entry.clone());
                if !force {
                    continue;
                }
            }
            _ => {}
        }
        if has_empty_dir(pod) && !finished {
            plan.local_storage.push(entry.clone());
            if !delete_emptydir_data {
                continue;
            }
        }
        plan.evict.push(entry);
    }
    plan
}

impl DrainPlan {
    /// Why the drain cannot go on, when a pod is refused.
    pub fn refusal(&self, force: bool, delete_emptydir_data: bool) -> Option<String> {
        let list = |pods: &[DrainPod]| {
            pods.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut problems = Vec::new();
        if !force && !self.unmanaged.is_empty() {
            problems.push(format!(
                "cannot delete Pods that declare no controller (use --force to override): {}",
                list(&self.unmanaged)
            ));
        }
        let blocked: Vec<DrainPod> = self
            .local_storage
            .iter()
            .filter(|p| force || !self.unmanaged.contains(p))
            .cloned()
            .collect();
        if !delete_emptydir_data && !blocked.is_empty() {
            problems.push(format!(
                "cannot delete Pods with local storage (use --delete-emptydir-data to override): {}",
                list(&blocked)
            ));
        }
        (!problems.is_empty()).then(|| problems.join(", "))
    }
}

async fn pod_gone(client: &super::client::Client, pod: &DrainPod) -> Result<bool, ClientError> {
    let path = object_path(Kind::Pod, Some(&pod.namespace), &pod.name);
    match client.get_json(&path).await {
        Ok(found) => Ok(text(&found, "/metadata/uid") != pod.uid),
        Err(ClientError::Status(status)) if status.code == 404 => Ok(true),
        Err(e) => Err(e),
    }
}

pub async fn run(context: &Context, args: DrainArgs) -> anyhow::Result<()> {
    let client = context.client()?;
    cordon::run(
        context,
        CordonArgs {
            nodes: vec![args.node.clone()],
        },
        Cordon::Cordon,
    )
    .await?;
    let selector = format!("spec.nodeName={}", args.node);
    let list = client
        .get_json(&with_query(
            &collection_path(Kind::Pod, None),
            &[("fieldSelector", selector.as_str())],
        ))
        .await?;
    let pods = list
        .get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let plan = plan(&pods, args.force, args.delete_emptydir_data);
    if let Some(refusal) = plan.refusal(args.force, args.delete_emptydir_data) {
        anyhow::bail!(
            "unable to drain node {:?}: {refusal}; nothing was evicted (the node stays cordoned)",
            args.node
        );
    }
    let names = |pods: &[DrainPod]| {
        pods.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !plan.daemon_set.is_empty() {
        eprintln!(
            "Warning: ignoring DaemonSet-managed Pods: {}",
            names(&plan.daemon_set)
        );
    }
    if args.force && !plan.unmanaged.is_empty() {
        eprintln!(
            "Warning: deleting Pods that declare no controller: {}",
            names(&plan.unmanaged)
        );
    }
    for pod in &plan.evict {
        println!("evicting pod {pod}");
        let path = object_path(Kind::Pod, Some(&pod.namespace), &pod.name);
        let options = json!({
            "kind": "DeleteOptions",
            "apiVersion": "v1",
            "preconditions": {"uid": pod.uid},
        });
        match client
            .send_json(Method::DELETE, &path, JSON, &options)
            .await
        {
            Ok(_) => {}
            // Gone already, or replaced by a pod of the same name: nothing left to evict.
            Err(ClientError::Status(status)) if matches!(status.code, 404 | 409) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let deadline = args.timeout.0.map(|t| tokio::time::Instant::now() + t);
    let mut waiting = plan.evict.clone();
    loop {
        let mut still = Vec::new();
        for pod in waiting {
            if pod_gone(&client, &pod).await? {
                println!("pod/{} evicted", pod.name);
            } else {
                still.push(pod);
            }
        }
        waiting = still;
        if waiting.is_empty() {
            break;
        }
        if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
            anyhow::bail!(
                "drain did not complete within {:?}: still waiting for {}",
                args.timeout.0.unwrap_or_default(),
                names(&waiting)
            );
        }
        tokio::time::sleep(WAIT_POLL).await;
    }
    println!("node/{} drained", args.node);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, owner: Option<&str>, empty_dir: bool) -> Value {
        let mut pod = json!({
            "metadata": {"name": name, "namespace": "default", "uid": format!("u-{name}")},
            "spec": {"nodeName": "pi-2", "containers": [{"name": "c", "image": "busybox"}]},
            "status": {"phase": "Running"}
        });
        if let Some(kind) = owner {
            pod["metadata"]["ownerReferences"] =
                json!([{"kind": kind, "name": "x", "uid": "o", "controller": true}]);
        }
        if empty_dir {
            pod["spec"]["volumes"] = json!([{"name": "scratch", "emptyDir": {}}]);
        }
        pod
    }

    fn names(pods: &[DrainPod]) -> Vec<&str> {
        pods.iter().map(|p| p.name.as_str()).collect()
    }

    #[test]
    fn daemon_set_pods_stay_and_controlled_pods_go() {
        let pods = [
            pod("web-1", Some("ReplicaSet"), false),
            pod("agent-x", Some("DaemonSet"), false),
        ];
        let plan = plan(&pods, false, false);
        assert_eq!(names(&plan.evict), ["web-1"]);
        assert_eq!(names(&plan.daemon_set), ["agent-x"]);
        assert_eq!(plan.refusal(false, false), None);
    }

    #[test]
    fn pods_without_a_controller_are_refused_unless_forced() {
        let pods = [
            pod("web-1", Some("ReplicaSet"), false),
            pod("solo", None, false),
        ];
        let refused = plan(&pods, false, false);
        assert_eq!(names(&refused.evict), ["web-1"]);
        assert_eq!(
            refused.refusal(false, false).unwrap(),
            "cannot delete Pods that declare no controller (use --force to override): default/solo"
        );
        let forced = plan(&pods, true, false);
        assert_eq!(names(&forced.evict), ["web-1", "solo"]);
        assert_eq!(forced.refusal(true, false), None);
    }

    #[test]
    fn pods_with_empty_dirs_need_their_flag() {
        let pods = [pod("cache-1", Some("ReplicaSet"), true)];
        assert!(plan(&pods, false, false)
            .refusal(false, false)
            .unwrap()
            .contains("--delete-emptydir-data"));
        let plan = plan(&pods, false, true);
        assert_eq!(names(&plan.evict), ["cache-1"]);
        assert_eq!(plan.refusal(false, true), None);
    }

    #[test]
    fn finished_pods_without_a_controller_are_simply_deleted() {
        let mut done = pod("job-1", None, false);
        done["status"]["phase"] = json!("Succeeded");
        let plan = plan(&[done], false, false);
        assert_eq!(names(&plan.evict), ["job-1"]);
        assert_eq!(plan.refusal(false, false), None);
    }
}
