//! The agent's identity in its data directory: the cluster CA, its node certificate and key
//! (all mode 0600) and `node.json` (node name, master URL, pod CIDR). Written at join and at
//! renewal, read at every start.
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::wire::{Ipv4Cidr, NodeName};

use super::files::{read_optional, write_atomic, FileError};

pub const CA_FILE: &str = "ca.crt";
pub const CERT_FILE: &str = "node.crt";
pub const KEY_FILE: &str = "node.key";
pub const NODE_FILE: &str = "node.json";

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("{path} is not a valid node file: {source}")]
    NodeFile {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path} holds no PEM certificate that can be read: {message}")]
    Certificate { path: PathBuf, message: String },
    #[error("the agent has joined no cluster yet ({path} is missing); start it with --join TOKEN --master URL")]
    NotJoined { path: PathBuf },
}

/// Where the master is and who this node is, beside the PEM files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeFile {
    pub node_name: NodeName,
    pub master: String,
    #[serde(rename = "podCIDR")]
    pub pod_cidr: String,
}

/// A joined node's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeIdentity {
    pub node: NodeName,
    /// `https://host:port` of the master.
    pub master: String,
    pub pod_cidr: Ipv4Cidr,
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl NodeIdentity {
    /// Writes every file (key and certificate first, `node.json` last: its presence means a
    /// complete identity).
    pub fn save(&self, dir: &Path) -> Result<(), IdentityError> {
        write_atomic(&dir.join(KEY_FILE), self.key_pem.as_bytes())?;
        write_atomic(&dir.join(CERT_FILE), self.cert_pem.as_bytes())?;
        write_atomic(&dir.join(CA_FILE), self.ca_pem.as_bytes())?;
        let node = NodeFile {
            node_name: self.node.clone(),
            master: self.master.clone(),
            pod_cidr: self.pod_cidr.to_string(),
        };
        let json = serde_json::to_vec_pretty(&node).expect("plain struct");
        write_atomic(&dir.join(NODE_FILE), &json)?;
        Ok(())
    }

    /// Loads the identity; `NotJoined` when there is none.
    pub fn load(dir: &Path) -> Result<NodeIdentity, IdentityError> {
        let node_path = dir.join(NODE_FILE);
        let Some(bytes) = read_optional(&node_path)? else {
            return Err(IdentityError::NotJoined { path: node_path });
        };
        let file: NodeFile =
            serde_json::from_slice(&bytes).map_err(|source| IdentityError::NodeFile {
                path: node_path.clone(),
                source,
            })?;
        let pod_cidr = file
            .pod_cidr
            .parse()
            .map_err(|e: crate::wire::join::CidrError| IdentityError::NodeFile {
                path: node_path.clone(),
                source: serde::de::Error::custom(format!("podCIDR: {e}")),
            })?;
        let text = |name: &str| -> Result<String, IdentityError> {
            let path = dir.join(name);
            let bytes = read_optional(&path)?.ok_or(IdentityError::NotJoined { path })?;
            Ok(String::from_utf8_lossy(&bytes).into_owned())
        };
        Ok(NodeIdentity {
            node: file.node_name,
            master: file.master,
            pod_cidr,
            ca_pem: text(CA_FILE)?,
            cert_pem: text(CERT_FILE)?,
            key_pem: text(KEY_FILE)?,
        })
    }

    /// When the node certificate's validity starts and ends.
    pub fn validity(&self) -> Result<(SystemTime, SystemTime), IdentityError> {
        cert_validity(&self.cert_pem).map_err(|message| IdentityError::Certificate {
            path: PathBuf::from(CERT_FILE),
            message,
        })
    }

    /// When to renew: at two thirds of the certificate's life.
    pub fn renew_at(&self) -> Result<SystemTime, IdentityError> {
        let (not_before, not_after) = self.validity()?;
        let life = not_after
            .duration_since(not_before)
            .unwrap_or(Duration::ZERO);
        Ok(not_before + life * 2 / 3)
    }
}

/// The validity window of the first certificate in a PEM text.
pub fn cert_validity(pem: &str) -> Result<(SystemTime, SystemTime), String> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).map_err(|e| e.to_string())?;
    let cert = pem.parse_x509().map_err(|e| e.to_string())?;
    let at = |t: x509_parser::time::ASN1Time| {
        let s = t.timestamp();
        if s >= 0 {
            UNIX_EPOCH + Duration::from_secs(s as u64)
        } else {
            UNIX_EPOCH
        }
    };
    Ok((
        at(cert.validity().not_before),
        at(cert.validity().not_after),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::{Pki, Role};

    fn identity(validity: Duration) -> NodeIdentity {
        let pki_dir = tempfile::tempdir().unwrap();
        let pki = Pki::load_or_create(pki_dir.path(), &["localhost".into()]).unwrap();
        let (cert_pem, key_pem) = pki
            .issue_client(&Role::Node("pi-2".into()), validity)
            .unwrap();
        NodeIdentity {
            node: NodeName::new("pi-2").unwrap(),
            master: "https://10.0.0.1:7443".into(),
            pod_cidr: "10.88.1.0/24".parse().unwrap(),
            ca_pem: pki.ca_pem().to_string(),
            cert_pem,
            key_pem,
        }
    }

    #[test]
    fn an_identity_survives_a_save_and_load() {
        let dir = tempfile::tempdir().unwrap();
        let id = identity(Duration::from_secs(30 * 86_400));
        id.save(dir.path()).unwrap();
        assert_eq!(NodeIdentity::load(dir.path()).unwrap(), id);
    }

    #[test]
    fn an_agent_that_never_joined_is_told_how_to_join() {
        let dir = tempfile::tempdir().unwrap();
        let err = NodeIdentity::load(dir.path()).unwrap_err();
        assert!(err.to_string().contains("--join TOKEN"));
    }

    #[test]
    fn renewal_is_due_at_two_thirds_of_the_certificate_life() {
        let id = identity(Duration::from_secs(30 * 86_400));
        let (not_before, not_after) = id.validity().unwrap();
        let renew_at = id.renew_at().unwrap();
        let life = not_after.duration_since(not_before).unwrap().as_secs();
        let until = renew_at.duration_since(not_before).unwrap().as_secs();
        assert_eq!(until, life * 2 / 3);
    }
}
