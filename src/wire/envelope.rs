//! The versioned envelope every agent-protocol message travels in, and the one enum of
//! messages. New variants are only ever appended, so an older peer still reads the ones it
//! knows; a change to an existing layout bumps [`WIRE_VERSION`].
use serde::{Deserialize, Serialize};

use super::assignments::{Assignments, AssignmentsRequest, AssignmentsUnchanged};
use super::heartbeat::{Heartbeat, HeartbeatAck, StatusAck};
use super::join::{JoinRequest, JoinResponse, RenewRequest};
use super::node_status::NodeStatus;
use super::pod_status::PodStatusReport;
use super::refusal::Refusal;
use super::tunnel::{TunnelFrame, TunnelRequests};
use super::WireError;

/// The protocol version this build speaks.
pub const WIRE_VERSION: u16 = 1;

/// What goes on the wire: the version first, so a reader can refuse a body it cannot read
/// before trying to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<B> {
    pub version: u16,
    pub body: B,
}

/// Every message of the agent protocol. The kinds with inline `heapless` parts are boxed so
/// that every other message stays small.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Message {
    JoinRequest(JoinRequest),
    JoinResponse(JoinResponse),
    Heartbeat(Box<Heartbeat>),
    HeartbeatAck(HeartbeatAck),
    AssignmentsRequest(AssignmentsRequest),
    Assignments(Assignments),
    AssignmentsUnchanged(AssignmentsUnchanged),
    PodStatusReport(Box<PodStatusReport>),
    StatusAck(StatusAck),
    NodeStatus(Box<NodeStatus>),
    Refusal(Refusal),
    RenewRequest(RenewRequest),
    TunnelRequests(TunnelRequests),
    TunnelFrame(TunnelFrame),
}

impl Message {
    /// The message's kind, for error messages and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::JoinRequest(_) => "JoinRequest",
            Message::JoinResponse(_) => "JoinResponse",
            Message::Heartbeat(_) => "Heartbeat",
            Message::HeartbeatAck(_) => "HeartbeatAck",
            Message::AssignmentsRequest(_) => "AssignmentsRequest",
            Message::Assignments(_) => "Assignments",
            Message::AssignmentsUnchanged(_) => "AssignmentsUnchanged",
            Message::PodStatusReport(_) => "PodStatusReport",
            Message::StatusAck(_) => "StatusAck",
            Message::NodeStatus(_) => "NodeStatus",
            Message::Refusal(_) => "Refusal",
            Message::RenewRequest(_) => "RenewRequest",
            Message::TunnelRequests(_) => "TunnelRequests",
            Message::TunnelFrame(_) => "TunnelFrame",
        }
    }
}

macro_rules! message_kind {
    ($($ty:ident),* ; boxed $($boxed:ident),* $(,)?) => {
        $(
            impl From<$ty> for Message {
                fn from(body: $ty) -> Message {
                    Message::$ty(body)
                }
            }
            impl TryFrom<Message> for $ty {
                type Error = WireError;
                fn try_from(message: Message) -> Result<$ty, WireError> {
                    match message {
                        Message::$ty(body) => Ok(body),
                        other => Err(WireError::UnexpectedMessage {
                            expected: stringify!($ty),
                            got: other.kind(),
                        }),
                    }
                }
            }
        )*
        $(
            impl From<$boxed> for Message {
                fn from(body: $boxed) -> Message {
                    Message::$boxed(Box::new(body))
                }
            }
            impl TryFrom<Message> for $boxed {
                type Error = WireError;
                fn try_from(message: Message) -> Result<$boxed, WireError> {
                    match message {
                        Message::$boxed(body) => Ok(*body),
                        other => Err(WireError::UnexpectedMessage {
                            expected: stringify!($boxed),
                            got: other.kind(),
                        }),
                    }
                }
            }
        )*
    };
}

message_kind!(
    JoinRequest,
    JoinResponse,
    HeartbeatAck,
    AssignmentsRequest,
    Assignments,
    AssignmentsUnchanged,
    StatusAck,
    Refusal,
    RenewRequest,
    TunnelRequests,
    TunnelFrame;
    boxed Heartbeat,
    PodStatusReport,
    NodeStatus,
);

