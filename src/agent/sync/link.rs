//! The agent's connection to its master, as a trait so the sync loop is tested without a
//! network. [`super::https::HttpsLink`] is the real one (postcard over HTTP/1.1 over mTLS).
use std::future::Future;
use std::time::Duration;

use crate::wire::{
    Assignments, AssignmentsUnchanged, Epoch, Generation, Heartbeat, HeartbeatAck, JoinRequest,
    JoinResponse, NodeName, PodStatusReport, Refusal, RenewRequest, StatusAck,
};

/// Why a call to the master did not succeed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LinkError {
    /// no answer: connection refused, TLS failure, timeout, broken connection
    #[error("master {master} unreachable: {message}")]
    Unreachable { master: String, message: String },
    /// the server's CA is not the one the join token pins
    #[error("the master at {master} presented a CA whose pin is {found}, but the join token expects {expected}: check the --master address and the token (or someone is impersonating the master)")]
    PinMismatch {
        master: String,
        expected: String,
        found: String,
    },
    /// the master answered with a refusal
    #[error("master refused: {0}")]
    Refused(Refusal),
    /// the master answered something this agent cannot read
    #[error("master {master} answered badly: {message}")]
    Protocol { master: String, message: String },
}

/// The answer to an assignments long-poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollAnswer {
    Changed(Assignments),
    Unchanged(AssignmentsUnchanged),
}

/// Calls an agent makes once joined (over mTLS as its node).
pub trait MasterLink: Send + Sync + 'static {
    fn heartbeat(
        &self,
        heartbeat: Heartbeat,
    ) -> impl Future<Output = Result<HeartbeatAck, LinkError>> + Send;

    fn assignments(
        &self,
        node: &NodeName,
        after: Generation,
        epoch_seen: Epoch,
        wait: Duration,
    ) -> impl Future<Output = Result<PollAnswer, LinkError>> + Send;

    fn pod_status(
        &self,
        report: PodStatusReport,
    ) -> impl Future<Output = Result<StatusAck, LinkError>> + Send;

    fn renew(
        &self,
        request: RenewRequest,
    ) -> impl Future<Output = Result<JoinResponse, LinkError>> + Send;

    /// Presents `identity`'s certificate from now on (after a renewal).
    fn reload(&self, identity: &super::identity::NodeIdentity) -> Result<(), LinkError>;
}

/// Calls an agent makes before it has a certificate.
pub trait JoinLink {
    /// Fetches the CA certificate over a connection that only completes if the server's chain
    /// holds a CA whose public key hashes to `ca_pin` (the token's pin); the caller checks the
    /// pin of what it got once more.
    fn fetch_ca(&self, ca_pin: &str) -> impl Future<Output = Result<String, LinkError>> + Send;

    /// Joins over TLS verified against `ca_pem` (already pinned), without a client certificate.
    fn join(
        &self,
        ca_pem: &str,
        request: JoinRequest,
    ) -> impl Future<Output = Result<JoinResponse, LinkError>> + Send;
}
