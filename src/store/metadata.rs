//! The metadata the store owns and stamps on every write: `uid`, `resourceVersion`,
//! `generation` and `creationTimestamp`, plus the checks that an object matches its key.
//!
//! Pure functions over JSON values; the caller supplies the revision, uid and clock reading.
use std::time::SystemTime;

use serde_json::{Map, Value};

use super::timestamp::format_rfc3339;
use super::{Object, ObjectKey, StoreError};

/// What an update does to the stored object.
#[derive(Debug)]
pub enum UpdateOutcome {
    /// The new object equals the stored one apart from the store's metadata: nothing to write.
    Unchanged,
    /// The object to store, stamped with the new revision.
    Changed(Object),
}

/// The `metadata.resourceVersion` of `object`: `None` when absent or empty (an unconditional
/// write), an error when it is not a revision number.
pub fn resource_version(key: &ObjectKey, object: &Object) -> Result<Option<u64>, StoreError> {
    match object.pointer("/metadata/resourceVersion") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.is_empty() => Ok(None),
        Some(Value::String(text)) => text.parse().map(Some).map_err(|_| {
            StoreError::Invalid(format!(
                "{} {:?}: metadata.resourceVersion {text:?} is not a resource version",
                key.kind, key.name
            ))
        }),
        Some(other) => Err(StoreError::Invalid(format!(
            "{} {:?}: metadata.resourceVersion must be a string, not {other}",
            key.kind, key.name
        ))),
    }
}

/// A new object as first stored: generation 1, a fresh uid and the creation time. Whatever
/// the client put in those fields is replaced.
pub fn stamp_create(
    key: &ObjectKey,
    object: Object,
    revision: u64,
    uid: String,
    now: SystemTime,
) -> Result<Object, StoreError> {
    let mut object = normalize(key, object)?;
    let metadata = metadata_mut(&mut object);
    metadata.insert("uid".into(), Value::String(uid));
    metadata.insert("resourceVersion".into(), revision.to_string().into());
    metadata.insert("generation".into(), 1.into());
    metadata.insert("creationTimestamp".into(), format_rfc3339(now).into());
    Ok(object)
}

/// The stored form of an update of `current` to `object`: `uid` and `creationTimestamp` kept,
/// `generation` bumped only when `spec` changed. A non-empty resourceVersion other than the
/// current one is a conflict.
pub fn stamp_update(
    key: &ObjectKey,
    current: &Object,
    object: Object,
    revision: u64,
) -> Result<UpdateOutcome, StoreError> {
    let current_version = resource_version(key, current)?.unwrap_or(0);
    if let Some(given) = resource_version(key, &object)? {
        if given != current_version {
            return Err(StoreError::Conflict {
                key: key.clone(),
                given,
                current: current_version,
            });
        }
    }
    let mut object = normalize(key, object)?;
    let current_generation = current
        .pointer("/metadata/generation")
        .and_then(Value::as_u64)
        .unwrap_or(1);
    let metadata = metadata_mut(&mut object);
    for field in ["uid", "creationTimestamp"] {
        match current.pointer(&format!("/metadata/{field}")) {
            Some(kept) => metadata.insert(field.into(), kept.clone()),
            None => metadata.remove(field),
        };
    }
    metadata.insert("generation".into(), current_generation.into());
    metadata.insert("resourceVersion".into(), current_version.to_string().into());
    if object == *current {
        return Ok(UpdateOutcome::Unchanged);
    }
    let generation = if object.get("spec") == current.get("spec") {
        current_generation
    } else {
        current_generation + 1
    };
    let metadata = metadata_mut(&mut object);
    metadata.insert("generation".into(), generation.into());
    metadata.insert("resourceVersion".into(), revision.to_string().into());
    Ok(UpdateOutcome::Changed(object))
}

/// `object` as it is reported after its deletion at `revision`.
pub fn stamp_delete(mut object: Object, revision: u64) -> Object {
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.insert("resourceVersion".into(), revision.to_string().into());
    }
    object
}

/// Checks that `object` is a JSON object whose `apiVersion`, `kind`, `metadata.name` and
/// `metadata.namespace` agree with `key`, filling in the ones that are missing.
fn normalize(key: &ObjectKey, object: Object) -> Result<Object, StoreError> {
    let invalid =
        |what: String| StoreError::Invalid(format!("{} {:?}: {what}", key.kind, key.name));
    let Value::Object(mut fields) = object else {
        return Err(invalid("the object must be a JSON object".into()));
    };
    for (field, expected) in [
        ("apiVersion", key.kind.api_version()),
        ("kind", key.kind.name()),
    ] {
        match fields.get(field) {
            None | Some(Value::Null) => {
                fields.insert(field.into(), expected.into());
            }
            Some(Value::String(given)) if given == expected => {}
            Some(given) => {
                return Err(invalid(format!(
                    "{field} is {given}, expected {expected:?}"
                )));
            }
        }
    }
    let metadata = fields
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(metadata) = metadata else {
        return Err(invalid("metadata must be an object".into()));
    };
    check_or_fill(metadata, "name", Some(&key.name)).map_err(invalid)?;
    check_or_fill(metadata, "namespace", key.namespace.as_deref()).map_err(invalid)?;
    Ok(Value::Object(fields))
}

