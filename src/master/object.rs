//! Reading the metadata of stored objects (JSON values): their key, uid, resourceVersion,
//! labels and owners.
use crate::api::Kind;
use crate::store::{Object, ObjectKey};

/// `metadata.<field>` as a string, `""` when absent.
pub fn meta_str<'a>(object: &'a Object, field: &str) -> &'a str {
    object
        .get("metadata")
        .and_then(|m| m.get(field))
        .and_then(|v| v.as_str())
        .unwrap_or("")
}

/// The kind named by `apiVersion` and `kind`.
pub fn kind_of(object: &Object) -> Option<Kind> {
    let api_version = object.get("apiVersion")?.as_str()?;
    let kind = object.get("kind")?.as_str()?;
    Kind::from_type(api_version, kind)
}

/// Where the object lives in the store; `None` when it lacks a known kind or a name.
pub fn key_of(object: &Object) -> Option<ObjectKey> {
    let kind = kind_of(object)?;
    let name = meta_str(object, "name");
    if name.is_empty() {
        return None;
    }
    let namespace = meta_str(object, "namespace");
    Some(ObjectKey {
        kind,
        namespace: kind.namespaced().then(|| namespace.to_string()),
        name: name.to_string(),
    })
}

/// `metadata.resourceVersion` as a number.
pub fn resource_version(object: &Object) -> Option<u64> {
    meta_str(object, "resourceVersion").parse().ok()
}

/// The uids in `metadata.ownerReferences`.
pub fn owner_uids(object: &Object) -> Vec<&str> {
    object
        .pointer("/metadata/ownerReferences")
        .and_then(|v| v.as_array())
        .map(|refs| {
            refs.iter()
                .filter_map(|r| r.get("uid").and_then(|u| u.as_str()))
                .collect()
        })
        .unwrap_or_default()
}

/// `metadata.labels` as (key, value) pairs.
pub fn labels(object: &Object) -> Vec<(&str, &str)> {
    object
        .pointer("/metadata/labels")
        .and_then(|v| v.as_object())
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// Sets `metadata.<field>`, creating `metadata` when needed.
pub fn set_meta(object: &mut Object, field: &str, value: serde_json::Value) {
    if let Some(map) = object.as_object_mut() {
        let metadata = map
            .entry("metadata")
            .or_insert_with(|| serde_json::Value::Object(Default::default()));
        if let Some(metadata) = metadata.as_object_mut() {
            metadata.insert(field.to_string(), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_follow_scope_of_kind() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a", "namespace": "default"}});
        let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "pi-1", "namespace": "x"}});
        assert_eq!(key_of(&pod).unwrap().namespace.as_deref(), Some("default"));
        assert_eq!(key_of(&node).unwrap().namespace, None);
        assert_eq!(key_of(&json!({"apiVersion": "v1", "kind": "Pod"})), None);
    }
}
