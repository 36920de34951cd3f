//! `POST /apis/flotilla.dev/v1/apply` (Flotilla's own endpoint): create-or-update a batch of
//! objects, like `kubectl apply`. The body is a JSON array of objects or a `kind: List`; objects
//! without a namespace go to `?namespace=` (default `default`). Every object is validated
//! first; if any is invalid, or names a namespace that neither exists nor is created by the same
//! request, nothing is applied. The changes are then written in one atomic store batch. The
//! answer is an `ApplyResult` listing, per object in request order, `created`, `configured` or
//! `unchanged`; warnings about unsupported fields come as `Warning` headers (`?strict=true`
//! makes them errors).
use std::collections::HashSet;

use hyper::{Response, StatusCode};
use serde::Serialize;
use serde_json::Value;

use super::{document, ApiState, ResponseBody};
use crate::api::Kind;
use crate::master::admission;
use crate::master::apply::{self, Outcome};
use crate::master::codec::Format;
use crate::master::error::ApiError;
use crate::master::namespaces::{self, DEFAULT_NAMESPACE};
use crate::master::object::{key_of, kind_of, meta_str, set_meta};
use crate::master::query::Query;
use crate::store::{Object, ObjectKey, Op, Store, StoreError};

/// Objects accepted in one apply.
pub const APPLY_OBJECTS_MAX: usize = 1000;
/// Attempts when another writer changes an object between reading and writing the batch.
const BATCH_ATTEMPTS_MAX: usize = 5;

/// One line of the answer.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppliedObject {
    pub api_version: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    /// `created`, `configured` or `unchanged`.
    pub result: &'static str,
}

/// The answer to an apply.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplyResult {
    pub kind: &'static str,
    pub api_version: &'static str,
    pub items: Vec<AppliedObject>,
}

/// A validated manifest, ready to be merged.
struct Manifest {
    kind: Kind,
    key: ObjectKey,
    object: Object,
}

fn in_apply(index: usize, object: &Object, source: ApiError) -> ApiError {
    let resource = kind_of(object)
        .map(|k| k.resource_name())
        .unwrap_or_else(|| "object".to_string());
    ApiError::InApply {
        index,
        resource,
        name: meta_str(object, "name").to_string(),
        source: Box::new(source),
    }
}

fn objects_of(body: Value) -> Result<Vec<Value>, ApiError> {
    let items = match body {
        Value::Array(items) => items,
        Value::Object(mut map) if map.get("kind").and_then(Value::as_str) == Some("List") => {
            match map.remove("items") {
                Some(Value::Array(items)) => items,
                Some(Value::Null) | None => Vec::new(),
                Some(_) => {
                    return Err(ApiError::BadBody {
                        problem: "a List's items must be an array".to_string(),
                    })
                }
            }
        }
        Value::Object(map) => vec![Value::Object(map)],
        _ => {
            return Err(ApiError::BadBody {
                problem: "expected an array of objects or a List".to_string(),
            })
        }
    };
    if items.len() > APPLY_OBJECTS_MAX {
        return Err(ApiError::BadBody {
            problem: format!(
                "{} objects; at most {APPLY_OBJECTS_MAX} per apply",
                items.len()
            ),
        });
    }
    Ok(items)
}

/// Checks every object and fills in namespaces. Nothing is written.
fn validate(
    objects: Vec<Value>,
    default_namespace: &str,
    strict: bool,
) -> Result<(Vec<Manifest>, Vec<String>), ApiError> {
    let mut manifests = Vec::with_capacity(objects.len());
    let mut warnings = Vec::new();
    let mut seen = HashSet::new();
    for (index, mut object) in objects.into_iter().enumerate() {
        let index = index + 1;
        let Some(kind) = kind_of(&object) else {
            let problem = format!(
                "unknown kind {:?} in apiVersion {:?}",
                object.get("kind").and_then(Value::as_str).unwrap_or(""),
                object
                    .get("apiVersion")
                    .and_then(Value::as_str)
                    .unwrap_or("")
            );
            return Err(in_apply(index, &object, ApiError::BadBody { problem }));
        };
        if kind.namespaced() {
            if meta_str(&object, "namespace").is_empty() {
                set_meta(&mut object, "namespace", default_namespace.into());
            }
        } else if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("namespace");
        }
        let admitted = admission::admit(kind, object.clone(), strict)
            .map_err(|e| in_apply(index, &object, e))?;
        let key = key_of(&object).ok_or_else(|| {
            in_apply(
                index,
                &object,
                ApiError::BadBody {
                    problem: "the object has no name".to_string(),
                },
            )
        })?;
        if !seen.insert(key.clone()) {
            let problem = "the same object appears twice in one apply".to_string();
            return Err(in_apply(index, &object, ApiError::BadBody { problem }));
        }
        let label = format!("{}/{}", kind.resource_name(), key.name);
        warnings.extend(admitted.warnings.iter().map(|w| format!("{label}: {w}")));
        manifests.push(Manifest { kind, key, object });
    }
    Ok((manifests, warnings))
}

