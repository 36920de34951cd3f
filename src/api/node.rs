//! `v1/Node`: a machine that runs pods, written by its agent (capacity, conditions, addresses,
//! system info) and by people (taints, unschedulable).
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::meta::{condition_is_true, Condition, ConditionStatus, ObjectMeta};
use super::omit::is_false;
use super::quantity::Quantity;
use super::time::Time;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: NodeSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<NodeStatus>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSpec {
    /// The node's pod subnet (a /24 of the cluster CIDR).
    #[serde(rename = "podCIDR", default, skip_serializing_if = "Option::is_none")]
    pub pod_cidr: Option<String>,
    #[serde(rename = "podCIDRs", default, skip_serializing_if = "Vec::is_empty")]
    pub pod_cidrs: Vec<String>,
    /// Cordoned: no new pods are scheduled here.
    #[serde(default, skip_serializing_if = "is_false")]
    pub unschedulable: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taints: Vec<Taint>,
}

/// Repels pods that do not tolerate it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Taint {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    pub effect: TaintEffect,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_added: Option<Time>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TaintEffect {
    /// New pods are not scheduled here.
    NoSchedule,
    /// The scheduler avoids the node when it can.
    PreferNoSchedule,
    /// Running pods that do not tolerate it are evicted.
    NoExecute,
}

/// Taint keys the node lifecycle sets.
pub mod taint_key {
    pub const NOT_READY: &str = "node.kubernetes.io/not-ready";
    pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
    pub const UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
}

/// Well-known node labels.
pub mod node_label {
    pub const HOSTNAME: &str = "kubernetes.io/hostname";
    pub const ARCH: &str = "kubernetes.io/arch";
    pub const OS: &str = "kubernetes.io/os";
    pub const ROLE_PREFIX: &str = "node-role.kubernetes.io/";
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub capacity: BTreeMap<String, Quantity>,
    /// What pods may use: capacity minus what the system keeps.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub allocatable: BTreeMap<String, Quantity>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<NodeCondition>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<NodeAddress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_info: Option<NodeSystemInfo>,
}

/// Node condition types.
pub mod node_condition {
    pub const READY: &str = "Ready";
    pub const MEMORY_PRESSURE: &str = "MemoryPressure";
    pub const DISK_PRESSURE: &str = "DiskPressure";
    pub const PID_PRESSURE: &str = "PIDPressure";
    pub const NETWORK_UNAVAILABLE: &str = "NetworkUnavailable";
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeCondition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: ConditionStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_heartbeat_time: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl Condition for NodeCondition {
    fn condition_type(&self) -> &str {
        &self.type_
    }
    fn status(&self) -> ConditionStatus {
        self.status
    }
}

/// `InternalIP`, `ExternalIP` or `Hostname`, and its value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeAddress {
    #[serde(rename = "type")]
    pub type_: String,
    pub address: String,
}

/// What the agent reports about its machine.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSystemInfo {
    /// `arm64`, `arm`, `amd64`.
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub operating_system: String,
    #[serde(default)]
    pub kernel_version: String,
    /// The agent's version (kubelet's slot in Kubernetes).
    #[serde(default)]
    pub kubelet_version: String,
    #[serde(default)]
    pub os_image: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub container_runtime_version: String,
    #[serde(
        rename = "machineID",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub machine_id: String,
    #[serde(rename = "bootID", default, skip_serializing_if = "String::is_empty")]
    pub boot_id: String,
}

impl Node {
    /// Whether the node's `Ready` condition is `True`.
    pub fn is_ready(&self) -> bool {
        self.status
            .as_ref()
            .is_some_and(|s| condition_is_true(&s.conditions, node_condition::READY))
    }

    /// The condition of the given type, if reported.
    pub fn condition(&self, condition_type: &str) -> Option<&NodeCondition> {
        self.status
            .as_ref()
            .and_then(|s| super::meta::find_condition(&s.conditions, condition_type))
    }

    /// Allocatable cpu in millicores (0 when not reported).
    pub fn allocatable_cpu_milli(&self) -> i64 {
        self.status
            .as_ref()
            .and_then(|s| s.allocatable.get("cpu"))
            .map_or(0, Quantity::milli_value)
    }

    /// Allocatable memory in bytes (0 when not reported).
    pub fn allocatable_memory_bytes(&self) -> i64 {
        self.status
            .as_ref()
            .and_then(|s| s.allocatable.get("memory"))
            .map_or(0, Quantity::value)
    }

    /// The machine architecture the agent reported (`arm64`, `arm`, `amd64`).
    pub fn architecture(&self) -> Option<&str> {
        self.status
            .as_ref()
            .and_then(|s| s.node_info.as_ref())
            .map(|i| i.architecture.as_str())
            .filter(|a| !a.is_empty())
    }

    /// The first `InternalIP` address, if reported.
    pub fn internal_ip(&self) -> Option<&str> {
        self.status.as_ref().and_then(|s| {
            s.addresses
                .iter()
                .find(|a| a.type_ == "InternalIP")
                .map(|a| a.address.as_str())
        })
    }
}
