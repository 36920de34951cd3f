//! What an agent tells the master about its node: capacity, platform, addresses, conditions,
//! labels and taints. Sent whole after a join or a master restart, and then only when it
//! changes (heartbeats carry condition changes on their own).
use serde::{Deserialize, Serialize};

pub use crate::api::TaintEffect;

use super::limits::{
    CONDITION_MESSAGE_BYTES_MAX, NODE_ADDRESSES_MAX, NODE_CONDITIONS_MAX, NODE_LABELS_MAX,
    NODE_TAINTS_MAX, REASON_BYTES_MAX,
};

/// Cuts `text` to at most `N` bytes at a char boundary: reasons and messages are informative,
/// and a too-long one must not make a heartbeat fail.
pub fn truncated<const N: usize>(text: &str) -> heapless::String<N> {
    let mut end = text.len().min(N);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    heapless::String::try_from(&text[..end]).expect("cut to capacity")
}

/// Countable resources of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Resources {
    /// CPU in thousandths of a core (Kubernetes' `1` is 1000).
    pub cpu_milli: u64,
    pub memory_bytes: u64,
    pub pods: u32,
}

/// Kinds of node conditions, as Kubernetes names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum NodeConditionKind {
    Ready,
    MemoryPressure,
    DiskPressure,
    PIDPressure,
    NetworkUnavailable,
}

impl NodeConditionKind {
    /// The `type` field value in a Node's status.
    pub fn name(self) -> &'static str {
        match self {
            NodeConditionKind::Ready => "Ready",
            NodeConditionKind::MemoryPressure => "MemoryPressure",
            NodeConditionKind::DiskPressure => "DiskPressure",
            NodeConditionKind::PIDPressure => "PIDPressure",
            NodeConditionKind::NetworkUnavailable => "NetworkUnavailable",
        }
    }
}

/// `True`, `False` or `Unknown`, as in every Kubernetes condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}

impl ConditionStatus {
    pub fn name(self) -> &'static str {
        match self {
            ConditionStatus::True => "True",
            ConditionStatus::False => "False",
            ConditionStatus::Unknown => "Unknown",
        }
    }
}

/// One node condition as the agent sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeCondition {
    pub kind: NodeConditionKind,
    pub status: ConditionStatus,
    /// CamelCase reason (`KubeletReady`-style).
    pub reason: heapless::String<REASON_BYTES_MAX>,
    pub message: heapless::String<CONDITION_MESSAGE_BYTES_MAX>,
    /// When the status last changed, seconds since the Unix epoch.
    pub last_transition_unix_s: i64,
}

impl NodeCondition {
    /// A condition with its reason and message cut to the wire's limits.
    pub fn new(
        kind: NodeConditionKind,
        status: ConditionStatus,
        reason: &str,
        message: &str,
        last_transition_unix_s: i64,
    ) -> NodeCondition {
        NodeCondition {
            kind,
            status,
            reason: truncated(reason),
            message: truncated(message),
            last_transition_unix_s,
        }
    }
}

/// Kinds of node addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NodeAddressKind {
    InternalIP,
    ExternalIP,
    Hostname,
}

impl NodeAddressKind {
    pub fn name(self) -> &'static str {
        match self {
            NodeAddressKind::InternalIP => "InternalIP",
            NodeAddressKind::ExternalIP => "ExternalIP",
            NodeAddressKind::Hostname => "Hostname",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeAddress {
    pub kind: NodeAddressKind,
    pub address: String,
}

/// A taint the agent declares for its node (`--node-taint key=value:Effect`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Taint {
    pub key: String,
    pub value: String,
    pub effect: TaintEffect,
}

/// A node's labels as sorted pairs (`kubernetes.io/arch`, `kubernetes.io/hostname`, the
/// user's `--node-label`s).
pub type NodeLabels = heapless::Vec<(String, String), NODE_LABELS_MAX>;

/// The whole status of a node as its agent reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    pub capacity: Resources,
    pub allocatable: Resources,
    /// Go's GOARCH spelling (`arm64`, `arm`, `amd64`), as Kubernetes labels nodes.
    pub architecture: String,
    /// `linux`.
    pub operating_system: String,
    pub kernel_version: String,
    /// `PRETTY_NAME` of /etc/os-release.
    pub os_image: String,
    pub agent_version: String,
    /// /proc/sys/kernel/random/boot_id: tells a reboot from an agent restart.
    pub boot_id: String,
    pub addresses: heapless::Vec<NodeAddress, NODE_ADDRESSES_MAX>,
    pub conditions: heapless::Vec<NodeCondition, NODE_CONDITIONS_MAX>,
    pub labels: NodeLabels,
    pub taints: heapless::Vec<Taint, NODE_TAINTS_MAX>,
}

impl NodeStatus {
    /// The condition of `kind`, if the agent reports it.
    pub fn condition(&self, kind: NodeConditionKind) -> Option<&NodeCondition> {
        self.conditions.iter().find(|c| c.kind == kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_stops_at_a_char_boundary() {
        let cut: heapless::String<4> = truncated("abcdé");
        assert_eq!(cut.as_str(), "abcd");
        let cut: heapless::String<5> = truncated("abcdé");
        assert_eq!(cut.as_str(), "abcd");
        let cut: heapless::String<6> = truncated("abcdé");
        assert_eq!(cut.as_str(), "abcdé");
    }

    #[test]
    fn more_conditions_than_the_bound_are_refused_on_decode() {
        let c = NodeCondition::new(
            NodeConditionKind::Ready,
            ConditionStatus::True,
            "Ready",
            "",
            0,
        );
        let six: Vec<NodeCondition> = std::iter::repeat_n(c, 6).collect();
        let bytes = postcard::to_stdvec(&six).unwrap();
        assert!(
            postcard::from_bytes::<heapless::Vec<NodeCondition, NODE_CONDITIONS_MAX>>(&bytes)
                .is_err()
        );
    }
}