/// Encodes a message in the current envelope.
pub fn encode(message: &Message) -> Result<Vec<u8>, WireError> {
    postcard::to_stdvec(&Envelope {
        version: WIRE_VERSION,
        body: message,
    })
    .map_err(|source| WireError::Postcard {
        what: message.kind(),
        source,
    })
}

/// Decodes an envelope of at most `limit_bytes`, refusing other versions and trailing bytes.
pub fn decode(bytes: &[u8], limit_bytes: usize) -> Result<Message, WireError> {
    if bytes.len() > limit_bytes {
        return Err(WireError::TooLarge {
            what: "message",
            size_bytes: bytes.len(),
            limit_bytes,
        });
    }
    let (version, rest) =
        postcard::take_from_bytes::<u16>(bytes).map_err(|source| WireError::Postcard {
            what: "envelope version",
            source,
        })?;
    if version != WIRE_VERSION {
        return Err(WireError::UnsupportedVersion {
            got: version,
            supported: WIRE_VERSION,
        });
    }
    let (message, rest) =
        postcard::take_from_bytes::<Message>(rest).map_err(|source| WireError::Postcard {
            what: "message body",
            source,
        })?;
    if !rest.is_empty() {
        return Err(WireError::Trailing {
            trailing_bytes: rest.len(),
        });
    }
    Ok(message)
}

/// Decodes an envelope that must hold a message of type `T` (a [`Refusal`] included: callers
/// that expect refusals decode a [`Message`] instead).
pub fn decode_as<T>(bytes: &[u8], limit_bytes: usize) -> Result<T, WireError>
where
    T: TryFrom<Message, Error = WireError>,
{
    T::try_from(decode(bytes, limit_bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Epoch, Generation, NodeName};

    fn ack() -> Message {
        Message::HeartbeatAck(HeartbeatAck {
            epoch: Epoch(3),
            generation: Generation(7),
            resync: false,
        })
    }

    #[test]
    fn a_message_round_trips_through_the_envelope() {
        let bytes = encode(&ack()).unwrap();
        assert_eq!(decode(&bytes, 64).unwrap(), ack());
    }

    #[test]
    fn the_version_comes_first_on_the_wire() {
        let bytes = encode(&ack()).unwrap();
        assert_eq!(bytes[0] as u16, WIRE_VERSION);
    }

    #[test]
    fn an_unknown_version_is_refused_before_the_body_is_read() {
        let mut bytes = postcard::to_stdvec(&Envelope {
            version: 2u16,
            body: ack(),
        })
        .unwrap();
        let err = decode(&bytes, 64).unwrap_err();
        assert!(matches!(
            err,
            WireError::UnsupportedVersion {
                got: 2,
                supported: 1
            }
        ));
        assert!(err.to_string().contains("unsupported wire version 2"));
        // Even a body that is garbage for version 1 reports the version, not a decode error.
        bytes.truncate(1);
        bytes.extend_from_slice(&[0xff; 8]);
        assert!(matches!(
            decode(&bytes, 64),
            Err(WireError::UnsupportedVersion { .. })
        ));
    }

    #[test]
    fn a_body_over_the_limit_is_refused_without_decoding() {
        let bytes = encode(&ack()).unwrap();
        assert!(matches!(
            decode(&bytes, 2),
            Err(WireError::TooLarge { limit_bytes: 2, .. })
        ));
    }

    #[test]
    fn trailing_bytes_are_an_error() {
        let mut bytes = encode(&ack()).unwrap();
        bytes.push(0);
        assert!(matches!(
            decode(&bytes, 64),
            Err(WireError::Trailing { trailing_bytes: 1 })
        ));
    }

    #[test]
    fn a_message_of_the_wrong_kind_is_refused_by_name() {
        let bytes = encode(&ack()).unwrap();
        let err = decode_as::<Heartbeat>(&bytes, 64).unwrap_err();
        assert_eq!(
            err.to_string(),
            "expected a Heartbeat message, got HeartbeatAck"
        );
    }

    #[test]
    fn truncated_input_is_a_decode_error() {
        let hb = Message::from(Heartbeat::idle(NodeName::new("pi-2").unwrap(), Epoch(1), 9));
        let bytes = encode(&hb).unwrap();
        assert!(matches!(
            decode(&bytes[..bytes.len() - 1], 64),
            Err(WireError::Postcard { .. })
        ));
    }
}
