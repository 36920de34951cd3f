//! Why the master refused a request, in a form the agent can act on and print.
use serde::{Deserialize, Serialize};

/// The reasons a master refuses an agent; each gets its own message on the agent's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RefusalReason {
    /// the join token is not `EDGE1.<pin>.<id>.<secret>`
    TokenMalformed,
    /// no token has that id, or its secret does not match
    TokenUnknown,
    /// the token's lifetime is over
    TokenExpired,
    /// an administrator revoked the token
    TokenRevoked,
    /// another key already holds this node name
    NodeNameTaken,
    /// the CSR could not be parsed or its signature is wrong
    CsrInvalid,
    /// the client certificate is not allowed to act for this node
    Forbidden,
    /// the request was malformed (a bad query, a name that does not match)
    BadRequest,
    /// the master cannot serve the request right now (not the leader, store failing)
    Unavailable,
}

/// A refusal with a human-readable explanation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    pub reason: RefusalReason,
    pub message: String,
}

impl Refusal {
    pub fn new(reason: RefusalReason, message: impl Into<String>) -> Refusal {
        Refusal {
            reason,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}
