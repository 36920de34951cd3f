//! The agent protocol served on its own listener over mTLS: client certificates are optional
//! at the TLS layer (joining agents have none) and enforced per route by [`super::http`]. Used
//! by the protocol tests and the cluster load benchmark; the API server instead routes the
//! agent paths of its own listener to [`super::http::handle`], with the same TLS rule.
use std::sync::Arc;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::pki::Role;

use super::backend::NodeBackend;
use super::http;
use super::service::NodesService;

/// Why a server TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("server TLS configuration: {0}")]
    Tls(String),
}

/// A server configuration for `cert_pem`/`key_pem` that asks for a client certificate signed
/// by `ca_pem` but also accepts connections without one (the join route needs them).
pub fn optional_client_auth_config(
    ca_pem: &str,
    cert_pem: &str,
    key_pem: &str,
) -> Result<Arc<rustls::ServerConfig>, ServeError> {
    let tls = |e: &dyn std::fmt::Display| ServeError::Tls(e.to_string());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.map_err(|e| tls(&e))?).map_err(|e| tls(&e))?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| tls(&e))?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| tls(&e))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| tls(&e))?;
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls(&e))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| tls(&e))?;
    Ok(Arc::new(config))
}

/// Serves the agent protocol until `shutdown` turns true. `role_of` reads the role from a
/// verified client certificate (DER); the real one is `pki::role_of`.
pub async fn serve<B: NodeBackend>(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    service: Arc<NodesService<B>>,
    role_of: fn(&[u8]) -> Option<Role>,
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
                .and_then(|cert| role_of(cert.as_ref()));
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
