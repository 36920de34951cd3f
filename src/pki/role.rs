//! Roles carried in client certificates, as one SAN URI: `flotilla:admin`,
//! `flotilla:node:<name>` or `flotilla:master:<id>`. The common name repeats the role for
//! people reading the certificate; only the URI counts.
use std::fmt;

use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;

use super::PkiError;

/// The URI scheme of a role.
pub const ROLE_SCHEME: &str = "flotilla:";
/// The longest node name or master id (a DNS-1123 subdomain).
const ROLE_NAME_BYTES_MAX: usize = 253;

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

impl Role {
    /// Parses a role URI (`flotilla:node:pi-2`).
    pub fn from_uri(uri: &str) -> Result<Role, PkiError> {
        let bad = || PkiError::BadRole {
            uri: uri.chars().take(300).collect(),
        };
        let rest = uri.strip_prefix(ROLE_SCHEME).ok_or_else(bad)?;
        let role = match rest.split_once(':') {
            None if rest == "admin" => Role::Admin,
            Some(("node", name)) => Role::Node(name.to_string()),
            Some(("master", id)) => Role::Master(id.to_string()),
            _ => return Err(bad()),
        };
        match &role {
            Role::Node(name) | Role::Master(name) if !is_dns_subdomain(name) => Err(bad()),
            _ => Ok(role),
        }
    }

    /// The SAN URI that carries this role.
    pub fn uri(&self) -> String {
        format!("{ROLE_SCHEME}{self}")
    }

    /// Checks that the name in the role is a DNS-1123 subdomain, as certificates need.
    pub fn validate(&self) -> Result<(), PkiError> {
        Role::from_uri(&self.uri()).map(drop)
    }
}

/// `admin`, `node:<name>` or `master:<id>`: the role without its scheme, also the common name.
impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Role::Admin => f.write_str("admin"),
            Role::Node(name) => write!(f, "node:{name}"),
            Role::Master(id) => write!(f, "master:{id}"),
        }
    }
}

/// The role in a client certificate (DER) that the TLS layer already verified. A certificate
/// must carry exactly one `flotilla:` URI; other URIs are ignored.
pub fn role_of(cert_der: &[u8]) -> Result<Role, PkiError> {
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(cert_der).map_err(|e| {
        PkiError::BadCertificate {
            what: "client certificate",
            reason: e.to_string(),
        }
    })?;
    let san = cert
        .subject_alternative_name()
        .map_err(|e| PkiError::BadCertificate {
            what: "client certificate",
            reason: format!("subject alternative names: {e}"),
        })?;
    let roles: Vec<&str> = san
        .iter()
        .flat_map(|san| san.value.general_names.iter())
        .filter_map(|name| match name {
            GeneralName::URI(uri) if uri.starts_with(ROLE_SCHEME) => Some(*uri),
            _ => None,
        })
        .collect();
    match roles[..] {
        [uri] => Role::from_uri(uri),
        [] => Err(PkiError::NoRole),
        _ => Err(PkiError::SeveralRoles {
            found: roles.iter().map(|r| r.to_string()).collect(),
        }),
    }
}

/// A DNS-1123 subdomain: lower-case letters, digits, `-` and `.`, starting and ending with a
/// letter or digit, at most 253 bytes.
fn is_dns_subdomain(name: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    !name.is_empty()
        && name.len() <= ROLE_NAME_BYTES_MAX
        && name.chars().all(|c| alnum(c) || c == '-' || c == '.')
        && name.starts_with(alnum)
        && name.ends_with(alnum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_uris_round_trip() {
        for role in [
            Role::Admin,
            Role::Node("pi-2".into()),
            Role::Master("m1.cluster".into()),
        ] {
            assert_eq!(Role::from_uri(&role.uri()).unwrap(), role);
        }
        assert_eq!(Role::Node("pi-2".into()).uri(), "flotilla:node:pi-2");
    }

    #[test]
    fn malformed_roles_are_refused() {
        for uri in [
            "flotilla:root",
            "flotilla:node:",
            "flotilla:node:Pi_2",
            "flotilla:master:-m",
            "spiffe://cluster/admin",
            "flotilla:admin:extra",
        ] {
            assert!(
                matches!(Role::from_uri(uri), Err(PkiError::BadRole { .. })),
                "{uri}"
            );
        }
    }
}
