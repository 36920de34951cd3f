//! Cascading deletion through `ownerReferences`, and namespace deletion: a pure planner (objects
//! in, store operations out) and a thin executor. The API server's DELETE and the garbage
//! collector controller share both.
use std::collections::{HashMap, HashSet};

use super::object::{key_of, meta_str, owner_uids, resource_version};
use crate::api::Kind;
use crate::store::{Object, ObjectKey, Store, StoreError};

/// How a delete treats the objects that the deleted one owns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Propagation {
    /// Delete the owner, then its dependents (Kubernetes' default for most clients).
    #[default]
    Background,
    /// Delete the dependents first, deepest first, then the owner.
    Foreground,
    /// Delete only the owner; its dependents lose their reference to it.
    Orphan,
}

impl Propagation {
    pub fn parse(text: &str) -> Option<Propagation> {
        match text {
            "Background" => Some(Propagation::Background),
            "Foreground" => Some(Propagation::Foreground),
            "Orphan" => Some(Propagation::Orphan),
            _ => None,
        }
    }
}

/// One store operation of a deletion plan. Each names the object's uid so that the executor
/// never touches a newer object that took the same name meanwhile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GcOp {
    /// Set a namespace's `status.phase` to `Terminating`, so that nothing new is created in it.
    Terminate { key: ObjectKey, uid: String },
    /// Set `metadata.deletionTimestamp` on an owner that is about to go, so that its controller
    /// stops making dependents (a ReplicaSet being deleted does not replace the pods deleted
    /// under it).
    BeginDeletion { key: ObjectKey, uid: String },
    /// Delete the object.
    Delete { key: ObjectKey, uid: String },
    /// Remove the `ownerReferences` to `owner_uids` from the object.
    Release {
        key: ObjectKey,
        uid: String,
        owner_uids: Vec<String>,
    },
}

/// Plans the deletion of `target` with `policy`. `candidates` are the objects that may depend
/// on it (for a namespaced owner: everything in its namespace; for a cluster-scoped one:
/// everything). An object with another owner that is not being deleted is released, not
/// deleted, as Kubernetes' garbage collector does.
pub fn plan_delete(target: &Object, policy: Propagation, candidates: &[Object]) -> Vec<GcOp> {
    let Some(target_key) = key_of(target) else {
        return Vec::new();
    };
    let target_uid = meta_str(target, "uid");
    let delete_target = GcOp::Delete {
        key: target_key,
        uid: target_uid.to_string(),
    };
    let candidates: Vec<&Object> = candidates
        .iter()
        .filter(|c| meta_str(c, "uid") != target_uid && key_of(c).is_some())
        .collect();

    if policy == Propagation::Orphan {
        let mut ops: Vec<GcOp> = candidates
            .iter()
            .filter(|c| owner_uids(c).contains(&target_uid))
            .map(|c| release(c, &HashSet::from([target_uid])))
            .collect();
        ops.push(delete_target);
        return ops;
    }

    let live: HashSet<&str> = candidates
        .iter()
        .map(|c| meta_str(c, "uid"))
        .chain([target_uid])
        .collect();
    // Depth of every object to be deleted, found by widening the set until it is stable: an
    // object goes when all of its live owners go.
    let mut depth: HashMap<&str, usize> = HashMap::from([(target_uid, 0)]);
    loop {
        let mut grew = false;
        for candidate in &candidates {
            let uid = meta_str(candidate, "uid");
            if depth.contains_key(uid) {
                continue;
            }
            let owners = owner_uids(candidate);
            let owner_depth = owners.iter().filter_map(|o| depth.get(o)).max();
            let all_owners_go = owners
                .iter()
                .all(|o| depth.contains_key(o) || !live.contains(o));
            if let (Some(d), true) = (owner_depth, all_owners_go) {
                depth.insert(uid, d + 1);
                grew = true;
            }
        }
        if !grew {
            break;
        }
    }

    let deleting: HashSet<&str> = depth.keys().copied().collect();
    let mut doomed: Vec<(usize, &Object)> = candidates
        .iter()
        .filter_map(|c| depth.get(meta_str(c, "uid")).map(|d| (*d, *c)))
        .collect();
    doomed.sort_by_key(|(d, c)| (*d, key_of(c)));
    let owners_of_doomed: HashSet<&str> = doomed.iter().flat_map(|(_, c)| owner_uids(c)).collect();
    let mut ops: Vec<GcOp> = std::iter::once((0, target))
        .chain(doomed.iter().copied())
        .filter(|(_, o)| owners_of_doomed.contains(meta_str(o, "uid")))
        .filter_map(|(_, o)| {
            Some(GcOp::BeginDeletion {
                key: key_of(o)?,
                uid: meta_str(o, "uid").to_string(),
            })
        })
        .collect();
    ops.extend(
        candidates
            .iter()
            .filter(|c| !deleting.contains(meta_str(c, "uid")))
            .filter(|c| owner_uids(c).iter().any(|o| deleting.contains(o)))
            .map(|c| release(c, &deleting)),
    );

    let dependents = doomed.into_iter().filter_map(|(_, c)| {
        Some(GcOp::Delete {
            key: key_of(c)?,
            uid: meta_str(c, "uid").to_string(),
        })
    });
    match policy {
        Propagation::Foreground => {
            let mut dependents: Vec<GcOp> = dependents.collect();
            dependents.reverse();
            ops.extend(dependents);
            ops.push(delete_target);
        }
        _ => {
            ops.push(delete_target);
            ops.extend(dependents);
        }
    }
    ops
}

