//! The pod runtime of a cluster agent: [`PodRuntime`] over the agent daemon (`daemon::Agent`,
//! its pod manager and object set). Desired sets are applied by one task, newest wins, so a
//! burst of assignments never runs two reconciles at once; pod statuses are the pod manager's
//! views converted to the wire form.
use std::net::IpAddr;
use std::sync::Arc;

use tokio::sync::watch;

use crate::agent::daemon::Agent;
use crate::agent::pods::PodView;
use crate::api;
use crate::wire::{
    ConditionStatus, ContainerState, ContainerStatus, NodeName, PodCondition, PodConditionKind,
    PodPhase, PodRef, PodStatusReport,
};

use super::runtime::{DesiredPods, PodRuntime};

/// The agent daemon as the sync loop sees it.
pub struct AgentPods {
    agent: Arc<Agent>,
    node: NodeName,
    desired: watch::Sender<Option<DesiredPods>>,
    changes: watch::Sender<u64>,
}

impl AgentPods {
    /// Starts the applier (ends when the returned value is dropped) and the status forwarder
    /// (ends with the daemon's status channel).
    pub fn start(agent: Arc<Agent>, node: NodeName) -> Arc<AgentPods> {
        let (desired, mut wanted) = watch::channel(None::<DesiredPods>);
        let (changes, _) = watch::channel(0u64);
        let pods = Arc::new(AgentPods {
            agent: agent.clone(),
            node,
            desired,
            changes: changes.clone(),
        });
        tokio::spawn({
            let agent = agent.clone();
            async move {
                while wanted.changed().await.is_ok() {
                    let next = wanted.borrow_and_update().clone();
                    if let Some(next) = next {
                        apply(&agent, next).await;
                    }
                }
            }
        });
        let mut statuses = agent.statuses();
        tokio::spawn(async move {
            while statuses.changed().await.is_ok() {
                changes.send_modify(|n| *n += 1);
            }
        });
        pods
    }
}

/// Decodes a desired set into the model and hands it to the daemon: objects first, so a pod
/// starting right away finds its config maps and secrets.
async fn apply(agent: &Agent, desired: DesiredPods) {
    fn decode_all<T: serde::de::DeserializeOwned>(
        what: &str,
        objects: &[crate::wire::ObjectJson],
    ) -> Vec<T> {
        objects
            .iter()
            .filter_map(|o| match o.decode::<T>() {
                Ok(value) => Some(value),
                Err(e) => {
                    tracing::warn!(error = %e, "skipping an assigned {what} that does not decode");
                    None
                }
            })
            .collect()
    }
    let config_maps = decode_all::<api::ConfigMap>("config map", &desired.config_maps);
    let secrets = decode_all::<api::Secret>("secret", &desired.secrets);
    let pods = decode_all::<api::Pod>("pod", &desired.pods);
    agent.objects.replace(config_maps, secrets);
    agent.set_desired(pods).await;
}

impl PodRuntime for AgentPods {
    fn set_desired(&self, desired: DesiredPods) {
        self.desired.send_replace(Some(desired));
    }

    fn statuses(&self) -> Vec<PodStatusReport> {
        self.agent
            .statuses()
            .borrow()
            .values()
            .filter(|view| !view.deleting)
            .filter_map(|view| report_of(&self.node, view))
            .collect()
    }

    fn status_changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }
}

fn unix(time: Option<api::Time>) -> i64 {
    time.map_or(0, |t| t.unix_seconds())
}

fn condition_status(status: api::ConditionStatus) -> ConditionStatus {
    match status {
        api::ConditionStatus::True => ConditionStatus::True,
        api::ConditionStatus::False => ConditionStatus::False,
        api::ConditionStatus::Unknown => ConditionStatus::Unknown,
    }
}

fn condition_kind(name: &str) -> Option<PodConditionKind> {
    Some(match name {
        "PodScheduled" => PodConditionKind::PodScheduled,
        "PodReadyToStartContainers" => PodConditionKind::PodReadyToStartContainers,
        "Initialized" => PodConditionKind::Initialized,
        "ContainersReady" => PodConditionKind::ContainersReady,
        "Ready" => PodConditionKind::Ready,
        _ => return None,
    })
}

fn state_of(state: &api::ContainerState) -> ContainerState {
    if let Some(running) = &state.running {
        return ContainerState::Running {
            started_at_unix_s: unix(running.started_at),
        };
    }
    if let Some(t) = &state.terminated {
        return ContainerState::Terminated {
            exit_code: t.exit_code,
            signal: t.signal,
            reason: t.reason.clone().unwrap_or_default(),
            message: t.message.clone(),
            started_at_unix_s: unix(t.started_at),
            finished_at_unix_s: unix(t.finished_at),
        };
    }
    let waiting = state.waiting.clone().unwrap_or_default();
    ContainerState::Waiting {
        reason: waiting
            .reason
            .unwrap_or_else(|| "ContainerCreating".to_string()),
        message: waiting.message,
    }
}