fn check_or_fill(
    metadata: &mut Map<String, Value>,
    field: &str,
    expected: Option<&str>,
) -> Result<(), String> {
    match (metadata.get(field), expected) {
        (None | Some(Value::Null), Some(expected)) => {
            metadata.insert(field.into(), expected.into());
            Ok(())
        }
        (None | Some(Value::Null), None) => {
            metadata.remove(field);
            Ok(())
        }
        (Some(Value::String(given)), Some(expected)) if given == expected => Ok(()),
        (Some(given), Some(expected)) => Err(format!(
            "metadata.{field} is {given}, which does not match {expected:?} in the request"
        )),
        (Some(given), None) => Err(format!(
            "metadata.{field} is {given}, but this kind is cluster-scoped"
        )),
    }
}

/// The metadata map of an object [`normalize`] accepted.
fn metadata_mut(object: &mut Object) -> &mut Map<String, Value> {
    object
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .expect("normalize guarantees an object with a metadata map")
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use serde_json::json;

    use super::*;
    use crate::api::Kind;

    fn key() -> ObjectKey {
        ObjectKey {
            kind: Kind::Deployment,
            namespace: Some("default".into()),
            name: "web".into(),
        }
    }

    fn created() -> Object {
        let now = UNIX_EPOCH + Duration::from_secs(1_795_320_444);
        let object = json!({"spec": {"replicas": 1}, "metadata": {"uid": "forged"}});
        stamp_create(&key(), object, 7, "u-1".into(), now).unwrap()
    }

    #[test]
    fn create_fills_identity_and_replaces_client_metadata() {
        let object = created();
        assert_eq!(object["apiVersion"], "apps/v1");
        assert_eq!(object["kind"], "Deployment");
        assert_eq!(object["metadata"]["name"], "web");
        assert_eq!(object["metadata"]["namespace"], "default");
        assert_eq!(object["metadata"]["uid"], "u-1");
        assert_eq!(object["metadata"]["resourceVersion"], "7");
        assert_eq!(object["metadata"]["generation"], 1);
        assert_eq!(
            object["metadata"]["creationTimestamp"],
            "2026-11-22T04:07:24Z"
        );
    }

    #[test]
    fn a_status_change_keeps_the_generation() {
        let mut next = created();
        next["status"] = json!({"replicas": 1});
        let UpdateOutcome::Changed(next) = stamp_update(&key(), &created(), next, 8).unwrap()
        else {
            panic!("expected a change");
        };
        assert_eq!(next["metadata"]["generation"], 1);
        assert_eq!(next["metadata"]["resourceVersion"], "8");
    }

    #[test]
    fn a_spec_change_bumps_the_generation_and_keeps_uid_and_creation_time() {
        let next = json!({"spec": {"replicas": 3}, "metadata": {"uid": "other"}});
        let UpdateOutcome::Changed(next) = stamp_update(&key(), &created(), next, 8).unwrap()
        else {
            panic!("expected a change");
        };
        assert_eq!(next["metadata"]["generation"], 2);
        assert_eq!(next["metadata"]["uid"], "u-1");
        assert_eq!(
            next["metadata"]["creationTimestamp"],
            "2026-11-22T04:07:24Z"
        );
    }

    #[test]
    fn an_identical_update_changes_nothing() {
        let same = json!({"spec": {"replicas": 1}});
        assert!(matches!(
            stamp_update(&key(), &created(), same, 8),
            Ok(UpdateOutcome::Unchanged)
        ));
    }

    #[test]
    fn a_stale_resource_version_conflicts() {
        let stale = json!({"spec": {}, "metadata": {"resourceVersion": "6"}});
        assert!(matches!(
            stamp_update(&key(), &created(), stale, 8),
            Err(StoreError::Conflict {
                given: 6,
                current: 7,
                ..
            })
        ));
    }

    #[test]
    fn an_object_must_match_its_key() {
        let now = UNIX_EPOCH;
        let wrong_name = json!({"metadata": {"name": "api"}});
        let wrong_kind = json!({"kind": "Pod"});
        let not_an_object = json!([1]);
        for object in [wrong_name, wrong_kind, not_an_object] {
            let result = stamp_create(&key(), object, 1, "u".into(), now);
            assert!(matches!(result, Err(StoreError::Invalid(_))), "{result:?}");
        }
    }
}