fn release(object: &Object, owners: &HashSet<&str>) -> GcOp {
    GcOp::Release {
        key: key_of(object).expect("candidates have keys"),
        uid: meta_str(object, "uid").to_string(),
        owner_uids: owner_uids(object)
            .into_iter()
            .filter(|o| owners.contains(o))
            .map(str::to_string)
            .collect(),
    }
}

/// The order kinds are emptied out of a namespace: owners before what they own, so that no
/// controller recreates an object whose owner is about to go.
const NAMESPACE_DELETE_ORDER: [Kind; 8] = [
    Kind::Deployment,
    Kind::DaemonSet,
    Kind::ReplicaSet,
    Kind::Pod,
    Kind::Service,
    Kind::ConfigMap,
    Kind::Secret,
    Kind::Event,
];

/// Plans the deletion of a namespace and of `contents` (every object in it).
pub fn plan_namespace_delete(namespace: &Object, contents: &[Object]) -> Vec<GcOp> {
    let Some(key) = key_of(namespace) else {
        return Vec::new();
    };
    let uid = meta_str(namespace, "uid").to_string();
    let mut ops = vec![GcOp::Terminate {
        key: key.clone(),
        uid: uid.clone(),
    }];
    let owners: HashSet<&str> = contents.iter().flat_map(owner_uids).collect();
    let mut doomed: Vec<(usize, ObjectKey, String)> = contents
        .iter()
        .filter_map(|c| {
            let key = key_of(c)?;
            let rank = NAMESPACE_DELETE_ORDER
                .iter()
                .position(|k| *k == key.kind)
                .unwrap_or(NAMESPACE_DELETE_ORDER.len());
            Some((rank, key, meta_str(c, "uid").to_string()))
        })
        .collect();
    doomed.sort();
    ops.extend(
        doomed
            .iter()
            .filter(|(_, _, uid)| owners.contains(uid.as_str()))
            .map(|(_, key, uid)| GcOp::BeginDeletion {
                key: key.clone(),
                uid: uid.clone(),
            }),
    );
    ops.extend(
        doomed
            .into_iter()
            .map(|(_, key, uid)| GcOp::Delete { key, uid }),
    );
    ops.push(GcOp::Delete { key, uid });
    ops
}

/// How often the executor re-reads an object whose resourceVersion moved under it.
const CONFLICT_RETRIES_MAX: usize = 5;

/// Runs a plan against the store. Objects that are already gone, or that were replaced by a
/// newer object of the same name, are skipped. `now` is the RFC 3339 time stamped as
/// `deletionTimestamp`. Returns the objects it deleted, in order. Blocking: call from a
/// blocking task.
pub fn execute(store: &Store, ops: &[GcOp], now: &str) -> Result<Vec<Object>, StoreError> {
    let mut deleted = Vec::new();
    for op in ops {
        let (key, uid) = match op {
            GcOp::Terminate { key, uid }
            | GcOp::BeginDeletion { key, uid }
            | GcOp::Delete { key, uid }
            | GcOp::Release { key, uid, .. } => (key, uid),
        };
        for attempt in 1.. {
            let current = match store.get(key) {
                Ok(current) => current,
                Err(StoreError::NotFound(_)) => break,
                Err(e) => return Err(e),
            };
            if meta_str(&current, "uid") != uid {
                break;
            }
            let result = match op {
                GcOp::Delete { .. } => store
                    .delete(key, resource_version(&current))
                    .map(|object| deleted.push(object)),
                GcOp::Release { owner_uids, .. } => store
                    .update(key, without_owners(current, owner_uids))
                    .map(drop),
                GcOp::Terminate { .. } => store.update(key, terminating(current)).map(drop),
                GcOp::BeginDeletion { .. } => {
                    if current.pointer("/metadata/deletionTimestamp").is_some() {
                        break;
                    }
                    let mut marked = current;
                    super::object::set_meta(&mut marked, "deletionTimestamp", now.into());
                    store.update(key, marked).map(drop)
                }
            };
            match result {
                Ok(()) | Err(StoreError::NotFound(_)) => break,
                Err(StoreError::Conflict { .. }) if attempt < CONFLICT_RETRIES_MAX => continue,
                Err(e) => return Err(e),
            }
        }
    }
    Ok(deleted)
}

fn without_owners(mut object: Object, owners: &[String]) -> Object {
    if let Some(refs) = object
        .pointer_mut("/metadata/ownerReferences")
        .and_then(|v| v.as_array_mut())
    {
        refs.retain(|r| {
            r.get("uid")
                .and_then(|u| u.as_str())
                .is_none_or(|u| !owners.iter().any(|o| o == u))
        });
        if refs.is_empty() {
            if let Some(metadata) = object.get_mut("metadata").and_then(|m| m.as_object_mut()) {
                metadata.remove("ownerReferences");
            }
        }
    }
    object
}

