//! The reverse tunnel: how the master reaches an agent that dialled out (a node behind NAT).
//! The agent keeps a long-poll open for [`TunnelRequests`]; for each [`TunnelRequest`] it
//! POSTs an answer whose body is a stream of length-prefixed [`TunnelFrame`]s:
//!
//! ```text
//! answer body = frame*      frame = u32 big-endian length ‖ envelope(Message::TunnelFrame)
//! ```
//!
//! The first frame says how the request went: `Failed` (and nothing after it), `Exited` for an
//! exec (its output follows as `Output` frames), `Output` for a log, `Stats` for statistics.
//! [`FrameReader`] decodes such a stream from chunks as they arrive, without I/O.
use serde::{Deserialize, Serialize};

use super::envelope::{decode, encode, Message};
use super::names::{Epoch, PodRef};
use super::WireError;
use crate::api::ContainerName;

/// Requests handed to an agent in one poll answer.
pub const REQUESTS_PER_POLL_MAX: usize = 8;
/// The longest encoded frame (a statistics frame of a full node is the largest).
pub const FRAME_BYTES_MAX: usize = 1024 * 1024;
/// Output bytes per `Output` frame.
pub const OUTPUT_CHUNK_BYTES_MAX: usize = 16 * 1024;
/// Output of one exec kept and sent; beyond it the output is cut and marked truncated. Well
/// under the runtime helper's frame limit (1 MiB), which carries the output to the agent.
pub const EXEC_OUTPUT_BYTES_MAX: usize = 512 * 1024;
/// Arguments of one exec command, all together.
pub const EXEC_COMMAND_BYTES_MAX: usize = 16 * 1024;
/// Arguments of one exec command.
pub const EXEC_ARGS_MAX: usize = 256;
/// The longest exec a client may ask for.
pub const EXEC_TIMEOUT_MAX_S: u32 = 3600;
/// Longest message of a `Failed` frame; longer ones are cut at a char boundary.
pub const FAILURE_MESSAGE_BYTES_MAX: usize = 1024;
/// Containers of one pod in a statistics frame.
pub const STATS_CONTAINERS_PER_POD_MAX: usize = 32;

/// A request's number, unique within one master process.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
pub struct RequestId(pub u64);

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What the master asks of an agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TunnelCall {
    /// A container's log (`kubectl logs`).
    Logs(LogsCall),
    /// A command run in a container, its output collected (non-interactive `kubectl exec`).
    Exec(ExecCall),
    /// CPU and memory of the node and of its pods' containers, from cgroup statistics.
    Stats,
}

impl TunnelCall {
    /// The call's kind, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            TunnelCall::Logs(_) => "logs",
            TunnelCall::Exec(_) => "exec",
            TunnelCall::Stats => "stats",
        }
    }
}

/// A container's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogsCall {
    pub pod: PodRef,
    pub container: ContainerName,
    /// Keep sending new lines until the container stops or the client goes away.
    pub follow: bool,
    /// The instance before the last restart.
    pub previous: bool,
    /// Only the last N lines of what is kept.
    pub tail_lines: Option<u64>,
    /// Each line prefixed with its RFC 3339 time.
    pub timestamps: bool,
}

/// A command to run in a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ExecCallWire")]
pub struct ExecCall {
    pub pod: PodRef,
    pub container: ContainerName,
    command: Vec<String>,
    pub timeout_s: u32,
}

#[derive(Deserialize)]
struct ExecCallWire {
    pod: PodRef,
    container: ContainerName,
    command: Vec<String>,
    timeout_s: u32,
}

impl TryFrom<ExecCallWire> for ExecCall {
    type Error = ExecCallError;
    fn try_from(wire: ExecCallWire) -> Result<ExecCall, ExecCallError> {
        ExecCall::new(wire.pod, wire.container, wire.command, wire.timeout_s)
    }
}

/// An exec command that cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecCallError {
    #[error("the command is empty")]
    Empty,
    #[error("the command has {args} arguments, over the limit of {EXEC_ARGS_MAX}")]
    TooManyArgs { args: usize },
    #[error("the command is {size_bytes} bytes long, over the limit of {EXEC_COMMAND_BYTES_MAX}")]
    TooLong { size_bytes: usize },
    #[error("timeout of {timeout_s} s: must be 1 to {EXEC_TIMEOUT_MAX_S} seconds")]
    Timeout { timeout_s: u32 },
}

impl ExecCall {
    /// Checks the command's bounds.
    pub fn new(
        pod: PodRef,
        container: ContainerName,
        command: Vec<String>,
        timeout_s: u32,
    ) -> Result<ExecCall, ExecCallError> {
        if command.is_empty() {
            return Err(ExecCallError::Empty);
        }
        if command.len() > EXEC_ARGS_MAX {
            return Err(ExecCallError::TooManyArgs {
                args: command.len(),
            });
        }
        let size_bytes: usize = command.iter().map(String::len).sum();
        if size_bytes > EXEC_COMMAND_BYTES_MAX {
            return Err(ExecCallError::TooLong { size_bytes });
        }
        if timeout_s == 0 || timeout_s > EXEC_TIMEOUT_MAX_S {
            return Err(ExecCallError::Timeout { timeout_s });
        }
        Ok(ExecCall {
            pod,
            container,
            command,
            timeout_s,
        })
    }

