//! The scheduler's view of a pod: what it requests and what it demands of a node.
use crate::api::{Protocol, Toleration};

/// Kubernetes' assumed cpu request of a container that requests none, used only for scoring
/// (`DefaultMilliCPURequest`), so that pods without requests still spread.
pub const DEFAULT_SCORE_MILLI_CPU: u64 = 100;
/// Kubernetes' assumed memory request of a container that requests none, used only for
/// scoring (`DefaultMemoryRequest`, 200 MiB).
pub const DEFAULT_SCORE_MEMORY_BYTES: u64 = 200 * 1024 * 1024;

/// A host port a pod's container asks for: two pods cannot share one on a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HostPort {
    pub protocol: Protocol,
    pub port: u16,
}

/// A pod as the scheduler sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PodRequest {
    /// The pod's `metadata.uid`; feeds the deterministic tie-break.
    pub uid: String,
    /// Effective requests for fitting: `max(sum of containers, max of init containers)`.
    pub milli_cpu: u64,
    pub memory_bytes: u64,
    /// Requests for scoring, with Kubernetes' defaults for containers that request nothing.
    pub score_milli_cpu: u64,
    pub score_memory_bytes: u64,
    /// `spec.nodeSelector`, as pairs sorted by key.
    pub node_selector: Vec<(String, String)>,
    pub tolerations: Vec<Toleration>,
    pub host_ports: Vec<HostPort>,
    /// The controller owning the pod (its uid); pods of one owner are spread across nodes.
    pub owner_uid: Option<String>,
    /// Architectures the pod's images exist for (`arm64`, `arm`, …); empty when unknown,
    /// then any node fits.
    pub image_archs: Vec<String>,
}

impl PodRequest {
    /// A pod with the given fit requests and the same scoring requests, the zero defaults
    /// applied as Kubernetes does.
    pub fn with_requests(uid: &str, milli_cpu: u64, memory_bytes: u64) -> PodRequest {
        PodRequest {
            uid: uid.to_string(),
            milli_cpu,
            memory_bytes,
            score_milli_cpu: if milli_cpu == 0 {
                DEFAULT_SCORE_MILLI_CPU
            } else {
                milli_cpu
            },
            score_memory_bytes: if memory_bytes == 0 {
                DEFAULT_SCORE_MEMORY_BYTES
            } else {
                memory_bytes
            },
            ..PodRequest::default()
        }
    }
}
