//! Join tokens: `EDGE1.<CA pin>.<id>.<secret>`. The pin (hex SHA-256 of the CA certificate's
//! SubjectPublicKeyInfo, see [`super::ca_pin_of_pem`]) lets a joining agent authenticate the
//! master before it trusts it; the id names the token in `edgectl token list`; the secret
//! proves the agent was given the token. The master keeps only a hash of the secret.
use std::fmt;
use std::str::FromStr;

use ring::digest::{digest, SHA256};
use ring::rand::SecureRandom;

/// The first part of every token, naming the format's version.
pub const TOKEN_PREFIX: &str = "EDGE1";
/// Characters in a token id.
pub const TOKEN_ID_CHARS: usize = 6;
/// Characters in a token secret: 16 of 36 symbols, about 82 bits.
pub const TOKEN_SECRET_CHARS: usize = 16;
/// Hex characters in a CA pin (a SHA-256).
pub const CA_PIN_CHARS: usize = 64;

/// The symbols ids and secrets are drawn from.
const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// A parsed join token. `Display` writes it back in full (it is meant to be printed once, for
/// the operator); `Debug` hides the secret so that it never reaches a log.
#[derive(Clone, PartialEq, Eq)]
pub struct JoinToken {
    ca_pin: String,
    id: String,
    secret: String,
}

/// Which part of a join token is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenParseError {
    /// the token does not start with the format's name
    #[error("a join token starts with \"{TOKEN_PREFIX}.\", this one starts with {found:?}")]
    Prefix { found: String },
    /// the token does not have four dot-separated parts
    #[error("a join token has 4 parts separated by dots ({TOKEN_PREFIX}.<ca pin>.<id>.<secret>), this one has {found}")]
    PartCount { found: usize },
    /// the CA pin is not a hex SHA-256
    #[error("the CA pin (second part) must be {CA_PIN_CHARS} lowercase hex characters, found {found_chars} characters")]
    Pin { found_chars: usize },
    /// the id is not 6 lowercase letters and digits
    #[error("the token id (third part) must be {TOKEN_ID_CHARS} lowercase letters or digits, found {found:?}")]
    Id { found: String },
    /// the secret is not 16 lowercase letters and digits
    #[error("the token secret (fourth part) must be {TOKEN_SECRET_CHARS} lowercase letters or digits, found {found_chars} characters")]
    Secret { found_chars: usize },
}

/// The random source failed; nothing sensible can be generated without it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the system random number generator failed")]
pub struct RandomError;

impl JoinToken {
    /// A new token for the cluster whose CA has pin `ca_pin`, with a random id and secret.
    pub fn generate(ca_pin: &str, rng: &dyn SecureRandom) -> Result<JoinToken, RandomError> {
        Ok(JoinToken {
            ca_pin: ca_pin.to_string(),
            id: random_symbols(rng, TOKEN_ID_CHARS)?,
            secret: random_symbols(rng, TOKEN_SECRET_CHARS)?,
        })
    }

    /// Parses a token, ignoring surrounding whitespace (tokens are pasted from terminals and
    /// read from files).
    pub fn parse(text: &str) -> Result<JoinToken, TokenParseError> {
        let text = text.trim();
        let parts: Vec<&str> = text.split('.').collect();
        if parts[0] != TOKEN_PREFIX {
            return Err(TokenParseError::Prefix {
                found: parts[0].chars().take(16).collect(),
            });
        }
        let [_, ca_pin, id, secret] = parts[..] else {
            return Err(TokenParseError::PartCount { found: parts.len() });
        };
        let is_hex = |c: char| c.is_ascii_digit() || ('a'..='f').contains(&c);
        if ca_pin.len() != CA_PIN_CHARS || !ca_pin.chars().all(is_hex) {
            return Err(TokenParseError::Pin {
                found_chars: ca_pin.chars().count(),
            });
        }
        if !is_symbols(id, TOKEN_ID_CHARS) {
            return Err(TokenParseError::Id {
                found: id.chars().take(TOKEN_ID_CHARS * 2).collect(),
            });
        }
        if !is_symbols(secret, TOKEN_SECRET_CHARS) {
            return Err(TokenParseError::Secret {
                found_chars: secret.chars().count(),
            });
        }
        Ok(JoinToken {
            ca_pin: ca_pin.to_string(),
            id: id.to_string(),
            secret: secret.to_string(),
        })
    }

