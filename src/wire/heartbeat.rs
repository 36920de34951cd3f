//! The once-a-second heartbeat and its acknowledgement. An idle heartbeat is the node's name,
//! two counters and two empty markers: everything else is sent only when it changed.
use serde::{Deserialize, Serialize};

use super::limits::NODE_CONDITIONS_MAX;
use super::names::{Epoch, Generation, NodeName};
use super::node_status::{NodeCondition, NodeStatus};

/// "I am alive", plus what changed on the node since the last acknowledged heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub node: NodeName,
    /// The highest master epoch this agent has seen; a master with a lower epoch is deposed.
    pub epoch_seen: Epoch,
    /// Counts heartbeats since the agent started (restarts at 1 with the agent): for logs and
    /// diagnostics. Ordering needs no help, each heartbeat is one request and its answer.
    pub sequence: u64,
    /// Node conditions whose status changed since the last acknowledged heartbeat.
    pub changed_conditions: heapless::Vec<NodeCondition, NODE_CONDITIONS_MAX>,
    /// The whole node status, only when something besides conditions changed or the master
    /// asked for a resync.
    pub status: Option<Box<NodeStatus>>,
}

impl Heartbeat {
    /// A heartbeat with nothing to report.
    pub fn idle(node: NodeName, epoch_seen: Epoch, sequence: u64) -> Heartbeat {
        Heartbeat {
            node,
            epoch_seen,
            sequence,
            changed_conditions: heapless::Vec::new(),
            status: None,
        }
    }
}

/// The master's answer to a heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatAck {
    /// The master's epoch (the fence).
    pub epoch: Epoch,
    /// The node's current assignment generation, so an agent whose long-poll broke notices
    /// that it is behind.
    pub generation: Generation,
    /// The master does not hold this node's status (it restarted, or this is the first
    /// heartbeat it sees): send the whole node status and every pod status again.
    pub resync: bool,
}

/// The master's answer to a pod status report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusAck {
    pub epoch: Epoch,
}
