//! Joining a cluster and renewing the node certificate.
//!
//! Join: fetch the CA without trusting the server, check it against the token's pin (hex
//! SHA-256 of the CA's SubjectPublicKeyInfo), make a P-256 key here (it never leaves the node),
//! send a CSR with the token over TLS verified against the pinned CA, and keep the answer in
//! the data directory (mode 0600). Each way it can fail has its own message.
use std::path::Path;

use rcgen::{CertificateParams, DnType, KeyPair};

use crate::wire::{JoinRequest, JoinResponse, NodeName, RefusalReason, RenewRequest};

use super::identity::{IdentityError, NodeIdentity};
use super::link::{JoinLink, LinkError, MasterLink};
use super::token::JoinToken;

#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    /// the CA the master presented is not the one the token was made for
    #[error("the master at {master} presented a CA whose pin is {got}, but the join token expects {expected}: check the --master address and the token (or someone is impersonating the master)")]
    PinMismatch {
        master: String,
        expected: String,
        got: String,
    },
    /// the CA the master sent cannot be read
    #[error("the master at {master} sent a CA certificate that cannot be read: {message}")]
    BadCa { master: String, message: String },
    #[error("join token expired: {0}")]
    TokenExpired(String),
    #[error("join token revoked: {0}")]
    TokenRevoked(String),
    #[error("join token not accepted: {0}")]
    TokenUnknown(String),
    #[error("malformed join token: {0}")]
    TokenMalformed(String),
    #[error("node name refused: {0}")]
    NameTaken(String),
    #[error("the master refused to join this node: {0}")]
    Refused(String),
    #[error("cannot join: {0}")]
    Link(LinkError),
    #[error("cannot make the node key or CSR: {0}")]
    Key(String),
    #[error("joined, but could not keep the credentials: {0}")]
    Save(#[from] IdentityError),
}

impl From<LinkError> for JoinError {
    fn from(error: LinkError) -> JoinError {
        match error {
            LinkError::Refused(refusal) => match refusal.reason {
                RefusalReason::TokenExpired => JoinError::TokenExpired(refusal.message),
                RefusalReason::TokenRevoked => JoinError::TokenRevoked(refusal.message),
                RefusalReason::TokenUnknown => JoinError::TokenUnknown(refusal.message),
                RefusalReason::TokenMalformed => JoinError::TokenMalformed(refusal.message),
                RefusalReason::NodeNameTaken => JoinError::NameTaken(refusal.message),
                _ => JoinError::Refused(refusal.message),
            },
            other => JoinError::Link(other),
        }
    }
}

/// Hex SHA-256 of the SubjectPublicKeyInfo of the first certificate in `pem`: the CA pin.
pub fn ca_pin_of_pem(pem: &str) -> Result<String, String> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).map_err(|e| e.to_string())?;
    let cert = pem.parse_x509().map_err(|e| e.to_string())?;
    Ok(crate::master::nodes::join::spki_sha256_hex(
        cert.tbs_certificate.subject_pki.raw,
    ))
}

/// A fresh P-256 key and a CSR for it, PEM (key, csr).
pub fn key_and_csr(node: &NodeName) -> Result<(String, String), JoinError> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|e| JoinError::Key(e.to_string()))?;
    let mut params =
        CertificateParams::new(Vec::<String>::new()).map_err(|e| JoinError::Key(e.to_string()))?;
    params
        .distinguished_name
        .push(DnType::CommonName, format!("node:{node}"));
    let csr = params
        .serialize_request(&key)
        .and_then(|csr| csr.pem())
        .map_err(|e| JoinError::Key(e.to_string()))?;
    Ok((key.serialize_pem(), csr))
}

fn identity_of(
    node: NodeName,
    master: &str,
    key_pem: String,
    answer: JoinResponse,
) -> NodeIdentity {
    NodeIdentity {
        node,
        master: master.to_string(),
        pod_cidr: answer.pod_cidr,
        ca_pem: answer.ca_pem,
        cert_pem: answer.node_cert_pem,
        key_pem,
    }
}

/// Joins the cluster at `master` and keeps the credentials in `dir`.
pub async fn join(
    link: &impl JoinLink,
    master: &str,
    token: &JoinToken,
    node: NodeName,
    dir: &Path,
) -> Result<NodeIdentity, JoinError> {
    let ca_pem = link.fetch_ca_unverified().await?;
    let got = ca_pin_of_pem(&ca_pem).map_err(|message| JoinError::BadCa {
        master: master.to_string(),
        message,
    })?;
    if got != token.ca_pin {
        return Err(JoinError::PinMismatch {
            master: master.to_string(),
            expected: token.ca_pin.clone(),
            got,
        });
    }
    let (key_pem, csr_pem) = key_and_csr(&node)?;
    let answer = link
        .join(
            &ca_pem,
            JoinRequest {
                token_id: token.id.clone(),
                token_secret: token.secret.clone(),
                node: node.clone(),
                csr_pem,
            },
        )
        .await?;
    // The CA in the answer must be the pinned one: it is what this node will trust from now on.
    if ca_pin_of_pem(&answer.ca_pem).ok().as_deref() != Some(token.ca_pin.as_str()) {
        return Err(JoinError::BadCa {
            master: master.to_string(),
            message: "the CA in the join answer is not the pinned CA".into(),
        });
    }
    let identity = identity_of(node, master, key_pem, answer);
    identity.save(dir)?;
    Ok(identity)
}

