//! The Deployment controller core (kube-controller-manager's `deployment` controller): one
//! ReplicaSet per pod-template hash (`<deployment>-<hash>`), rolled out with `RollingUpdate`
//! or `Recreate`, scaled proportionally when the replicas change mid-rollout, old revisions
//! cleaned up beyond `revisionHistoryLimit`, and the `Progressing` / `Available` conditions.
//!
//! One call is one `syncDeployment`: it works on copies of the Deployment and its
//! ReplicaSets and, at the end, emits one write per object that actually changed. Like
//! Kubernetes, a pass stops after the first scaling step; the writes it makes trigger the
//! next pass.
mod fenceposts;
mod recreate;
pub mod revision;
mod rolling;
mod scale;
mod status;

use std::cmp::Ordering;

use crate::api::selector::Selector;
use crate::api::template_hash::POD_TEMPLATE_HASH_LABEL;
use crate::api::{
    Deployment, DeploymentStrategyType, Kind, ObjectMeta, OwnerReference, Pod, PodTemplateSpec,
    ReplicaSet, ReplicaSetSpec, Time,
};

use super::action::{Action, EventRecord};
use super::claim::{adopted, claim, released, Claim};

pub use fenceposts::{max_surge, max_unavailable, resolve as resolve_fenceposts};
pub use status::{
    deployment_complete, has_progress_deadline, reason, DEFAULT_PROGRESS_DEADLINE_SECONDS,
};

/// The component named in this controller's events.
pub const COMPONENT: &str = "deployment-controller";
/// Old ReplicaSets kept for rollback when `revisionHistoryLimit` is unset.
pub const DEFAULT_REVISION_HISTORY_LIMIT: i32 = 10;

/// One pass over `d`, given every ReplicaSet in its namespace (`replica_sets`, for claiming
/// and for name collisions) and the pods there (`pods`, which `Recreate` waits on).
pub fn reconcile(
    d: &Deployment,
    replica_sets: &[&ReplicaSet],
    pods: &[&Pod],
    now: Time,
) -> Vec<Action> {
    let selector = match Selector::from_label_selector(d.spec.selector.as_ref()) {
        Ok(selector) if !selector.is_empty() && !selector.is_nothing() => selector,
        // Validation requires a selector; a Deployment selecting everything would fight every
        // other controller in its namespace, so Kubernetes does nothing with it either.
        _ => return Vec::new(),
    };
    let mut sync = Sync::new(d, replica_sets, now);
    for &rs in replica_sets {
        match claim(d, &selector, rs) {
            Claim::Owned => sync.track(rs.clone(), Some(rs.clone())),
            Claim::Adopt => sync.track(adopted(d, rs), Some(rs.clone())),
            Claim::Release => sync.actions.push(Action::update(released(d, rs))),
            Claim::Ignore => {}
        }
    }

    if d.metadata.deletion_timestamp.is_some() {
        sync.sync_status_only();
    } else {
        sync.check_paused_conditions();
        if d.spec.paused || sync.is_scaling_event() {
            sync.sync();
        } else {
            match fenceposts::strategy(d) {
                DeploymentStrategyType::Recreate => sync.rollout_recreate(pods),
                DeploymentStrategyType::RollingUpdate => sync.rollout_rolling(),
            }
        }
    }
    sync.finish()
}

/// Whether two templates are the same apart from the `pod-template-hash` label (Kubernetes'
/// `EqualIgnoreHash`).
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    let strip = |t: &PodTemplateSpec| {
        let mut t = t.clone();
        t.metadata.labels.remove(POD_TEMPLATE_HASH_LABEL);
        t
    };
    strip(a) == strip(b)
}

/// A ReplicaSet with the state it was read in (`None` when this pass creates it).
struct Tracked {
    original: Option<ReplicaSet>,
    rs: ReplicaSet,
    deleted: bool,
}

/// The working state of one pass.
struct Sync<'a> {
    now: Time,
    original: &'a Deployment,
    /// The Deployment as it will be written back (annotations and status).
    d: Deployment,
    /// Every ReplicaSet in the namespace, owned or not, for name collisions.
    in_namespace: &'a [&'a ReplicaSet],
    /// The ReplicaSets this Deployment owns, with their pending changes.
    rss: Vec<Tracked>,
    /// Claims, deletions and events, in the order they were decided.
    actions: Vec<Action>,
}

