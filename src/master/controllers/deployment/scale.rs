//! Scaling a Deployment without rolling it: when `replicas` changes mid-rollout (or while
//! paused), the difference is spread over the active ReplicaSets in proportion to their size,
//! so a half-done rollout stays half done (Kubernetes' `sync`, `scale` and `GetProportion`).
use std::cmp::Ordering;

use super::fenceposts::is_rolling_update;
use super::{by_creation, max_surge, revision, Sync};

impl Sync<'_> {
    /// Whether an active ReplicaSet was last scaled for a different `replicas` than the
    /// Deployment asks now (Kubernetes' `isScalingEvent`).
    pub(super) fn is_scaling_event(&mut self) -> bool {
        let (new, old) = self.new_and_old(false);
        let desired = self.d.replicas();
        new.into_iter()
            .chain(old)
            .filter(|&i| self.spec_replicas(i) > 0)
            .any(|i| revision::desired_replicas(self.rs(i)).is_some_and(|d| d != desired))
    }

    /// Scale without rolling, then status (Kubernetes' `sync`).
    pub(super) fn sync(&mut self) {
        let (new, old) = self.new_and_old(false);
        self.scale_proportionally(new, &old);
        if self.d.spec.paused {
            self.cleanup(&old);
        }
        self.sync_deployment_status(new);
    }

    fn scale_proportionally(&mut self, new: Option<usize>, old: &[usize]) {
        let desired = self.d.replicas();
        if let Some(i) = self.active_or_latest(new, old) {
            if self.spec_replicas(i) != desired {
                self.scale_if_needed(i, desired);
            }
            return;
        }
        if new.is_some_and(|i| self.is_saturated(i)) {
            // The new ReplicaSet runs everything: the old ones go (adoption of a saturated
            // new ReplicaSet ends here).
            for &o in old {
                if self.spec_replicas(o) > 0 {
                    self.scale_if_needed(o, 0);
                }
            }
            return;
        }
        if !is_rolling_update(&self.d) {
            return;
        }
        let mut active: Vec<usize> = old
            .iter()
            .copied()
            .chain(new)
            .filter(|&i| self.spec_replicas(i) > 0)
            .collect();
        let current: i32 = active.iter().map(|&i| self.spec_replicas(i)).sum();
        let allowed = if desired > 0 {
            desired + max_surge(&self.d)
        } else {
            0
        };
        let to_add = allowed - current;
        match to_add.cmp(&0) {
            // Larger first; among equals, newer ones grow first and older ones shrink first.
            Ordering::Greater => active.sort_by(|&a, &b| {
                self.spec_replicas(b)
                    .cmp(&self.spec_replicas(a))
                    .then_with(|| by_creation(self.rs(b), self.rs(a)))
            }),
            Ordering::Less => active.sort_by(|&a, &b| {
                self.spec_replicas(b)
                    .cmp(&self.spec_replicas(a))
                    .then_with(|| by_creation(self.rs(a), self.rs(b)))
            }),
            Ordering::Equal => {}
        }
        let mut added = 0;
        let mut sizes: Vec<i32> = Vec::with_capacity(active.len());
        for &i in &active {
            if to_add != 0 {
                let proportion = self.proportion(i, to_add, added);
                sizes.push(self.spec_replicas(i) + proportion);
                added += proportion;
            } else {
                sizes.push(self.spec_replicas(i));
            }
        }
        for (position, &i) in active.iter().enumerate() {
            let mut size = sizes[position];
            if position == 0 && to_add != 0 {
                // Leftovers from rounding go to the largest.
                size = (size + to_add - added).max(0);
            }
            self.scale(i, size);
        }
    }

    /// The only active ReplicaSet, or the newest when none is active (Kubernetes'
    /// `FindActiveOrLatest`); `None` when several are active.
    fn active_or_latest(&self, new: Option<usize>, old: &[usize]) -> Option<usize> {
        let mut all: Vec<usize> = old.to_vec();
        all.sort_by(|&a, &b| by_creation(self.rs(b), self.rs(a)));
        let newest_old = all.first().copied();
        all.extend(new);
        let active: Vec<usize> = all
            .into_iter()
            .filter(|&i| self.spec_replicas(i) > 0)
            .collect();
        match active.len() {
            0 => new.or(newest_old),
            1 => Some(active[0]),
            _ => None,
        }
    }

    /// Whether the new ReplicaSet already runs all replicas, available.
    fn is_saturated(&self, i: usize) -> bool {
        let rs = self.rs(i);
        let desired = self.d.replicas();
        revision::desired_replicas(rs) == Some(desired)
            && rs.replicas() == desired
            && rs.status.as_ref().map_or(0, |s| s.available_replicas) == desired
    }

    /// How much of `to_add` this ReplicaSet takes (Kubernetes' `GetProportion`).
    fn proportion(&self, i: usize, to_add: i32, added: i32) -> i32 {
        if self.spec_replicas(i) == 0 || to_add == 0 || to_add == added {
            return 0;
        }
        let fraction = self.fraction(i);
        let allowed = to_add - added;
        if to_add > 0 {
            fraction.min(allowed)
        } else {
            fraction.max(allowed)
        }
    }

    fn fraction(&self, i: usize) -> i32 {
        let rs = self.rs(i);
        if self.d.replicas() == 0 {
            return -rs.replicas();
        }
        let max_now = self.d.replicas() + max_surge(&self.d);
        let max_before = match revision::max_replicas(rs) {
            Some(max) if max != 0 => max,
            _ => self.d.status.as_ref().map_or(0, |s| s.replicas),
        };
        if max_before == 0 {
            return 0;
        }
        let size = f64::from(rs.replicas()) * f64::from(max_now) / f64::from(max_before);
        size.round() as i32 - rs.replicas()
    }
}
