//! `DELETE` of one object, cascading through ownerReferences with the propagation policy from
//! `DeleteOptions` or the query (Background by default); deleting a Namespace deletes what is in
//! it. The plan comes from [`crate::master::gc`].
use hyper::{Response, StatusCode};
use serde_json::Value;

use super::get::key;
use super::{document, Call, ResponseBody};
use crate::api::Kind;
use crate::master::error::ApiError;
use crate::master::gc::{self, Propagation};
use crate::master::namespaces;
use crate::master::object::{meta_str, resource_version};
use crate::store::{Object, ObjectKey, Store, StoreError};

/// Preconditions and policy from a `DeleteOptions` body.
#[derive(Debug, Default, PartialEq, Eq)]
struct Options {
    propagation: Option<Propagation>,
    resource_version: Option<u64>,
    uid: Option<String>,
}

fn options(body: Option<&Value>) -> Result<Options, ApiError> {
    let Some(body) = body else {
        return Ok(Options::default());
    };
    let text = |v: &Value| v.as_str().map(str::to_string);
    let mut options = Options {
        resource_version: body
            .pointer("/preconditions/resourceVersion")
            .and_then(text)
            .and_then(|v| v.parse().ok()),
        uid: body.pointer("/preconditions/uid").and_then(text),
        ..Options::default()
    };
    if let Some(policy) = body.get("propagationPolicy").and_then(|v| v.as_str()) {
        options.propagation =
            Some(Propagation::parse(policy).ok_or_else(|| ApiError::BadBody {
                problem: format!(
                    "propagationPolicy {policy:?}: expected Background, Foreground or Orphan"
                ),
            })?);
    } else if body.get("orphanDependents").and_then(|v| v.as_bool()) == Some(true) {
        options.propagation = Some(Propagation::Orphan);
    }
    Ok(options)
}

/// Every object that may depend on an object in `namespace` (`None`: anywhere). Blocking.
pub fn candidates(store: &Store, namespace: Option<&str>) -> Result<Vec<Object>, StoreError> {
    let mut all = Vec::new();
    for kind in Kind::ALL {
        if namespace.is_some() && !kind.namespaced() {
            continue;
        }
        all.extend(store.list(kind, namespace)?.0);
    }
    Ok(all)
}

pub async fn delete(
    call: &Call<'_>,
    body: Option<Value>,
) -> Result<Response<ResponseBody>, ApiError> {
    let options = options(body.as_ref())?;
    let policy = options
        .propagation
        .or(call.query.propagation_policy)
        .unwrap_or_default();
    let key = key(call);
    if key.kind == Kind::Namespace {
        namespaces::check_deletable(&key.name)?;
    }
    let deleted = call
        .state
        .store_op(move |store| Ok(run(store, &key, &options, policy)))
        .await??;
    Ok(document(StatusCode::OK, call.format, &deleted, &[]))
}

fn run(
    store: &Store,
    key: &ObjectKey,
    options: &Options,
    policy: Propagation,
) -> Result<Object, ApiError> {
    let target = store.get(key)?;
    let stale = options
        .resource_version
        .is_some_and(|v| Some(v) != resource_version(&target))
        || options
            .uid
            .as_deref()
            .is_some_and(|uid| uid != meta_str(&target, "uid"));
    if stale {
        return Err(ApiError::Conflict {
            kind: key.kind,
            name: key.name.clone(),
        });
    }
    let plan = if key.kind == Kind::Namespace {
        gc::plan_namespace_delete(&target, &candidates(store, Some(&key.name))?)
    } else {
        gc::plan_delete(
            &target,
            policy,
            &candidates(store, key.namespace.as_deref())?,
        )
    };
    let uid = meta_str(&target, "uid").to_string();
    let now = crate::store::timestamp::format_rfc3339(std::time::SystemTime::now());
    let deleted = gc::execute(store, &plan, &now)?;
    deleted
        .into_iter()
        .find(|o| meta_str(o, "uid") == uid)
        .ok_or_else(|| ApiError::NotFound {
            kind: key.kind,
            name: key.name.clone(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn delete_options_carry_policy_and_preconditions() {
        let body = json!({"kind": "DeleteOptions", "propagationPolicy": "Foreground",
            "preconditions": {"resourceVersion": "12", "uid": "u"}});
        assert_eq!(
            options(Some(&body)).unwrap(),
            Options {
                propagation: Some(Propagation::Foreground),
                resource_version: Some(12),
                uid: Some("u".into())
            }
        );
        let orphan = json!({"orphanDependents": true});
        assert_eq!(
            options(Some(&orphan)).unwrap().propagation,
            Some(Propagation::Orphan)
        );
        assert!(options(Some(&json!({"propagationPolicy": "Never"}))).is_err());
    }
}
