//! Join tokens as the agent receives them on its command line:
//! `EDGE1.<hex sha256 of the CA's SubjectPublicKeyInfo>.<id>.<secret>`.
use std::fmt;
use std::str::FromStr;

use crate::wire::{TokenId, TokenSecret};

/// The only token format version there is.
pub const TOKEN_PREFIX: &str = "EDGE1";

/// A parsed join token.
#[derive(Clone, PartialEq, Eq)]
pub struct JoinToken {
    /// Lower-case hex SHA-256 of the CA's SubjectPublicKeyInfo (64 characters).
    pub ca_pin: String,
    pub id: TokenId,
    pub secret: TokenSecret,
}

impl fmt::Debug for JoinToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinToken")
            .field("ca_pin", &self.ca_pin)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// What is wrong with a token's text. Never echoes the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed join token: expected EDGE1.<ca pin>.<id>.<secret> (four parts separated by '.'), got {parts} part(s)")]
    Parts { parts: usize },
    #[error("malformed join token: it starts with {prefix:?}, expected {TOKEN_PREFIX:?}")]
    Prefix { prefix: String },
    #[error("malformed join token: the CA pin must be 64 lower-case hex characters (a SHA-256)")]
    Pin,
    #[error("malformed join token: {0}")]
    Part(#[from] crate::wire::join::TokenPartError),
}

impl FromStr for JoinToken {
    type Err = TokenError;
    fn from_str(text: &str) -> Result<JoinToken, TokenError> {
        let parts: Vec<&str> = text.trim().split('.').collect();
        let [prefix, pin, id, secret] = parts[..] else {
            return Err(TokenError::Parts { parts: parts.len() });
        };
        if prefix != TOKEN_PREFIX {
            return Err(TokenError::Prefix {
                prefix: prefix.chars().take(16).collect(),
            });
        }
        let pin_ok = pin.len() == 64
            && pin
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !pin_ok {
            return Err(TokenError::Pin);
        }
        Ok(JoinToken {
            ca_pin: pin.to_string(),
            id: TokenId::new(id)?,
            secret: TokenSecret::new(secret)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PIN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn a_well_formed_token_parses_into_pin_id_and_secret() {
        let token: JoinToken = format!("EDGE1.{PIN}.abc123.s3cr3t").parse().unwrap();
        assert_eq!(token.ca_pin, PIN);
        assert_eq!(token.id.as_str(), "abc123");
        assert_eq!(token.secret.expose(), "s3cr3t");
        assert!(!format!("{token:?}").contains("s3cr3t"));
    }

    #[test]
    fn malformed_tokens_say_what_is_wrong() {
        assert_eq!(
            "EDGE1.abc".parse::<JoinToken>().unwrap_err(),
            TokenError::Parts { parts: 2 }
        );
        assert!(matches!(
            format!("EDGE2.{PIN}.a.b").parse::<JoinToken>(),
            Err(TokenError::Prefix { .. })
        ));
        assert_eq!(
            "EDGE1.ABCDEF.a.b".parse::<JoinToken>().unwrap_err(),
            TokenError::Pin
        );
        assert!(matches!(
            format!("EDGE1.{PIN}.a.").parse::<JoinToken>(),
            Err(TokenError::Part(_))
        ));
    }
}
