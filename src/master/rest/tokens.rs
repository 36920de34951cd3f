//! `/apis/flotilla.dev/v1/tokens` (Flotilla's own endpoint, admin only): join tokens for new
//! nodes. `POST {"ttlSeconds": N, "description": "…"}` creates one and answers
//! `{"kind": "JoinToken", "id", "token", "expires", "description"}`: the only time the secret is
//! shown. `GET` lists them without secrets (`{"kind": "JoinTokenList", "items": [{"id",
//! "expires", "uses", "description", "created"}]}`). `DELETE /tokens/{id}` revokes one.
use std::time::{Duration, SystemTime};

use hyper::{Method, Response, StatusCode};
use serde_json::{json, Value};

use super::{document, ApiState, ResponseBody};
use crate::master::codec::Format;
use crate::master::error::ApiError;
use crate::store::{timestamp::format_rfc3339, TokenError};

/// A token's lifetime when the request names none.
pub const TOKEN_TTL_DEFAULT: Duration = Duration::from_secs(24 * 3600);
/// The longest lifetime a token may have.
pub const TOKEN_TTL_MAX: Duration = Duration::from_secs(365 * 24 * 3600);
/// The longest description kept, in bytes.
pub const DESCRIPTION_BYTES_MAX: usize = 256;

fn token_error(error: TokenError) -> ApiError {
    match error {
        TokenError::Revoked { id } => ApiError::TokenNotFound { id },
        other => ApiError::Token(other),
    }
}

/// The lifetime and description a create request asks for.
fn create_request(body: Option<&Value>) -> Result<(Duration, String), ApiError> {
    let bad = |problem: String| ApiError::BadBody { problem };
    let ttl = match body.and_then(|b| b.get("ttlSeconds")) {
        None | Some(Value::Null) => TOKEN_TTL_DEFAULT,
        Some(value) => {
            let seconds = value
                .as_u64()
                .filter(|s| *s > 0)
                .ok_or_else(|| bad(format!("ttlSeconds {value}: expected a positive integer")))?;
            Duration::from_secs(seconds)
        }
    };
    if ttl > TOKEN_TTL_MAX {
        return Err(bad(format!(
            "ttlSeconds {}: at most {} (365 days)",
            ttl.as_secs(),
            TOKEN_TTL_MAX.as_secs()
        )));
    }
    let description = body
        .and_then(|b| b.get("description"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if description.len() > DESCRIPTION_BYTES_MAX {
        return Err(bad(format!(
            "description longer than {DESCRIPTION_BYTES_MAX} bytes"
        )));
    }
    Ok((ttl, description))
}

/// Runs a token operation on the blocking pool.
async fn token_op<T, F>(state: &ApiState, op: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&crate::store::Store) -> Result<T, TokenError> + Send + 'static,
{
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || op(&store))
        .await
        .expect("token operations do not panic")
        .map_err(token_error)
}

pub async fn serve(
    state: &ApiState,
    method: &Method,
    id: Option<&str>,
    body: Option<Value>,
    format: Format,
) -> Result<Response<ResponseBody>, ApiError> {
    match (method.as_str(), id) {
        ("POST", None) => {
            let (ttl, description) = create_request(body.as_ref())?;
            let pin = state.ca_pin.clone();
            let now = SystemTime::now();
            let text = description.clone();
            let token = token_op(state, move |store| {
                store.create_token(&pin, ttl, &text, now)
            })
            .await?;
            let created = json!({
                "kind": "JoinToken",
                "apiVersion": "flotilla.dev/v1",
                "id": token.id(),
                "token": token.to_string(),
                "expires": format_rfc3339(now + ttl),
                "description": description,
            });
            Ok(document(StatusCode::CREATED, format, &created, &[]))
        }
        ("GET", None) => {
            let records = token_op(state, |store| store.list_tokens()).await?;
            let list = json!({
                "kind": "JoinTokenList",
                "apiVersion": "flotilla.dev/v1",
                "items": records,
            });
            Ok(document(StatusCode::OK, format, &list, &[]))
        }
        ("DELETE", Some(id)) => {
            let owned = id.to_string();
            token_op(state, move |store| store.revoke_token(&owned)).await?;
            let status = json!({
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": {"name": id, "kind": "tokens"},
                "code": 200,
            });
            Ok(document(StatusCode::OK, format, &status, &[]))
        }
        _ => Err(ApiError::MethodNotAllowed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_requests_default_and_bound_their_lifetime() {
        assert_eq!(
            create_request(None).unwrap(),
            (TOKEN_TTL_DEFAULT, String::new())
        );
        let body = json!({"ttlSeconds": 600, "description": "pi-2"});
        assert_eq!(
            create_request(Some(&body)).unwrap(),
            (Duration::from_secs(600), "pi-2".to_string())
        );
        assert!(create_request(Some(&json!({"ttlSeconds": 0}))).is_err());
        assert!(create_request(Some(&json!({"ttlSeconds": "1h"}))).is_err());
        assert!(create_request(Some(&json!({"ttlSeconds": 400 * 86400}))).is_err());
    }
}
