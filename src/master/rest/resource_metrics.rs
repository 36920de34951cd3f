//! The resource metrics API that `kubectl top` reads (`metrics.k8s.io/v1beta1`, what
//! metrics-server serves): `NodeMetrics` and `PodMetrics`, gathered on request from the agents
//! through the reverse tunnel (each agent reads its cgroup statistics). Nothing is stored:
//! a node that cannot be reached is left out of a list, like metrics-server does.
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use hyper::{Response, StatusCode};
use serde_json::{json, Value};
use tokio::task::JoinSet;

use super::pod_log::{failure, first_frame};
use super::{document, ApiState, ResponseBody};
use crate::api::Kind;
use crate::master::codec::Format;
use crate::master::error::ApiError;
use crate::master::route::METRICS_GROUP_VERSION;
use crate::master::tunnel::{Tunnel, TunnelError};
use crate::store::Object;
use crate::wire::{NodeName, NodeUsage, TunnelCall, TunnelFrame};

/// How long an agent may take to sample and answer (it samples over about a second).
pub const STATS_ANSWER_WAIT: Duration = Duration::from_secs(10);

/// `123456n`: CPU in nano-cores, as metrics-server writes it.
pub fn cpu_quantity(nano_cores: u64) -> String {
    format!("{nano_cores}n")
}

/// `2048Ki`: memory in kibibytes, as metrics-server writes it.
pub fn memory_quantity(bytes: u64) -> String {
    format!("{}Ki", bytes / 1024)
}

fn window(usage: &NodeUsage) -> String {
    format!("{}ms", usage.window_ms)
}

/// A node's `NodeMetrics`.
pub fn node_metrics(name: &str, usage: &NodeUsage, now: &str) -> Value {
    json!({
        "metadata": {"name": name, "creationTimestamp": now},
        "timestamp": now,
        "window": window(usage),
        "usage": {
            "cpu": cpu_quantity(usage.cpu_nano_cores),
            "memory": memory_quantity(usage.memory_working_set_bytes),
        }
    })
}

/// The `PodMetrics` of every pod in `usage` (namespace, name) → document.
pub fn pod_metrics(usage: &NodeUsage, now: &str) -> Vec<((String, String), Value)> {
    usage
        .pods
        .iter()
        .map(|pod| {
            let containers: Vec<Value> = pod
                .containers
                .iter()
                .map(|c| {
                    json!({
                        "name": c.name.as_str(),
                        "usage": {
                            "cpu": cpu_quantity(c.cpu_nano_cores),
                            "memory": memory_quantity(c.memory_working_set_bytes),
                        }
                    })
                })
                .collect();
            (
                (pod.pod.namespace().to_string(), pod.pod.name().to_string()),
                json!({
                    "metadata": {
                        "name": pod.pod.name(),
                        "namespace": pod.pod.namespace(),
                        "creationTimestamp": now,
                    },
                    "timestamp": now,
                    "window": window(usage),
                    "containers": containers,
                }),
            )
        })
        .collect()
}

fn now_rfc3339() -> String {
    crate::api::Time::new(time::OffsetDateTime::now_utc()).to_string()
}

/// Asks one node's agent for its statistics.
pub async fn node_usage(
    tunnel: &std::sync::Arc<Tunnel>,
    node: &NodeName,
) -> Result<NodeUsage, ApiError> {
    let mut stream = tunnel.call(node, TunnelCall::Stats).await?;
    let frame = first_frame(&mut stream, STATS_ANSWER_WAIT).await?;
    if let Some(error) = failure(node.as_str(), &frame) {
        return Err(error);
    }
    match frame {
        TunnelFrame::Stats(usage) => Ok(*usage),
        _ => Err(TunnelError::Broken {
            node: node.clone(),
            problem: "a statistics answer must hold statistics".to_string(),
        }
        .into()),
    }
}

/// Statistics of several nodes at once; nodes that fail are logged and left out.
async fn gather(
    tunnel: &std::sync::Arc<Tunnel>,
    nodes: Vec<NodeName>,
) -> Vec<(NodeName, NodeUsage)> {
    let mut tasks = JoinSet::new();
    for node in nodes {
        let tunnel = tunnel.clone();
        tasks.spawn(async move {
            let usage = node_usage(&tunnel, &node).await;
            (node, usage)
        });
    }
    let mut gathered = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((node, Ok(usage))) => gathered.push((node, usage)),
            Ok((node, Err(error))) => {
                tracing::debug!(%node, %error, "no statistics from node");
            }
            Err(error) => tracing::warn!(%error, "statistics task failed"),
        }
    }
    gathered.sort_by(|a, b| a.0.cmp(&b.0));
    gathered
}

fn tunnel(state: &ApiState) -> Result<&std::sync::Arc<Tunnel>, ApiError> {
    Ok(state
        .nodes
        .as_ref()
        .ok_or(ApiError::NoNodeService)?
        .tunnel())
}

fn list_document(kind: &str, items: Vec<Value>) -> Value {
    json!({
        "kind": kind,
        "apiVersion": METRICS_GROUP_VERSION,
        "metadata": {},
        "items": items,
    })
}

fn one_document(kind: &str, mut item: Value) -> Value {
    item["kind"] = json!(kind);
    item["apiVersion"] = json!(METRICS_GROUP_VERSION);
    item
}

fn not_found(resource: &'static str, name: &str) -> ApiError {
    ApiError::MetricsNotFound {
        resource,
        name: name.to_string(),
    }
}

