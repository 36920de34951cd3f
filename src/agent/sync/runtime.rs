//! The seam between the cluster loop and the pod runtime: the sync feeds desired pods in and
//! reads pod statuses out. The runtime's pod manager implements [`PodRuntime`]; standalone
//! mode feeds it from a manifest directory instead.
use tokio::sync::watch;

use crate::wire::{ObjectJson, PodStatusReport};

/// Everything a node must run, as the master assigned it (or as the local copy remembers it):
/// Pod objects and the ConfigMaps and Secrets they reference, each as the API's JSON. The
/// runtime decodes them with `serde_json` into the model types; no YAML on this path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DesiredPods {
    pub pods: Vec<ObjectJson>,
    pub config_maps: Vec<ObjectJson>,
    pub secrets: Vec<ObjectJson>,
}

/// What the cluster loop needs from the pod runtime.
pub trait PodRuntime: Send + Sync + 'static {
    /// Replaces the desired set. Level-triggered and idempotent: called at start-up with the
    /// local copy, then with every new assignment set. Pods not in the set are stopped; pods
    /// already running as desired are left alone (no restart of a healthy pod).
    fn set_desired(&self, desired: DesiredPods);

    /// The current status of every pod the runtime runs, for the master.
    fn statuses(&self) -> Vec<PodStatusReport>;

    /// A counter the runtime bumps whenever a pod status changes, so the sync reports without
    /// polling.
    fn status_changes(&self) -> watch::Receiver<u64>;
}