    pub fn command(&self) -> &[String] {
        &self.command
    }
}

/// One request in a poll answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelRequest {
    pub id: RequestId,
    pub call: TunnelCall,
}

/// The answer to the agent's requests long-poll: what is queued for it (nothing when the
/// poll's time ran out), with the master's epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelRequests {
    pub epoch: Epoch,
    pub requests: Vec<TunnelRequest>,
}

/// Why an agent could not serve a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FailureReason {
    /// the pod or container is not on this node, or the log does not exist
    NotFound,
    /// the request cannot be served as asked (no previous instance, container not running)
    BadRequest,
    /// the agent is too busy or its runtime failed
    Unavailable,
}

/// A request that failed on the agent, with a message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelFailure {
    pub reason: FailureReason,
    pub message: String,
}

impl TunnelFailure {
    /// A failure, its message cut to [`FAILURE_MESSAGE_BYTES_MAX`].
    pub fn new(reason: FailureReason, message: impl Into<String>) -> TunnelFailure {
        let mut message = message.into();
        if message.len() > FAILURE_MESSAGE_BYTES_MAX {
            let mut end = FAILURE_MESSAGE_BYTES_MAX;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
        }
        TunnelFailure { reason, message }
    }
}

/// How an exec ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecExit {
    /// The exit code, when the command exited.
    pub exit_code: Option<i32>,
    /// The signal that killed it, when one did.
    pub signal: Option<i32>,
    /// Killed because it ran past its timeout.
    pub timed_out: bool,
    /// The output was longer than [`EXEC_OUTPUT_BYTES_MAX`] and was cut.
    pub output_truncated: bool,
}

/// CPU and memory use of one container, over the sampling window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerUsage {
    pub name: ContainerName,
    /// Average CPU use in nano-cores (1 core = 10⁹).
    pub cpu_nano_cores: u64,
    /// Memory in use minus inactive file cache (the kubelet's working set).
    pub memory_working_set_bytes: u64,
}

/// The usage of one pod's running containers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodUsage {
    pub pod: PodRef,
    pub containers: heapless::Vec<ContainerUsage, STATS_CONTAINERS_PER_POD_MAX>,
}

/// A node's statistics: its own use and its pods'.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeUsage {
    /// The window the CPU averages cover.
    pub window_ms: u32,
    pub cpu_nano_cores: u64,
    pub memory_working_set_bytes: u64,
    pub pods: Vec<PodUsage>,
}

/// One frame of an answer body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TunnelFrame {
    /// The request failed; nothing follows.
    Failed(TunnelFailure),
    /// Bytes of a log or of an exec's output.
    Output(Vec<u8>),
    /// An exec ended; its output follows.
    Exited(ExecExit),
    /// The answer to a statistics request.
    Stats(Box<NodeUsage>),
}

/// Encodes one frame with its length prefix.
pub fn encode_frame(frame: TunnelFrame) -> Result<Vec<u8>, WireError> {
    let body = encode(&Message::TunnelFrame(frame))?;
    if body.len() > FRAME_BYTES_MAX {
        return Err(WireError::TooLarge {
            what: "tunnel frame",
            size_bytes: body.len(),
            limit_bytes: FRAME_BYTES_MAX,
        });
    }
    let mut bytes = Vec::with_capacity(4 + body.len());
    bytes.extend_from_slice(&(body.len() as u32).to_be_bytes());
    bytes.extend_from_slice(&body);
    Ok(bytes)
}

/// Decodes frames from an answer body fed in chunks. Holds at most one partial frame plus
/// the chunk being read; a frame declaring more than its limit is refused before its bytes
/// arrive.
#[derive(Debug)]
pub struct FrameReader {
    buffer: Vec<u8>,
    frame_bytes_max: usize,
}

impl Default for FrameReader {
    fn default() -> FrameReader {
        FrameReader::new(FRAME_BYTES_MAX)
    }
}

impl FrameReader {
    pub fn new(frame_bytes_max: usize) -> FrameReader {
        FrameReader {
            buffer: Vec::new(),
            frame_bytes_max,
        }
    }