/// `GET /apis/metrics.k8s.io/v1beta1/nodes[/{name}]`.
pub async fn nodes(
    state: &ApiState,
    name: Option<&str>,
    format: Format,
) -> Result<Response<ResponseBody>, ApiError> {
    let tunnel = tunnel(state)?;
    let now = now_rfc3339();
    if let Some(name) = name {
        let node = NodeName::new(name).map_err(|_| not_found("nodes", name))?;
        let key = crate::store::ObjectKey {
            kind: Kind::Node,
            namespace: None,
            name: name.to_string(),
        };
        state.store_op(move |store| store.get(&key)).await?;
        let usage = node_usage(tunnel, &node).await?;
        let item = one_document("NodeMetrics", node_metrics(name, &usage, &now));
        return Ok(document(StatusCode::OK, format, &item, &[]));
    }
    let (nodes, _) = state.store_op(|store| store.list(Kind::Node, None)).await?;
    let names: Vec<NodeName> = nodes
        .iter()
        .filter_map(|n| n.pointer("/metadata/name").and_then(Value::as_str))
        .filter_map(|n| NodeName::new(n).ok())
        .filter(|n| tunnel.connected(n))
        .collect();
    let items = gather(tunnel, names)
        .await
        .iter()
        .map(|(node, usage)| node_metrics(node.as_str(), usage, &now))
        .collect();
    let list = list_document("NodeMetricsList", items);
    Ok(document(StatusCode::OK, format, &list, &[]))
}

/// `GET /apis/metrics.k8s.io/v1beta1/[namespaces/{ns}/]pods[/{name}]`.
pub async fn pods(
    state: &ApiState,
    namespace: Option<&str>,
    name: Option<&str>,
    format: Format,
) -> Result<Response<ResponseBody>, ApiError> {
    let tunnel = tunnel(state)?;
    let now = now_rfc3339();
    let ns = namespace.map(str::to_string);
    let (pods, _) = state
        .store_op(move |store| store.list(Kind::Pod, ns.as_deref()))
        .await?;
    let wanted: Vec<&Object> = pods
        .iter()
        .filter(|p| name.is_none_or(|n| p.pointer("/metadata/name") == Some(&json!(n))))
        .collect();
    if let (Some(name), true) = (name, wanted.is_empty()) {
        return Err(ApiError::NotFound {
            kind: Kind::Pod,
            name: name.to_string(),
        });
    }
    // Only pods the store holds, by uid: a node must not report a pod it was not given.
    let uids: HashMap<&str, ()> = wanted
        .iter()
        .filter_map(|p| p.pointer("/metadata/uid").and_then(Value::as_str))
        .map(|uid| (uid, ()))
        .collect();
    let mut nodes: Vec<NodeName> = wanted
        .iter()
        .filter_map(|p| p.pointer("/spec/nodeName").and_then(Value::as_str))
        .filter_map(|n| NodeName::new(n).ok())
        .filter(|n| tunnel.connected(n))
        .collect();
    nodes.sort();
    nodes.dedup();
    let mut found: BTreeMap<(String, String), Value> = BTreeMap::new();
    for (_, usage) in gather(tunnel, nodes).await {
        let by_uid: Vec<bool> = usage
            .pods
            .iter()
            .map(|p| uids.contains_key(p.pod.uid()))
            .collect();
        for (keep, (key, item)) in by_uid.into_iter().zip(pod_metrics(&usage, &now)) {
            if keep {
                found.insert(key, item);
            }
        }
    }
    if let Some(name) = name {
        let item = found
            .into_values()
            .next()
            .ok_or_else(|| not_found("pods", name))?;
        let item = one_document("PodMetrics", item);
        return Ok(document(StatusCode::OK, format, &item, &[]));
    }
    let list = list_document("PodMetricsList", found.into_values().collect());
    Ok(document(StatusCode::OK, format, &list, &[]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ContainerName;
    use crate::wire::tunnel::{ContainerUsage, PodUsage};
    use crate::wire::PodRef;

    #[test]
    fn usage_reads_like_metrics_server() {
        let mut containers = heapless::Vec::new();
        containers
            .push(ContainerUsage {
                name: ContainerName::new("web").unwrap(),
                cpu_nano_cores: 1_500_000,
                memory_working_set_bytes: 10 << 20,
            })
            .unwrap();
        let usage = NodeUsage {
            window_ms: 1003,
            cpu_nano_cores: 250_000_000,
            memory_working_set_bytes: 512 << 20,
            pods: vec![PodUsage {
                pod: PodRef::new("default", "web-1", "u1").unwrap(),
                containers,
            }],
        };
        let node = node_metrics("pi-2", &usage, "2026-01-01T00:00:00Z");
        assert_eq!(node["usage"]["cpu"], "250000000n");
        assert_eq!(node["usage"]["memory"], "524288Ki");
        assert_eq!(node["window"], "1003ms");
        let pods = pod_metrics(&usage, "2026-01-01T00:00:00Z");
        assert_eq!(pods[0].0, ("default".to_string(), "web-1".to_string()));
        assert_eq!(pods[0].1["containers"][0]["usage"]["cpu"], "1500000n");
        assert_eq!(pods[0].1["containers"][0]["usage"]["memory"], "10240Ki");
        for text in ["250000000n", "524288Ki"] {
            assert!(crate::api::Quantity::parse(text).is_ok(), "{text}");
        }
    }
}
