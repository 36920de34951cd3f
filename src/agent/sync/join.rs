//! Joining a cluster and renewing the node certificate.
//!
//! Join: fetch the CA over a connection that completes only if the server's chain holds the
//! CA the token pins (hex SHA-256 of its SubjectPublicKeyInfo), check the pin of what came back,
//! make a P-256 key here (it never leaves the node), send a CSR with the token over TLS verified
//! against that CA, and keep the answer in the data directory (mode 0600). Each way it can fail
//! has its own message.
use std::path::Path;

use rcgen::{CertificateParams, DnType, KeyPair};

use crate::pki::{ca_pin_of_pem, JoinToken};
use crate::wire::{
    JoinRequest, JoinResponse, NodeName, RefusalReason, RenewRequest, TokenId, TokenSecret,
};

use super::identity::{IdentityError, NodeIdentity};
use super::link::{JoinLink, LinkError, MasterLink};

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
            LinkError::PinMismatch {
                master,
                expected,
                found,
            } => JoinError::PinMismatch {
                master,
                expected,
                got: found,
            },
            other => JoinError::Link(other),
        }
    }
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
    let ca_pem = link.fetch_ca(token.ca_pin()).await?;
    let got = ca_pin_of_pem(&ca_pem).map_err(|e| JoinError::BadCa {
        master: master.to_string(),
        message: e.to_string(),
    })?;
    if got != token.ca_pin() {
        return Err(JoinError::PinMismatch {
            master: master.to_string(),
            expected: token.ca_pin().to_string(),
            got,
        });
    }
    // A token pki parsed has an id and secret the wire accepts; the check is for the types.
    let malformed = |e: crate::wire::join::TokenPartError| JoinError::TokenMalformed(e.to_string());
    let token_id = TokenId::new(token.id()).map_err(malformed)?;
    let token_secret = TokenSecret::new(token.secret()).map_err(malformed)?;
    let (key_pem, csr_pem) = key_and_csr(&node)?;
    let answer = link
        .join(
            &ca_pem,
            JoinRequest {
                token_id,
                token_secret,
                node: node.clone(),
                csr_pem,
            },
        )
        .await?;
    // The CA in the answer must be the pinned one: it is what this node will trust from now on.
    if ca_pin_of_pem(&answer.ca_pem).ok().as_deref() != Some(token.ca_pin()) {
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
    if ca_pin_of_pem(&answer.ca_pem).ok() != ca_pin_of_pem(&identity.ca_pem).ok() {
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
    use crate::pki::Pki;
    use crate::wire::Epoch;

    const SECRET: &str = "0123456789abcdef";

    /// A join link that talks to an in-process node service (no network), optionally
    /// presenting another CA than the service's, as an impostor would (the pinned TLS check is
    /// pki's and tested there; this checks that `join` verifies the pin of what it got too).
    struct InProcess {
        service: Arc<NodesService<Arc<MemoryBackend>>>,
        presented_ca: Option<String>,
    }

    impl JoinLink for InProcess {
        async fn fetch_ca(&self, _ca_pin: &str) -> Result<String, LinkError> {
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

    fn cluster(pki_dir: &std::path::Path) -> (Arc<MemoryBackend>, InProcess, String) {
        let backend = Arc::new(MemoryBackend::new(pki_dir).unwrap());
        backend.add_token("abc123", SECRET, Duration::from_secs(3600));
        let service = NodesService::start(
            backend.clone(),
            NodesConfig::default(),
            Epoch(1),
            Instant::now(),
        )
        .unwrap();
        let pin = backend.pki.ca_pin();
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
        let (pki_dir, dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (_, link, pin) = cluster(pki_dir.path());
        let identity = join(
            &link,
            "https://m:7443",
            &token(&pin, SECRET),
            pi(),
            dir.path(),
        )
        .await
        .unwrap();
        assert_eq!(identity.pod_cidr.to_string(), "10.88.0.0/24");
        assert_eq!(NodeIdentity::load(dir.path()).unwrap(), identity);
        assert!(identity.key_pem.contains("PRIVATE KEY"));
        use rustls::pki_types::pem::PemObject;
        let der = rustls::pki_types::CertificateDer::from_pem_slice(identity.cert_pem.as_bytes())
            .unwrap();
        assert_eq!(
            crate::pki::role_of(der.as_ref()).unwrap(),
            crate::pki::Role::Node("pi-2".into())
        );
    }

    #[tokio::test]
    async fn a_ca_that_does_not_match_the_pin_is_refused_before_anything_is_sent() {
        let (pki_dir, dir, other) = (
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        let (backend, mut link, pin) = cluster(pki_dir.path());
        let impostor = Pki::load_or_create(other.path(), &["localhost".into()]).unwrap();
        link.presented_ca = Some(impostor.ca_pem().to_string());
        let err = join(
            &link,
            "https://m:7443",
            &token(&pin, SECRET),
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
        let (pki_dir, dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (backend, link, pin) = cluster(pki_dir.path());
        let wrong = join(
            &link,
            "https://m:7443",
            &token(&pin, "wrongsecret00000"),
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
            &token(&pin, SECRET),
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
            &token(&pin, SECRET),
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
    fn a_malformed_token_is_refused_before_any_connection() {
        let err = "EDGE1.abc.def".parse::<JoinToken>().unwrap_err();
        assert!(err.to_string().contains("4 parts"));
    }
}
