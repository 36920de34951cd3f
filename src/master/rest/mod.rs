//! The REST layer: one request in, one response out. Parses the route, authorises the role,
//! reads the body within its limit and hands over to one file per verb.
use std::convert::Infallible;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Incoming};
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::Semaphore;

use super::authz::{self, Attributes, Decision};
use super::codec::Format;
use super::error::ApiError;
use super::field_selector;
use super::metrics::Metrics;
use super::nodes::{NodesService, StoreBackend};
use super::query::Query;
use super::route::{self, ResourcePath, Route, Verb};
use crate::api::FieldSelector;
use crate::pki::Role;
use crate::store::{Object, Store, StoreError};

pub mod apply;
pub mod create;
pub mod delete;
pub mod filter;
pub mod get;
pub mod list;
pub mod pod_exec;
pub mod pod_log;
pub mod pod_target;
pub mod resource_metrics;
pub mod system;
pub mod tokens;
pub mod update;
pub mod watch;

/// The largest request body accepted, in bytes.
pub const BODY_BYTES_MAX: usize = 4 * 1024 * 1024;
/// How much of an oversized body is read and thrown away so that the client sees the 413
/// rather than a reset connection; beyond it the connection is simply closed.
pub const BODY_DISCARD_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Concurrent watches served, all clients together.
pub const WATCHES_MAX: usize = 1024;

/// A response body: a buffer, or a stream for watches.
pub type ResponseBody = BoxBody<Bytes, Infallible>;

/// What every request handler shares.
pub struct ApiState {
    /// The desired-state store.
    pub store: Store,
    /// Request, watch and object metrics.
    pub metrics: Metrics,
    /// Flips to `true` when the server shuts down; watches end then.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// Permits for concurrent watches ([`WATCHES_MAX`]).
    pub watch_permits: Arc<Semaphore>,
    /// Hex SHA-256 of the CA key, for join tokens.
    pub ca_pin: String,
    /// The node service (absent with `--api-only`): live pod and node status shown in reads.
    pub nodes: Option<Arc<NodesService<StoreBackend>>>,
}

impl ApiState {
    /// Shows what only the node service knows (live pod status, last heartbeat) in an object
    /// about to be sent.
    pub fn overlay(&self, object: &mut Object) {
        overlay(self.nodes.as_deref(), object);
    }

    /// Runs a store operation on the blocking pool: redb commits wait for the disk.
    pub async fn store_op<T, F>(&self, op: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || op(&store))
            .await
            .expect("store operations do not panic")
            .map_err(ApiError::from)
    }
}

/// [`ApiState::overlay`] for code that holds only the node service.
pub fn overlay(nodes: Option<&NodesService<StoreBackend>>, object: &mut Object) {
    let Some(nodes) = nodes else {
        return;
    };
    match object.get("kind").and_then(|k| k.as_str()) {
        Some("Pod") => nodes.overlay_pod(object),
        Some("Node") => nodes.overlay_node(object),
        _ => {}
    }
}

/// A request on a resource path, authorised.
pub struct Call<'a> {
    pub state: &'a ApiState,
    pub role: &'a Role,
    pub verb: Verb,
    pub path: &'a ResourcePath,
    pub query: &'a Query,
    /// The response encoding the client accepts.
    pub format: Format,
    /// Set when the role may only touch pods bound to this node.
    pub bound_to: Option<String>,
}

/// Serves one request. Never fails: errors become `Status` responses.
pub async fn handle(
    state: Arc<ApiState>,
    role: Role,
    request: Request<Incoming>,
) -> Response<ResponseBody> {
    let format = Format::accepted(request.headers());
    let (verb_label, result) = dispatch(&state, &role, request, format).await;
    let response = result.unwrap_or_else(|error| {
        if matches!(error, ApiError::Store(_)) {
            tracing::error!(%error, "request failed");
        }
        status_response(&error, format)
    });
    state
        .metrics
        .request(verb_label, response.status().as_u16());
    response
}

