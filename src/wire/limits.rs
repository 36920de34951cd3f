//! Size limits of the agent protocol, in bytes, one per route. The HTTP layer refuses a body
//! over its route's limit before decoding it.

/// A join request: a token, a node name and a CSR (a P-256 CSR is well under 1 KiB in PEM).
pub const JOIN_REQUEST_BYTES_MAX: usize = 16 * 1024;

/// A join response: the node certificate and the CA certificate, PEM.
pub const JOIN_RESPONSE_BYTES_MAX: usize = 32 * 1024;

/// A heartbeat. An idle one is a few dozen bytes; one carrying a full node status (labels,
/// taints, addresses) stays well under this.
pub const HEARTBEAT_BYTES_MAX: usize = 64 * 1024;

/// One pod status report (several containers with their states and messages).
pub const POD_STATUS_BYTES_MAX: usize = 64 * 1024;

/// An assignment set: every pod bound to a node with the config maps and secrets they use.
/// Matches the API server's request body limit, since every object in it came through the API.
pub const ASSIGNMENTS_BYTES_MAX: usize = 4 * 1024 * 1024;

/// Small messages without a route of their own (acks, refusals, not-modified replies).
pub const SMALL_MESSAGE_BYTES_MAX: usize = 8 * 1024;

/// Longest free-text reason on a condition (`KubeletReady`-style CamelCase words).
pub const REASON_BYTES_MAX: usize = 64;

/// Longest free-text message on a node condition; longer messages are cut at a char boundary.
pub const CONDITION_MESSAGE_BYTES_MAX: usize = 192;

/// Node conditions Flotilla knows (Ready, MemoryPressure, DiskPressure, PIDPressure,
/// NetworkUnavailable), so a heartbeat can never carry more.
pub const NODE_CONDITIONS_MAX: usize = 5;

/// Addresses a node reports (InternalIP v4 and v6, Hostname, a few extra interfaces).
pub const NODE_ADDRESSES_MAX: usize = 8;

/// Taints a node may declare on its command line.
pub const NODE_TAINTS_MAX: usize = 16;

/// Labels a node may declare on its command line, besides the well-known ones.
pub const NODE_LABELS_MAX: usize = 64;

/// Containers (init and app) in one pod status report.
pub const CONTAINERS_PER_POD_MAX: usize = 32;

/// Pods one node may be assigned (the kubelet's default `maxPods` is 110).
pub const PODS_PER_NODE_MAX: usize = 256;

/// A requests poll answer: a few tunnel requests (an exec's command is bounded by
/// `tunnel::EXEC_COMMAND_BYTES_MAX`).
pub const TUNNEL_REQUESTS_BYTES_MAX: usize = 256 * 1024;
