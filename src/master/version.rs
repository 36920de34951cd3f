//! Build information served at `/version` and printed by `edgectl version`.
use serde::{Deserialize, Serialize};

/// What `/version` answers, in the shape of Kubernetes' `version.Info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionInfo {
    pub major: String,
    pub minor: String,
    /// `v0.1.0`.
    pub git_version: String,
    /// The commit built from (12 hex digits), `unknown` when built without git.
    #[serde(default)]
    pub git_commit: String,
    /// `linux/arm64`, in Go's spelling as Kubernetes uses it.
    pub platform: String,
}

/// Go's name for a Rust target architecture.
fn go_arch(arch: &str) -> &str {
    match arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// This binary's version.
pub fn current() -> VersionInfo {
    VersionInfo {
        major: env!("CARGO_PKG_VERSION_MAJOR").to_string(),
        minor: env!("CARGO_PKG_VERSION_MINOR").to_string(),
        git_version: format!("v{}", crate::version::VERSION),
        git_commit: crate::version::GIT_COMMIT.to_string(),
        platform: format!(
            "{}/{}",
            std::env::consts::OS,
            go_arch(std::env::consts::ARCH)
        ),
    }
}
