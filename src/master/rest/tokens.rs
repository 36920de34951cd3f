//! `/apis/flotilla.dev/v1/tokens`: join tokens (admin only). POST creates one and returns the
//! token text, the only time the secret is shown; GET lists them without secrets; DELETE
//! `/tokens/{id}` revokes one.
use hyper::{Method, Response};

use super::{ApiState, ResponseBody};
use crate::master::codec::Format;
use crate::master::error::ApiError;

pub async fn serve(
    _state: &ApiState,
    _method: &Method,
    _id: Option<&str>,
    _body: Option<serde_json::Value>,
    _format: Format,
) -> Result<Response<ResponseBody>, ApiError> {
    Err(ApiError::UnknownPath)
}