fn terminating(mut object: Object) -> Object {
    if let Some(map) = object.as_object_mut() {
        let status = map.entry("status").or_insert_with(|| serde_json::json!({}));
        if let Some(status) = status.as_object_mut() {
            status.insert("phase".to_string(), "Terminating".into());
        }
    }
    object
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(kind: &str, name: &str, uid: &str, owners: &[&str]) -> Object {
        let api_version = match kind {
            "Deployment" | "ReplicaSet" | "DaemonSet" => "apps/v1",
            _ => "v1",
        };
        let refs: Vec<_> = owners
            .iter()
            .map(|o| json!({"uid": o, "name": o}))
            .collect();
        let mut object = json!({
            "apiVersion": api_version, "kind": kind,
            "metadata": {"name": name, "namespace": "default", "uid": uid, "resourceVersion": "1"}
        });
        if !refs.is_empty() {
            object["metadata"]["ownerReferences"] = json!(refs);
        }
        object
    }

    fn names(ops: &[GcOp]) -> Vec<String> {
        ops.iter()
            .map(|op| match op {
                GcOp::Delete { key, .. } => format!("delete {}", key.name),
                GcOp::Release {
                    key, owner_uids, ..
                } => {
                    format!("release {} from {}", key.name, owner_uids.join(","))
                }
                GcOp::Terminate { key, .. } => format!("terminate {}", key.name),
                GcOp::BeginDeletion { key, .. } => format!("begin {}", key.name),
            })
            .collect()
    }

    fn deployment_tree() -> (Object, Vec<Object>) {
        let deploy = obj("Deployment", "web", "d", &[]);
        let others = vec![
            obj("ReplicaSet", "web-1", "rs1", &["d"]),
            obj("ReplicaSet", "web-2", "rs2", &["d"]),
            obj("Pod", "web-1-a", "p1", &["rs1"]),
            obj("Pod", "web-2-a", "p2", &["rs2"]),
            obj("Pod", "lonely", "p3", &[]),
            obj("Pod", "shared", "p4", &["rs1", "other"]),
            obj("ReplicaSet", "other", "other", &[]),
        ];
        (deploy, others)
    }

    #[test]
    fn background_deletes_owner_then_dependents_level_by_level() {
        let (deploy, others) = deployment_tree();
        assert_eq!(
            names(&plan_delete(&deploy, Propagation::Background, &others)),
            [
                "begin web",
                "begin web-1",
                "begin web-2",
                "release shared from rs1",
                "delete web",
                "delete web-1",
                "delete web-2",
                "delete web-1-a",
                "delete web-2-a",
            ]
        );
    }

    #[test]
    fn foreground_deletes_deepest_dependents_first() {
        let (deploy, others) = deployment_tree();
        assert_eq!(
            names(&plan_delete(&deploy, Propagation::Foreground, &others)),
            [
                "begin web",
                "begin web-1",
                "begin web-2",
                "release shared from rs1",
                "delete web-2-a",
                "delete web-1-a",
                "delete web-2",
                "delete web-1",
                "delete web",
            ]
        );
    }

    #[test]
    fn orphan_releases_direct_dependents_only() {
        let (deploy, others) = deployment_tree();
        assert_eq!(
            names(&plan_delete(&deploy, Propagation::Orphan, &others)),
            ["release web-1 from d", "release web-2 from d", "delete web"]
        );
    }

    #[test]
    fn dependents_of_two_doomed_owners_are_deleted_and_dangling_owners_ignored() {
        let rs = obj("ReplicaSet", "rs", "rs", &[]);
        let others = vec![obj("Pod", "p", "p", &["rs", "gone-long-ago"])];
        assert_eq!(
            names(&plan_delete(&rs, Propagation::Background, &others)),
            ["begin rs", "delete rs", "delete p"]
        );
    }

    #[test]
    fn namespace_delete_empties_owners_first_then_removes_the_namespace() {
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod", "uid": "n"}});
        let (deploy, mut others) = deployment_tree();
        others.push(deploy);
        let ops = plan_namespace_delete(&ns, &others);
        let names = names(&ops);
        assert_eq!(names.first().unwrap(), "terminate prod");
        assert_eq!(
            names[1..5],
            ["begin web", "begin other", "begin web-1", "begin web-2"]
        );
        assert_eq!(names[5], "delete web");
        assert_eq!(names.last().unwrap(), "delete prod");
        assert_eq!(names.len(), 14);
    }

    #[test]
    fn releasing_drops_only_the_named_owner_references() {
        let pod = obj("Pod", "p", "p", &["a", "b"]);
        let released = without_owners(pod, &["a".to_string()]);
        assert_eq!(owner_uids(&released), ["b"]);
        let released = without_owners(released, &["b".to_string()]);
        assert!(released.pointer("/metadata/ownerReferences").is_none());
    }
}