impl<'a> Sync<'a> {
    fn new(d: &'a Deployment, in_namespace: &'a [&'a ReplicaSet], now: Time) -> Sync<'a> {
        Sync {
            now,
            original: d,
            d: d.clone(),
            in_namespace,
            rss: Vec::new(),
            actions: Vec::new(),
        }
    }

    fn track(&mut self, rs: ReplicaSet, original: Option<ReplicaSet>) {
        self.rss.push(Tracked {
            original,
            rs,
            deleted: false,
        });
    }

    fn rs(&self, i: usize) -> &ReplicaSet {
        &self.rss[i].rs
    }

    fn spec_replicas(&self, i: usize) -> i32 {
        self.rs(i).replicas()
    }

    fn live(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.rss.len()).filter(|&i| !self.rss[i].deleted)
    }

    /// The new ReplicaSet (same template as the Deployment) and the old ones, syncing the
    /// revision annotations on the way and, with `create`, creating the new one when missing
    /// (Kubernetes' `getAllReplicaSetsAndSyncRevision`).
    fn new_and_old(&mut self, create: bool) -> (Option<usize>, Vec<usize>) {
        let mut by_age: Vec<usize> = self.live().collect();
        by_age.sort_by(|&a, &b| by_creation(self.rs(a), self.rs(b)));
        let existing = by_age
            .iter()
            .copied()
            .find(|&i| equal_ignore_hash(&self.rs(i).spec.template, &self.d.spec.template));
        let old: Vec<usize> = by_age
            .iter()
            .copied()
            .filter(|&i| Some(i) != existing)
            .collect();
        let max_old = revision::max_revision(old.iter().map(|&i| self.rs(i)));
        let new_revision = max_old + 1;
        let surge = max_surge(&self.d);

        if let Some(i) = existing {
            let d = self.d.clone();
            let rs = &mut self.rss[i].rs;
            revision::set_new_replica_set_annotations(&d, rs, new_revision, true, surge);
            if rs.spec.min_ready_seconds != d.spec.min_ready_seconds {
                rs.spec.min_ready_seconds = d.spec.min_ready_seconds;
            }
            let current = rs
                .metadata
                .annotations
                .get(crate::api::deployment::REVISION_ANNOTATION)
                .cloned()
                .unwrap_or_default();
            revision::set_deployment_revision(&mut self.d, &current);
            if has_progress_deadline(&self.d) && self.d.condition(status::PROGRESSING).is_none() {
                let message = format!("Found new replica set {:?}", self.rs(i).metadata.name);
                self.set_progressing(
                    crate::api::ConditionStatus::True,
                    reason::FOUND_NEW_REPLICA_SET,
                    message,
                );
            }
            return (Some(i), old);
        }
        if !create {
            return (None, old);
        }

        let collision_count = self.d.status.as_ref().and_then(|s| s.collision_count);
        let hash = self.d.spec.template.hash(collision_count);
        let name = format!("{}-{hash}", self.d.metadata.name);
        if self.in_namespace.iter().any(|rs| rs.metadata.name == name) {
            // The name is taken by a ReplicaSet that is not this template's: a hash collision.
            // Count it, so the next pass hashes differently (Kubernetes' collisionCount).
            let status = self.d.status.get_or_insert_with(Default::default);
            status.collision_count = Some(collision_count.unwrap_or(0) + 1);
            return (None, old);
        }
        let mut template = self.d.spec.template.clone();
        template
            .metadata
            .labels
            .insert(POD_TEMPLATE_HASH_LABEL.to_string(), hash.clone());
        let mut selector = self.d.spec.selector.clone().unwrap_or_default();
        selector
            .match_labels
            .insert(POD_TEMPLATE_HASH_LABEL.to_string(), hash);
        let mut rs = ReplicaSet {
            metadata: ObjectMeta {
                name: name.clone(),
                namespace: self.d.metadata.namespace.clone(),
                labels: template.metadata.labels.clone(),
                owner_references: vec![OwnerReference::controller_of(
                    Kind::Deployment,
                    &self.d.metadata,
                )],
                ..ObjectMeta::default()
            },
            spec: ReplicaSetSpec {
                replicas: Some(0),
                selector: Some(selector),
                template,
                min_ready_seconds: self.d.spec.min_ready_seconds,
            },
            status: None,
        };
        self.track(rs.clone(), None);
        let i = self.rss.len() - 1;
        let mut all = old.clone();
        all.push(i);
        let replicas = self.new_rs_new_replicas(&all, i);
        rs.spec.replicas = Some(replicas);
        revision::set_new_replica_set_annotations(&self.d, &mut rs, new_revision, false, surge);
        self.rss[i].rs = rs;
        if replicas > 0 {
            self.event(
                "ScalingReplicaSet",
                format!("Scaled up replica set {name} from 0 to {replicas}"),
            );
        }
        revision::set_deployment_revision(&mut self.d, &new_revision.to_string());
        if has_progress_deadline(&self.d) {
            self.set_progressing(
                crate::api::ConditionStatus::True,
                reason::NEW_REPLICA_SET_CREATED,
                format!("Created new replica set {name:?}"),
            );
        }
        (Some(i), old)
    }

    /// The size the new ReplicaSet may grow to now (Kubernetes' `NewRSNewReplicas`).
    fn new_rs_new_replicas(&self, all: &[usize], new: usize) -> i32 {
        if !fenceposts::is_rolling_update(&self.d) {
            return self.d.replicas();
        }
        let current: i32 = all.iter().map(|&i| self.spec_replicas(i)).sum();
        let max_total = self.d.replicas() + max_surge(&self.d);
        if current >= max_total {
            return self.spec_replicas(new);
        }
        let up = (max_total - current).min(self.d.replicas() - self.spec_replicas(new));
        self.spec_replicas(new) + up.max(0)
    }

    /// Scales a ReplicaSet if its size differs, recording the event (Kubernetes'
    /// `scaleReplicaSetAndRecordEvent`). True when it scaled.
    fn scale_if_needed(&mut self, i: usize, new_scale: i32) -> bool {
        if self.spec_replicas(i) == new_scale {
            return false;
        }
        self.scale(i, new_scale)
    }

    /// Sets a ReplicaSet's size and replica annotations (Kubernetes' `scaleReplicaSet`).
    /// True when the size changed.
    fn scale(&mut self, i: usize, new_scale: i32) -> bool {
        let desired = self.d.replicas();
        let max = desired + max_surge(&self.d);
        let old_scale = self.spec_replicas(i);
        let rs = &mut self.rss[i].rs;
        revision::set_replicas_annotations(rs, desired, max);
        if old_scale == new_scale {
            return false;
        }
        rs.spec.replicas = Some(new_scale);
        let direction = if old_scale < new_scale { "up" } else { "down" };
        let name = rs.metadata.name.clone();
        self.event(
            "ScalingReplicaSet",
            format!("Scaled {direction} replica set {name} from {old_scale} to {new_scale}"),
        );
        true
    }

    fn event(&mut self, reason: &str, message: String) {
        self.actions.push(Action::Event(EventRecord::normal(
            self.original,
            COMPONENT,
            reason,
            message,
        )));
    }

    /// Deletes old ReplicaSets beyond `revisionHistoryLimit`, oldest revision first, skipping
    /// any that still has pods (Kubernetes' `cleanupDeployment`).
    fn cleanup(&mut self, old: &[usize]) {
        let limit = self
            .d
            .spec
            .revision_history_limit
            .unwrap_or(DEFAULT_REVISION_HISTORY_LIMIT)
            .max(0) as usize;
        let mut cleanable: Vec<usize> = old
            .iter()
            .copied()
            .filter(|&i| !self.rss[i].deleted && self.rs(i).metadata.deletion_timestamp.is_none())
            .collect();
        if cleanable.len() <= limit {
            return;
        }
        let excess = cleanable.len() - limit;
        cleanable.sort_by(|&a, &b| {
            revision::revision(self.rs(a))
                .cmp(&revision::revision(self.rs(b)))
                .then_with(|| by_creation(self.rs(a), self.rs(b)))
        });
        for &i in &cleanable[..excess] {
            let rs = self.rs(i);
            let status = rs.status.clone().unwrap_or_default();
            let observed = status.observed_generation.unwrap_or(0);
            if status.replicas != 0 || rs.replicas() != 0 || rs.metadata.generation > observed {
                continue;
            }
            if let Some(original) = &self.rss[i].original {
                self.actions.push(Action::delete(original));
            }
            self.rss[i].deleted = true;
        }
    }

    /// The writes: created and changed ReplicaSets, the Deployment if it changed, then the
    /// claims, deletions and events in the order they were decided.
    fn finish(self) -> Vec<Action> {
        let mut writes = Vec::new();
        for tracked in &self.rss {
            if tracked.deleted {
                continue;
            }
            match &tracked.original {
                None => writes.push(Action::create(tracked.rs.clone())),
                Some(original) if *original != tracked.rs => {
                    writes.push(Action::update(tracked.rs.clone()))
                }
                Some(_) => {}
            }
        }
        if self.d != *self.original {
            writes.push(Action::update(self.d));
        }
        writes.extend(self.actions);
        writes
    }
}

/// Oldest first; a ReplicaSet without a creation time (created in this pass) is the newest;
/// ties broken by name (Kubernetes' `ReplicaSetsByCreationTimestamp`).
fn by_creation(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    let created = |rs: &ReplicaSet| rs.metadata.creation_timestamp.map(Time::unix_seconds);
    match (created(a), created(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
    .then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

#[cfg(test)]
mod tests;
