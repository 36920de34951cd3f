//! Join tokens kept in the store file, in their own table: the id, a SHA-256 of the secret
//! (never the secret), expiry, use count and description. The token format itself is
//! [`crate::pki::token`]; checking the token's CA pin is the join endpoint's job.
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redb::{ReadableDatabase, ReadableTable, TableDefinition};

use super::timestamp::{format_rfc3339, serde_rfc3339, truncate_to_seconds};
use super::{Store, StoreError};
use crate::pki::token::{JoinToken, RandomError, TokenParseError};

/// Tokens by id, as JSON [`TokenRow`]s.
pub(super) const TOKENS: TableDefinition<&str, &[u8]> = TableDefinition::new("join_tokens");

/// Attempts at drawing an id no token uses yet (36⁶ ids make a second attempt rare already).
const TOKEN_ID_ATTEMPTS_MAX: usize = 8;

/// A token as stored.
#[derive(serde::Serialize, serde::Deserialize)]
struct TokenRow {
    secret_sha256: String,
    created_unix_s: u64,
    expires_unix_s: u64,
    uses: u64,
    description: String,
}

/// A token as listed: everything but the secret.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TokenRecord {
    pub id: String,
    #[serde(with = "serde_rfc3339")]
    pub expires: SystemTime,
    /// Successful joins with this token.
    pub uses: u64,
    pub description: String,
    #[serde(with = "serde_rfc3339")]
    pub created: SystemTime,
}

