//! Editing Node objects as the store keeps them (JSON): the join's claim and pod CIDR, the
//! agent-reported status, conditions and the lifecycle's NoExecute taints. Pure functions: the
//! service decides when a changed object is worth a write (only when it actually changed).
use serde_json::{json, Value};

use crate::store::Object;
use crate::wire::{ConditionStatus, Ipv4Cidr, NodeCondition, NodeName, NodeStatus};

use super::join::KEY_ANNOTATION;
use super::pod_status::rfc3339;

/// A new Node object for a node that just joined.
pub fn new_node(node: &NodeName) -> Object {
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": node.as_str(), "labels": {}, "annotations": {}},
        "spec": {},
        "status": {}
    })
}

/// The key claim recorded on a Node object, if any.
pub fn key_claim(node: &Object) -> Option<&str> {
    node.pointer("/metadata/annotations")
        .and_then(|a| a.get(KEY_ANNOTATION))
        .and_then(|k| k.as_str())
}

/// The pod CIDR recorded on a Node object, if any and valid.
pub fn pod_cidr(node: &Object) -> Option<Ipv4Cidr> {
    node.pointer("/spec/podCIDR")
        .and_then(|c| c.as_str())
        .and_then(|c| c.parse().ok())
}

fn object_at<'a>(value: &'a mut Value, key: &str) -> &'a mut serde_json::Map<String, Value> {
    if !value.get(key).is_some_and(|v| v.is_object()) {
        value[key] = json!({});
    }
    value[key].as_object_mut().expect("just made an object")
}

/// Records the join: the key claim and the pod CIDR.
pub fn apply_join(node: &mut Object, key_sha256: &str, cidr: Ipv4Cidr) {
    let meta = object_at(node, "metadata");
    let annotations = meta.entry("annotations").or_insert_with(|| json!({}));
    if !annotations.is_object() {
        *annotations = json!({});
    }
    annotations[KEY_ANNOTATION] = json!(key_sha256);
    let spec = object_at(node, "spec");
    spec.insert("podCIDR".into(), json!(cidr.to_string()));
    spec.insert("podCIDRs".into(), json!([cidr.to_string()]));
}

fn condition_json(c: &NodeCondition, heartbeat_unix_s: i64) -> Value {
    json!({
        "type": c.kind.name(),
        "status": c.status.name(),
        "reason": c.reason.as_str(),
        "message": c.message.as_str(),
        "lastTransitionTime": rfc3339(c.last_transition_unix_s),
        "lastHeartbeatTime": rfc3339(heartbeat_unix_s),
    })
}

/// Sets one condition by type, keeping `lastTransitionTime` when the status did not change.
/// `lastHeartbeatTime` is only written together with a real change (reads overlay the live
/// one), so a heartbeat never makes the object differ.
pub fn set_condition(node: &mut Object, condition: &NodeCondition, now_unix_s: i64) {
    let status = object_at(node, "status");
    let conditions = status.entry("conditions").or_insert_with(|| json!([]));
    if !conditions.is_array() {
        *conditions = json!([]);
    }
    let list = conditions.as_array_mut().expect("just made an array");
    let kind = condition.kind.name();
    match list.iter_mut().find(|c| c["type"] == kind) {
        Some(existing) => {
            let same = existing["status"] == condition.status.name()
                && existing["reason"] == condition.reason.as_str()
                && existing["message"] == condition.message.as_str();
            if !same {
                let mut updated = condition_json(condition, now_unix_s);
                if existing["status"] == condition.status.name() {
                    updated["lastTransitionTime"] = existing["lastTransitionTime"].clone();
                }
                *existing = updated;
            }
        }
        None => list.push(condition_json(condition, now_unix_s)),
    }
}

/// The Ready condition the master writes when the agent stops heartbeating.
pub fn unreachable_condition(now_unix_s: i64) -> NodeCondition {
    NodeCondition::new(
        crate::wire::NodeConditionKind::Ready,
        ConditionStatus::Unknown,
        "NodeStatusUnknown",
        "Flotilla agent stopped posting node status.",
        now_unix_s,
    )
}

/// Adds (`present`) or removes a NoExecute taint with this key and no value.
pub fn set_no_execute_taint(node: &mut Object, key: &str, present: bool, now_unix_s: i64) {
    let spec = object_at(node, "spec");
    let taints = spec.entry("taints").or_insert_with(|| json!([]));
    if !taints.is_array() {
        *taints = json!([]);
    }
    let list = taints.as_array_mut().expect("just made an array");
    let has = list
        .iter()
        .any(|t| t["key"] == key && t["effect"] == "NoExecute");
    if present && !has {
        list.push(json!({"key": key, "effect": "NoExecute", "timeAdded": rfc3339(now_unix_s)}));
    } else if !present && has {
        list.retain(|t| !(t["key"] == key && t["effect"] == "NoExecute"));
    }
    if list.is_empty() {
        spec.remove("taints");
    }
}

