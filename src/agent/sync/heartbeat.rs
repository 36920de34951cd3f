//! Building heartbeats, sans-IO: the node's current status in, the smallest heartbeat that
//! tells the master what changed since its last acknowledgement out.
use crate::wire::{Epoch, Heartbeat, HeartbeatAck, NodeCondition, NodeName, NodeStatus};

/// What the master has acknowledged, and the sequence counter.
#[derive(Debug, Clone)]
pub struct HeartbeatState {
    node: NodeName,
    sequence: u64,
    /// The status the master last acknowledged; `None` until it acknowledged a full one, or
    /// after it asked for a resync.
    acked: Option<NodeStatus>,
}

/// A heartbeat and the status it brings the master up to, to remember once acknowledged.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub heartbeat: Heartbeat,
    pub status: NodeStatus,
}

fn without_conditions(status: &NodeStatus) -> NodeStatus {
    let mut s = status.clone();
    s.conditions.clear();
    s
}

impl HeartbeatState {
    pub fn new(node: NodeName) -> HeartbeatState {
        HeartbeatState {
            node,
            sequence: 0,
            acked: None,
        }
    }

    /// The next heartbeat: the whole status if the master has none or anything besides
    /// conditions changed; otherwise only the conditions that changed; usually nothing.
    pub fn next(&mut self, current: &NodeStatus, epoch_seen: Epoch) -> Outgoing {
        self.sequence += 1;
        let mut heartbeat = Heartbeat::idle(self.node.clone(), epoch_seen, self.sequence);
        match &self.acked {
            Some(acked) if without_conditions(acked) == without_conditions(current) => {
                for condition in &current.conditions {
                    let before: Option<&NodeCondition> = acked.condition(condition.kind);
                    if before != Some(condition) {
                        // Both are bounded by the number of condition kinds.
                        let _ = heartbeat.changed_conditions.push(condition.clone());
                    }
                }
            }
            _ => heartbeat.status = Some(Box::new(current.clone())),
        }
        Outgoing {
            heartbeat,
            status: current.clone(),
        }
    }

    /// The master acknowledged `sent`. Returns whether it asked for a resync (then the next
    /// heartbeat carries the whole status and every pod status must be reported again).
    pub fn acknowledged(&mut self, sent: Outgoing, ack: &HeartbeatAck) -> bool {
        if ack.resync && sent.heartbeat.status.is_none() {
            self.acked = None;
            true
        } else {
            self.acked = Some(sent.status);
            ack.resync
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{ConditionStatus, Generation, NodeConditionKind, Resources};

    fn status(disk_pressure: bool) -> NodeStatus {
        let mut s = NodeStatus {
            capacity: Resources::default(),
            allocatable: Resources::default(),
            architecture: "arm64".into(),
            operating_system: "linux".into(),
            kernel_version: "6.6".into(),
            os_image: "Debian".into(),
            agent_version: "0.1.0".into(),
            boot_id: "b".into(),
            addresses: heapless::Vec::new(),
            conditions: heapless::Vec::new(),
            labels: heapless::Vec::new(),
            taints: heapless::Vec::new(),
        };
        s.conditions
            .push(NodeCondition::new(
                NodeConditionKind::Ready,
                ConditionStatus::True,
                "AgentReady",
                "",
                1,
            ))
            .unwrap();
        s.conditions
            .push(NodeCondition::new(
                NodeConditionKind::DiskPressure,
                if disk_pressure {
                    ConditionStatus::True
                } else {
                    ConditionStatus::False
                },
                "",
                "",
                1,
            ))
            .unwrap();
        s
    }

    fn ack(resync: bool) -> HeartbeatAck {
        HeartbeatAck {
            epoch: Epoch(1),
            generation: Generation(1),
            resync,
        }
    }

    fn state() -> HeartbeatState {
        HeartbeatState::new(NodeName::new("pi-2").unwrap())
    }

    #[test]
    fn the_first_heartbeat_carries_the_whole_status() {
        let mut s = state();
        assert!(s.next(&status(false), Epoch(1)).heartbeat.status.is_some());
    }

    #[test]
    fn once_acknowledged_an_unchanged_node_sends_idle_heartbeats() {
        let mut s = state();
        let first = s.next(&status(false), Epoch(1));
        s.acknowledged(first, &ack(false));
        let hb = s.next(&status(false), Epoch(1)).heartbeat;
        assert!(hb.status.is_none());
        assert!(hb.changed_conditions.is_empty());
        assert_eq!(hb.sequence, 2);
    }

    #[test]
    fn a_changed_condition_travels_alone() {
        let mut s = state();
        let first = s.next(&status(false), Epoch(1));
        s.acknowledged(first, &ack(false));
        let hb = s.next(&status(true), Epoch(1)).heartbeat;
        assert!(hb.status.is_none());
        assert_eq!(hb.changed_conditions.len(), 1);
        assert_eq!(
            hb.changed_conditions[0].kind,
            NodeConditionKind::DiskPressure
        );
    }

    #[test]
    fn a_change_is_resent_until_acknowledged() {
        let mut s = state();
        let first = s.next(&status(false), Epoch(1));
        s.acknowledged(first, &ack(false));
        // This one is lost: never acknowledged.
        let _lost = s.next(&status(true), Epoch(1));
        assert_eq!(
            s.next(&status(true), Epoch(1))
                .heartbeat
                .changed_conditions
                .len(),
            1
        );
    }

    #[test]
    fn a_resync_request_brings_back_the_whole_status() {
        let mut s = state();
        let first = s.next(&status(false), Epoch(1));
        s.acknowledged(first, &ack(false));
        let idle = s.next(&status(false), Epoch(1));
        assert!(s.acknowledged(idle, &ack(true)));
        assert!(s.next(&status(false), Epoch(2)).heartbeat.status.is_some());
    }

    #[test]
    fn another_field_change_sends_the_whole_status() {
        let mut s = state();
        let first = s.next(&status(false), Epoch(1));
        s.acknowledged(first, &ack(false));
        let mut changed = status(false);
        changed.kernel_version = "6.7".into();
        assert!(s.next(&changed, Epoch(1)).heartbeat.status.is_some());
    }
}
