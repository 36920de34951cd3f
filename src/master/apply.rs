//! What `apply` does to one object, decided without I/O: a three-way merge of the manifest
//! into the live object (like `kubectl apply`: fields the manifest sets win, fields it set last
//! time and no longer sets are removed, fields others set are kept), and the comparison of
//! user-owned fields that tells `configured` from `unchanged`.
use serde_json::{Map, Value};

/// The annotation that records the manifest last applied, as `kubectl apply` does.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Metadata fields the server owns; a manifest's values for them are ignored.
pub const SERVER_METADATA: [&str; 7] = [
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
];

/// What applying one manifest amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Configured,
    Unchanged,
}

impl Outcome {
    /// The word `kubectl apply` prints.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Configured => "configured",
            Outcome::Unchanged => "unchanged",
        }
    }
}

/// The manifest without what a user does not own: `status`, server-set metadata and the
/// last-applied annotation itself.
pub fn user_part(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(map) = object.as_object_mut() {
        map.remove("status");
        if let Some(metadata) = map.get_mut("metadata").and_then(|m| m.as_object_mut()) {
            for field in SERVER_METADATA {
                metadata.remove(field);
            }
            let drop_annotations = match metadata.get_mut("annotations") {
                Some(Value::Object(annotations)) => {
                    annotations.remove(LAST_APPLIED_ANNOTATION);
                    annotations.is_empty()
                }
                Some(_) => true,
                None => false,
            };
            if drop_annotations {
                metadata.remove("annotations");
            }
            if metadata
                .get("labels")
                .is_some_and(|l| l.as_object().is_some_and(Map::is_empty))
            {
                metadata.remove("labels");
            }
        }
    }
    object
}

/// The object to create for a manifest that has no live counterpart: its user part plus the
/// last-applied annotation.
pub fn to_create(manifest: &Value) -> Value {
    let mut object = user_part(manifest);
    record_last_applied(&mut object, &user_part(manifest));
    object
}

/// The object to store when `manifest` is applied over `live`: the three-way merge of the last
/// applied manifest, the live object and the new manifest, carrying the live object's status
/// and server metadata, with the new last-applied annotation.
pub fn merge(live: &Value, manifest: &Value) -> Value {
    let new = user_part(manifest);
    let last = live
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(LAST_APPLIED_ANNOTATION))
        .and_then(|v| v.as_str())
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
        .unwrap_or(Value::Object(Map::new()));
    let mut merged = live.clone();
    three_way(&mut merged, &last, &new);
    record_last_applied(&mut merged, &new);
    merged
}

/// Whether two objects agree on every user-owned field (status and server metadata aside).
pub fn same_user_fields(a: &Value, b: &Value) -> bool {
    user_part(a) == user_part(b)
}

fn three_way(live: &mut Value, last: &Value, new: &Value) {
    let (Value::Object(live_map), Value::Object(new_map)) = (&mut *live, new) else {
        *live = new.clone();
        return;
    };
    if let Value::Object(last_map) = last {
        for key in last_map.keys() {
            if !new_map.contains_key(key) {
                live_map.remove(key);
            }
        }
    }
    for (key, value) in new_map {
        if value.is_null() {
            live_map.remove(key);
            continue;
        }
        let last_value = last.get(key).unwrap_or(&Value::Null);
        match live_map.get_mut(key) {
            Some(live_value) if live_value.is_object() && value.is_object() => {
                three_way(live_value, last_value, value)
            }
            _ => {
                live_map.insert(key.clone(), value.clone());
            }
        }
    }
}

fn record_last_applied(object: &mut Value, manifest: &Value) {
    let text = serde_json::to_string(manifest).expect("a JSON value serialises");
    let Some(map) = object.as_object_mut() else {
        return;
    };
    let metadata = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(metadata) = metadata.as_object_mut() else {
        return;
    };
    let annotations = metadata
        .entry("annotations")
        .or_insert_with(|| Value::Object(Map::new()));
    if !annotations.is_object() {
        *annotations = Value::Object(Map::new());
    }
    if let Some(annotations) = annotations.as_object_mut() {
        annotations.insert(LAST_APPLIED_ANNOTATION.to_string(), Value::String(text));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn manifest(replicas: u32, image: &str) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "c", "image": image}]}}}
        })
    }

    fn live_from(manifest: &Value) -> Value {
        let mut live = to_create(manifest);
        live["metadata"]["uid"] = json!("u1");
        live["metadata"]["resourceVersion"] = json!("7");
        live["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = json!("1");
        live["spec"]["revisionHistoryLimit"] = json!(10);
        live["status"] = json!({"replicas": 3});
        live
    }

    #[test]
    fn reapplying_the_same_manifest_changes_nothing() {
        let m = manifest(3, "nginx:1.14.2");
        let live = live_from(&m);
        let merged = merge(&live, &m);
        assert!(same_user_fields(&merged, &live));
        assert_eq!(merged["status"], json!({"replicas": 3}));
        assert_eq!(merged["metadata"]["uid"], json!("u1"));
    }

    #[test]
    fn an_edit_is_merged_and_keeps_fields_set_by_others() {
        let live = live_from(&manifest(3, "nginx:1.14.2"));
        let merged = merge(&live, &manifest(3, "nginx:1.16.1"));
        assert!(!same_user_fields(&merged, &live));
        assert_eq!(
            merged["spec"]["template"]["spec"]["containers"][0]["image"],
            json!("nginx:1.16.1")
        );
        assert_eq!(merged["spec"]["revisionHistoryLimit"], json!(10));
        assert_eq!(
            merged["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
            json!("1")
        );
    }

    #[test]
    fn fields_dropped_from_the_manifest_are_removed() {
        let mut with_label = manifest(3, "nginx");
        with_label["metadata"]["labels"]["tier"] = json!("front");
        let live = live_from(&with_label);
        let merged = merge(&live, &manifest(3, "nginx"));
        assert_eq!(merged["metadata"]["labels"], json!({"app": "web"}));
    }

    #[test]
    fn server_fields_in_a_manifest_are_ignored() {
        let m = manifest(3, "nginx");
        let live = live_from(&m);
        let mut echoed = live.clone();
        echoed["metadata"]["resourceVersion"] = json!("1");
        echoed["status"] = json!({"replicas": 0});
        assert!(same_user_fields(&merge(&live, &echoed), &live));
    }
}
