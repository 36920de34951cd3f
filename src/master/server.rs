//! The HTTPS listener: TLS requiring a client certificate from the cluster CA, the role read
//! from that certificate, HTTP/1.1 and HTTP/2 on one port, bounded connections and a graceful
//! shutdown.
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use super::nodes::http;
use super::rest::{self, ApiState, ResponseBody};
use crate::pki;

/// Connections served at once; more are closed at accept.
pub const CONNECTIONS_MAX: u32 = 1024;
/// Time a client has to finish the TLS handshake.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Time an HTTP/1 client has to send a request's headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long open requests may finish after shutdown begins.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Serves the API on `listener` until `shutdown` completes, then tells every connection and
/// watch to finish and waits for them (at most [`SHUTDOWN_GRACE`]).
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    state: Arc<ApiState>,
    stop: watch::Sender<bool>,
    shutdown: impl Future<Output = ()>,
) {
    let acceptor = TlsAcceptor::from(tls);
    let permits = Arc::new(Semaphore::new(CONNECTIONS_MAX as usize));
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!(%peer, limit = CONNECTIONS_MAX, "too many connections; closing");
            continue;
        };
        let acceptor = acceptor.clone();
        let state = state.clone();
        let mut stopping = stop.subscribe();
        tokio::spawn(async move {
            let _permit = permit;
            let tls = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await
            {
                Ok(Ok(tls)) => tls,
                Ok(Err(error)) => {
                    tracing::debug!(%peer, %error, "TLS handshake refused");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            // No certificate: only the anonymous agent routes (CA, join) answer. A certificate
            // from the cluster CA without a role is refused outright.
            let role = match tls.get_ref().1.peer_certificates().and_then(|c| c.first()) {
                Some(cert) => match pki::role_of(cert) {
                    Ok(role) => Some(role),
                    Err(error) => {
                        tracing::debug!(%peer, %error, "client certificate carries no role");
                        return;
                    }
                },
                None => None,
            };
            let service = service_fn(move |request| {
                let state = state.clone();
                let role = role.clone();
                async move { Ok::<_, Infallible>(route(state, role, request).await) }
            });
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT);
            let connection = builder.serve_connection(TokioIo::new(tls), service);
            tokio::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                _ = async { stopping.wait_for(|stop| *stop).await.map(drop) } => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = result {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    let _ = stop.send(true);
    let drained = permits.acquire_many(CONNECTIONS_MAX);
    if tokio::time::timeout(SHUTDOWN_GRACE, drained).await.is_err() {
        tracing::warn!("connections still open after the shutdown grace period");
    }
}

/// Sends a request to the agent protocol or to the REST API, refusing anonymous requests
/// anywhere but the agent protocol's CA and join routes.
async fn route(
    state: Arc<ApiState>,
    role: Option<pki::Role>,
    request: Request<Incoming>,
) -> Response<ResponseBody> {
    let path = request.uri().path();
    if let Some(nodes) = &state.nodes {
        if http::is_agent_route(path) {
            if role.is_none() && !http::allows_anonymous(request.method(), path) {
                return unauthorized();
            }
            return http::handle(nodes, request, role.as_ref())
                .await
                .map(|body| body.boxed());
        }
    }
    match role {
        Some(role) => rest::handle(state, role, request).await,
        None => unauthorized(),
    }
}

fn unauthorized() -> Response<ResponseBody> {
    let status = serde_json::json!({
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": "a client certificate from the cluster CA is required",
        "reason": "Unauthorized",
        "code": 401,
    });
    let body = Full::new(Bytes::from(status.to_string()));
    let mut response = Response::new(body.boxed());
    *response.status_mut() = StatusCode::UNAUTHORIZED;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}