/// Renews the node certificate over mTLS with a fresh key, keeping the new credentials.
pub async fn renew(
    link: &impl MasterLink,
    identity: &NodeIdentity,
    dir: &Path,
) -> Result<NodeIdentity, JoinError> {
    let (key_pem, csr_pem) = key_and_csr(&identity.node)?;
    let answer = link
        .renew(RenewRequest {
            node: identity.node.clone(),
            csr_pem,
        })
        .await?;
    if ca_pin_of_pem(&answer.ca_pem) != ca_pin_of_pem(&identity.ca_pem) {
        return Err(JoinError::BadCa {
            master: identity.master.clone(),
            message: "the renewal answer carries another CA".into(),
        });
    }
    let renewed = identity_of(identity.node.clone(), &identity.master, key_pem, answer);
    renewed.save(dir)?;
    Ok(renewed)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant, SystemTime};

    use super::*;
    use crate::master::nodes::memory::MemoryBackend;
    use crate::master::nodes::{NodesConfig, NodesService};
    use crate::wire::Epoch;

    /// A join link that talks to an in-process node service (no network), optionally
    /// presenting another CA than the service's, as an impostor would.
    struct InProcess {
        service: Arc<NodesService<Arc<MemoryBackend>>>,
        presented_ca: Option<String>,
    }

    impl JoinLink for InProcess {
        async fn fetch_ca_unverified(&self) -> Result<String, LinkError> {
            Ok(self
                .presented_ca
                .clone()
                .unwrap_or_else(|| self.service.ca_pem()))
        }
        async fn join(&self, _ca: &str, request: JoinRequest) -> Result<JoinResponse, LinkError> {
            self.service
                .join(&request, Instant::now(), SystemTime::now())
                .map_err(LinkError::Refused)
        }
    }

    fn cluster() -> (Arc<MemoryBackend>, InProcess, String) {
        let backend = Arc::new(MemoryBackend::default());
        backend.add_token("abc123", "0123456789abcdef", Duration::from_secs(3600));
        let service = NodesService::start(
            backend.clone(),
            NodesConfig::default(),
            Epoch(1),
            Instant::now(),
        )
        .unwrap();
        let pin = ca_pin_of_pem(backend.ca.cert_pem()).unwrap();
        (
            backend,
            InProcess {
                service,
                presented_ca: None,
            },
            pin,
        )
    }

    fn token(pin: &str, secret: &str) -> JoinToken {
        format!("EDGE1.{pin}.abc123.{secret}").parse().unwrap()
    }

    fn pi() -> NodeName {
        NodeName::new("pi-2").unwrap()
    }

    #[tokio::test]
    async fn a_join_keeps_a_locally_made_key_and_the_signed_certificate() {
        let (_, link, pin) = cluster();
        let dir = tempfile::tempdir().unwrap();
        let identity = join(
            &link,
            "https://m:7443",
            &token(&pin, "0123456789abcdef"),
            pi(),
            dir.path(),
        )
        .await
        .unwrap();
        assert_eq!(identity.pod_cidr.to_string(), "10.88.0.0/24");
        assert_eq!(NodeIdentity::load(dir.path()).unwrap(), identity);
        assert!(identity.key_pem.contains("PRIVATE KEY"));
    }

    #[tokio::test]
    async fn a_ca_that_does_not_match_the_pin_is_refused_before_anything_is_sent() {
        let (backend, mut link, pin) = cluster();
        link.presented_ca = Some(
            crate::master::nodes::memory::TestCa::new()
                .cert_pem()
                .to_string(),
        );
        let dir = tempfile::tempdir().unwrap();
        let err = join(
            &link,
            "https://m:7443",
            &token(&pin, "0123456789abcdef"),
            pi(),
            dir.path(),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, JoinError::PinMismatch { .. }), "{err}");
        assert!(err.to_string().contains("impersonating"));
        assert_eq!(backend.tokens.lock().unwrap()["abc123"].uses, 0);
        assert!(NodeIdentity::load(dir.path()).is_err());
    }

    #[tokio::test]
    async fn expired_revoked_and_unknown_tokens_each_have_their_own_error() {
        let (backend, link, pin) = cluster();
        let dir = tempfile::tempdir().unwrap();
        let wrong = join(
            &link,
            "https://m:7443",
            &token(&pin, "wrongsecret"),
            pi(),
            dir.path(),
        )
        .await
        .unwrap_err();
        assert!(matches!(wrong, JoinError::TokenUnknown(_)), "{wrong}");
        backend
            .tokens
            .lock()
            .unwrap()
            .get_mut("abc123")
            .unwrap()
            .revoked = true;
        let revoked = join(
            &link,
            "https://m:7443",
            &token(&pin, "0123456789abcdef"),
            pi(),
            dir.path(),
        )
        .await
        .unwrap_err();
        assert!(matches!(revoked, JoinError::TokenRevoked(_)), "{revoked}");
        {
            let mut tokens = backend.tokens.lock().unwrap();
            let t = tokens.get_mut("abc123").unwrap();
            t.revoked = false;
            t.expires = SystemTime::now() - Duration::from_secs(1);
        }
        let expired = join(
            &link,
            "https://m:7443",
            &token(&pin, "0123456789abcdef"),
            pi(),
            dir.path(),
        )
        .await
        .unwrap_err();
        assert!(matches!(expired, JoinError::TokenExpired(_)), "{expired}");
        assert!(expired
            .to_string()
            .starts_with("join token expired: join token abc123 expired at"));
    }

    #[test]
    fn the_pin_is_the_sha256_of_the_ca_public_key_info() {
        let ca = crate::master::nodes::memory::TestCa::new();
        let pin = ca_pin_of_pem(ca.cert_pem()).unwrap();
        assert_eq!(pin.len(), 64);
        assert!(pin.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(ca_pin_of_pem("not a certificate").is_err());
    }
}
