//! Which node and container a `log` or `exec` request reaches: the pod read from the store,
//! its node, and the container chosen as kubectl does (the one named, the default-container
//! annotation, or the only one). The choice itself is pure ([`choose_container`]).
use std::sync::Arc;

use serde_json::Value;

use crate::api::{ContainerName, Kind};
use crate::master::error::ApiError;
use crate::master::tunnel::Tunnel;
use crate::store::ObjectKey;
use crate::wire::{NodeName, PodRef};

use super::ApiState;

/// kubectl's annotation naming the container `logs` and `exec` use by default.
pub const DEFAULT_CONTAINER_ANNOTATION: &str = "kubectl.kubernetes.io/default-container";

/// A container of a pod bound to a node, ready for the tunnel.
#[derive(Clone)]
pub struct PodTarget {
    pub pod: PodRef,
    pub node: NodeName,
    pub container: ContainerName,
    pub tunnel: Arc<Tunnel>,
}

fn names(pod: &Value, field: &str) -> Vec<String> {
    pod.pointer(&format!("/spec/{field}"))
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|c| c.get("name").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The container a request on `pod` addresses: `asked` if it is one of the pod's (init
/// containers included), else the default-container annotation, else the only container.
pub fn choose_container(pod: &Value, asked: Option<&str>) -> Result<String, ApiError> {
    let pod_name = pod
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let containers = names(pod, "containers");
    let init = names(pod, "initContainers");
    match asked {
        Some(name) if containers.iter().chain(&init).any(|c| c == name) => Ok(name.to_string()),
        Some(name) => Err(ApiError::ContainerNotValid {
            container: name.to_string(),
            pod: pod_name,
            choices: init.into_iter().chain(containers).collect(),
        }),
        None => {
            let annotated = pod
                .pointer("/metadata/annotations")
                .and_then(|a| a.get(DEFAULT_CONTAINER_ANNOTATION))
                .and_then(Value::as_str)
                .filter(|name| containers.iter().any(|c| c == name));
            match (annotated, containers.as_slice()) {
                (Some(name), _) => Ok(name.to_string()),
                (None, [only]) => Ok(only.clone()),
                _ => Err(ApiError::ContainerRequired {
                    pod: pod_name,
                    choices: containers,
                }),
            }
        }
    }
}

/// Reads the pod, checks it is bound and picks the container.
pub async fn resolve(
    state: &ApiState,
    namespace: &str,
    name: &str,
    container: Option<&str>,
) -> Result<PodTarget, ApiError> {
    let key = ObjectKey {
        kind: Kind::Pod,
        namespace: Some(namespace.to_string()),
        name: name.to_string(),
    };
    let pod = state.store_op(move |store| store.get(&key)).await?;
    let container = choose_container(&pod, container)?;
    let node = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::PodNotBound {
            name: name.to_string(),
        })?;
    let tunnel = state
        .nodes
        .as_ref()
        .ok_or(ApiError::NoNodeService)?
        .tunnel()
        .clone();
    let bad = |problem: String| ApiError::BadBody { problem };
    let uid = pod
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    Ok(PodTarget {
        pod: PodRef::new(namespace, name, uid).map_err(|e| bad(e.to_string()))?,
        node: NodeName::new(node).map_err(|e| bad(e.to_string()))?,
        container: ContainerName::new(container).map_err(|e| bad(e.to_string()))?,
        tunnel,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(containers: &[&str], init: &[&str], default: Option<&str>) -> Value {
        let list = |names: &[&str]| -> Vec<Value> {
            names
                .iter()
                .map(|n| json!({"name": n, "image": "busybox"}))
                .collect()
        };
        let mut pod = json!({
            "metadata": {"name": "web-1"},
            "spec": {"containers": list(containers), "initContainers": list(init)}
        });
        if let Some(name) = default {
            pod["metadata"]["annotations"] = json!({DEFAULT_CONTAINER_ANNOTATION: name});
        }
        pod
    }

    #[test]
    fn the_only_container_is_the_default() {
        assert_eq!(
            choose_container(&pod(&["web"], &["setup"], None), None).unwrap(),
            "web"
        );
    }

    #[test]
    fn init_containers_may_be_named() {
        assert_eq!(
            choose_container(&pod(&["web"], &["setup"], None), Some("setup")).unwrap(),
            "setup"
        );
    }

    #[test]
    fn several_containers_need_a_name_or_the_annotation() {
        let error = choose_container(&pod(&["web", "log"], &[], None), None).unwrap_err();
        assert_eq!(
            error.to_string(),
            "a container name must be specified for pod web-1, choose one of: [web log]"
        );
        assert_eq!(
            choose_container(&pod(&["web", "log"], &[], Some("log")), None).unwrap(),
            "log"
        );
    }

    #[test]
    fn an_unknown_container_is_refused_with_the_choices() {
        let error = choose_container(&pod(&["web"], &["setup"], None), Some("db")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "container db is not valid for pod web-1; choose one of: [setup web]"
        );
        assert_eq!(error.to_status().code, 400);
    }
}
