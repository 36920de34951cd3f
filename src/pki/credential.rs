//! Credential files (`admin.conf`, an agent's node credential): where the master is and how to
//! prove who we are, as a small YAML file with PEM blocks, written with mode 0600.
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use serde::Serializer;

use super::inspect::{certificate, not_after, parse};
use super::{atomic_file, role_of, PkiError, Role};

/// A credential file (`admin.conf`): where the master is and how to prove who we are.
///
/// ```yaml
/// server: https://pi-1:7443
/// certificate-authority: |
///   -----BEGIN CERTIFICATE-----
/// client-certificate: |
///   -----BEGIN CERTIFICATE-----
/// client-key: |
///   -----BEGIN PRIVATE KEY-----
/// ```
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Credential {
    /// `https://host:port` of the master.
    pub server: String,
    /// CA certificate, PEM.
    #[serde(rename = "certificate-authority", serialize_with = "literal")]
    pub ca: String,
    /// Client certificate, PEM.
    #[serde(rename = "client-certificate", serialize_with = "literal")]
    pub cert: String,
    /// Client key, PEM.
    #[serde(rename = "client-key", serialize_with = "literal")]
    pub key: String,
}

impl Credential {
    /// Reads and checks a credential file; errors name the file (and, for YAML, the line).
    pub fn load(path: &Path) -> Result<Credential, PkiError> {
        let text = atomic_file::read_text(path)?;
        let bad = |reason: String| PkiError::BadFile {
            path: path.to_path_buf(),
            reason,
        };
        let credential: Credential =
            serde_saphyr::from_str(&text).map_err(|e| bad(e.to_string()))?;
        credential.check().map_err(|e| bad(e.to_string()))?;
        Ok(credential)
    }

    /// Writes the file atomically with mode 0600 (temporary file, fsync, rename).
    pub fn save(&self, path: &Path) -> Result<(), PkiError> {
        let text = serde_saphyr::to_string(self).map_err(|e| PkiError::BadFile {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        atomic_file::write(path, text.as_bytes(), atomic_file::PRIVATE_MODE)
    }

    /// When the client certificate expires.
    pub fn expiry(&self) -> Result<SystemTime, PkiError> {
        let der = certificate("client certificate", &self.cert)?;
        Ok(not_after(&parse("client certificate", &der)?))
    }

    /// The role the client certificate carries.
    pub fn role(&self) -> Result<Role, PkiError> {
        role_of(&certificate("client certificate", &self.cert)?)
    }

    /// The rustls client configuration this credential describes.
    pub fn client_config(&self) -> Result<Arc<rustls::ClientConfig>, PkiError> {
        super::client_config(&self.ca, &self.cert, &self.key)
    }

    /// Checks that every part is there and parses: a server URL, a CA, a certificate with a
    /// role, a key.
    fn check(&self) -> Result<(), PkiError> {
        if !self.server.starts_with("https://") {
            return Err(PkiError::BadServerUrl {
                url: self.server.clone(),
            });
        }
        self.client_config()?;
        self.role()?;
        Ok(())
    }
}

/// The key stays out of logs.
impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("server", &self.server)
            .field("ca", &self.ca)
            .field("cert", &self.cert)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// PEM blocks as YAML literal blocks (`|`), readable and diffable like a kubeconfig.
fn literal<S: Serializer>(text: &str, serializer: S) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(&serde_saphyr::LitStr(text), serializer)
}
