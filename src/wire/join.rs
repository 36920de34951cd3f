//! Joining a cluster: the agent sends its join token and a CSR for a locally generated key; the
//! master answers with a node certificate, the CA and the node's pod CIDR.
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::names::{Epoch, NodeName};

/// Longest token id or secret accepted.
pub const TOKEN_PART_BYTES_MAX: usize = 64;

/// A join token part that is not well-formed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenPartError {
    #[error("token {what} must be 1 to {TOKEN_PART_BYTES_MAX} letters, digits, '-' or '_'")]
    Invalid { what: &'static str },
}

fn check_token_part(what: &'static str, text: &str) -> Result<(), TokenPartError> {
    let ok = !text.is_empty()
        && text.len() <= TOKEN_PART_BYTES_MAX
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(TokenPartError::Invalid { what })
    }
}

/// The public half of a join token: names it in `edgectl token list` and revocations.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TokenId(String);

impl TokenId {
    pub fn new(id: impl Into<String>) -> Result<TokenId, TokenPartError> {
        let id = id.into();
        check_token_part("id", &id)?;
        Ok(TokenId(id))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TokenId {
    type Error = TokenPartError;
    fn try_from(id: String) -> Result<TokenId, TokenPartError> {
        TokenId::new(id)
    }
}

impl From<TokenId> for String {
    fn from(id: TokenId) -> String {
        id.0
    }
}

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The secret half of a join token. Its `Debug` never shows it, so it cannot end up in a log.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TokenSecret(String);

impl TokenSecret {
    pub fn new(secret: impl Into<String>) -> Result<TokenSecret, TokenPartError> {
        let secret = secret.into();
        check_token_part("secret", &secret)?;
        Ok(TokenSecret(secret))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenSecret(..)")
    }
}

impl TryFrom<String> for TokenSecret {
    type Error = TokenPartError;
    fn try_from(secret: String) -> Result<TokenSecret, TokenPartError> {
        TokenSecret::new(secret)
    }
}

impl From<TokenSecret> for String {
    fn from(secret: TokenSecret) -> String {
        secret.0
    }
}

/// An IPv4 network in CIDR form (`10.88.3.0/24`), host bits zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "(Ipv4Addr, u8)", into = "(Ipv4Addr, u8)")]
pub struct Ipv4Cidr {
    network: Ipv4Addr,
    prefix_len: u8,
}

/// A CIDR that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error("{text:?} is not an IPv4 CIDR like 10.88.0.0/16")]
    Syntax { text: String },
    #[error("prefix length {prefix_len} is over 32")]
    PrefixTooLong { prefix_len: u8 },
    #[error("{network}/{prefix_len} has host bits set (did you mean {masked}/{prefix_len}?)")]
    HostBitsSet {
        network: Ipv4Addr,
        prefix_len: u8,
        masked: Ipv4Addr,
    },
}

impl Ipv4Cidr {
    pub fn new(network: Ipv4Addr, prefix_len: u8) -> Result<Ipv4Cidr, CidrError> {
        if prefix_len > 32 {
            return Err(CidrError::PrefixTooLong { prefix_len });
        }
        let masked = Ipv4Addr::from(u32::from(network) & Self::mask(prefix_len));
        if masked != network {
            return Err(CidrError::HostBitsSet {
                network,
                prefix_len,
                masked,
            });
        }
        Ok(Ipv4Cidr {
            network,
            prefix_len,
        })
    }

    fn mask(prefix_len: u8) -> u32 {
        if prefix_len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(prefix_len))
        }
    }

    pub fn network(self) -> Ipv4Addr {
        self.network
    }

    pub fn prefix_len(self) -> u8 {
        self.prefix_len
    }

    /// Whether `other` lies entirely inside this network.
    pub fn contains(self, other: Ipv4Cidr) -> bool {
        other.prefix_len >= self.prefix_len
            && u32::from(other.network) & Self::mask(self.prefix_len) == u32::from(self.network)
    }
}

impl TryFrom<(Ipv4Addr, u8)> for Ipv4Cidr {
    type Error = CidrError;
    fn try_from((network, prefix_len): (Ipv4Addr, u8)) -> Result<Ipv4Cidr, CidrError> {
        Ipv4Cidr::new(network, prefix_len)
    }
}

impl From<Ipv4Cidr> for (Ipv4Addr, u8) {
    fn from(cidr: Ipv4Cidr) -> (Ipv4Addr, u8) {
        (cidr.network, cidr.prefix_len)
    }
}

impl FromStr for Ipv4Cidr {
    type Err = CidrError;
    fn from_str(text: &str) -> Result<Ipv4Cidr, CidrError> {
        let syntax = || CidrError::Syntax {
            text: text.to_string(),
        };
        let (addr, len) = text.split_once('/').ok_or_else(syntax)?;
        let network: Ipv4Addr = addr.parse().map_err(|_| syntax())?;
        let prefix_len: u8 = len.parse().map_err(|_| syntax())?;
        Ipv4Cidr::new(network, prefix_len)
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix_len)
    }
}

/// An agent asking to join: the token (its pin was already checked against the CA by the
/// agent), the name it wants and a CSR for the key it made locally.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinRequest {
    pub token_id: TokenId,
    pub token_secret: TokenSecret,
    pub node: NodeName,
    /// PKCS#10 certificate signing request, PEM.
    pub csr_pem: String,
}

/// A joined agent asking, over mTLS as its node, for a fresh certificate before its current
/// one runs out. The CSR may carry a new key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenewRequest {
    pub node: NodeName,
    /// PKCS#10 certificate signing request, PEM.
    pub csr_pem: String,
}

/// A node certificate for the agent. Also the answer to a renewal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinResponse {
    /// The node's client certificate (role `node:<name>`), PEM.
    pub node_cert_pem: String,
    /// The cluster CA certificate, PEM.
    pub ca_pem: String,
    /// This node's pod network, out of the cluster CIDR.
    pub pod_cidr: Ipv4Cidr,
    /// The master's epoch (the fence).
    pub epoch: Epoch,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_parse_and_print() {
        let cidr: Ipv4Cidr = "10.88.0.0/16".parse().unwrap();
        assert_eq!(cidr.to_string(), "10.88.0.0/16");
        assert!(cidr.contains("10.88.7.0/24".parse().unwrap()));
        assert!(!cidr.contains("10.89.0.0/24".parse().unwrap()));
        assert!(!cidr.contains("10.0.0.0/8".parse().unwrap()));
    }

    #[test]
    fn a_cidr_with_host_bits_is_refused_with_the_masked_form() {
        let err = "10.88.1.1/16".parse::<Ipv4Cidr>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "10.88.1.1/16 has host bits set (did you mean 10.88.0.0/16?)"
        );
        assert!("10.88.0.0/33".parse::<Ipv4Cidr>().is_err());
        assert!("10.88.0.0".parse::<Ipv4Cidr>().is_err());
    }

    #[test]
    fn a_token_secret_never_shows_in_debug_output() {
        let secret = TokenSecret::new("s3cr3t").unwrap();
        assert_eq!(format!("{secret:?}"), "TokenSecret(..)");
    }

    #[test]
    fn token_parts_with_separators_are_refused() {
        assert!(TokenId::new("abc.def").is_err());
        assert!(TokenId::new("").is_err());
        assert!(TokenSecret::new("x".repeat(65)).is_err());
    }
}
