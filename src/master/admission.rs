//! Admission of objects into the store: the body must be the kind the path names; it is typed
//! by the resource model, defaulted and validated with Kubernetes' rules, and stored in its
//! typed form. Fields the model does not know are dropped with a warning naming each
//! (`unknown field "spec.foo"`, as Kubernetes' field validation "Warn"); strict mode makes them
//! an error. Pure: `edgectl` runs the same checks before sending anything.
use serde_json::Value;

use super::error::{ApiError, FieldError};
use super::object::{kind_of, meta_str};
use crate::api::{apply_defaults, validate, Kind, Resource};
use crate::store::Object;

/// An object ready for the store, and the warnings to send with the response.
#[derive(Debug, Clone, PartialEq)]
pub struct Admitted {
    pub object: Object,
    pub warnings: Vec<String>,
}

/// Whether a new object keeps the `status` it was created with. Kubernetes keeps it for
/// Nodes (an agent registers its node with its capacity and conditions) and starts every other
/// kind from an empty status that its controllers and agents fill in.
pub fn keeps_status_on_create(kind: Kind) -> bool {
    kind == Kind::Node
}

/// Drops the status of a new object unless its kind keeps it.
pub fn prepare_for_create(kind: Kind, object: &mut Object) {
    if !keeps_status_on_create(kind) {
        if let Some(map) = object.as_object_mut() {
            map.remove("status");
        }
    }
}

/// Checks that `object` is a `kind`, types, defaults and validates it.
pub fn admit(kind: Kind, object: Object, strict: bool) -> Result<Admitted, ApiError> {
    if !object.is_object() {
        return Err(ApiError::BadBody {
            problem: "expected a JSON object".to_string(),
        });
    }
    check_type(kind, &object)?;
    let name = meta_str(&object, "name").to_string();
    let mut resource =
        Resource::from_value_of_kind(kind, object.clone()).map_err(|e| ApiError::Invalid {
            kind,
            name: name.clone(),
            causes: vec![FieldError {
                field: String::new(),
                reason: "FieldValueTypeInvalid",
                detail: e.to_string(),
            }],
        })?;
    let warnings: Vec<String> = unknown_fields(&object, &resource.to_value())
        .into_iter()
        .map(|path| format!("unknown field {path:?}"))
        .collect();
    if strict && !warnings.is_empty() {
        return Err(ApiError::Strict { warnings });
    }
    apply_defaults(&mut resource);
    validate(&resource).map_err(|errors| ApiError::Invalid {
        kind,
        name,
        causes: errors
            .iter()
            .map(|e| FieldError {
                field: e.path.to_string(),
                reason: e.reason(),
                detail: e.body(),
            })
            .collect(),
    })?;
    Ok(Admitted {
        object: resource.to_value(),
        warnings,
    })
}

fn check_type(kind: Kind, object: &Object) -> Result<(), ApiError> {
    let api_version = object.get("apiVersion").and_then(|v| v.as_str());
    let kind_field = object.get("kind").and_then(|v| v.as_str());
    match (api_version, kind_field) {
        (None, _) => Err(ApiError::BadBody {
            problem: "Object 'apiVersion' is missing".to_string(),
        }),
        (_, None) => Err(ApiError::BadBody {
            problem: "Object 'Kind' is missing".to_string(),
        }),
        _ if kind_of(object) == Some(kind) => Ok(()),
        (Some(api_version), Some(found)) => Err(ApiError::Mismatch {
            field: "kind",
            found: format!("{api_version}/{found}"),
            expected: format!("{}/{}", kind.api_version(), kind.name()),
        }),
    }
}

/// Whether a value carries nothing (what typed serialisation leaves out anyway).
fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.iter().all(is_empty),
        Value::Object(o) => o.values().all(is_empty),
    }
}

/// Paths (`spec.template.spec.containers[0].foo`) of the non-empty fields of `input` that its
/// typed form `typed` lost: the fields the resource model does not know.
fn unknown_fields(input: &Value, typed: &Value) -> Vec<String> {
    let mut found = Vec::new();
    walk(input, typed, String::new(), &mut found);
    found
}

fn walk(input: &Value, typed: &Value, path: String, found: &mut Vec<String>) {
    match (input, typed) {
        (Value::Object(input), Value::Object(typed)) => {
            for (key, value) in input {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match typed.get(key) {
                    Some(typed_value) => walk(value, typed_value, child, found),
                    None if is_empty(value) => {}
                    None => found.push(child),
                }
            }
        }
        (Value::Array(input), Value::Array(typed)) => {
            for (i, (value, typed_value)) in input.iter().zip(typed).enumerate() {
                walk(value, typed_value, format!("{path}[{i}]"), found);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "creationTimestamp": null},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "c", "image": "nginx:1.14.2"}]}}},
            "status": {}})
    }

    #[test]
    fn a_valid_object_is_defaulted() {
        let admitted = admit(Kind::Deployment, deployment(), true).unwrap();
        assert!(admitted.warnings.is_empty(), "{:?}", admitted.warnings);
        assert_eq!(admitted.object["spec"]["revisionHistoryLimit"], 10);
        assert_eq!(admitted.object["spec"]["strategy"]["type"], "RollingUpdate");
    }

    #[test]
    fn unknown_fields_are_warnings_or_strict_errors() {
        let mut object = deployment();
        object["spec"]["foo"] = json!(1);
        object["spec"]["template"]["spec"]["containers"][0]["bar"] = json!("x");
        let admitted = admit(Kind::Deployment, object.clone(), false).unwrap();
        assert_eq!(
            admitted.warnings,
            [
                "unknown field \"spec.foo\"",
                "unknown field \"spec.template.spec.containers[0].bar\""
            ]
        );
        assert!(admitted.object["spec"].get("foo").is_none());
        let error = admit(Kind::Deployment, object, true).unwrap_err();
        assert_eq!(error.to_status().code, 400);
        assert!(error
            .to_string()
            .starts_with("strict decoding error: unknown field"));
    }

    #[test]
    fn missing_required_fields_are_named() {
        let mut object = deployment();
        object["metadata"].as_object_mut().unwrap().remove("name");
        object["spec"].as_object_mut().unwrap().remove("template");
        let error = admit(Kind::Deployment, object, false).unwrap_err();
        let status = error.to_status();
        assert_eq!(status.code, 422);
        let fields: Vec<String> = status
            .details
            .unwrap()
            .causes
            .into_iter()
            .map(|c| c.field)
            .collect();
        assert!(fields.iter().any(|f| f == "metadata.name"), "{fields:?}");
        assert!(
            fields.iter().any(|f| f.starts_with("spec.template")),
            "{fields:?}"
        );
    }

    #[test]
    fn a_body_of_another_kind_is_a_bad_request() {
        let error = admit(Kind::Pod, deployment(), false).unwrap_err();
        assert_eq!(error.to_status().code, 400);
    }
}
