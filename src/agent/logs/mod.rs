//! Container logs: stdout and stderr read from each container's pipes and written in the
//! kubelet's CRI format (`<RFC 3339 nano time> <stream> <P|F> <text>`) to size-rotated files,
//! and read back for `edged logs`.
pub mod cri;
pub mod pump;
pub mod read;
pub mod rotate;

/// Log rotation limits (the kubelet's defaults: 10 MiB × 5; Flotilla keeps 3 on SD cards).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LogLimits {
    /// The current file is rotated when it would grow beyond this.
    pub file_bytes_max: u64,
    /// Files kept per container instance, the current one included.
    pub files_max: u32,
}

impl Default for LogLimits {
    fn default() -> Self {
        LogLimits {
            file_bytes_max: 10 * 1024 * 1024,
            files_max: 3,
        }
    }
}
