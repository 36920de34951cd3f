//! How a pod's runtime objects are named: sandbox and container ids (stable across agent
//! restarts, so that containers are re-adopted), the labels that tie them to their pod, and the
//! log file paths.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::agent::image::Digest;
use crate::agent::runtime::{ContainerId, SandboxId};
use crate::api;

pub const LABEL_POD_UID: &str = "pod-uid";
pub const LABEL_POD: &str = "pod";
pub const LABEL_CONTAINER: &str = "container";
pub const LABEL_INIT: &str = "init";
pub const LABEL_RESTART: &str = "restart";
pub const LABEL_STOP_SIGNAL: &str = "stop-signal";
pub const LABEL_IMAGE_ID: &str = "image-id";

/// The sandbox id of a pod: 16 hex digits of its uid's digest.
pub fn sandbox_id(uid: &str) -> SandboxId {
    SandboxId::new(&Digest::of(uid.as_bytes()).hex()[..16]).expect("hex is a valid id")
}

/// A container id: `<sandbox>-<name>-<restart>`, the name cut to fit 64 bytes.
pub fn container_id(uid: &str, name: &str, restart_count: u32) -> ContainerId {
    let sandbox = sandbox_id(uid);
    let suffix = format!("-{restart_count}");
    let room = 64 - sandbox.as_str().len() - 1 - suffix.len();
    let name: String = name.chars().take(room).collect();
    ContainerId::new(format!("{sandbox}-{name}{suffix}")).expect("DNS label names make valid ids")
}

/// `namespace/name`.
pub fn pod_key(pod: &api::Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace_or_default(),
        pod.metadata.name
    )
}

pub fn sandbox_labels(pod: &api::Pod) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_POD_UID.to_string(), pod.metadata.uid.clone()),
        (LABEL_POD.to_string(), pod_key(pod)),
    ])
}

/// The directory of a pod's logs: `<logs>/<namespace>_<name>_<uid>/`, as the kubelet names it.
pub fn pod_log_dir(logs_root: &Path, pod: &api::Pod) -> PathBuf {
    logs_root.join(format!(
        "{}_{}_{}",
        pod.metadata.namespace_or_default(),
        pod.metadata.name,
        pod.metadata.uid
    ))
}

/// `<pod log dir>/<container>/<restart>.log`.
pub fn log_path(logs_root: &Path, pod: &api::Pod, container: &str, restart_count: u32) -> PathBuf {
    pod_log_dir(logs_root, pod)
        .join(container)
        .join(format!("{restart_count}.log"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_ids_fit_libcontainer_and_cgroup_names() {
        let long = "a".repeat(63);
        let id = container_id("uid-1", &long, 12345);
        assert!(id.as_str().len() <= 64);
        assert!(id.as_str().ends_with("-12345"));
        assert_eq!(
            container_id("uid-1", "web", 0).as_str(),
            format!("{}-web-0", sandbox_id("uid-1"))
        );
    }
}
