//! `PUT` (replace) and `PATCH` (JSON merge patch) of one object or of its `status`
//! subresource. Writes to the object keep its status; writes to `/status` change nothing else.
//! A request without a resourceVersion is retried on conflicts; one with a resourceVersion gets
//! 409 when it is stale.
use hyper::{Response, StatusCode};
use serde_json::Value;

use super::create::fill_namespace;
use super::get::{check_bound, key};
use super::{document, Call, ResponseBody};
use crate::master::admission;
use crate::master::error::ApiError;
use crate::master::merge_patch;
use crate::master::object::{meta_str, resource_version, set_meta};
use crate::store::{Object, StoreError};

/// How often a write without a resourceVersion is retried when the object moves under it.
const CONFLICT_RETRIES_MAX: usize = 5;

pub async fn update(call: &Call<'_>, mut body: Value) -> Result<Response<ResponseBody>, ApiError> {
    fill_namespace(&mut body, call.path)?;
    check_name(call, &body)?;
    let client_version = resource_version(&body);
    write(call, client_version, |live| {
        merged_write(call, live, body.clone())
    })
    .await
}

pub async fn patch(call: &Call<'_>, patch: Value) -> Result<Response<ResponseBody>, ApiError> {
    let client_version = resource_version(&patch);
    write(call, client_version, |live| {
        let mut target = live.clone();
        merge_patch::apply(&mut target, &patch);
        fill_namespace(&mut target, call.path)?;
        check_name(call, &target)?;
        merged_write(call, live, target)
    })
    .await
}

fn check_name(call: &Call<'_>, body: &Value) -> Result<(), ApiError> {
    let expected = call.path.name.clone().unwrap_or_default();
    match meta_str(body, "name") {
        found if found == expected => Ok(()),
        found => Err(ApiError::Mismatch {
            field: "name",
            found: found.to_string(),
            expected,
        }),
    }
}

/// The object to store when `body` is written over `live`, and the warnings for the client.
fn merged_write(
    call: &Call<'_>,
    live: &Object,
    body: Value,
) -> Result<(Object, Vec<String>), ApiError> {
    let kind = call.path.kind;
    if call.path.status {
        let mut next = live.clone();
        match body.get("status") {
            Some(status) => next["status"] = status.clone(),
            None => {
                if let Some(map) = next.as_object_mut() {
                    map.remove("status");
                }
            }
        }
        return Ok((next, Vec::new()));
    }
    let mut admitted = admission::admit(kind, body, call.query.strict)?;
    if let Some(map) = admitted.object.as_object_mut() {
        match live.get("status") {
            Some(status) => {
                map.insert("status".to_string(), status.clone());
            }
            None => {
                map.remove("status");
            }
        }
    }
    Ok((admitted.object, admitted.warnings))
}

async fn write<F>(
    call: &Call<'_>,
    client_version: Option<u64>,
    make: F,
) -> Result<Response<ResponseBody>, ApiError>
where
    F: Fn(&Object) -> Result<(Object, Vec<String>), ApiError>,
{
    let key = key(call);
    for attempt in 1..=CONFLICT_RETRIES_MAX {
        let get_key = key.clone();
        let live = call
            .state
            .store_op(move |store| store.get(&get_key))
            .await?;
        check_bound(call, &live)?;
        let (mut next, warnings) = make(&live)?;
        let version = client_version
            .or_else(|| resource_version(&live))
            .unwrap_or(0);
        set_meta(
            &mut next,
            "resourceVersion",
            Value::String(version.to_string()),
        );
        let put_key = key.clone();
        let result = call
            .state
            .store_op(move |store| match store.update(&put_key, next) {
                Err(StoreError::Conflict { .. }) => Ok(None),
                other => other.map(Some),
            })
            .await?;
        match result {
            Some(updated) => {
                return Ok(document(StatusCode::OK, call.format, &updated, &warnings));
            }
            None if client_version.is_none() && attempt < CONFLICT_RETRIES_MAX => continue,
            None => {
                return Err(ApiError::Conflict {
                    kind: key.kind,
                    name: key.name,
                })
            }
        }
    }
    unreachable!("the last attempt returns")
}