/// Reads the live objects, plans each manifest and writes the changes in one batch. Blocking.
fn plan_and_write(store: &Store, manifests: &[Manifest]) -> Result<Vec<Outcome>, ApiError> {
    let created_namespaces: HashSet<&str> = manifests
        .iter()
        .filter(|m| m.kind == Kind::Namespace)
        .map(|m| m.key.name.as_str())
        .collect();
    for (index, manifest) in manifests.iter().enumerate() {
        if let Some(namespace) = &manifest.key.namespace {
            if !created_namespaces.contains(namespace.as_str()) {
                namespaces::accepts(store, namespace)
                    .map_err(|e| in_apply(index + 1, &manifest.object, e))?;
            }
        }
    }
    for attempt in 1..=BATCH_ATTEMPTS_MAX {
        let mut outcomes = Vec::with_capacity(manifests.len());
        let mut ops = Vec::new();
        for (index, manifest) in manifests.iter().enumerate() {
            let live = match store.get(&manifest.key) {
                Ok(live) => Some(live),
                Err(StoreError::NotFound(_)) => None,
                Err(e) => return Err(e.into()),
            };
            let candidate = match &live {
                None => {
                    let mut new = apply::to_create(&manifest.object);
                    if admission::keeps_status_on_create(manifest.kind) {
                        if let (Some(status), Some(map)) =
                            (manifest.object.get("status"), new.as_object_mut())
                        {
                            map.insert("status".to_string(), status.clone());
                        }
                    }
                    new
                }
                Some(live) => apply::merge(live, &manifest.object),
            };
            let mut admitted = admission::admit(manifest.kind, candidate, false)
                .map_err(|e| in_apply(index + 1, &manifest.object, e))?
                .object;
            match live {
                None => {
                    outcomes.push(Outcome::Created);
                    ops.push(Op::Create(manifest.key.clone(), admitted));
                }
                Some(live) if apply::same_user_fields(&live, &admitted) => {
                    outcomes.push(Outcome::Unchanged);
                }
                Some(live) => {
                    if let Some(map) = admitted.as_object_mut() {
                        match live.get("status") {
                            Some(status) => map.insert("status".to_string(), status.clone()),
                            None => map.remove("status"),
                        };
                    }
                    let version = meta_str(&live, "resourceVersion").to_string();
                    set_meta(&mut admitted, "resourceVersion", version.into());
                    outcomes.push(Outcome::Configured);
                    ops.push(Op::Update(manifest.key.clone(), admitted));
                }
            }
        }
        if ops.is_empty() {
            return Ok(outcomes);
        }
        match store.batch(ops) {
            Ok(_) => return Ok(outcomes),
            Err(StoreError::Conflict { .. } | StoreError::AlreadyExists(_))
                if attempt < BATCH_ATTEMPTS_MAX =>
            {
                continue
            }
            Err(e) => return Err(e.into()),
        }
    }
    unreachable!("the last attempt returns")
}

pub async fn apply(
    state: &ApiState,
    query: &Query,
    body: Value,
    format: Format,
) -> Result<Response<ResponseBody>, ApiError> {
    let default_namespace = query
        .namespace
        .clone()
        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string());
    let (manifests, warnings) = validate(objects_of(body)?, &default_namespace, query.strict)?;
    let (manifests, outcomes) = state
        .store_op(move |store| {
            let outcomes = plan_and_write(store, &manifests);
            Ok((manifests, outcomes))
        })
        .await?;
    let outcomes = outcomes?;
    let items = manifests
        .iter()
        .zip(outcomes)
        .map(|(m, outcome)| AppliedObject {
            api_version: m.kind.api_version().to_string(),
            kind: m.kind.name().to_string(),
            namespace: m.key.namespace.clone(),
            name: m.key.name.clone(),
            result: outcome.as_str(),
        })
        .collect();
    let result = ApplyResult {
        kind: "ApplyResult",
        api_version: "flotilla.dev/v1",
        items,
    };
    tracing::debug!(objects = manifests.len(), "applied");
    Ok(document(StatusCode::OK, format, &result, &warnings))
}
