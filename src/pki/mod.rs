//! Cluster identity: the CA, serving and client certificates, roles carried in certificates,
//! join tokens, and the rustls configurations built from them.
//!
//! CONTRACT (skeleton, to be implemented): signatures below are what the API server and
//! `edgectl` code against. Implementations may add methods.
pub mod token;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Who a client certificate says its holder is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Role {
    /// A cluster administrator (`edgectl` with admin.conf).
    Admin,
    /// An agent, by node name.
    Node(String),
    /// A master, by id.
    Master(String),
}

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("pki: {0}")]
    Invalid(String),
}

/// The cluster CA plus the master's serving certificate, loaded from or created in a data
/// directory.
pub struct Pki {}

impl Pki {
    /// Loads `ca.crt`/`ca.key`/`server.crt`/`server.key` from `dir`, creating them on first
    /// start. `sans` are the serving certificate's names and addresses (hostname, listen
    /// addresses, `--tls-san` extras).
    pub fn load_or_create(_dir: &Path, _sans: &[String]) -> Result<Pki, PkiError> {
        todo!()
    }
    /// The CA certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        todo!()
    }
    /// Hex SHA-256 of the CA's public key: the pin in join tokens.
    pub fn ca_pin(&self) -> String {
        todo!()
    }
    /// A fresh client key and certificate for `role`, PEM (cert, key).
    pub fn issue_client(
        &self,
        _role: &Role,
        _validity: Duration,
    ) -> Result<(String, String), PkiError> {
        todo!()
    }
    /// Signs a CSR (PEM) for `role`, returning the certificate PEM.
    pub fn sign_csr(
        &self,
        _csr_pem: &str,
        _role: &Role,
        _validity: Duration,
    ) -> Result<String, PkiError> {
        todo!()
    }
    /// rustls server configuration requiring a client certificate signed by the cluster CA.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, PkiError> {
        todo!()
    }
}

/// The role in a client certificate (DER) that the TLS layer already verified.
pub fn role_of(_cert_der: &[u8]) -> Result<Role, PkiError> {
    todo!()
}

/// rustls client configuration trusting only `ca_pem` and presenting `cert_pem`/`key_pem`.
pub fn client_config(
    _ca_pem: &str,
    _cert_pem: &str,
    _key_pem: &str,
) -> Result<Arc<rustls::ClientConfig>, PkiError> {
    todo!()
}

/// A credential file (`admin.conf`): where the master is and how to prove who we are.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Credential {
    /// `https://host:port` of the master.
    pub server: String,
    /// CA certificate, PEM.
    pub ca: String,
    /// Client certificate, PEM.
    pub cert: String,
    /// Client key, PEM.
    pub key: String,
}

impl Credential {
    pub fn load(_path: &Path) -> Result<Credential, PkiError> {
        todo!()
    }
    /// Writes the file with mode 0600.
    pub fn save(&self, _path: &Path) -> Result<(), PkiError> {
        todo!()
    }
}
