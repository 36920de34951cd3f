//! The agent protocol served on its own listener over mTLS: client certificates are optional
//! at the TLS layer (joining agents have none) and enforced per route by [`super::http`]. Used
//! by the protocol tests and the cluster load benchmark; the API server instead routes the
//! agent paths of its own listener to [`super::http::handle`], with the same TLS rule.
use std::sync::Arc;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::pki;

use super::backend::NodeBackend;
use super::http;
use super::service::NodesService;

/// Serves the agent protocol until `shutdown` turns true. `tls` must accept connections
/// without a client certificate (`Pki::server_config_with(ClientAuth::Optional)`); the role
/// of a verified certificate comes from `pki::role_of`.
pub async fn serve<B: NodeBackend>(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    service: Arc<NodesService<B>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let acceptor = TlsAcceptor::from(tls);
    loop {
        let (tcp, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let service = service.clone();
        let mut shutdown = shutdown.clone();
        tokio::spawn(async move {
            let Ok(stream) = acceptor.accept(tcp).await else {
                return;
            };
            let role = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .and_then(|cert| pki::role_of(cert.as_ref()).ok());
            let role = Arc::new(role);
            let handler = service_fn(move |request| {
                let service = service.clone();
                let role = role.clone();
                async move {
                    Ok::<_, std::convert::Infallible>(
                        http::handle(&service, request, role.as_ref().as_ref()).await,
                    )
                }
            });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let connection = builder.serve_connection(TokioIo::new(stream), handler);
            tokio::select! {
                _ = connection => {}
                _ = shutdown.changed() => {}
            }
        });
    }
}
