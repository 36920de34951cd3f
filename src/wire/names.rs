//! Typed names and counters of the agent protocol, validated once when they are built or
//! decoded: after that, holding a `NodeName` is the proof that it is a valid node name.
use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest DNS-1123 subdomain (node and pod names).
pub const SUBDOMAIN_BYTES_MAX: usize = 253;

/// Longest DNS-1123 label (namespaces).
pub const LABEL_BYTES_MAX: usize = 63;

/// Longest object uid (Kubernetes uses 36-byte UUIDs).
pub const UID_BYTES_MAX: usize = 64;

/// A name that is not valid where it was used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// empty names are never valid
    #[error("{what} must not be empty")]
    Empty { what: &'static str },
    /// longer than the kind of name allows
    #[error("{what} {name:?} is {len_bytes} bytes long, over the limit of {limit_bytes}")]
    TooLong {
        what: &'static str,
        name: String,
        len_bytes: usize,
        limit_bytes: usize,
    },
    /// not lower-case alphanumerics, '-' and '.', starting and ending alphanumeric
    #[error("{what} {name:?} must consist of lower-case letters, digits, '-' and '.', and start and end with a letter or digit")]
    NotDns1123 { what: &'static str, name: String },
}

/// Checks a DNS-1123 subdomain (`pi-2`, `node-1.lan`) or, with `dots_allowed` false, a label.
fn check_dns1123(
    what: &'static str,
    name: &str,
    limit_bytes: usize,
    dots_allowed: bool,
) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty { what });
    }
    if name.len() > limit_bytes {
        return Err(NameError::TooLong {
            what,
            name: name.to_string(),
            len_bytes: name.len(),
            limit_bytes,
        });
    }
    let part_ok = |part: &str| {
        let bytes = part.as_bytes();
        !bytes.is_empty()
            && bytes[0].is_ascii_alphanumeric()
            && bytes[bytes.len() - 1].is_ascii_alphanumeric()
            && bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
    };
    let ok = if dots_allowed {
        name.split('.').all(part_ok)
    } else {
        part_ok(name)
    };
    if ok {
        Ok(())
    } else {
        Err(NameError::NotDns1123 {
            what,
            name: name.to_string(),
        })
    }
}

/// A node's name: a DNS-1123 subdomain, the `{name}` in node routes and in `node:<name>` roles.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NodeName(String);

impl NodeName {
    /// Validates `name` as a node name.
    pub fn new(name: impl Into<String>) -> Result<NodeName, NameError> {
        let name = name.into();
        check_dns1123("node name", &name, SUBDOMAIN_BYTES_MAX, true)?;
        Ok(NodeName(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for NodeName {
    type Error = NameError;
    fn try_from(name: String) -> Result<NodeName, NameError> {
        NodeName::new(name)
    }
}

impl From<NodeName> for String {
    fn from(name: NodeName) -> String {
        name.0
    }
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
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
    namespace: String,
    name: String,
    uid: String,
}

#[derive(Deserialize)]
struct PodRefWire {
    namespace: String,
    name: String,
    uid: String,
}

impl TryFrom<PodRefWire> for PodRef {
    type Error = NameError;
    fn try_from(wire: PodRefWire) -> Result<PodRef, NameError> {
        PodRef::new(wire.namespace, wire.name, wire.uid)
    }
}

impl PodRef {
    /// Validates the namespace (a DNS-1123 label), the name (a subdomain) and the uid.
    pub fn new(
        namespace: impl Into<String>,
        name: impl Into<String>,
        uid: impl Into<String>,
    ) -> Result<PodRef, NameError> {
        let (namespace, name, uid) = (namespace.into(), name.into(), uid.into());
        check_dns1123("namespace", &namespace, LABEL_BYTES_MAX, false)?;
        check_dns1123("pod name", &name, SUBDOMAIN_BYTES_MAX, true)?;
        if uid.is_empty() {
            return Err(NameError::Empty { what: "pod uid" });
        }
        if uid.len() > UID_BYTES_MAX {
            return Err(NameError::TooLong {
                what: "pod uid",
                name: uid.clone(),
                len_bytes: uid.len(),
                limit_bytes: UID_BYTES_MAX,
            });
        }
        Ok(PodRef {
            namespace,
            name,
            uid,
        })
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub fn name(&self) -> &str {
        &self.name
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
        assert!(matches!(NodeName::new(""), Err(NameError::Empty { .. })));
        assert!(matches!(
            NodeName::new("Pi-2"),
            Err(NameError::NotDns1123 { .. })
        ));
        assert!(matches!(
            NodeName::new("-pi"),
            Err(NameError::NotDns1123 { .. })
        ));
        assert!(matches!(
            NodeName::new("a..b"),
            Err(NameError::NotDns1123 { .. })
        ));
        assert!(matches!(
            NodeName::new("a".repeat(254)),
            Err(NameError::TooLong { .. })
        ));
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
        assert!(PodRef::new("default", "web", "").is_err());
    }
}
