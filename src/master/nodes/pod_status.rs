//! Live pod status, kept in memory and merged into API reads.
//!
//! How `GET pods` shows live status without a disk write per report: agents push a
//! [`PodStatusReport`] when a pod's status changes; the master keeps the newest one per pod
//! here and [`PodStatusTable::overlay`] lays it over the stored object on every read (get,
//! list, watch events). Changes are also marked dirty and the shell persists them in batches
//! (one store transaction per flush interval), so controllers watching the store see pod
//! readiness and a restarted master starts from the last flushed status. Heartbeats never touch
//! this table, and a report equal to what the table holds is not a change: an idle cluster
//! writes nothing.
use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use crate::store::Object;
use crate::wire::{
    ConditionStatus, ContainerState, ContainerStatus, NodeName, PodCondition, PodStatusReport,
};

/// RFC 3339 in UTC, as Kubernetes prints timestamps.
pub fn rfc3339(unix_s: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix_s)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_string())
}

fn condition_json(c: &PodCondition) -> Value {
    let mut out = json!({
        "type": c.kind.name(),
        "status": c.status.name(),
        "lastTransitionTime": rfc3339(c.last_transition_unix_s),
        "lastProbeTime": null,
    });
    if let Some(reason) = &c.reason {
        out["reason"] = json!(reason);
    }
    if let Some(message) = &c.message {
        out["message"] = json!(message);
    }
    out
}

fn state_json(state: &ContainerState) -> Value {
    match state {
        ContainerState::Waiting { reason, message } => {
            let mut w = json!({"reason": reason});
            if let Some(m) = message {
                w["message"] = json!(m);
            }
            json!({"waiting": w})
        }
        ContainerState::Running { started_at_unix_s } => {
            json!({"running": {"startedAt": rfc3339(*started_at_unix_s)}})
        }
        ContainerState::Terminated {
            exit_code,
            signal,
            reason,
            message,
            started_at_unix_s,
            finished_at_unix_s,
        } => {
            let mut t = json!({
                "exitCode": exit_code,
                "reason": reason,
                "startedAt": rfc3339(*started_at_unix_s),
                "finishedAt": rfc3339(*finished_at_unix_s),
            });
            if let Some(s) = signal {
                t["signal"] = json!(s);
            }
            if let Some(m) = message {
                t["message"] = json!(m);
            }
            json!({"terminated": t})
        }
    }
}

fn container_json(c: &ContainerStatus) -> Value {
    let mut out = json!({
        "name": c.name,
        "ready": c.ready,
        "started": c.started,
        "restartCount": c.restart_count,
        "state": state_json(&c.state),
        "lastState": c.last_state.as_ref().map_or(json!({}), state_json),
        "image": c.image,
        "imageID": c.image_id,
    });
    if let Some(id) = &c.container_id {
        out["containerID"] = json!(id);
    }
    out
}

/// The report in the shape of a Kubernetes `PodStatus`.
pub fn status_json(report: &PodStatusReport) -> Value {
    let mut status = Map::new();
    status.insert("phase".into(), json!(report.phase.name()));
    status.insert(
        "conditions".into(),
        Value::Array(report.conditions.iter().map(condition_json).collect()),
    );
    status.insert(
        "containerStatuses".into(),
        Value::Array(
            report
                .container_statuses
                .iter()
                .map(container_json)
                .collect(),
        ),
    );
    if !report.init_container_statuses.is_empty() {
        status.insert(
            "initContainerStatuses".into(),
            Value::Array(
                report
                    .init_container_statuses
                    .iter()
                    .map(container_json)
                    .collect(),
            ),
        );
    }
    if let Some(ip) = report.pod_ips.first() {
        status.insert("podIP".into(), json!(ip.to_string()));
        status.insert(
            "podIPs".into(),
            Value::Array(
                report
                    .pod_ips
                    .iter()
                    .map(|ip| json!({"ip": ip.to_string()}))
                    .collect(),
            ),
        );
    }
    if let Some(ip) = report.host_ip {
        status.insert("hostIP".into(), json!(ip.to_string()));
    }
    if let Some(t) = report.start_time_unix_s {
        status.insert("startTime".into(), json!(rfc3339(t)));
    }
    if let Some(reason) = &report.reason {
        status.insert("reason".into(), json!(reason));
    }
    if let Some(message) = &report.message {
        status.insert("message".into(), json!(message));
    }
    Value::Object(status)
}

