//! A pod's observed status as the agent reports it, on change only: phase, conditions,
//! container states and restarts, addresses.
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::names::{NodeName, PodRef};
use super::node_status::ConditionStatus;

/// Kubernetes' pod phases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PodPhase {
    Pending,
    Running,
    Succeeded,
    Failed,
    Unknown,
}

impl PodPhase {
    pub fn name(self) -> &'static str {
        match self {
            PodPhase::Pending => "Pending",
            PodPhase::Running => "Running",
            PodPhase::Succeeded => "Succeeded",
            PodPhase::Failed => "Failed",
            PodPhase::Unknown => "Unknown",
        }
    }
}

/// Kinds of pod conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PodConditionKind {
    PodScheduled,
    PodReadyToStartContainers,
    Initialized,
    ContainersReady,
    Ready,
}

impl PodConditionKind {
    pub fn name(self) -> &'static str {
        match self {
            PodConditionKind::PodScheduled => "PodScheduled",
            PodConditionKind::PodReadyToStartContainers => "PodReadyToStartContainers",
            PodConditionKind::Initialized => "Initialized",
            PodConditionKind::ContainersReady => "ContainersReady",
            PodConditionKind::Ready => "Ready",
        }
    }
}

/// Pod condition kinds there are, so a report can never carry more conditions.
pub const POD_CONDITIONS_MAX: usize = 5;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodCondition {
    pub kind: PodConditionKind,
    pub status: ConditionStatus,
    pub reason: Option<String>,
    pub message: Option<String>,
    pub last_transition_unix_s: i64,
}

/// What a container is doing, as in Kubernetes' `ContainerState`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContainerState {
    Waiting {
        /// `ContainerCreating`, `CrashLoopBackOff`, `ErrImagePull`, …
        reason: String,
        message: Option<String>,
    },
    Running {
        started_at_unix_s: i64,
    },
    Terminated {
        exit_code: i32,
        signal: Option<i32>,
        /// `Completed`, `Error`, `OOMKilled`.
        reason: String,
        message: Option<String>,
        started_at_unix_s: i64,
        finished_at_unix_s: i64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerStatus {
    pub name: String,
    pub ready: bool,
    pub started: bool,
    pub restart_count: u32,
    pub state: ContainerState,
    /// The previous run's end, after a restart.
    pub last_state: Option<ContainerState>,
    pub image: String,
    /// `sha256:…` of the image the container runs.
    pub image_id: String,
    /// `flotilla://<id>`, Kubernetes' `<runtime>://<id>` form.
    pub container_id: Option<String>,
}

/// A pod's status, sent by the agent of the node it runs on whenever it changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodStatusReport {
    pub node: NodeName,
    pub pod: PodRef,
    pub phase: PodPhase,
    pub conditions: heapless::Vec<PodCondition, POD_CONDITIONS_MAX>,
    pub init_container_statuses: Vec<ContainerStatus>,
    pub container_statuses: Vec<ContainerStatus>,
    /// The pod's addresses (the first is `status.podIP`); empty before its network is up.
    pub pod_ips: heapless::Vec<IpAddr, 2>,
    pub host_ip: Option<IpAddr>,
    pub start_time_unix_s: Option<i64>,
    /// A CamelCase reason for the phase (`Evicted`, `NodeLost`).
    pub reason: Option<String>,
    pub message: Option<String>,
}
