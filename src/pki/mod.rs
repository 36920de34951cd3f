//! Cluster identity: the CA, serving and client certificates, roles carried in certificates,
//! join tokens, and the rustls configurations built from them.
//!
//! Files in the master's data directory: `ca.crt`, `ca.key` (0600), `server.crt`,
//! `server.key` (0600). All keys are ECDSA P-256 made by ring. The CA signs only end-entity
//! certificates (path length 0) and is never itself a serving certificate.
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rcgen::{
    CertificateSigningRequestParams, Issuer, KeyPair, PublicKeyData, PKCS_ECDSA_P256_SHA256,
};
use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};

mod atomic_file;
mod credential;
mod inspect;
mod issue;
mod role;
mod tls;
pub mod token;

pub use credential::Credential;
pub use inspect::ca_pin_of_pem;
pub use issue::{BACKDATE, CA_VALIDITY, SERVER_VALIDITY};
pub use role::{role_of, Role, ROLE_SCHEME};
pub use tls::{
    client_config, client_config_ca_only, client_config_pinned, install_crypto_provider,
    ClientAuth, PinMismatch, SERVER_ALPN,
};
pub use token::{JoinToken, RandomError, TokenParseError};

use inspect::{certificate, not_after, parse, spki_sha256_hex};

/// A serving certificate this close to its end is replaced at start-up.
pub const SERVER_RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 3600);

/// File names in the data directory.
const CA_CERT_FILE: &str = "ca.crt";
const CA_KEY_FILE: &str = "ca.key";
const SERVER_CERT_FILE: &str = "server.crt";
const SERVER_KEY_FILE: &str = "server.key";

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// input that fits none of the other cases
    #[error("pki: {0}")]
    Invalid(String),
    /// a file could not be read or written
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// a file's content is unusable
    #[error("{}: {reason}", path.display())]
    BadFile { path: PathBuf, reason: String },
    /// a certificate does not parse
    #[error("invalid {what}: {reason}")]
    BadCertificate { what: &'static str, reason: String },
    /// a private key does not parse
    #[error("invalid {what}: {reason}")]
    BadKey { what: &'static str, reason: String },
    /// a certificate signing request does not parse or its signature is wrong
    #[error("invalid certificate signing request: {0}")]
    BadCsr(rcgen::Error),
    /// a serving certificate name that is neither a DNS name nor an IP address
    #[error("{name:?} is neither a DNS name nor an IP address")]
    BadName { name: String },
    /// a role URI that is not one of Flotilla's
    #[error("invalid role {uri:?}: expected flotilla:admin, flotilla:node:<name> or flotilla:master:<id>")]
    BadRole { uri: String },
    /// a client certificate without a role
    #[error(
        "the certificate carries no role (a subject alternative name URI like flotilla:admin)"
    )]
    NoRole,
    /// a client certificate with more than one role
    #[error("the certificate carries several roles ({}); exactly one is allowed", found.join(", "))]
    SeveralRoles { found: Vec<String> },
    /// a credential whose server is not an https URL
    #[error("server {url:?} is not an https:// URL")]
    BadServerUrl { url: String },
    /// rcgen could not make a certificate or key
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused a configuration
    #[error("tls configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// rustls refused a certificate verifier configuration
    #[error("tls verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    #[error(transparent)]
    Random(#[from] RandomError),
}

/// The cluster CA plus the master's serving certificate, loaded from or created in a data
/// directory.
pub struct Pki {
    ca_pem: String,
    ca_der: CertificateDer<'static>,
    ca_pin: String,
    ca_not_after: SystemTime,
    issuer: Issuer<'static, KeyPair>,
    server_cert_der: CertificateDer<'static>,
    server_key_der: PrivatePkcs8KeyDer<'static>,
}

impl Pki {
    /// Loads `ca.crt`/`ca.key`/`server.crt`/`server.key` from `dir`, creating them on first
    /// start. `sans` are the serving certificate's names and addresses (hostname, listen
    /// addresses, `--tls-san` extras); `localhost` and `127.0.0.1` are always added.
    pub fn load_or_create(dir: &Path, sans: &[String]) -> Result<Pki, PkiError> {
        Pki::load_or_create_at(dir, sans, SystemTime::now())
    }