async fn dispatch(
    state: &ApiState,
    role: &Role,
    request: Request<Incoming>,
    format: Format,
) -> (&'static str, Result<Response<ResponseBody>, ApiError>) {
    let route = match route::parse(request.uri().path()) {
        Some(route) => route,
        None => return ("unknown", Err(ApiError::UnknownPath)),
    };
    let query = match Query::parse(request.uri().query()) {
        Ok(query) => query,
        Err(e) => return ("unknown", Err(e)),
    };
    let admin_only = |label: &'static str| -> Result<(), (&'static str, ApiError)> {
        match role {
            Role::Admin | Role::Master(_) => Ok(()),
            Role::Node(_) => Err((
                label,
                ApiError::ForbiddenPath {
                    user: authz::user_name(role),
                    method: request.method().to_string(),
                    path: request.uri().path().to_string(),
                },
            )),
        }
    };
    match route {
        Route::Healthz | Route::Readyz | Route::Version | Route::Metrics => {
            if request.method() != Method::GET {
                return ("system", Err(ApiError::MethodNotAllowed));
            }
            ("system", system::serve(state, &route).await)
        }
        Route::Apply => {
            if let Err((label, e)) = admin_only("apply") {
                return (label, Err(e));
            }
            if request.method() != Method::POST {
                return ("apply", Err(ApiError::MethodNotAllowed));
            }
            let result = async {
                let body_format = Format::of_body(request.headers(), false)?;
                let body = read_body(request.into_body()).await?;
                apply::apply(state, &query, body_format.decode(&body)?, format).await
            };
            ("apply", result.await)
        }
        Route::Tokens { id } => {
            if let Err((label, e)) = admin_only("tokens") {
                return (label, Err(e));
            }
            let method = request.method().clone();
            let result = async {
                let body = match method {
                    Method::POST => {
                        let body_format = Format::of_body(request.headers(), false)?;
                        Some(body_format.decode(&read_body(request.into_body()).await?)?)
                    }
                    _ => None,
                };
                tokens::serve(state, &method, id.as_deref(), body, format).await
            };
            ("tokens", result.await)
        }
        Route::PodLog { namespace, name } => {
            if let Err((label, e)) = admin_only("log") {
                return (label, Err(e));
            }
            if request.method() != Method::GET {
                return ("log", Err(ApiError::MethodNotAllowed));
            }
            let query = request.uri().query();
            ("log", pod_log::log(state, &namespace, &name, query).await)
        }
        Route::PodExec { namespace, name } => {
            if let Err((label, e)) = admin_only("exec") {
                return (label, Err(e));
            }
            // kubectl's SPDY/WebSocket upgrade uses GET; Flotilla's non-interactive exec is a POST.
            if request.method() != Method::POST {
                return ("exec", Err(ApiError::MethodNotAllowed));
            }
            let query = request.uri().query();
            (
                "exec",
                pod_exec::exec(state, &namespace, &name, query).await,
            )
        }
        Route::NodeMetrics { name } => {
            if let Err((label, e)) = admin_only("metrics") {
                return (label, Err(e));
            }
            if request.method() != Method::GET {
                return ("metrics", Err(ApiError::MethodNotAllowed));
            }
            (
                "metrics",
                resource_metrics::nodes(state, name.as_deref(), format).await,
            )
        }
        Route::PodMetrics { namespace, name } => {
            if let Err((label, e)) = admin_only("metrics") {
                return (label, Err(e));
            }
            if request.method() != Method::GET {
                return ("metrics", Err(ApiError::MethodNotAllowed));
            }
            (
                "metrics",
                resource_metrics::pods(state, namespace.as_deref(), name.as_deref(), format).await,
            )
        }
        Route::Resource(path) => {
            let Some(verb) = route::verb(request.method(), &path, query.watch) else {
                return ("unknown", Err(ApiError::MethodNotAllowed));
            };
            let label = verb_label(verb);
            (
                label,
                resource(state, role, verb, &path, &query, request, format).await,
            )
        }
    }
}

fn verb_label(verb: Verb) -> &'static str {
    match verb {
        Verb::Get => "get",
        Verb::List => "list",
        Verb::Watch => "watch",
        Verb::Create => "create",
        Verb::Update => "update",
        Verb::Patch => "patch",
        Verb::Delete => "delete",
    }
}

async fn resource(
    state: &ApiState,
    role: &Role,
    verb: Verb,
    path: &ResourcePath,
    query: &Query,
    request: Request<Incoming>,
    format: Format,
) -> Result<Response<ResponseBody>, ApiError> {
    let fields = field_selector(query, path.kind)?;
    let node_selector = fields
        .as_ref()
        .and_then(|f| field_selector::pinned(f, "spec.nodeName"));
    let attributes = Attributes {
        verb,
        path,
        node_selector,
    };
    let bound_to = match authz::decide(role, attributes) {
        Decision::Allow => None,
        Decision::AllowIfPodBoundTo(node) => Some(node),
        Decision::Deny => return Err(authz::forbidden(role, verb, path)),
    };
    let call = Call {
        state,
        role,
        verb,
        path,
        query,
        format,
        bound_to,
    };
    let body = match verb {
        Verb::Create | Verb::Update | Verb::Patch | Verb::Delete => {
            let body_format = Format::of_body(request.headers(), verb == Verb::Patch)?;
            let bytes = read_body(request.into_body()).await?;
            if bytes.is_empty() {
                None
            } else {
                Some(body_format.decode(&bytes)?)
            }
        }
        _ => None,
    };
    let require_body = |body: Option<serde_json::Value>| {
        body.ok_or_else(|| ApiError::BadBody {
            problem: "the request has no body".to_string(),
        })
    };
    match verb {
        Verb::Get => get::get(&call).await,
        Verb::List => list::list(&call, fields.as_ref()).await,
        Verb::Watch => watch::watch(&call, fields).await,
        Verb::Create => create::create(&call, require_body(body)?).await,
        Verb::Update => update::update(&call, require_body(body)?).await,
        Verb::Patch => update::patch(&call, require_body(body)?).await,
        Verb::Delete => delete::delete(&call, body).await,
    }
}