/// Lays `live` over `stored`: the agent's fields replace the stored ones, conditions merge by
/// type (so the scheduler's `PodScheduled` survives), fields only the master sets (`qosClass`,
/// `nominatedNodeName`) are kept.
pub fn merge_status(stored: Option<&Value>, live: &Value) -> Value {
    let mut merged = stored
        .and_then(|s| s.as_object().cloned())
        .unwrap_or_default();
    let mut conditions: BTreeMap<String, Value> = BTreeMap::new();
    for source in [
        merged.get("conditions").cloned(),
        live.get("conditions").cloned(),
    ] {
        for c in source
            .and_then(|c| c.as_array().cloned())
            .unwrap_or_default()
        {
            if let Some(kind) = c.get("type").and_then(|t| t.as_str()) {
                conditions.insert(kind.to_string(), c.clone());
            }
        }
    }
    if let Some(live) = live.as_object() {
        for (k, v) in live {
            merged.insert(k.clone(), v.clone());
        }
    }
    merged.insert(
        "conditions".into(),
        Value::Array(conditions.into_values().collect()),
    );
    Value::Object(merged)
}

/// Where a pod lives in the API.
pub type PodKey = (String, String);

#[derive(Debug, Clone)]
struct Entry {
    uid: String,
    node: NodeName,
    status: Value,
}

/// The newest status of every pod an agent reported, and which changed since the last flush.
#[derive(Debug, Clone, Default)]
pub struct PodStatusTable {
    pods: BTreeMap<PodKey, Entry>,
    dirty: BTreeSet<PodKey>,
}

/// What recording a report did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// The status differs from what the table held: marked dirty.
    Changed,
    /// Same as held (an agent re-reporting after a resync): nothing to write.
    Unchanged,
}

impl PodStatusTable {
    /// Records an agent's report.
    pub fn record(&mut self, report: &PodStatusReport) -> Recorded {
        let key = (
            report.pod.namespace().to_string(),
            report.pod.name().to_string(),
        );
        let status = status_json(report);
        match self.pods.get_mut(&key) {
            Some(e) if e.uid == report.pod.uid() && e.status == status => Recorded::Unchanged,
            _ => {
                self.pods.insert(
                    key.clone(),
                    Entry {
                        uid: report.pod.uid().to_string(),
                        node: report.node.clone(),
                        status,
                    },
                );
                self.dirty.insert(key);
                Recorded::Changed
            }
        }
    }

    /// Seeds the table from a stored pod at start-up, so an agent re-reporting the same status
    /// after a master restart is recognised as unchanged.
    pub fn seed(&mut self, pod: &Object) {
        let text = |p: &str| pod.pointer(p).and_then(|v| v.as_str());
        let (Some(ns), Some(name), Some(uid), Some(node), Some(status)) = (
            text("/metadata/namespace"),
            text("/metadata/name"),
            text("/metadata/uid"),
            text("/spec/nodeName").and_then(|n| NodeName::new(n).ok()),
            pod.get("status"),
        ) else {
            return;
        };
        self.pods.insert(
            (ns.to_string(), name.to_string()),
            Entry {
                uid: uid.to_string(),
                node,
                status: status.clone(),
            },
        );
    }

    /// Replaces a stored pod's status with the live one, if the table has one for this very
    /// pod (same uid).
    pub fn overlay(&self, pod: &mut Object) {
        let key = match (
            pod.pointer("/metadata/namespace").and_then(|v| v.as_str()),
            pod.pointer("/metadata/name").and_then(|v| v.as_str()),
        ) {
            (Some(ns), Some(name)) => (ns.to_string(), name.to_string()),
            _ => return,
        };
        let Some(entry) = self.pods.get(&key) else {
            return;
        };
        if pod.pointer("/metadata/uid").and_then(|v| v.as_str()) != Some(entry.uid.as_str()) {
            return;
        }
        let merged = merge_status(pod.get("status"), &entry.status);
        pod["status"] = merged;
    }

    /// Marks every pod on `node` not ready (Ready and ContainersReady False, reason
    /// `NodeNotReady`), so services stop sending them traffic. Returns how many changed.
    pub fn mark_node_not_ready(&mut self, node: &NodeName, now_unix_s: i64) -> usize {
        let mut changed = 0;
        for (key, entry) in self.pods.iter_mut().filter(|(_, e)| &e.node == node) {
            let mut touched = false;
            if let Some(conditions) = entry
                .status
                .get_mut("conditions")
                .and_then(|c| c.as_array_mut())
            {
                for c in conditions.iter_mut() {
                    let kind = c.get("type").and_then(|t| t.as_str());
                    if matches!(kind, Some("Ready") | Some("ContainersReady"))
                        && c.get("status").and_then(|s| s.as_str())
                            != Some(ConditionStatus::False.name())
                    {
                        c["status"] = json!("False");
                        c["reason"] = json!("NodeNotReady");
                        c["lastTransitionTime"] = json!(rfc3339(now_unix_s));
                        touched = true;
                    }
                }
            }
            if touched {
                changed += 1;
                self.dirty.insert(key.clone());
            }
        }
        changed
    }

    /// The dirty statuses to persist, with the uid they belong to; clears the dirty set.
    pub fn take_dirty(&mut self) -> Vec<(PodKey, String, Value)> {
        let dirty = std::mem::take(&mut self.dirty);
        dirty
            .into_iter()
            .filter_map(|key| {
                let entry = self.pods.get(&key)?;
                Some((key, entry.uid.clone(), entry.status.clone()))
            })
            .collect()
    }