    /// [`Pki::load_or_create`] at time `now`. The serving certificate is made anew when it is
    /// missing, does not chain to the CA, does not cover every requested name, or expires
    /// within [`SERVER_RENEW_BEFORE`] of `now`.
    pub fn load_or_create_at(
        dir: &Path,
        sans: &[String],
        now: SystemTime,
    ) -> Result<Pki, PkiError> {
        let path = |name: &str| dir.join(name);
        let (ca_pem, ca_key_pem) = load_or_create_ca(dir, now)?;
        let ca_der = certificate("CA certificate", &ca_pem).map_err(in_file(path(CA_CERT_FILE)))?;
        let (ca_pin, ca_not_after) = {
            let ca = parse("CA certificate", &ca_der).map_err(in_file(path(CA_CERT_FILE)))?;
            if !ca.is_ca() {
                return Err(in_file(path(CA_CERT_FILE))(PkiError::Invalid(
                    "the certificate is not a CA certificate".into(),
                )));
            }
            (spki_sha256_hex(&ca), not_after(&ca))
        };
        let ca_key = KeyPair::from_pem(&ca_key_pem).map_err(|e| PkiError::BadFile {
            path: path(CA_KEY_FILE),
            reason: e.to_string(),
        })?;
        if ca_key.subject_public_key_info() != parse("CA certificate", &ca_der)?.public_key().raw {
            return Err(PkiError::BadFile {
                path: path(CA_KEY_FILE),
                reason: format!(
                    "the key does not belong to {}",
                    path(CA_CERT_FILE).display()
                ),
            });
        }
        let issuer = Issuer::from_ca_cert_der(&ca_der, ca_key).map_err(|e| PkiError::BadFile {
            path: path(CA_CERT_FILE),
            reason: e.to_string(),
        })?;
        let names = issue::server_names(sans);
        let server = match load_server(dir, &ca_der, &names, now) {
            Some(server) => server,
            None => {
                let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
                let cert =
                    issue::server_params(&names, now, ca_not_after)?.signed_by(&key, &issuer)?;
                atomic_file::write(
                    &path(SERVER_KEY_FILE),
                    key.serialize_pem().as_bytes(),
                    atomic_file::PRIVATE_MODE,
                )?;
                atomic_file::write(
                    &path(SERVER_CERT_FILE),
                    cert.pem().as_bytes(),
                    atomic_file::PUBLIC_MODE,
                )?;
                (
                    cert.der().clone(),
                    PrivatePkcs8KeyDer::from(key.serialize_der()),
                )
            }
        };
        Ok(Pki {
            ca_pem,
            ca_der,
            ca_pin,
            ca_not_after,
            issuer,
            server_cert_der: server.0,
            server_key_der: server.1,
        })
    }

    /// The CA certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The CA certificate, DER.
    pub fn ca_cert_der(&self) -> &CertificateDer<'static> {
        &self.ca_der
    }

    /// Hex SHA-256 of the CA's SubjectPublicKeyInfo: the pin in join tokens (see
    /// [`ca_pin_of_pem`] for exactly what is hashed).
    pub fn ca_pin(&self) -> String {
        self.ca_pin.clone()
    }

    /// When the CA expires; no certificate it issues outlives it.
    pub fn ca_expiry(&self) -> SystemTime {
        self.ca_not_after
    }

    /// The serving certificate, DER.
    pub fn server_cert_der(&self) -> &CertificateDer<'static> {
        &self.server_cert_der
    }

    /// A fresh client key and certificate for `role`, PEM (cert, key).
    pub fn issue_client(
        &self,
        role: &Role,
        validity: Duration,
    ) -> Result<(String, String), PkiError> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let params = issue::client_params(role, validity, SystemTime::now(), self.ca_not_after)?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok((cert.pem(), key.serialize_pem()))
    }

    /// Signs a CSR (PEM) for `role`, returning the certificate PEM. Only the CSR's public key
    /// (and its proof of possession) is used: names, extensions and role come from the caller.
    /// CSRs with extensions other than names, key usages and basic constraints are refused.
    pub fn sign_csr(
        &self,
        csr_pem: &str,
        role: &Role,
        validity: Duration,
    ) -> Result<String, PkiError> {
        let csr = CertificateSigningRequestParams::from_pem(csr_pem).map_err(PkiError::BadCsr)?;
        let params = issue::client_params(role, validity, SystemTime::now(), self.ca_not_after)?;
        let cert = params.signed_by(&csr.public_key, &self.issuer)?;
        Ok(cert.pem())
    }

    /// A complete credential for `role` talking to `server` (e.g. `admin.conf`).
    pub fn credential(
        &self,
        role: &Role,
        server: &str,
        validity: Duration,
    ) -> Result<Credential, PkiError> {
        let (cert, key) = self.issue_client(role, validity)?;
        Ok(Credential {
            server: server.to_string(),
            ca: self.ca_pem.clone(),
            cert,
            key,
        })
    }

    /// rustls server configuration requiring a client certificate signed by the cluster CA,
    /// offering ALPN `h2` and `http/1.1`. The chain sent is the serving certificate then the CA.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, PkiError> {
        self.server_config_with(ClientAuth::Required)
    }

    /// [`Pki::server_config`] with a choice of client authentication ([`ClientAuth::Optional`]
    /// for a listener that also serves the join endpoint).
    pub fn server_config_with(
        &self,
        client_auth: ClientAuth,
    ) -> Result<Arc<rustls::ServerConfig>, PkiError> {
        tls::server_config(
            &self.ca_der,
            vec![self.server_cert_der.clone(), self.ca_der.clone()],
            PrivateKeyDer::Pkcs8(self.server_key_der.clone_key()),
            client_auth,
        )
    }
}

