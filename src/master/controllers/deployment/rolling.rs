//! `RollingUpdate`: grow the new ReplicaSet while the total stays within replicas + maxSurge,
//! shrink the old ones while the available pods stay at or above replicas − maxUnavailable
//! (Kubernetes' `rolloutRolling`, `reconcileNewReplicaSet`, `reconcileOldReplicaSets`).
use super::{by_creation, deployment_complete, max_unavailable, Sync};

impl Sync<'_> {
    pub(super) fn rollout_rolling(&mut self) {
        let (new, old) = self.new_and_old(true);
        let mut all = old.clone();
        all.extend(new);
        if let Some(new) = new {
            if self.reconcile_new(&all, new) {
                self.sync_rollout_status(Some(new));
                return;
            }
        }
        if self.reconcile_old(&all, &old, new) {
            self.sync_rollout_status(new);
            return;
        }
        if deployment_complete(&self.d, &self.d.status.clone().unwrap_or_default()) {
            self.cleanup(&old);
        }
        self.sync_rollout_status(new);
    }

    /// Scales the new ReplicaSet towards `replicas` as far as the surge allows. True when it
    /// scaled.
    fn reconcile_new(&mut self, all: &[usize], new: usize) -> bool {
        let desired = self.d.replicas();
        let current = self.spec_replicas(new);
        if current == desired {
            return false;
        }
        if current > desired {
            return self.scale_if_needed(new, desired);
        }
        let target = self.new_rs_new_replicas(all, new);
        self.scale_if_needed(new, target)
    }

    /// Scales old ReplicaSets down: first their unavailable pods, then available ones while
    /// enough stay available. True when anything scaled.
    fn reconcile_old(&mut self, all: &[usize], old: &[usize], new: Option<usize>) -> bool {
        let old_pods: i32 = old.iter().map(|&i| self.spec_replicas(i)).sum();
        if old_pods == 0 {
            return false;
        }
        let all_pods: i32 = all.iter().map(|&i| self.spec_replicas(i)).sum();
        let min_available = self.d.replicas() - max_unavailable(&self.d);
        let new_unavailable = new.map_or(0, |i| {
            self.spec_replicas(i)
                - self
                    .rs(i)
                    .status
                    .as_ref()
                    .map_or(0, |s| s.available_replicas)
        });
        let max_scaled_down = all_pods - min_available - new_unavailable;
        if max_scaled_down <= 0 {
            return false;
        }
        let mut old_by_age: Vec<usize> = old
            .iter()
            .copied()
            .filter(|&i| self.spec_replicas(i) > 0)
            .collect();
        old_by_age.sort_by(|&a, &b| by_creation(self.rs(a), self.rs(b)));
        let cleaned = self.cleanup_unhealthy(&old_by_age, max_scaled_down);
        let scaled = self.scale_down_old(all, &old_by_age);
        cleaned + scaled > 0
    }

    /// Removes old ReplicaSets' unavailable pods, up to `max_cleanup` (they cost no
    /// availability). Returns how many.
    fn cleanup_unhealthy(&mut self, old_by_age: &[usize], max_cleanup: i32) -> i32 {
        let mut total = 0;
        for &i in old_by_age {
            if total >= max_cleanup {
                break;
            }
            let replicas = self.spec_replicas(i);
            let available = self
                .rs(i)
                .status
                .as_ref()
                .map_or(0, |s| s.available_replicas);
            if replicas == 0 || replicas == available {
                continue;
            }
            let down = (max_cleanup - total).min(replicas - available);
            self.scale_if_needed(i, replicas - down);
            total += down;
        }
        total
    }

    /// Scales old ReplicaSets down, oldest first, while the available pods stay at or above
    /// replicas − maxUnavailable. Returns how many.
    fn scale_down_old(&mut self, all: &[usize], old_by_age: &[usize]) -> i32 {
        let min_available = self.d.replicas() - max_unavailable(&self.d);
        let available: i32 = all
            .iter()
            .map(|&i| {
                self.rs(i)
                    .status
                    .as_ref()
                    .map_or(0, |s| s.available_replicas)
            })
            .sum();
        if available <= min_available {
            return 0;
        }
        let total_down = available - min_available;
        let mut scaled = 0;
        for &i in old_by_age {
            if scaled >= total_down {
                break;
            }
            let replicas = self.spec_replicas(i);
            if replicas == 0 {
                continue;
            }
            let down = replicas.min(total_down - scaled);
            self.scale_if_needed(i, replicas - down);
            scaled += down;
        }
        scaled
    }
}