    /// Whether anything waits to be persisted.
    pub fn has_dirty(&self) -> bool {
        !self.dirty.is_empty()
    }

    /// Forgets a deleted pod.
    pub fn forget(&mut self, key: &PodKey) {
        self.pods.remove(key);
        self.dirty.remove(key);
    }

    /// How many pods the table holds.
    pub fn len(&self) -> usize {
        self.pods.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pods.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
    use crate::wire::{PodConditionKind, PodPhase, PodRef};

    fn report(ready: bool, restarts: u32) -> PodStatusReport {
        let mut conditions = heapless::Vec::new();
        conditions
            .push(PodCondition {
                kind: PodConditionKind::Ready,
                status: if ready {
                    ConditionStatus::True
                } else {
                    ConditionStatus::False
                },
                reason: None,
                message: None,
                last_transition_unix_s: 1_700_000_000,
            })
            .unwrap();
        let mut pod_ips = heapless::Vec::new();
        pod_ips
            .push(IpAddr::V4(Ipv4Addr::new(10, 88, 1, 5)))
            .unwrap();
        PodStatusReport {
            node: NodeName::new("pi-2").unwrap(),
            pod: PodRef::new("default", "web-1", "u1").unwrap(),
            phase: PodPhase::Running,
            conditions,
            init_container_statuses: vec![],
            container_statuses: vec![ContainerStatus {
                name: "web".into(),
                ready,
                started: true,
                restart_count: restarts,
                state: ContainerState::Running {
                    started_at_unix_s: 1_700_000_000,
                },
                last_state: None,
                image: "nginx".into(),
                image_id: "sha256:1".into(),
                container_id: None,
            }],
            pod_ips,
            host_ip: None,
            start_time_unix_s: Some(1_700_000_000),
            reason: None,
            message: None,
        }
    }

    fn stored(uid: &str) -> Object {
        json!({
            "metadata": {"name": "web-1", "namespace": "default", "uid": uid},
            "spec": {"nodeName": "pi-2"},
            "status": {"phase": "Pending", "qosClass": "BestEffort",
                       "conditions": [{"type": "PodScheduled", "status": "True"}]}
        })
    }

    #[test]
    fn a_new_report_is_a_change_and_the_same_report_again_is_not() {
        let mut table = PodStatusTable::default();
        assert_eq!(table.record(&report(true, 0)), Recorded::Changed);
        assert_eq!(table.take_dirty().len(), 1);
        assert_eq!(table.record(&report(true, 0)), Recorded::Unchanged);
        assert!(!table.has_dirty());
        assert_eq!(table.record(&report(true, 1)), Recorded::Changed);
    }

    #[test]
    fn reads_show_the_live_status_merged_over_the_stored_one() {
        let mut table = PodStatusTable::default();
        table.record(&report(true, 2));
        let mut pod = stored("u1");
        table.overlay(&mut pod);
        assert_eq!(pod["status"]["phase"], "Running");
        assert_eq!(pod["status"]["podIP"], "10.88.1.5");
        assert_eq!(pod["status"]["qosClass"], "BestEffort");
        assert_eq!(pod["status"]["containerStatuses"][0]["restartCount"], 2);
        let kinds: Vec<&str> = pod["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["type"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["PodScheduled", "Ready"]);
    }

    #[test]
    fn a_status_for_an_earlier_pod_of_the_same_name_is_not_shown() {
        let mut table = PodStatusTable::default();
        table.record(&report(true, 0));
        let mut pod = stored("u2");
        table.overlay(&mut pod);
        assert_eq!(pod["status"]["phase"], "Pending");
    }

    #[test]
    fn a_seeded_status_makes_the_same_report_after_a_master_restart_unchanged() {
        let mut first = PodStatusTable::default();
        first.record(&report(true, 0));
        let (_, _, status) = first.take_dirty().pop().unwrap();
        let mut pod = stored("u1");
        pod["status"] = status;
        let mut restarted = PodStatusTable::default();
        restarted.seed(&pod);
        assert_eq!(restarted.record(&report(true, 0)), Recorded::Unchanged);
    }

    #[test]
    fn pods_on_a_not_ready_node_are_marked_not_ready_once() {
        let mut table = PodStatusTable::default();
        table.record(&report(true, 0));
        table.take_dirty();
        let node = NodeName::new("pi-2").unwrap();
        assert_eq!(table.mark_node_not_ready(&node, 1_700_000_100), 1);
        let dirty = table.take_dirty();
        assert_eq!(dirty[0].2["conditions"][0]["status"], "False");
        assert_eq!(dirty[0].2["conditions"][0]["reason"], "NodeNotReady");
        assert_eq!(table.mark_node_not_ready(&node, 1_700_000_200), 0);
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }
}
