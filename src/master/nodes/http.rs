//! The master's HTTP handlers for the agent protocol (postcard bodies in the versioned
//! envelope). The API server routes every path under [`PREFIX`] here, with the role from the
//! client certificate:
//!
//! | method and path | client certificate | body → answer |
//! |---|---|---|
//! | `GET  /apis/flotilla.dev/v1/ca` | none needed | CA certificate, PEM (`text/plain`) |
//! | `POST /apis/flotilla.dev/v1/join` | none needed | `JoinRequest` → `JoinResponse` |
//! | `POST /apis/flotilla.dev/v1/nodes/{name}/renew` | `node:{name}` | `RenewRequest` → `JoinResponse` |
//! | `POST /apis/flotilla.dev/v1/nodes/{name}/heartbeat` | `node:{name}` | `Heartbeat` → `HeartbeatAck` |
//! | `GET  /apis/flotilla.dev/v1/nodes/{name}/assignments?after=N&epoch=E[&timeoutSeconds=S]` | `node:{name}` | long-poll (≤ 30 s) → `Assignments` or `AssignmentsUnchanged` |
//! | `POST /apis/flotilla.dev/v1/nodes/{name}/podstatus` | `node:{name}` | `PodStatusReport` → `StatusAck` |
//! | `GET  /apis/flotilla.dev/v1/nodes/{name}/requests[?timeoutSeconds=S]` | `node:{name}` | long-poll (≤ 30 s) → `TunnelRequests` (empty when the time ran out) |
//! | `POST /apis/flotilla.dev/v1/nodes/{name}/requests/{id}` | `node:{name}` | stream of `TunnelFrame`s (see `wire::tunnel`) → `StatusAck` once the requester is done |
//!
//! Refusals travel as a postcard `Refusal` with a status code that matches (401 for token
//! problems, 403 for identity, 409 for a taken name, 413 for size, 503 when the store fails).
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{Method, Request, Response, StatusCode};

use crate::pki::Role;
use crate::wire::{
    self, limits, Epoch, Generation, Message, NodeName, Refusal, RefusalReason, RequestId,
    StatusAck, WireError,
};

use super::backend::NodeBackend;
use super::service::NodesService;

/// Every agent-protocol path starts with this.
pub const PREFIX: &str = "/apis/flotilla.dev/v1/";

/// The media type of postcard bodies.
pub const POSTCARD: &str = "application/x-postcard";

/// Whether the API server must hand this request to [`handle`].
pub fn is_agent_route(path: &str) -> bool {
    match path.strip_prefix(PREFIX) {
        Some(rest) => rest == "ca" || rest == "join" || rest.starts_with("nodes/"),
        None => false,
    }
}

/// Whether this request may come without a client certificate: fetching the CA and joining
/// (the agent has no certificate yet; the join token authenticates it). The TLS server must
/// therefore accept connections without a client certificate and leave enforcement to routes.
pub fn allows_anonymous(method: &Method, path: &str) -> bool {
    matches!(
        (method, path.strip_prefix(PREFIX)),
        (&Method::GET, Some("ca")) | (&Method::POST, Some("join"))
    )
}

enum Route {
    Ca,
    Join,
    Node(NodeName, NodeVerb),
}

enum NodeVerb {
    Renew,
    Heartbeat,
    Assignments,
    PodStatus,
    /// The reverse tunnel's long-poll.
    Requests,
    /// An answer to a tunnel request.
    Answer(RequestId),
}

fn route(method: &Method, path: &str) -> Result<Route, (StatusCode, Refusal)> {
    let rest = path.strip_prefix(PREFIX).unwrap_or_default();
    let not_found = || {
        (
            StatusCode::NOT_FOUND,
            Refusal::new(
                RefusalReason::BadRequest,
                format!("no agent route {method} {path}"),
            ),
        )
    };
    match (method, rest) {
        (&Method::GET, "ca") => return Ok(Route::Ca),
        (&Method::POST, "join") => return Ok(Route::Join),
        _ => {}
    }
    let mut parts = rest.split('/');
    let (Some("nodes"), Some(name), Some(verb), id, None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(not_found());
    };
    let node = NodeName::new(name).map_err(|e| {
        (
            StatusCode::BAD_REQUEST,
            Refusal::new(RefusalReason::BadRequest, e.to_string()),
        )
    })?;
    let verb = match (method, verb, id) {
        (&Method::POST, "requests", Some(id)) => {
            NodeVerb::Answer(RequestId(id.parse().map_err(|_| not_found())?))
        }
        (_, _, Some(_)) => return Err(not_found()),
        (&Method::GET, "requests", None) => NodeVerb::Requests,
        (method, verb, None) => match (method, verb) {
            (&Method::POST, "renew") => NodeVerb::Renew,
            (&Method::POST, "heartbeat") => NodeVerb::Heartbeat,
            (&Method::GET, "assignments") => NodeVerb::Assignments,
            (&Method::POST, "podstatus") => NodeVerb::PodStatus,
            _ => return Err(not_found()),
        },
    };
    Ok(Route::Node(node, verb))
}

