//! The Deployment's status: counts summed over its ReplicaSets, the `Available` condition, and
//! the `Progressing` condition that turns `False` with `ProgressDeadlineExceeded` when a
//! rollout makes no progress for `progressDeadlineSeconds` (Kubernetes' `syncRolloutStatus`).
use crate::api::deployment::deployment_condition;
use crate::api::{ConditionStatus, Deployment, DeploymentCondition, DeploymentStatus, Time};

use super::{max_unavailable, Sync};

pub use deployment_condition::{AVAILABLE, PROGRESSING};

/// Seconds without progress before a rollout is reported failed, when unset.
pub const DEFAULT_PROGRESS_DEADLINE_SECONDS: i32 = 600;

/// The reasons of the Deployment conditions, as Kubernetes spells them.
pub mod reason {
    pub const NEW_REPLICA_SET_CREATED: &str = "NewReplicaSetCreated";
    pub const FOUND_NEW_REPLICA_SET: &str = "FoundNewReplicaSet";
    pub const REPLICA_SET_UPDATED: &str = "ReplicaSetUpdated";
    pub const NEW_REPLICA_SET_AVAILABLE: &str = "NewReplicaSetAvailable";
    pub const PROGRESS_DEADLINE_EXCEEDED: &str = "ProgressDeadlineExceeded";
    pub const DEPLOYMENT_PAUSED: &str = "DeploymentPaused";
    pub const DEPLOYMENT_RESUMED: &str = "DeploymentResumed";
    pub const MINIMUM_REPLICAS_AVAILABLE: &str = "MinimumReplicasAvailable";
    pub const MINIMUM_REPLICAS_UNAVAILABLE: &str = "MinimumReplicasUnavailable";
}

/// Whether progress is tracked at all (a deadline of `i32::MAX` switches it off).
pub fn has_progress_deadline(d: &Deployment) -> bool {
    d.spec.progress_deadline_seconds != Some(i32::MAX)
}

fn progress_deadline_seconds(d: &Deployment) -> i32 {
    d.spec
        .progress_deadline_seconds
        .unwrap_or(DEFAULT_PROGRESS_DEADLINE_SECONDS)
}

/// A condition stamped `now`.
pub fn new_condition(
    type_: &str,
    status: ConditionStatus,
    reason: &str,
    message: String,
    now: Time,
) -> DeploymentCondition {
    DeploymentCondition {
        type_: type_.to_string(),
        status,
        last_update_time: Some(now),
        last_transition_time: Some(now),
        reason: Some(reason.to_string()),
        message: Some(message),
    }
}

/// Sets `condition` unless one of its type with the same status and reason is there; keeps
/// the transition time when only the reason changes (Kubernetes' `SetDeploymentCondition`).
pub fn set_condition(status: &mut DeploymentStatus, mut condition: DeploymentCondition) {
    if let Some(current) = status
        .conditions
        .iter()
        .find(|c| c.type_ == condition.type_)
    {
        if current.status == condition.status && current.reason == condition.reason {
            return;
        }
        if current.status == condition.status {
            condition.last_transition_time = current.last_transition_time;
        }
    }
    status.conditions.retain(|c| c.type_ != condition.type_);
    status.conditions.push(condition);
}

fn condition<'s>(status: &'s DeploymentStatus, type_: &str) -> Option<&'s DeploymentCondition> {
    status.conditions.iter().find(|c| c.type_ == type_)
}

/// Every new replica updated, no old ones left, all available, and the latest spec seen
/// (Kubernetes' `DeploymentComplete`).
pub fn deployment_complete(d: &Deployment, status: &DeploymentStatus) -> bool {
    let replicas = d.replicas();
    status.updated_replicas == replicas
        && status.replicas == replicas
        && status.available_replicas == replicas
        && status.observed_generation.unwrap_or(0) >= d.metadata.generation
}

/// Whether `new` shows progress over the Deployment's recorded status.
fn deployment_progressing(d: &Deployment, new: &DeploymentStatus) -> bool {
    let old = d.status.clone().unwrap_or_default();
    let old_old_replicas = old.replicas - old.updated_replicas;
    let new_old_replicas = new.replicas - new.updated_replicas;
    new.updated_replicas > old.updated_replicas
        || new_old_replicas < old_old_replicas
        || new.ready_replicas > old.ready_replicas
        || new.available_replicas > old.available_replicas
}

/// Whether the last progress lies more than the deadline before `now`.
fn deployment_timed_out(d: &Deployment, new: &DeploymentStatus, now: Time) -> bool {
    if !has_progress_deadline(d) {
        return false;
    }
    let Some(progressing) = condition(new, PROGRESSING) else {
        return false;
    };
    match progressing.reason.as_deref() {
        Some(reason::NEW_REPLICA_SET_AVAILABLE) => return false,
        Some(reason::PROGRESS_DEADLINE_EXCEEDED) => return true,
        _ => {}
    }
    let Some(from) = progressing.last_update_time else {
        return false;
    };
    from.unix_seconds() + i64::from(progress_deadline_seconds(d)) < now.unix_seconds()
}