fn container_of(status: &api::ContainerStatus) -> ContainerStatus {
    ContainerStatus {
        name: status.name.clone(),
        ready: status.ready,
        started: status.started.unwrap_or(false),
        restart_count: status.restart_count.max(0) as u32,
        state: status.state.as_ref().map_or(
            ContainerState::Waiting {
                reason: "ContainerCreating".into(),
                message: None,
            },
            state_of,
        ),
        last_state: status
            .last_state
            .as_ref()
            .filter(|s| s.running.is_some() || s.terminated.is_some() || s.waiting.is_some())
            .map(state_of),
        image: status.image.clone(),
        image_id: status.image_id.clone(),
        container_id: status.container_id.clone(),
    }
}

/// The wire report of one pod the daemon runs; `None` for a pod without a usable identity.
pub fn report_of(node: &NodeName, view: &PodView) -> Option<PodStatusReport> {
    let meta = &view.pod.metadata;
    let pod = PodRef::new(
        meta.namespace_or_default(),
        meta.name.clone(),
        meta.uid.clone(),
    )
    .ok()?;
    let status = &view.status;
    let mut conditions = heapless::Vec::new();
    for c in &status.conditions {
        if let Some(kind) = condition_kind(&c.type_) {
            let _ = conditions.push(PodCondition {
                kind,
                status: condition_status(c.status),
                reason: c.reason.clone(),
                message: c.message.clone(),
                last_transition_unix_s: unix(c.last_transition_time),
            });
        }
    }
    let mut pod_ips = heapless::Vec::new();
    for ip in status
        .pod_ips
        .iter()
        .map(|p| p.ip.as_str())
        .chain(status.pod_ip.as_deref())
        .filter_map(|ip| ip.parse::<IpAddr>().ok())
    {
        if !pod_ips.contains(&ip) {
            let _ = pod_ips.push(ip);
        }
    }
    Some(PodStatusReport {
        node: node.clone(),
        pod,
        phase: match status.phase.unwrap_or_default() {
            api::PodPhase::Pending => PodPhase::Pending,
            api::PodPhase::Running => PodPhase::Running,
            api::PodPhase::Succeeded => PodPhase::Succeeded,
            api::PodPhase::Failed => PodPhase::Failed,
            api::PodPhase::Unknown => PodPhase::Unknown,
        },
        conditions,
        init_container_statuses: status
            .init_container_statuses
            .iter()
            .map(container_of)
            .collect(),
        container_statuses: status.container_statuses.iter().map(container_of).collect(),
        pod_ips,
        host_ip: status.host_ip.as_deref().and_then(|ip| ip.parse().ok()),
        start_time_unix_s: status.start_time.map(|t| t.unix_seconds()),
        reason: status.reason.clone(),
        message: status.message.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::master::nodes::pod_status::status_json;

    fn view(status: serde_json::Value) -> PodView {
        let pod: api::Pod = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-1", "namespace": "default", "uid": "u1"},
            "spec": {"containers": [{"name": "web", "image": "busybox"}]}
        }))
        .unwrap();
        PodView {
            pod: Arc::new(pod),
            status: serde_json::from_value(status).unwrap(),
            deleting: false,
            containers: vec![],
        }
    }

    #[test]
    fn a_pod_managers_status_survives_the_trip_to_the_masters_json() {
        let status = serde_json::json!({
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-22T04:00:00Z"}],
            "hostIP": "192.168.1.12",
            "podIP": "10.88.0.5",
            "podIPs": [{"ip": "10.88.0.5"}],
            "startTime": "2026-11-22T04:00:00Z",
            "containerStatuses": [{
                "name": "web", "ready": true, "restartCount": 2, "started": true,
                "image": "busybox", "imageID": "sha256:ab", "containerID": "flotilla://c1",
                "state": {"running": {"startedAt": "2026-11-22T04:00:01Z"}},
                "lastState": {"terminated": {"exitCode": 137, "signal": 9, "reason": "OOMKilled",
                    "startedAt": "2026-11-22T03:59:00Z", "finishedAt": "2026-11-22T04:00:00Z"}}
            }]
        });
        let report = report_of(&NodeName::new("pi-2").unwrap(), &view(status.clone())).unwrap();
        assert_eq!(report.pod_ips.len(), 1);
        let json = status_json(&report);
        let back: api::PodStatus = serde_json::from_value(json).unwrap();
        let expected: api::PodStatus = serde_json::from_value(status).unwrap();
        assert_eq!(back.phase, expected.phase);
        assert_eq!(back.pod_ip, expected.pod_ip);
        assert_eq!(back.host_ip, expected.host_ip);
        assert_eq!(back.start_time, expected.start_time);
        assert_eq!(back.conditions[0].status, expected.conditions[0].status);
        assert_eq!(back.container_statuses, expected.container_statuses);
    }

    #[test]
    fn a_container_without_state_is_creating() {
        let status =
            serde_json::json!({"phase": "Pending", "containerStatuses": [{"name": "web"}]});
        let report = report_of(&NodeName::new("pi-2").unwrap(), &view(status)).unwrap();
        assert!(matches!(
            &report.container_statuses[0].state,
            ContainerState::Waiting { reason, .. } if reason == "ContainerCreating"
        ));
        assert!(report.container_statuses[0].last_state.is_none());
    }
}