fn status_of(reason: RefusalReason) -> StatusCode {
    match reason {
        RefusalReason::TokenMalformed | RefusalReason::CsrInvalid | RefusalReason::BadRequest => {
            StatusCode::BAD_REQUEST
        }
        RefusalReason::TokenUnknown | RefusalReason::TokenExpired | RefusalReason::TokenRevoked => {
            StatusCode::UNAUTHORIZED
        }
        RefusalReason::Forbidden => StatusCode::FORBIDDEN,
        RefusalReason::NodeNameTaken => StatusCode::CONFLICT,
        RefusalReason::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}

fn postcard_response(status: StatusCode, message: Message) -> Response<Full<Bytes>> {
    match wire::encode(&message) {
        Ok(bytes) => Response::builder()
            .status(status)
            .header(hyper::header::CONTENT_TYPE, POSTCARD)
            .body(Full::new(Bytes::from(bytes)))
            .expect("static headers"),
        Err(e) => Response::builder()
            .status(StatusCode::INTERNAL_SERVER_ERROR)
            .body(Full::new(Bytes::from(e.to_string())))
            .expect("static headers"),
    }
}

/// A refusal with the status code it travels with.
type Refused = (StatusCode, Refusal);

fn refused(refusal: Refusal) -> Refused {
    (status_of(refusal.reason), refusal)
}

fn bad_request(message: String) -> Refused {
    (
        StatusCode::BAD_REQUEST,
        Refusal::new(RefusalReason::BadRequest, message),
    )
}

async fn read_message<T, Body>(body: Body, limit_bytes: usize) -> Result<T, Refused>
where
    T: TryFrom<Message, Error = WireError>,
    Body: hyper::body::Body<Data = Bytes>,
    Body::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let collected = Limited::new(body, limit_bytes)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    Refusal::new(
                        RefusalReason::BadRequest,
                        format!("request body over the limit of {limit_bytes} bytes"),
                    ),
                )
            } else {
                bad_request(format!("could not read the request body: {e}"))
            }
        })?;
    wire::decode_as::<T>(&collected.to_bytes(), limit_bytes).map_err(|e| bad_request(e.to_string()))
}

fn query_u64(query: Option<&str>, key: &str) -> Result<Option<u64>, Refused> {
    for pair in query.unwrap_or_default().split('&') {
        if let Some((k, v)) = pair.split_once('=') {
            if k == key {
                return v.parse().map(Some).map_err(|_| {
                    bad_request(format!("query parameter {key}={v:?} is not a whole number"))
                });
            }
        }
    }
    Ok(None)
}

fn same_node(node: &NodeName, in_body: &NodeName) -> Result<(), Refused> {
    if node == in_body {
        Ok(())
    } else {
        Err(bad_request(format!(
            "the path names node {node} but the message names {in_body}"
        )))
    }
}

fn check_role(node: &NodeName, role: Option<&Role>) -> Result<(), Refused> {
    if role == Some(&Role::Node(node.to_string())) {
        return Ok(());
    }
    let who = match role {
        None => "a client without a certificate".to_string(),
        Some(Role::Node(other)) => format!("node {other}"),
        Some(Role::Admin) => "an administrator".to_string(),
        Some(Role::Master(id)) => format!("master {id}"),
    };
    Err(refused(Refusal::new(
        RefusalReason::Forbidden,
        format!("{who} may not act as node {node}"),
    )))
}

