//! Admission of objects into the store: the body must be the kind the path names, then it is
//! decoded, validated and defaulted by the resource model. Unsupported fields come back as
//! warnings (`--strict` makes them errors).
use super::error::{ApiError, FieldError};
use super::object::{kind_of, meta_str};
use crate::api::Kind;
use crate::store::Object;

/// An object ready for the store, and the warnings to send with the response.
#[derive(Debug, Clone, PartialEq)]
pub struct Admitted {
    pub object: Object,
    pub warnings: Vec<String>,
}

/// Checks that `object` is a `kind`, validates it and applies defaults.
pub fn admit(kind: Kind, object: Object, strict: bool) -> Result<Admitted, ApiError> {
    if !object.is_object() {
        return Err(ApiError::BadBody {
            problem: "expected a JSON object".to_string(),
        });
    }
    check_type(kind, &object)?;
    let name = meta_str(&object, "name").to_string();
    let causes = model::validate(kind, &object);
    if !causes.is_empty() {
        return Err(ApiError::Invalid { kind, name, causes });
    }
    let (object, warnings) = model::normalise(kind, object);
    if strict && !warnings.is_empty() {
        return Err(ApiError::Strict { warnings });
    }
    Ok(Admitted { object, warnings })
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

/// The resource model's checks, pending `crate::api`'s decoder: names and required metadata
/// only.
mod model {
    use super::*;

    pub fn validate(kind: Kind, object: &Object) -> Vec<FieldError> {
        let mut causes = Vec::new();
        let name = meta_str(object, "name");
        if name.is_empty() {
            causes.push(FieldError {
                field: "metadata.name".to_string(),
                reason: "FieldValueRequired",
                detail: "Required value: name or generateName is required".to_string(),
            });
        } else {
            let valid = name.len() <= 253
                && name.split('.').all(|label| {
                    let b = label.as_bytes();
                    !b.is_empty()
                        && b[0].is_ascii_alphanumeric()
                        && b[b.len() - 1].is_ascii_alphanumeric()
                        && b.iter()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                })
                && (kind != Kind::Namespace || !name.contains('.'));
            if !valid {
                let problem = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'";
                causes.push(FieldError {
                    field: "metadata.name".to_string(),
                    reason: "FieldValueInvalid",
                    detail: format!("Invalid value: {name:?}: {problem}"),
                });
            }
        }
        causes
    }

    pub fn normalise(kind: Kind, mut object: Object) -> (Object, Vec<String>) {
        if kind == Kind::Namespace && object.pointer("/status/phase").is_none() {
            object["status"] = serde_json::json!({"phase": "Active"});
        }
        (object, Vec::new())
    }
}