    /// Adds bytes as they arrived.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The next complete frame, `None` when more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<TunnelFrame>, WireError> {
        let Some(prefix) = self.buffer.first_chunk::<4>() else {
            return Ok(None);
        };
        let length = u32::from_be_bytes(*prefix) as usize;
        if length > self.frame_bytes_max {
            return Err(WireError::TooLarge {
                what: "tunnel frame",
                size_bytes: length,
                limit_bytes: self.frame_bytes_max,
            });
        }
        if self.buffer.len() < 4 + length {
            return Ok(None);
        }
        let message = decode(&self.buffer[4..4 + length], self.frame_bytes_max);
        self.buffer.drain(..4 + length);
        match message? {
            Message::TunnelFrame(frame) => Ok(Some(frame)),
            other => Err(WireError::UnexpectedMessage {
                expected: "TunnelFrame",
                got: other.kind(),
            }),
        }
    }

    /// Checks that the body ended between frames.
    pub fn finish(&self) -> Result<(), WireError> {
        if self.buffer.is_empty() {
            Ok(())
        } else {
            Err(WireError::Truncated {
                buffered_bytes: self.buffer.len(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod() -> PodRef {
        PodRef::new("default", "web-1", "u-1").unwrap()
    }

    fn frames() -> Vec<TunnelFrame> {
        let mut containers = heapless::Vec::new();
        containers
            .push(ContainerUsage {
                name: ContainerName::new("web").unwrap(),
                cpu_nano_cores: 12_000_000,
                memory_working_set_bytes: 3 << 20,
            })
            .unwrap();
        vec![
            TunnelFrame::Exited(ExecExit {
                exit_code: Some(3),
                signal: None,
                timed_out: false,
                output_truncated: false,
            }),
            TunnelFrame::Output(b"hello\n".to_vec()),
            TunnelFrame::Output(vec![0u8; OUTPUT_CHUNK_BYTES_MAX]),
            TunnelFrame::Failed(TunnelFailure::new(FailureReason::NotFound, "no such pod")),
            TunnelFrame::Stats(Box::new(NodeUsage {
                window_ms: 1000,
                cpu_nano_cores: 250_000_000,
                memory_working_set_bytes: 512 << 20,
                pods: vec![PodUsage {
                    pod: pod(),
                    containers,
                }],
            })),
        ]
    }

    #[test]
    fn frames_split_anywhere_come_out_whole_and_in_order() {
        let mut stream = Vec::new();
        for frame in frames() {
            stream.extend(encode_frame(frame).unwrap());
        }
        for chunk_bytes in [1, 3, 7, 4096, stream.len()] {
            let mut reader = FrameReader::default();
            let mut got = Vec::new();
            for chunk in stream.chunks(chunk_bytes) {
                reader.push(chunk);
                while let Some(frame) = reader.next_frame().unwrap() {
                    got.push(frame);
                }
            }
            reader.finish().unwrap();
            assert_eq!(got, frames(), "chunks of {chunk_bytes} bytes");
        }
    }

    #[test]
    fn a_frame_declaring_more_than_the_limit_is_refused_before_its_bytes_arrive() {
        let mut reader = FrameReader::new(64);
        reader.push(&1000u32.to_be_bytes());
        assert!(matches!(
            reader.next_frame(),
            Err(WireError::TooLarge {
                size_bytes: 1000,
                limit_bytes: 64,
                ..
            })
        ));
    }

    #[test]
    fn a_body_cut_inside_a_frame_is_truncated() {
        let bytes = encode_frame(TunnelFrame::Output(b"abc".to_vec())).unwrap();
        let mut reader = FrameReader::default();
        reader.push(&bytes[..bytes.len() - 1]);
        assert_eq!(reader.next_frame().unwrap(), None);
        assert!(matches!(reader.finish(), Err(WireError::Truncated { .. })));
    }

    #[test]
    fn exec_commands_are_bounded_when_built_and_when_decoded() {
        let container = ContainerName::new("web").unwrap();
        assert_eq!(
            ExecCall::new(pod(), container.clone(), vec![], 10),
            Err(ExecCallError::Empty)
        );
        assert!(matches!(
            ExecCall::new(pod(), container.clone(), vec!["x".repeat(20_000)], 10),
            Err(ExecCallError::TooLong { .. })
        ));
        assert!(matches!(
            ExecCall::new(pod(), container.clone(), vec!["true".into()], 0),
            Err(ExecCallError::Timeout { .. })
        ));
        let call = ExecCall::new(pod(), container, vec!["sh".into(), "-c".into()], 10).unwrap();
        let requests = Message::TunnelRequests(TunnelRequests {
            epoch: Epoch(3),
            requests: vec![TunnelRequest {
                id: RequestId(9),
                call: TunnelCall::Exec(call),
            }],
        });
        let bytes = encode(&requests).unwrap();
        assert_eq!(decode(&bytes, 4096).unwrap(), requests);
        #[derive(Serialize)]
        struct Raw {
            pod: PodRef,
            container: String,
            command: Vec<String>,
            timeout_s: u32,
        }
        let raw = postcard::to_stdvec(&Raw {
            pod: pod(),
            container: "web".into(),
            command: vec![],
            timeout_s: 10,
        })
        .unwrap();
        assert!(postcard::from_bytes::<ExecCall>(&raw).is_err());
    }

    #[test]
    fn long_failure_messages_are_cut_at_a_char_boundary() {
        let failure = TunnelFailure::new(FailureReason::BadRequest, "é".repeat(1000));
        assert!(failure.message.len() <= FAILURE_MESSAGE_BYTES_MAX);
        assert!(failure.message.chars().all(|c| c == 'é'));
    }
}