/// Handles one agent-protocol request. `role` is what the verified client certificate says,
/// `None` when the client presented none.
pub async fn handle<B, Body>(
    service: &NodesService<B>,
    request: Request<Body>,
    role: Option<&Role>,
) -> Response<Full<Bytes>>
where
    B: NodeBackend,
    Body: hyper::body::Body<Data = Bytes> + Send + 'static,
    Body::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (parts, body) = request.into_parts();
    let route = match route(&parts.method, parts.uri.path()) {
        Ok(route) => route,
        Err((status, refusal)) => return postcard_response(status, Message::Refusal(refusal)),
    };
    if let Route::Ca = route {
        return Response::builder()
            .header(hyper::header::CONTENT_TYPE, "text/plain")
            .body(Full::new(Bytes::from(service.ca_pem())))
            .expect("static headers");
    }
    match dispatch(service, route, parts.uri.query(), body, role).await {
        Ok(message) => postcard_response(StatusCode::OK, message),
        Err((status, refusal)) => postcard_response(status, Message::Refusal(refusal)),
    }
}

async fn dispatch<B, Body>(
    service: &NodesService<B>,
    route: Route,
    query: Option<&str>,
    body: Body,
    role: Option<&Role>,
) -> Result<Message, Refused>
where
    B: NodeBackend,
    Body: hyper::body::Body<Data = Bytes> + Send + 'static,
    Body::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (node, verb) = match route {
        Route::Ca => {
            return Ok(Message::Refusal(Refusal::new(
                RefusalReason::BadRequest,
                "the CA is served as PEM",
            )))
        }
        Route::Join => {
            let request: wire::JoinRequest =
                read_message(body, limits::JOIN_REQUEST_BYTES_MAX).await?;
            return match service.join(&request, Instant::now(), SystemTime::now()) {
                Ok(answer) => {
                    tracing::info!(node = %request.node, token = %request.token_id, "node joined");
                    Ok(answer.into())
                }
                Err(refusal) => {
                    tracing::warn!(node = %request.node, token = %request.token_id, reason = ?refusal.reason, "join refused");
                    Err(refused(refusal))
                }
            };
        }
        Route::Node(node, verb) => (node, verb),
    };
    check_role(&node, role)?;
    match verb {
        NodeVerb::Renew => {
            let request: wire::RenewRequest =
                read_message(body, limits::JOIN_REQUEST_BYTES_MAX).await?;
            same_node(&node, &request.node)?;
            let answer = service
                .renew(&request, Instant::now(), SystemTime::now())
                .map_err(refused)?;
            Ok(answer.into())
        }
        NodeVerb::Heartbeat => {
            let heartbeat: wire::Heartbeat =
                read_message(body, limits::HEARTBEAT_BYTES_MAX).await?;
            same_node(&node, &heartbeat.node)?;
            let ack = service
                .heartbeat(&heartbeat, Instant::now(), SystemTime::now())
                .map_err(refused)?;
            Ok(ack.into())
        }
        NodeVerb::PodStatus => {
            let report: wire::PodStatusReport =
                read_message(body, limits::POD_STATUS_BYTES_MAX).await?;
            same_node(&node, &report.node)?;
            Ok(service.pod_status(&report).map_err(refused)?.into())
        }
        NodeVerb::Assignments => {
            let after = query_u64(query, "after")?.unwrap_or(0);
            let epoch = query_u64(query, "epoch")?.unwrap_or(0);
            let wait = query_u64(query, "timeoutSeconds")?
                .map(Duration::from_secs)
                .unwrap_or(service.config().long_poll_max);
            match service
                .assignments(&node, Generation(after), Epoch(epoch), wait)
                .await
                .map_err(refused)?
            {
                Ok(set) => Ok(set.into()),
                Err(unchanged) => Ok(unchanged.into()),
            }
        }
        NodeVerb::Requests => {
            if !service.is_registered(&node) {
                return Err(refused(Refusal::new(
                    RefusalReason::Forbidden,
                    format!("node {node} is not registered"),
                )));
            }
            let wait = query_u64(query, "timeoutSeconds")?
                .map(Duration::from_secs)
                .unwrap_or(service.tunnel().config().poll_max);
            Ok(service.tunnel().poll(&node, wait).await.into())
        }
        NodeVerb::Answer(id) => {
            let body = body.map_err(Into::into).boxed_unsync();
            match service.tunnel().answer(&node, id, body).await {
                Ok(()) => Ok(StatusAck {
                    epoch: service.epoch(),
                }
                .into()),
                Err(_) => Err((
                    StatusCode::GONE,
                    Refusal::new(
                        RefusalReason::BadRequest,
                        format!("request {id} of node {node} is not waiting for an answer (given up or timed out)"),
                    ),
                )),
            }
        }
    }
}