impl Sync<'_> {
    /// Counts summed over the live ReplicaSets and the `Available` condition (Kubernetes'
    /// `calculateStatus`).
    fn calculate_status(&self, new: Option<usize>) -> DeploymentStatus {
        let live: Vec<usize> = self.live().collect();
        let status_of = |i: usize| self.rs(i).status.clone().unwrap_or_default();
        let available: i32 = live.iter().map(|&i| status_of(i).available_replicas).sum();
        let total: i32 = live.iter().map(|&i| self.spec_replicas(i)).sum();
        let previous = self.d.status.clone().unwrap_or_default();
        let mut status = DeploymentStatus {
            observed_generation: Some(self.d.metadata.generation),
            replicas: live.iter().map(|&i| status_of(i).replicas).sum(),
            updated_replicas: new.map_or(0, |i| status_of(i).replicas),
            ready_replicas: live.iter().map(|&i| status_of(i).ready_replicas).sum(),
            available_replicas: available,
            unavailable_replicas: (total - available).max(0),
            conditions: previous.conditions,
            collision_count: previous.collision_count,
        };
        let condition = if available >= self.d.replicas() - max_unavailable(&self.d) {
            new_condition(
                AVAILABLE,
                ConditionStatus::True,
                reason::MINIMUM_REPLICAS_AVAILABLE,
                "Deployment has minimum availability.".to_string(),
                self.now,
            )
        } else {
            new_condition(
                AVAILABLE,
                ConditionStatus::False,
                reason::MINIMUM_REPLICAS_UNAVAILABLE,
                "Deployment does not have minimum availability.".to_string(),
                self.now,
            )
        };
        set_condition(&mut status, condition);
        status
    }

    /// Sets the `Progressing` condition on the working Deployment.
    pub(super) fn set_progressing(
        &mut self,
        status: ConditionStatus,
        reason: &str,
        message: String,
    ) {
        let condition = new_condition(PROGRESSING, status, reason, message, self.now);
        set_condition(
            self.d.status.get_or_insert_with(Default::default),
            condition,
        );
    }

    /// Status without progress estimation (Kubernetes' `syncDeploymentStatus`).
    pub(super) fn sync_deployment_status(&mut self, new: Option<usize>) {
        let status = self.calculate_status(new);
        self.d.status = Some(status);
    }

    /// Status with the `Progressing` condition (Kubernetes' `syncRolloutStatus`).
    pub(super) fn sync_rollout_status(&mut self, new: Option<usize>) {
        let mut status = self.calculate_status(new);
        if !has_progress_deadline(&self.d) {
            status.conditions.retain(|c| c.type_ != PROGRESSING);
        }
        let current = self
            .d
            .status
            .as_ref()
            .and_then(|s| condition(s, PROGRESSING))
            .cloned();
        let complete_before = status.replicas == status.updated_replicas
            && current.as_ref().and_then(|c| c.reason.as_deref())
                == Some(reason::NEW_REPLICA_SET_AVAILABLE);
        if has_progress_deadline(&self.d) && !complete_before {
            let new_name = new.map(|i| self.rs(i).metadata.name.clone());
            let deployment_name = self.d.metadata.name.clone();
            if deployment_complete(&self.d, &status) {
                let message = match &new_name {
                    Some(rs) => format!("ReplicaSet {rs:?} has successfully progressed."),
                    None => format!("Deployment {deployment_name:?} has successfully progressed."),
                };
                let condition = new_condition(
                    PROGRESSING,
                    ConditionStatus::True,
                    reason::NEW_REPLICA_SET_AVAILABLE,
                    message,
                    self.now,
                );
                set_condition(&mut status, condition);
            } else if deployment_progressing(&self.d, &status) {
                let message = match &new_name {
                    Some(rs) => format!("ReplicaSet {rs:?} is progressing."),
                    None => format!("Deployment {deployment_name:?} is progressing."),
                };
                let mut condition = new_condition(
                    PROGRESSING,
                    ConditionStatus::True,
                    reason::REPLICA_SET_UPDATED,
                    message,
                    self.now,
                );
                // Progress moves lastUpdateTime even when the reason stays the same; the
                // transition time stays while the condition stays True.
                if let Some(current) = &current {
                    if current.status == ConditionStatus::True {
                        condition.last_transition_time = current.last_transition_time;
                    }
                    status.conditions.retain(|c| c.type_ != PROGRESSING);
                }
                set_condition(&mut status, condition);
            } else if deployment_timed_out(&self.d, &status, self.now) {
                let message = match &new_name {
                    Some(rs) => format!("ReplicaSet {rs:?} has timed out progressing."),
                    None => format!("Deployment {deployment_name:?} has timed out progressing."),
                };
                let condition = new_condition(
                    PROGRESSING,
                    ConditionStatus::False,
                    reason::PROGRESS_DEADLINE_EXCEEDED,
                    message,
                    self.now,
                );
                set_condition(&mut status, condition);
            }
        }
        self.d.status = Some(status);
    }

    /// Marks a paused Deployment's progress `Unknown` (so the deadline does not run while
    /// paused) and a resumed one's again (Kubernetes' `checkPausedConditions`).
    pub(super) fn check_paused_conditions(&mut self) {
        if !has_progress_deadline(&self.d) {
            return;
        }
        let current = self.d.condition(PROGRESSING).and_then(|c| c.reason.clone());
        if current.as_deref() == Some(reason::PROGRESS_DEADLINE_EXCEEDED) {
            return;
        }
        let paused_recorded = current.as_deref() == Some(reason::DEPLOYMENT_PAUSED);
        if self.d.spec.paused && !paused_recorded {
            self.set_progressing(
                ConditionStatus::Unknown,
                reason::DEPLOYMENT_PAUSED,
                "Deployment is paused".to_string(),
            );
        } else if !self.d.spec.paused && paused_recorded {
            self.set_progressing(
                ConditionStatus::Unknown,
                reason::DEPLOYMENT_RESUMED,
                "Deployment is resumed".to_string(),
            );
        }
    }

    /// A Deployment being deleted only reports status.
    pub(super) fn sync_status_only(&mut self) {
        let (new, _) = self.new_and_old(false);
        self.sync_deployment_status(new);
    }
}