/// Adds `path` to errors that do not name a file yet.
fn in_file(path: PathBuf) -> impl Fn(PkiError) -> PkiError {
    move |error| match error {
        PkiError::Io { .. } | PkiError::BadFile { .. } => error,
        other => PkiError::BadFile {
            path: path.clone(),
            reason: other.to_string(),
        },
    }
}

/// The CA (certificate PEM, key PEM), made and written when neither file exists.
fn load_or_create_ca(dir: &Path, now: SystemTime) -> Result<(String, String), PkiError> {
    let cert_path = dir.join(CA_CERT_FILE);
    let key_path = dir.join(CA_KEY_FILE);
    match (cert_path.exists(), key_path.exists()) {
        (true, true) => Ok((
            atomic_file::read_text(&cert_path)?,
            atomic_file::read_text(&key_path)?,
        )),
        (false, false) => {
            let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
            let cert = issue::ca_params(now)?.self_signed(&key)?;
            let key_pem = key.serialize_pem();
            // The key first: a crash in between leaves a key without a certificate, which is
            // refused loudly below rather than silently replaced.
            atomic_file::write(&key_path, key_pem.as_bytes(), atomic_file::PRIVATE_MODE)?;
            atomic_file::write(&cert_path, cert.pem().as_bytes(), atomic_file::PUBLIC_MODE)?;
            Ok((cert.pem(), key_pem))
        }
        (true, false) => Err(missing(&key_path, &cert_path)),
        (false, true) => Err(missing(&cert_path, &key_path)),
    }
}

fn missing(absent: &Path, present: &Path) -> PkiError {
    PkiError::BadFile {
        path: absent.to_path_buf(),
        reason: format!(
            "missing, but {} exists; restore it, or remove both to make a new cluster CA",
            present.display()
        ),
    }
}

/// The existing serving certificate and key, if they are still good for `names` at `now`.
fn load_server(
    dir: &Path,
    ca: &CertificateDer<'static>,
    names: &[String],
    now: SystemTime,
) -> Option<(CertificateDer<'static>, PrivatePkcs8KeyDer<'static>)> {
    let cert_pem = atomic_file::read_text(&dir.join(SERVER_CERT_FILE)).ok()?;
    let key_pem = atomic_file::read_text(&dir.join(SERVER_KEY_FILE)).ok()?;
    let cert = certificate("serving certificate", &cert_pem).ok()?;
    let key = KeyPair::from_pem(&key_pem).ok()?;
    {
        let parsed = parse("serving certificate", &cert).ok()?;
        if parsed.is_ca() || parsed.public_key().raw != key.subject_public_key_info() {
            return None;
        }
        if not_after(&parsed) < now + SERVER_RENEW_BEFORE {
            return None;
        }
    }
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).ok()?;
    let verifier = WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::new(rustls::crypto::ring::default_provider()),
    )
    .build()
    .ok()?;
    let unix_now = UnixTime::since_unix_epoch(now.duration_since(SystemTime::UNIX_EPOCH).ok()?);
    for name in names {
        let name = ServerName::try_from(name.as_str()).ok()?;
        verifier
            .verify_server_cert(&cert, &[], &name, &[], unix_now)
            .ok()?;
    }
    Some((cert, PrivatePkcs8KeyDer::from(key.serialize_der())))
}

#[cfg(test)]
mod tests;