/// Lays the agent's whole status over the Node object: capacity, allocatable, node info,
/// addresses, the agent's conditions, its labels (merged over the object's, so labels an
/// administrator added stay) and its declared taints (added when absent; removing one is the
/// administrator's call).
pub fn apply_status(node: &mut Object, status: &NodeStatus, now_unix_s: i64) {
    let resources = |r: &crate::wire::Resources| {
        json!({
            "cpu": if r.cpu_milli % 1000 == 0 { format!("{}", r.cpu_milli / 1000) } else { format!("{}m", r.cpu_milli) },
            "memory": if r.memory_bytes % 1024 == 0 { format!("{}Ki", r.memory_bytes / 1024) } else { r.memory_bytes.to_string() },
            "pods": r.pods.to_string(),
        })
    };
    {
        let s = object_at(node, "status");
        s.insert("capacity".into(), resources(&status.capacity));
        s.insert("allocatable".into(), resources(&status.allocatable));
        s.insert(
            "nodeInfo".into(),
            json!({
                "architecture": status.architecture,
                "operatingSystem": status.operating_system,
                "kernelVersion": status.kernel_version,
                "osImage": status.os_image,
                "kubeletVersion": status.agent_version,
                "containerRuntimeVersion": format!("flotilla://{}", status.agent_version),
                "bootID": status.boot_id,
            }),
        );
        s.insert(
            "addresses".into(),
            Value::Array(
                status
                    .addresses
                    .iter()
                    .map(|a| json!({"type": a.kind.name(), "address": a.address}))
                    .collect(),
            ),
        );
    }
    for condition in &status.conditions {
        set_condition(node, condition, now_unix_s);
    }
    let meta = object_at(node, "metadata");
    let labels = meta.entry("labels").or_insert_with(|| json!({}));
    if !labels.is_object() {
        *labels = json!({});
    }
    for (k, v) in &status.labels {
        labels[k.as_str()] = json!(v);
    }
    let spec = object_at(node, "spec");
    let taints = spec.entry("taints").or_insert_with(|| json!([]));
    if !taints.is_array() {
        *taints = json!([]);
    }
    let list = taints.as_array_mut().expect("just made an array");
    for taint in &status.taints {
        let effect = json!(taint.effect);
        if !list
            .iter()
            .any(|t| t["key"] == taint.key.as_str() && t["effect"] == effect)
        {
            let mut t = json!({"key": taint.key, "effect": effect});
            if !taint.value.is_empty() {
                t["value"] = json!(taint.value);
            }
            list.push(t);
        }
    }
    if list.is_empty() {
        spec.remove("taints");
    }
}

/// Sets `lastHeartbeatTime` of every condition to the live heartbeat, for reads.
pub fn overlay_heartbeat(node: &mut Object, heartbeat_unix_s: i64) {
    if let Some(conditions) = node
        .pointer_mut("/status/conditions")
        .and_then(|c| c.as_array_mut())
    {
        for c in conditions {
            c["lastHeartbeatTime"] = json!(rfc3339(heartbeat_unix_s));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::NodeConditionKind;

    fn node() -> Object {
        new_node(&NodeName::new("pi-2").unwrap())
    }

    #[test]
    fn a_join_records_the_key_claim_and_the_pod_cidr() {
        let mut n = node();
        apply_join(&mut n, "abcd", "10.88.1.0/24".parse().unwrap());
        assert_eq!(key_claim(&n), Some("abcd"));
        assert_eq!(pod_cidr(&n).unwrap().to_string(), "10.88.1.0/24");
        assert_eq!(n["spec"]["podCIDRs"][0], "10.88.1.0/24");
    }

    #[test]
    fn setting_the_same_condition_again_changes_nothing() {
        let mut n = node();
        let ready = NodeCondition::new(
            NodeConditionKind::Ready,
            ConditionStatus::True,
            "AgentReady",
            "ok",
            100,
        );
        set_condition(&mut n, &ready, 100);
        let before = n.clone();
        set_condition(&mut n, &ready, 200);
        assert_eq!(n, before);
    }

    #[test]
    fn a_condition_status_change_moves_its_transition_time() {
        let mut n = node();
        set_condition(
            &mut n,
            &NodeCondition::new(
                NodeConditionKind::Ready,
                ConditionStatus::True,
                "AgentReady",
                "",
                100,
            ),
            100,
        );
        set_condition(&mut n, &unreachable_condition(200), 200);
        assert_eq!(n["status"]["conditions"][0]["status"], "Unknown");
        assert_eq!(
            n["status"]["conditions"][0]["lastTransitionTime"],
            rfc3339(200)
        );
    }

    #[test]
    fn no_execute_taints_are_added_once_and_removed() {
        let mut n = node();
        set_no_execute_taint(&mut n, "node.kubernetes.io/unreachable", true, 1);
        set_no_execute_taint(&mut n, "node.kubernetes.io/unreachable", true, 2);
        assert_eq!(n["spec"]["taints"].as_array().unwrap().len(), 1);
        set_no_execute_taint(&mut n, "node.kubernetes.io/unreachable", false, 3);
        assert!(n["spec"].get("taints").is_none());
    }

    #[test]
    fn reads_show_the_live_heartbeat_time() {
        let mut n = node();
        set_condition(&mut n, &unreachable_condition(100), 100);
        overlay_heartbeat(&mut n, 500);
        assert_eq!(
            n["status"]["conditions"][0]["lastHeartbeatTime"],
            rfc3339(500)
        );
    }
}
