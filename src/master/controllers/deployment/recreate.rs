//! `Recreate`: scale every old ReplicaSet to zero, wait until none of their pods runs, then
//! create and scale up the new one (Kubernetes' `rolloutRecreate`).
use crate::api::{Pod, PodPhase};

use super::{deployment_complete, Sync};

impl Sync<'_> {
    pub(super) fn rollout_recreate(&mut self, pods: &[&Pod]) {
        let (new, old) = self.new_and_old(false);
        let mut scaled_down = false;
        for &i in &old {
            if self.spec_replicas(i) > 0 && self.scale_if_needed(i, 0) {
                scaled_down = true;
            }
        }
        if scaled_down {
            self.sync_rollout_status(new);
            return;
        }
        if self.old_pods_running(new, &old, pods) {
            self.sync_rollout_status(new);
            return;
        }
        let (new, old) = match new {
            Some(new) => (Some(new), old),
            None => self.new_and_old(true),
        };
        if let Some(new) = new {
            let desired = self.d.replicas();
            self.scale_if_needed(new, desired);
        }
        if deployment_complete(&self.d, &self.d.status.clone().unwrap_or_default()) {
            self.cleanup(&old);
        }
        self.sync_rollout_status(new);
    }

    /// Whether an old ReplicaSet still reports pods, or one of its pods has not finished.
    fn old_pods_running(&self, new: Option<usize>, old: &[usize], pods: &[&Pod]) -> bool {
        if old
            .iter()
            .any(|&i| self.rs(i).status.as_ref().is_some_and(|s| s.replicas > 0))
        {
            return true;
        }
        let new_uid = new.map(|i| self.rs(i).metadata.uid.as_str());
        let old_uids: Vec<&str> = old
            .iter()
            .map(|&i| self.rs(i).metadata.uid.as_str())
            .collect();
        pods.iter().any(|pod| {
            let Some(owner) = pod.metadata.controller_ref() else {
                return false;
            };
            Some(owner.uid.as_str()) != new_uid
                && old_uids.contains(&owner.uid.as_str())
                && !matches!(pod.phase(), PodPhase::Succeeded | PodPhase::Failed)
        })
    }
}