fn field_selector(
    query: &Query,
    kind: crate::api::Kind,
) -> Result<Option<FieldSelector>, ApiError> {
    query
        .field_selector
        .as_deref()
        .map(|text| {
            field_selector::parse(text, kind).map_err(|e| ApiError::BadQuery {
                param: "fieldSelector",
                value: text.to_string(),
                problem: e.to_string(),
            })
        })
        .transpose()
}

/// Reads a request body of at most [`BODY_BYTES_MAX`] bytes. A longer body is never buffered:
/// the rest is read and dropped (up to [`BODY_DISCARD_BYTES_MAX`]) and the answer is 413.
pub async fn read_body<B>(body: B) -> Result<Bytes, ApiError>
where
    B: Body<Data = Bytes> + Unpin,
{
    let too_large = ApiError::TooLarge {
        limit_bytes: BODY_BYTES_MAX,
    };
    // A declared length beyond what is drained: answer at once and let the connection close.
    if body.size_hint().lower() > BODY_DISCARD_BYTES_MAX as u64 {
        return Err(too_large);
    }
    let mut body = body;
    let mut buffer = BytesMut::new();
    let mut discarded = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return Err(ApiError::BadBody {
                problem: "the request body ended early".to_string(),
            });
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if discarded > 0 || buffer.len() + data.len() > BODY_BYTES_MAX {
            buffer = BytesMut::new();
            discarded += data.len();
            if discarded > BODY_DISCARD_BYTES_MAX {
                break;
            }
        } else {
            buffer.extend_from_slice(&data);
        }
    }
    if discarded > 0 {
        return Err(too_large);
    }
    Ok(buffer.freeze())
}

/// A complete response body.
pub fn full(bytes: impl Into<Bytes>) -> ResponseBody {
    Full::new(bytes.into()).boxed()
}

/// A document response in the client's format, with `Warning:` headers.
pub fn document<T: serde::Serialize>(
    code: StatusCode,
    format: Format,
    value: &T,
    warnings: &[String],
) -> Response<ResponseBody> {
    let bytes = format.encode(value);
    let mut response = Response::new(full(bytes.clone()));
    *response.status_mut() = code;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, format.content_type());
    headers.insert(CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    for warning in warnings {
        if let Ok(value) = HeaderValue::from_str(&warning_header(warning)) {
            headers.append("warning", value);
        }
    }
    response
}

/// The `Status` response for an error.
pub fn status_response(error: &ApiError, format: Format) -> Response<ResponseBody> {
    let status = error.to_status();
    let code = StatusCode::from_u16(status.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    document(code, format, &status, &[])
}

/// `299 - "text"` as Kubernetes sends warnings, with quotes escaped and anything outside
/// printable ASCII replaced.
pub fn warning_header(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                escaped.push('\\');
                escaped.push(c);
            }
            ' '..='~' => escaped.push(c),
            _ => escaped.push('?'),
        }
    }
    format!("299 - \"{escaped}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_body_within_the_limit_is_read_whole() {
        let body = read_body(Full::new(Bytes::from_static(b"{}")))
            .await
            .unwrap();
        assert_eq!(&body[..], b"{}");
    }

    /// A body that yields `chunks` frames of one MiB each, as a client streaming an upload.
    struct Chunks(usize);

    impl Body for Chunks {
        type Data = Bytes;
        type Error = Infallible;
        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
            if self.0 == 0 {
                return std::task::Poll::Ready(None);
            }
            self.0 -= 1;
            let chunk = Bytes::from(vec![b'x'; 1024 * 1024]);
            std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(chunk))))
        }
    }

    #[tokio::test]
    async fn an_oversized_streamed_body_is_refused_without_buffering_it() {
        assert_eq!(read_body(Chunks(4)).await.unwrap().len(), 4 * 1024 * 1024);
        let error = read_body(Chunks(6)).await.unwrap_err();
        assert_eq!(error.to_status().code, 413);
    }

    #[test]
    fn warnings_are_quoted_like_kubernetes() {
        assert_eq!(
            warning_header("unknown field \"spec.foo\""),
            "299 - \"unknown field \\\"spec.foo\\\"\""
        );
    }
}
