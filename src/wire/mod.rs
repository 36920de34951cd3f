//! The agent protocol: postcard messages between master and agents, in a versioned envelope.
//!
//! Postcard is not self-describing, so every message travels as `Envelope { version, body }`
//! where `body` is the one [`Message`] enum: a peer speaking another version is refused with
//! [`WireError::UnsupportedVersion`] before a single field of the body is read, and a message of
//! the wrong kind for a route is refused by name rather than misread as another one.
//!
//! Everything that crosses the wire is bounded: names are validated on decode, small repeated
//! parts (node conditions, addresses, taints) are `heapless` collections, and each route has a
//! body limit in bytes ([`limits`]).
pub mod assignments;
pub mod envelope;
pub mod heartbeat;
pub mod join;
pub mod limits;
pub mod names;
pub mod node_status;
pub mod pod_status;
pub mod refusal;
pub mod tunnel;

pub use assignments::{Assignments, AssignmentsRequest, AssignmentsUnchanged, ObjectJson};
pub use envelope::{decode, decode_as, encode, Envelope, Message, WIRE_VERSION};
pub use heartbeat::{Heartbeat, HeartbeatAck, StatusAck};
pub use join::{Ipv4Cidr, JoinRequest, JoinResponse, RenewRequest, TokenId, TokenSecret};
pub use names::{Epoch, Generation, NameError, NodeName, PodRef, PodRefError};
pub use node_status::{
    ConditionStatus, NodeAddress, NodeAddressKind, NodeCondition, NodeConditionKind, NodeStatus,
    Resources, Taint,
};
pub use pod_status::{
    ContainerState, ContainerStatus, PodCondition, PodConditionKind, PodPhase, PodStatusReport,
};
pub use refusal::{Refusal, RefusalReason};
pub use tunnel::{
    ExecCall, FailureReason, FrameReader, LogsCall, NodeUsage, RequestId, TunnelCall,
    TunnelFailure, TunnelFrame, TunnelRequest, TunnelRequests,
};

