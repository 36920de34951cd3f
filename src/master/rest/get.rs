//! `GET` of one object.
use hyper::{Response, StatusCode};

use super::{document, Call, ResponseBody};
use crate::master::error::ApiError;
use crate::master::field_selector::field_value;
use crate::store::{Object, ObjectKey};

/// The store key of the object a call addresses.
pub fn key(call: &Call<'_>) -> ObjectKey {
    ObjectKey {
        kind: call.path.kind,
        namespace: call.path.namespace.clone(),
        name: call.path.name.clone().unwrap_or_default(),
    }
}

/// Refuses a pod the calling node may not see (not bound to it).
pub fn check_bound(call: &Call<'_>, object: &Object) -> Result<(), ApiError> {
    match &call.bound_to {
        Some(node) if field_value(object, "spec.nodeName") != node => Err(
            crate::master::authz::forbidden(call.role, call.verb, call.path),
        ),
        _ => Ok(()),
    }
}

pub async fn get(call: &Call<'_>) -> Result<Response<ResponseBody>, ApiError> {
    let key = key(call);
    let mut object = call.state.store_op(move |store| store.get(&key)).await?;
    check_bound(call, &object)?;
    call.state.overlay(&mut object);
    Ok(document(StatusCode::OK, call.format, &object, &[]))
}
