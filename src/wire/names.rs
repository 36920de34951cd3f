//! Typed names and counters of the agent protocol, validated once when they are built or
//! decoded: after that, holding a `NodeName` is the proof that it is a valid node name. The
//! names are the model's (`api::NodeName`, …), so a name valid in the API is valid on the wire.
use std::fmt;

use serde::{Deserialize, Serialize};

pub use crate::api::{NameError, NamespaceName, NodeName, PodName};

/// Longest object uid (Kubernetes uses 36-byte UUIDs).
pub const UID_BYTES_MAX: usize = 64;

/// A pod reference that is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PodRefError {
    #[error(transparent)]
    Name(#[from] NameError),
    /// empty, or longer than [`UID_BYTES_MAX`]
    #[error("pod uid must be 1 to {UID_BYTES_MAX} bytes, got {len_bytes}")]
    Uid { len_bytes: usize },
}

/// The master's term: a durable counter bumped at every master start (or, with several
/// masters, at every change of leader). Every master → agent message carries it, and agents
/// refuse anything older than the highest they have seen, so a deposed master can never move
/// a pod.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
pub struct Epoch(pub u64);

impl Epoch {
    /// The epoch after this one.
    pub fn next(self) -> Epoch {
        Epoch(self.0 + 1)
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The version of one node's assignment set, bumped by the master whenever the set of pods
/// bound to that node (or what they reference) changes. Only meaningful within one epoch.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
pub struct Generation(pub u64);

impl Generation {
    /// The generation after this one.
    pub fn next(self) -> Generation {
        Generation(self.0 + 1)
    }
}

impl fmt::Display for Generation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Which pod a status is about: namespace and name address it, the uid tells a pod from an
/// earlier one of the same name (a status for a replaced pod must not land on its successor).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "PodRefWire")]
pub struct PodRef {
    namespace: NamespaceName,
    name: PodName,
    uid: String,
}

#[derive(Deserialize)]
struct PodRefWire {
    namespace: NamespaceName,
    name: PodName,
    uid: String,
}

impl TryFrom<PodRefWire> for PodRef {
    type Error = PodRefError;
    fn try_from(wire: PodRefWire) -> Result<PodRef, PodRefError> {
        PodRef::typed(wire.namespace, wire.name, wire.uid)
    }
}

impl PodRef {
    /// Validates the namespace (a DNS-1123 label), the name (a subdomain) and the uid.
    pub fn new(
        namespace: impl Into<String>,
        name: impl Into<String>,
        uid: impl Into<String>,
    ) -> Result<PodRef, PodRefError> {
        PodRef::typed(
            NamespaceName::new(namespace)?,
            PodName::new(name)?,
            uid.into(),
        )
    }

    fn typed(namespace: NamespaceName, name: PodName, uid: String) -> Result<PodRef, PodRefError> {
        if uid.is_empty() || uid.len() > UID_BYTES_MAX {
            return Err(PodRefError::Uid {
                len_bytes: uid.len(),
            });
        }
        Ok(PodRef {
            namespace,
            name,
            uid,
        })
    }

    pub fn namespace(&self) -> &str {
        self.namespace.as_str()
    }

    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    pub fn uid(&self) -> &str {
        &self.uid
    }
}

impl fmt::Display for PodRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names_follow_dns1123_subdomains() {
        assert!(NodeName::new("pi-2").is_ok());
        assert!(NodeName::new("node-1.lan").is_ok());
        for bad in ["", "Pi-2", "-pi", "a..b", &"a".repeat(254)] {
            assert!(NodeName::new(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn a_node_name_that_is_invalid_on_the_wire_is_refused_on_decode() {
        let bytes = postcard::to_stdvec(&"NOT_A_NAME".to_string()).unwrap();
        assert!(postcard::from_bytes::<NodeName>(&bytes).is_err());
    }

    #[test]
    fn pod_refs_validate_namespace_name_and_uid() {
        assert!(PodRef::new("default", "web-1", "0b5c").is_ok());
        assert!(PodRef::new("kube.system", "web", "u").is_err());
        assert!(matches!(
            PodRef::new("default", "web", ""),
            Err(PodRefError::Uid { len_bytes: 0 })
        ));
    }

    #[test]
    fn a_pod_ref_with_a_bad_name_is_refused_on_decode() {
        #[derive(Serialize)]
        struct Raw<'a> {
            namespace: &'a str,
            name: &'a str,
            uid: &'a str,
        }
        let bytes = postcard::to_stdvec(&Raw {
            namespace: "default",
            name: "Not_Valid",
            uid: "u",
        })
        .unwrap();
        assert!(postcard::from_bytes::<PodRef>(&bytes).is_err());
    }
}