/// Why bytes could not become a message, or a message could not become bytes.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// the peer speaks a protocol version this build does not
    #[error("unsupported wire version {got} (this build speaks version {supported}); upgrade the older of master and agent")]
    UnsupportedVersion { got: u16, supported: u16 },
    /// the body is larger than the route allows
    #[error("{what} is {size_bytes} bytes, over the limit of {limit_bytes} bytes")]
    TooLarge {
        what: &'static str,
        size_bytes: usize,
        limit_bytes: usize,
    },
    /// the message decoded but is not the kind the caller expected
    #[error("expected a {expected} message, got {got}")]
    UnexpectedMessage {
        expected: &'static str,
        got: &'static str,
    },
    /// postcard could not decode or encode the body
    #[error("malformed {what}: {source}")]
    Postcard {
        what: &'static str,
        source: postcard::Error,
    },
    /// bytes were left over after the message: a framing error or a peer on another layout
    #[error("{trailing_bytes} trailing bytes after the message")]
    Trailing { trailing_bytes: usize },
    /// a framed stream ended inside a frame
    #[error("the stream ended inside a frame ({buffered_bytes} bytes of it received)")]
    Truncated { buffered_bytes: usize },
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::pod_status::PodConditionKind;
    use super::*;
    use crate::api::TaintEffect;

    fn node() -> NodeName {
        NodeName::new("pi-2").unwrap()
    }

    fn node_status() -> NodeStatus {
        let mut status = NodeStatus {
            capacity: Resources {
                cpu_milli: 4000,
                memory_bytes: 4 << 30,
                pods: 110,
            },
            allocatable: Resources {
                cpu_milli: 3800,
                memory_bytes: (4 << 30) - (256 << 20),
                pods: 110,
            },
            architecture: "arm64".into(),
            operating_system: "linux".into(),
            kernel_version: "6.6.31+rpt-rpi-v8".into(),
            os_image: "Debian GNU/Linux 12 (bookworm)".into(),
            agent_version: "0.1.0".into(),
            boot_id: "5d4b2b1e-6f0e-4c55-9d0b-2f1b2c3d4e5f".into(),
            addresses: heapless::Vec::new(),
            conditions: heapless::Vec::new(),
            labels: heapless::Vec::new(),
            taints: heapless::Vec::new(),
        };
        status
            .addresses
            .push(NodeAddress {
                kind: NodeAddressKind::InternalIP,
                address: "192.168.1.12".into(),
            })
            .unwrap();
        status
            .conditions
            .push(NodeCondition::new(
                NodeConditionKind::Ready,
                ConditionStatus::True,
                "AgentReady",
                "agent is posting ready status",
                1_700_000_000,
            ))
            .unwrap();
        status
            .labels
            .push(("kubernetes.io/arch".into(), "arm64".into()))
            .unwrap();
        status
            .taints
            .push(Taint {
                key: "dedicated".into(),
                value: "camera".into(),
                effect: TaintEffect::NoSchedule,
            })
            .unwrap();
        status
    }

    fn samples() -> Vec<Message> {
        let pod = PodRef::new(
            "default",
            "web-7d4f9-abcde",
            "0b5c7c1e-1111-2222-3333-444455556666",
        )
        .unwrap();
        let mut busy = Heartbeat::idle(node(), Epoch(4), 1234);
        busy.changed_conditions
            .push(NodeCondition::new(
                NodeConditionKind::DiskPressure,
                ConditionStatus::True,
                "DiskPressure",
                "less than 10% free on /var/lib/flotilla",
                1_700_000_100,
            ))
            .unwrap();
        busy.status = Some(Box::new(node_status()));
        let mut conditions = heapless::Vec::new();
        conditions
            .push(PodCondition {
                kind: PodConditionKind::Ready,
                status: ConditionStatus::True,
                reason: None,
                message: None,
                last_transition_unix_s: 1_700_000_050,
            })
            .unwrap();
        let mut pod_ips = heapless::Vec::new();
        pod_ips
            .push(IpAddr::V4(Ipv4Addr::new(10, 88, 2, 7)))
            .unwrap();
        vec![
            Message::JoinRequest(JoinRequest {
                token_id: TokenId::new("a1b2c3").unwrap(),
                token_secret: TokenSecret::new("0123456789abcdef").unwrap(),
                node: node(),
                csr_pem:
                    "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n"
                        .into(),
            }),
            Message::JoinResponse(JoinResponse {
                node_cert_pem: "cert".into(),
                ca_pem: "ca".into(),
                pod_cidr: "10.88.2.0/24".parse().unwrap(),
                epoch: Epoch(4),
            }),
            Heartbeat::idle(node(), Epoch(4), 1).into(),
            busy.into(),
            Message::HeartbeatAck(HeartbeatAck {
                epoch: Epoch(4),
                generation: Generation(12),
                resync: true,
            }),
            Message::AssignmentsRequest(AssignmentsRequest {
                node: node(),
                after: Generation(11),
                epoch_seen: Epoch(4),
            }),
            Message::Assignments(Assignments {
                epoch: Epoch(4),
                generation: Generation(12),
                pods: vec![ObjectJson::from_value(&serde_json::json!({
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "web", "namespace": "default"},
                    "spec": {"containers": [{"name": "web", "image": "nginx"}]}
                }))
                .unwrap()],
                config_maps: vec![],
                secrets: vec![],
            }),
            Message::AssignmentsUnchanged(AssignmentsUnchanged {
                epoch: Epoch(4),
                generation: Generation(12),
            }),
            Message::from(PodStatusReport {
                node: node(),
                pod,
                phase: PodPhase::Running,
                conditions,
                init_container_statuses: vec![],
                container_statuses: vec![ContainerStatus {
                    name: "web".into(),
                    ready: true,
                    started: true,
                    restart_count: 2,
                    state: ContainerState::Running {
                        started_at_unix_s: 1_700_000_040,
                    },
                    last_state: Some(ContainerState::Terminated {
                        exit_code: 137,
                        signal: Some(9),
                        reason: "OOMKilled".into(),
                        message: None,
                        started_at_unix_s: 1_700_000_000,
                        finished_at_unix_s: 1_700_000_030,
                    }),
                    image: "nginx:1.27".into(),
                    image_id: "sha256:abcd".into(),
                    container_id: Some("flotilla://0123".into()),
                }],
                pod_ips,
                host_ip: Some(IpAddr::V4(Ipv4Addr::new(192, 168, 1, 12))),
                start_time_unix_s: Some(1_700_000_000),
                reason: None,
                message: None,
            }),
            Message::StatusAck(StatusAck { epoch: Epoch(4) }),
            node_status().into(),
            Message::Refusal(Refusal::new(
                RefusalReason::TokenExpired,
                "join token a1b2c3 expired at 2026-11-21T10:00:00Z",
            )),
            Message::RenewRequest(RenewRequest {
                node: node(),
                csr_pem: "csr".into(),
            }),
            Message::TunnelRequests(TunnelRequests {
                epoch: Epoch(4),
                requests: vec![TunnelRequest {
                    id: RequestId(1),
                    call: TunnelCall::Stats,
                }],
            }),
            Message::TunnelFrame(TunnelFrame::Output(b"line\n".to_vec())),
        ]
    }

    #[test]
    fn every_message_kind_round_trips() {
        for message in samples() {
            let bytes = encode(&message).unwrap();
            let back = decode(&bytes, limits::ASSIGNMENTS_BYTES_MAX)
                .unwrap_or_else(|e| panic!("{}: {e}", message.kind()));
            assert_eq!(back, message);
        }
    }

    #[test]
    fn an_idle_heartbeat_is_a_few_bytes_more_than_the_node_name() {
        let bytes = encode(&Message::from(Heartbeat::idle(node(), Epoch(4), 86_400))).unwrap();
        println!("idle heartbeat of node pi-2: {} bytes", bytes.len());
        // version (1) + variant (1) + name length (1) + "pi-2" (4) + epoch (1) + sequence (3)
        // + no conditions (1) + no status (1).
        assert_eq!(bytes.len(), 13);
    }

    #[test]
    fn a_heartbeat_with_a_full_node_status_fits_its_route_limit() {
        let busy = samples().into_iter().nth(3).unwrap();
        let bytes = encode(&busy).unwrap();
        assert!(bytes.len() < limits::HEARTBEAT_BYTES_MAX);
    }

    #[test]
    fn the_variant_order_is_part_of_the_protocol() {
        // Appending variants keeps old agents working; reordering silently breaks them. This
        // pins the first byte after the version of every kind.
        let tags: Vec<(&str, u8)> = samples()
            .iter()
            .map(|m| (m.kind(), encode(m).unwrap()[1]))
            .collect();
        assert_eq!(
            tags,
            vec![
                ("JoinRequest", 0),
                ("JoinResponse", 1),
                ("Heartbeat", 2),
                ("Heartbeat", 2),
                ("HeartbeatAck", 3),
                ("AssignmentsRequest", 4),
                ("Assignments", 5),
                ("AssignmentsUnchanged", 6),
                ("PodStatusReport", 7),
                ("StatusAck", 8),
                ("NodeStatus", 9),
                ("Refusal", 10),
                ("RenewRequest", 11),
                ("TunnelRequests", 12),
                ("TunnelFrame", 13),
            ]
        );
    }
}
