//! `GET` of a collection: `{kind: PodList, apiVersion, metadata: {resourceVersion}, items}`.
use hyper::{Response, StatusCode};
use serde_json::json;

use super::filter::Filter;
use super::{document, Call, ResponseBody};
use crate::api::FieldSelector;
use crate::master::error::ApiError;

pub async fn list(
    call: &Call<'_>,
    fields: Option<&FieldSelector>,
) -> Result<Response<ResponseBody>, ApiError> {
    let filter = Filter::new(call.query, fields.cloned(), call.bound_to.clone())?;
    let kind = call.path.kind;
    let namespace = call.path.namespace.clone();
    let (items, revision) = call
        .state
        .store_op(move |store| store.list(kind, namespace.as_deref()))
        .await?;
    let mut items: Vec<_> = items.into_iter().filter(|o| filter.matches(o)).collect();
    items.iter_mut().for_each(|o| call.state.overlay(o));
    let list = json!({
        "kind": format!("{}List", kind.name()),
        "apiVersion": kind.api_version(),
        "metadata": {"resourceVersion": revision.to_string()},
        "items": items,
    });
    Ok(document(StatusCode::OK, call.format, &list, &[]))
}
