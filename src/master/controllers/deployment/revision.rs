//! The annotations a Deployment keeps on its ReplicaSets and on itself: the revision number
//! (`deployment.kubernetes.io/revision`), the history of revisions a rolled-back ReplicaSet
//! had, the replica counts at its last scaling (for proportional scaling), and the
//! Deployment's own annotations copied down (so `kubernetes.io/change-cause` shows in history).
use crate::api::deployment::REVISION_ANNOTATION;
use crate::api::{Deployment, ReplicaSet};

/// Revisions a ReplicaSet had before it was rolled back to.
pub const REVISION_HISTORY_ANNOTATION: &str = "deployment.kubernetes.io/revision-history";
/// The Deployment's replicas when the ReplicaSet was last scaled.
pub const DESIRED_REPLICAS_ANNOTATION: &str = "deployment.kubernetes.io/desired-replicas";
/// The Deployment's replicas plus maxSurge when the ReplicaSet was last scaled.
pub const MAX_REPLICAS_ANNOTATION: &str = "deployment.kubernetes.io/max-replicas";
/// Where kubectl keeps the last applied manifest; never copied.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// The deprecated in-object rollback request; never copied.
pub const ROLLBACK_TO_ANNOTATION: &str = "deprecated.deployment.rollback.to";
/// Longest revision history kept, in characters (Kubernetes' limit).
pub const REVISION_HISTORY_MAX_CHARS: usize = 2000;

/// Annotations that belong to one object and are never copied between a Deployment and its
/// ReplicaSets.
pub fn skip_copy(key: &str) -> bool {
    matches!(
        key,
        LAST_APPLIED_ANNOTATION
            | REVISION_ANNOTATION
            | REVISION_HISTORY_ANNOTATION
            | DESIRED_REPLICAS_ANNOTATION
            | MAX_REPLICAS_ANNOTATION
            | ROLLBACK_TO_ANNOTATION
    )
}

/// A ReplicaSet's revision (0 when absent or unreadable).
pub fn revision(rs: &ReplicaSet) -> i64 {
    rs.metadata
        .annotations
        .get(REVISION_ANNOTATION)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

/// The highest revision among `replica_sets`.
pub fn max_revision<'a>(replica_sets: impl IntoIterator<Item = &'a ReplicaSet>) -> i64 {
    replica_sets.into_iter().map(revision).max().unwrap_or(0)
}

/// Sets the Deployment's revision annotation; true when it changed.
pub fn set_deployment_revision(d: &mut Deployment, revision: &str) -> bool {
    let annotations = &mut d.metadata.annotations;
    if annotations.get(REVISION_ANNOTATION).map(String::as_str) == Some(revision) {
        return false;
    }
    annotations.insert(REVISION_ANNOTATION.to_string(), revision.to_string());
    true
}

/// Copies the Deployment's annotations to the new ReplicaSet, raises its revision to
/// `new_revision` (remembering the old one in the history when it is rolled back to), and for
/// a ReplicaSet about to be created sets the replica annotations. True when anything changed
/// (Kubernetes' `SetNewReplicaSetAnnotations`).
pub fn set_new_replica_set_annotations(
    d: &Deployment,
    rs: &mut ReplicaSet,
    new_revision: i64,
    exists: bool,
    max_surge: i32,
) -> bool {
    let mut changed = copy_annotations(d, rs);
    let annotations = &mut rs.metadata.annotations;
    let old = annotations.get(REVISION_ANNOTATION).cloned();
    let old_revision = match old.as_deref().map(str::parse::<i64>) {
        None => 0,
        Some(Ok(revision)) => revision,
        // An unreadable revision is left alone, as Kubernetes does.
        Some(Err(_)) => return changed,
    };
    if old_revision < new_revision {
        annotations.insert(REVISION_ANNOTATION.to_string(), new_revision.to_string());
        changed = true;
        if let Some(old) = old {
            append_history(annotations, &old);
        }
    }
    if !exists && set_replicas_annotations(rs, d.replicas(), d.replicas() + max_surge) {
        changed = true;
    }
    changed
}

fn append_history(annotations: &mut std::collections::BTreeMap<String, String>, old: &str) {
    let history = annotations
        .get(REVISION_HISTORY_ANNOTATION)
        .cloned()
        .unwrap_or_default();
    if history.is_empty() {
        annotations.insert(REVISION_HISTORY_ANNOTATION.to_string(), old.to_string());
        return;
    }
    let mut revisions: Vec<&str> = history.split(',').collect();
    let mut total = history.len() + old.len() + 1;
    let mut start = 0;
    while total > REVISION_HISTORY_MAX_CHARS && start < revisions.len() {
        total -= revisions[start].len() + 1;
        start += 1;
    }
    if total <= REVISION_HISTORY_MAX_CHARS {
        revisions.drain(..start);
        revisions.push(old);
        annotations.insert(REVISION_HISTORY_ANNOTATION.to_string(), revisions.join(","));
    }
}