/// Why a join token was refused, or could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// the token text is not a join token
    #[error("malformed join token: {0}")]
    Malformed(#[from] TokenParseError),
    /// the token's lifetime is over
    #[error("join token {id:?} expired at {}", format_rfc3339(*expired))]
    Expired { id: String, expired: SystemTime },
    /// no token has this id: it never existed, was revoked, or was pruned after expiring
    #[error("unknown or revoked token id {id:?}")]
    Revoked { id: String },
    /// the id exists but the secret is not its secret
    #[error("join token {id:?}: wrong secret")]
    WrongSecret { id: String },
    /// no unused token id could be drawn
    #[error("no free token id after {TOKEN_ID_ATTEMPTS_MAX} attempts")]
    IdsExhausted,
    #[error(transparent)]
    Random(#[from] RandomError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Store {
    /// Creates a token valid for `ttl` from `now` for the cluster whose CA has pin `ca_pin`;
    /// the returned token (with its secret) is the only copy of the secret there is.
    pub fn create_token(
        &self,
        ca_pin: &str,
        ttl: Duration,
        description: &str,
        now: SystemTime,
    ) -> Result<JoinToken, TokenError> {
        let txn = self.inner.db.begin_write().map_err(StoreError::from)?;
        let token = {
            let mut tokens = txn.open_table(TOKENS).map_err(StoreError::from)?;
            let mut attempts = 0;
            let token = loop {
                let token = JoinToken::generate(ca_pin, &self.inner.rng)?;
                if tokens.get(token.id()).map_err(StoreError::from)?.is_none() {
                    break token;
                }
                attempts += 1;
                if attempts == TOKEN_ID_ATTEMPTS_MAX {
                    return Err(TokenError::IdsExhausted);
                }
            };
            let row = TokenRow {
                secret_sha256: token.secret_sha256_hex(),
                created_unix_s: unix_s(now),
                expires_unix_s: unix_s(now + ttl),
                uses: 0,
                description: description.to_string(),
            };
            tokens
                .insert(token.id(), encode(&row)?.as_slice())
                .map_err(StoreError::from)?;
            token
        };
        txn.commit().map_err(StoreError::from)?;
        Ok(token)
    }

    /// Every token, sorted by id, without secrets (expired ones included until pruned).
    pub fn list_tokens(&self) -> Result<Vec<TokenRecord>, TokenError> {
        let read = self.inner.db.begin_read().map_err(StoreError::from)?;
        let tokens = read.open_table(TOKENS).map_err(StoreError::from)?;
        let mut records = Vec::new();
        for entry in tokens.iter().map_err(StoreError::from)? {
            let (id, row) = entry.map_err(StoreError::from)?;
            let row = decode(id.value(), row.value())?;
            records.push(TokenRecord {
                id: id.value().to_string(),
                expires: from_unix_s(row.expires_unix_s),
                uses: row.uses,
                description: row.description,
                created: from_unix_s(row.created_unix_s),
            });
        }
        Ok(records)
    }

    /// Deletes the token `id`; `Revoked` when there is none.
    pub fn revoke_token(&self, id: &str) -> Result<(), TokenError> {
        let txn = self.inner.db.begin_write().map_err(StoreError::from)?;
        let removed = {
            let mut tokens = txn.open_table(TOKENS).map_err(StoreError::from)?;
            let removed = tokens.remove(id).map_err(StoreError::from)?;
            removed.is_some()
        };
        if !removed {
            txn.abort().map_err(StoreError::from)?;
            return Err(TokenError::Revoked { id: id.to_string() });
        }
        txn.commit().map_err(StoreError::from)?;
        Ok(())
    }

    /// Checks `token` at `now` and counts one use of it. The secret is checked before the
    /// expiry, so that only a holder of the secret learns that a token expired.
    pub fn consume_token(&self, token: &JoinToken, now: SystemTime) -> Result<(), TokenError> {
        let txn = self.inner.db.begin_write().map_err(StoreError::from)?;
        let checked = (|| {
            let mut tokens = txn.open_table(TOKENS).map_err(StoreError::from)?;
            let mut row = match tokens.get(token.id()).map_err(StoreError::from)? {
                Some(stored) => decode(token.id(), stored.value())?,
                None => {
                    return Err(TokenError::Revoked {
                        id: token.id().to_string(),
                    })
                }
            };
            if !same_digest(&row.secret_sha256, &token.secret_sha256_hex()) {
                return Err(TokenError::WrongSecret {
                    id: token.id().to_string(),
                });
            }
            if unix_s(now) >= row.expires_unix_s {
                return Err(TokenError::Expired {
                    id: token.id().to_string(),
                    expired: from_unix_s(row.expires_unix_s),
                });
            }
            row.uses += 1;
            tokens
                .insert(token.id(), encode(&row)?.as_slice())
                .map_err(StoreError::from)?;
            Ok(())
        })();
        match checked {
            Ok(()) => txn.commit().map_err(StoreError::from)?,
            Err(error) => {
                // The refusal is the one to report; a failed abort commits nothing either.
                let _ = txn.abort();
                return Err(error);
            }
        }
        Ok(())
    }

    /// Deletes the tokens expired at `now`, returning how many there were.
    pub fn prune_expired_tokens(&self, now: SystemTime) -> Result<usize, TokenError> {
        let txn = self.inner.db.begin_write().map_err(StoreError::from)?;
        let mut expired_ids = Vec::new();
        {
            let mut tokens = txn.open_table(TOKENS).map_err(StoreError::from)?;
            for entry in tokens.iter().map_err(StoreError::from)? {
                let (id, row) = entry.map_err(StoreError::from)?;
                if unix_s(now) >= decode(id.value(), row.value())?.expires_unix_s {
                    expired_ids.push(id.value().to_string());
                }
            }
            for id in &expired_ids {
                tokens.remove(id.as_str()).map_err(StoreError::from)?;
            }
        }
        if expired_ids.is_empty() {
            txn.abort().map_err(StoreError::from)?;
        } else {
            txn.commit().map_err(StoreError::from)?;
        }
        Ok(expired_ids.len())
    }
}

fn encode(row: &TokenRow) -> Result<Vec<u8>, TokenError> {
    serde_json::to_vec(row)
        .map_err(|error| StoreError::Database(format!("cannot encode token: {error}")).into())
}

fn decode(id: &str, json: &[u8]) -> Result<TokenRow, TokenError> {
    serde_json::from_slice(json).map_err(|error| {
        StoreError::Database(format!("stored token {id:?} is unreadable: {error}")).into()
    })
}

/// Compares two digests without an early exit, so timing says nothing about where they differ.
fn same_digest(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn unix_s(at: SystemTime) -> u64 {
    truncate_to_seconds(at)
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

fn from_unix_s(seconds: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(seconds)
}
