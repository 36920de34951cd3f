//! rustls configurations built from cluster certificates: the master's server side (client
//! certificates from the cluster CA), clients that trust only the cluster CA, and the joining
//! agent's client that trusts a CA only if it matches the token's pin.
//!
//! Every configuration names the ring provider itself, so none depends on a process-wide
//! default; [`install_crypto_provider`] is there for code (hyper clients, oci-client) that does.
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};

use super::inspect::{certificate, certificates, parse, private_key, spki_sha256_hex};
use super::PkiError;

/// ALPN protocols the master offers: HTTP/2 first, HTTP/1.1 for simple clients.
pub const SERVER_ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// Installs ring as the process-wide rustls provider; harmless when one is installed already.
pub fn install_crypto_provider() {
    // An error only means a provider is installed already, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Whether a server demands a client certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// Every connection presents a certificate from the cluster CA, or the handshake fails.
    Required,
    /// A connection may present no certificate (the join endpoint); one that presents a
    /// certificate must still present a valid one. The HTTP layer must then refuse every
    /// request without a verified role except joining.
    Optional,
}

/// A server presenting `chain` (its certificate, then the CA, so that a joining agent can
/// check the CA against its pin) and verifying client certificates against `ca`.
pub fn server_config(
    ca: &CertificateDer<'static>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_auth: ClientAuth,
) -> Result<Arc<ServerConfig>, PkiError> {
    let provider = provider();
    let roots = Arc::new(roots_of(ca)?);
    let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider.clone());
    let verifier = match client_auth {
        ClientAuth::Required => verifier,
        ClientAuth::Optional => verifier.allow_unauthenticated(),
    }
    .build()?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    config.alpn_protocols = SERVER_ALPN.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// rustls client configuration trusting only `ca_pem` and presenting `cert_pem`/`key_pem`.
/// No ALPN is set; a caller that speaks HTTP/2 adds `h2`.
pub fn client_config(
    ca_pem: &str,
    cert_pem: &str,
    key_pem: &str,
) -> Result<Arc<ClientConfig>, PkiError> {
    let roots = roots_of(&certificate("CA certificate", ca_pem)?)?;
    let chain = certificates("client certificate", cert_pem)?;
    let key = private_key("client key", key_pem)?;
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)?;
    Ok(Arc::new(config))
}

/// rustls client configuration trusting only `ca_pem`, presenting no certificate: for an agent
/// that has checked the CA against its pin and now sends its join request.
pub fn client_config_ca_only(ca_pem: &str) -> Result<Arc<ClientConfig>, PkiError> {
    let roots = roots_of(&certificate("CA certificate", ca_pem)?)?;
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// rustls client configuration for a joining agent that knows only the CA pin from its token:
/// the server's chain must contain a certificate whose SubjectPublicKeyInfo hashes to `ca_pin`,
/// and the server certificate must be valid under that CA for the name connected to. Nothing
/// is sent (no token, no CSR) to a server that fails this. [`PinMismatch::find`] recognises
/// the handshake error of a server whose CA does not match the pin.
pub fn client_config_pinned(ca_pin: &str) -> Result<Arc<ClientConfig>, PkiError> {
    let provider = provider();
    let verifier = PinnedCaVerifier {
        ca_pin: ca_pin.to_ascii_lowercase(),
        provider: provider.clone(),
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The error a pinned client reports when no certificate of the server matches the pin.
#[derive(Debug, thiserror::Error)]
#[error("the server's CA (pin {found}) does not match the join token's CA pin {expected}")]
pub struct PinMismatch {
    pub expected: String,
    pub found: String,
}

impl PinMismatch {
    /// Finds a pin mismatch in `error` or its sources (through `std::io::Error` and
    /// `rustls::Error` wrappers), for a join command that wants to say exactly what failed.
    pub fn find<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a PinMismatch> {
        let mut current = Some(error);
        while let Some(error) = current {
            if let Some(mismatch) = error.downcast_ref::<PinMismatch>() {
                return Some(mismatch);
            }
            if let Some(rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other))) =
                error.downcast_ref::<rustls::Error>()
            {
                if let Some(mismatch) = other.0.downcast_ref::<PinMismatch>() {
                    return Some(mismatch);
                }
            }
            // `io::Error::source` skips the wrapped error itself; `get_ref` does not.
            current = match error
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
            {
                Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
                None => error.source(),
            };
        }
        None
    }
}

/// Trusts the CA in the server's chain whose key matches the pin, then verifies as usual.
#[derive(Debug)]
struct PinnedCaVerifier {
    ca_pin: String,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedCaVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut found = Vec::new();
        let mut pinned = None;
        for cert in intermediates {
            let Ok(parsed) = parse("server chain certificate", cert) else {
                continue;
            };
            let pin = spki_sha256_hex(&parsed);
            if pin == self.ca_pin {
                pinned = Some(cert.clone().into_owned());
                break;
            }
            found.push(pin);
        }
        let Some(ca) = pinned else {
            let found = if found.is_empty() {
                "none: the server sent no CA certificate".to_string()
            } else {
                found.join(", ")
            };
            return Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::Other(rustls::OtherError(Arc::new(PinMismatch {
                    expected: self.ca_pin.clone(),
                    found,
                }))),
            ));
        };
        let roots = roots_of(&ca)?;
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
            .build()
            .map_err(|e| rustls::Error::General(e.to_string()))?
            .verify_server_cert(end_entity, &[], server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A root store holding only `ca`.
fn roots_of(ca: &CertificateDer<'static>) -> Result<RootCertStore, rustls::Error> {
    let mut roots = RootCertStore::empty();
    roots.add(ca.clone())?;
    Ok(roots)
}
