//! `/healthz`, `/readyz`, `/version` and `/metrics`.
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};

use super::{document, full, ApiState, ResponseBody};
use crate::api::Kind;
use crate::master::codec::Format;
use crate::master::error::ApiError;
use crate::master::route::Route;
use crate::master::version;

fn text(body: String, content_type: &'static str) -> Response<ResponseBody> {
    let mut response = Response::new(full(body));
    *response.status_mut() = StatusCode::OK;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

pub async fn serve(state: &ApiState, route: &Route) -> Result<Response<ResponseBody>, ApiError> {
    match route {
        Route::Healthz => Ok(text("ok".to_string(), "text/plain")),
        Route::Readyz => {
            state
                .store_op(|store| store.list(Kind::Namespace, None))
                .await?;
            Ok(text("ok".to_string(), "text/plain"))
        }
        Route::Version => Ok(document(
            StatusCode::OK,
            Format::Json,
            &version::current(),
            &[],
        )),
        Route::Metrics => {
            let counts = state
                .store_op(|store| {
                    Kind::ALL
                        .into_iter()
                        .map(|kind| Ok((kind, store.list(kind, None)?.0.len())))
                        .collect::<Result<Vec<_>, _>>()
                })
                .await?;
            Ok(text(
                state.metrics.render(&counts),
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            ))
        }
        _ => Err(ApiError::UnknownPath),
    }
}