    /// Hex SHA-256 of the CA's SubjectPublicKeyInfo that the master must present.
    pub fn ca_pin(&self) -> &str {
        &self.ca_pin
    }

    /// The public id of the token.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The secret, for the join request only.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// Hex SHA-256 of the secret: the form the master stores.
    pub fn secret_sha256_hex(&self) -> String {
        hex(digest(&SHA256, self.secret.as_bytes()).as_ref())
    }
}

impl FromStr for JoinToken {
    type Err = TokenParseError;
    fn from_str(text: &str) -> Result<JoinToken, TokenParseError> {
        JoinToken::parse(text)
    }
}

impl fmt::Display for JoinToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{TOKEN_PREFIX}.{}.{}.{}",
            self.ca_pin, self.id, self.secret
        )
    }
}

impl fmt::Debug for JoinToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinToken")
            .field("ca_pin", &self.ca_pin)
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

fn is_symbols(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| ALPHABET.contains(&b))
}

/// `len` symbols drawn uniformly from [`ALPHABET`]: bytes at or above 252 (7 × 36) are
/// discarded so that no symbol is more likely than another.
fn random_symbols(rng: &dyn SecureRandom, len: usize) -> Result<String, RandomError> {
    const UNBIASED_BELOW: u8 = 252;
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 32];
    while out.len() < len {
        rng.fill(&mut buf).map_err(|_| RandomError)?;
        for b in buf.iter().filter(|b| **b < UNBIASED_BELOW) {
            if out.len() == len {
                break;
            }
            out.push(char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use ring::rand::SystemRandom;

    use super::*;

    const PIN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn generated_tokens_round_trip_through_text() {
        let token = JoinToken::generate(PIN, &SystemRandom::new()).unwrap();
        assert_eq!(token.id().len(), TOKEN_ID_CHARS);
        assert_eq!(token.secret().len(), TOKEN_SECRET_CHARS);
        assert_eq!(JoinToken::parse(&format!(" {token}\n")), Ok(token));
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let token = JoinToken::parse(&format!("EDGE1.{PIN}.abc123.secretsecret0000")).unwrap();
        assert!(!format!("{token:?}").contains("secretsecret0000"));
    }

    #[test]
    fn parse_errors_name_the_malformed_part() {
        let check = |text: String, expected: fn(&TokenParseError) -> bool| {
            let error = JoinToken::parse(&text).unwrap_err();
            assert!(expected(&error), "{text}: {error}");
        };
        check(format!("K10.{PIN}.abc123.0123456789abcdef"), |e| {
            matches!(e, TokenParseError::Prefix { .. })
        });
        check(format!("EDGE1.{PIN}.abc123"), |e| {
            matches!(e, TokenParseError::PartCount { found: 3 })
        });
        check("EDGE1.abcd.abc123.0123456789abcdef".into(), |e| {
            matches!(e, TokenParseError::Pin { found_chars: 4 })
        });
        check(
            format!("EDGE1.{}.abc123.0123456789abcdef", PIN.to_uppercase()),
            |e| matches!(e, TokenParseError::Pin { .. }),
        );
        check(format!("EDGE1.{PIN}.ABC123.0123456789abcdef"), |e| {
            matches!(e, TokenParseError::Id { .. })
        });
        check(format!("EDGE1.{PIN}.abc123.0123"), |e| {
            matches!(e, TokenParseError::Secret { found_chars: 4 })
        });
    }
}