fn copy_annotations(d: &Deployment, rs: &mut ReplicaSet) -> bool {
    let mut changed = false;
    for (key, value) in &d.metadata.annotations {
        if skip_copy(key) || rs.metadata.annotations.get(key) == Some(value) {
            continue;
        }
        rs.metadata.annotations.insert(key.clone(), value.clone());
        changed = true;
    }
    changed
}

/// Sets the desired and max replica annotations; true when they changed.
pub fn set_replicas_annotations(rs: &mut ReplicaSet, desired: i32, max: i32) -> bool {
    let annotations = &mut rs.metadata.annotations;
    let mut changed = false;
    for (key, value) in [
        (DESIRED_REPLICAS_ANNOTATION, desired),
        (MAX_REPLICAS_ANNOTATION, max),
    ] {
        let value = value.to_string();
        if annotations.get(key) != Some(&value) {
            annotations.insert(key.to_string(), value);
            changed = true;
        }
    }
    changed
}

/// Whether the replica annotations differ from `desired` and `max`.
pub fn replicas_annotations_need_update(rs: &ReplicaSet, desired: i32, max: i32) -> bool {
    let annotations = &rs.metadata.annotations;
    annotations.get(DESIRED_REPLICAS_ANNOTATION) != Some(&desired.to_string())
        || annotations.get(MAX_REPLICAS_ANNOTATION) != Some(&max.to_string())
}

/// The `desired-replicas` annotation, if readable.
pub fn desired_replicas(rs: &ReplicaSet) -> Option<i32> {
    rs.metadata
        .annotations
        .get(DESIRED_REPLICAS_ANNOTATION)
        .and_then(|v| v.parse().ok())
}

/// The `max-replicas` annotation, if readable.
pub fn max_replicas(rs: &ReplicaSet) -> Option<i32> {
    rs.metadata
        .annotations
        .get(MAX_REPLICAS_ANNOTATION)
        .and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rs_at(revision: Option<&str>) -> ReplicaSet {
        let mut rs = ReplicaSet::default();
        if let Some(revision) = revision {
            rs.metadata
                .annotations
                .insert(REVISION_ANNOTATION.into(), revision.into());
        }
        rs
    }

    #[test]
    fn a_rolled_back_replica_set_remembers_its_old_revision() {
        let d = Deployment::default();
        let mut rs = rs_at(Some("1"));
        assert!(set_new_replica_set_annotations(&d, &mut rs, 3, true, 1));
        assert_eq!(rs.metadata.annotations[REVISION_ANNOTATION], "3");
        assert_eq!(rs.metadata.annotations[REVISION_HISTORY_ANNOTATION], "1");
        rs.metadata
            .annotations
            .insert(REVISION_ANNOTATION.into(), "5".into());
        set_new_replica_set_annotations(&d, &mut rs, 7, true, 1);
        assert_eq!(rs.metadata.annotations[REVISION_HISTORY_ANNOTATION], "1,5");
    }

    #[test]
    fn a_newer_revision_is_never_lowered() {
        let d = Deployment::default();
        let mut rs = rs_at(Some("9"));
        assert!(!set_new_replica_set_annotations(&d, &mut rs, 3, true, 1));
        assert_eq!(rs.metadata.annotations[REVISION_ANNOTATION], "9");
    }

    #[test]
    fn deployment_annotations_are_copied_except_its_own_bookkeeping() {
        let mut d = Deployment::default();
        d.metadata
            .annotations
            .insert("kubernetes.io/change-cause".into(), "bump".into());
        d.metadata
            .annotations
            .insert(REVISION_ANNOTATION.into(), "4".into());
        let mut rs = rs_at(None);
        set_new_replica_set_annotations(&d, &mut rs, 1, false, 1);
        assert_eq!(
            rs.metadata.annotations["kubernetes.io/change-cause"],
            "bump"
        );
        assert_eq!(rs.metadata.annotations[REVISION_ANNOTATION], "1");
        assert_eq!(rs.metadata.annotations[DESIRED_REPLICAS_ANNOTATION], "1");
        assert_eq!(rs.metadata.annotations[MAX_REPLICAS_ANNOTATION], "2");
    }
}
