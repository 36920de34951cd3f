//! What the node service needs from the rest of the master: the store (Node and Pod objects,
//! the config maps and secrets pods reference, join tokens) and the PKI (the CA, signing node
//! CSRs). One trait so the service and its HTTP handlers are tested with an in-memory fake and
//! wired to `store::Store` + `pki::Pki` by the integrator.
use std::time::{Duration, SystemTime};

use crate::store::Object;
use crate::wire::{NodeName, TokenId, TokenSecret};

use super::join::TokenRejection;
use super::pod_status::PodKey;

/// A backend failure: the store or the PKI could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation}: {message}")]
pub struct BackendError {
    /// What was being done (`update node pi-2`).
    pub operation: String,
    /// The underlying error's message.
    pub message: String,
    /// The object changed since it was read (optimistic concurrency): read it again and retry.
    pub conflict: bool,
}

/// The store and the PKI as the node service uses them. Writes are durable when they return.
pub trait NodeBackend: Send + Sync + 'static {
    /// The cluster CA certificate, PEM.
    fn ca_pem(&self) -> String;

    /// Signs a node's CSR as `node:<name>` for `validity`, returning the certificate PEM.
    fn sign_node_csr(
        &self,
        csr_pem: &str,
        node: &NodeName,
        validity: Duration,
    ) -> Result<String, BackendError>;

    /// Checks a join token and counts a use (the store's `consume_token`).
    fn consume_token(
        &self,
        id: &TokenId,
        secret: &TokenSecret,
        now: SystemTime,
    ) -> Result<Result<(), TokenRejection>, BackendError>;

    /// Every Node object.
    fn list_nodes(&self) -> Result<Vec<Object>, BackendError>;

    /// The Node object of that name.
    fn get_node(&self, node: &NodeName) -> Result<Option<Object>, BackendError>;

    /// Creates or replaces a Node object. A replacement carries the `resourceVersion` it was
    /// read at; if the object changed since (an administrator cordoned the node), the error
    /// has `conflict` set and the service reads and edits it again.
    fn put_node(&self, node: Object) -> Result<(), BackendError>;

    /// Pods whose `spec.nodeName` is `node`.
    fn pods_on_node(&self, node: &NodeName) -> Result<Vec<Object>, BackendError>;

    /// Every pod bound to any node (for seeding live status at start-up).
    fn bound_pods(&self) -> Result<Vec<Object>, BackendError>;

    /// A config map in `namespace`.
    fn get_config_map(&self, namespace: &str, name: &str) -> Result<Option<Object>, BackendError>;

    /// A secret in `namespace`.
    fn get_secret(&self, namespace: &str, name: &str) -> Result<Option<Object>, BackendError>;

    /// Persists pod statuses in one batch (one durable commit), each only if the pod still has
    /// that uid. Pods that are gone are skipped.
    fn write_pod_statuses(
        &self,
        statuses: Vec<(PodKey, String, serde_json::Value)>,
    ) -> Result<(), BackendError>;

    /// Deletes a pod (an eviction), only if it still has that uid.
    fn delete_pod(&self, key: &PodKey, uid: &str) -> Result<(), BackendError>;
}

impl<T: NodeBackend> NodeBackend for std::sync::Arc<T> {
    fn ca_pem(&self) -> String {
        (**self).ca_pem()
    }
    fn sign_node_csr(
        &self,
        csr_pem: &str,
        node: &NodeName,
        validity: Duration,
    ) -> Result<String, BackendError> {
        (**self).sign_node_csr(csr_pem, node, validity)
    }
    fn consume_token(
        &self,
        id: &TokenId,
        secret: &TokenSecret,
        now: SystemTime,
    ) -> Result<Result<(), TokenRejection>, BackendError> {
        (**self).consume_token(id, secret, now)
    }
    fn list_nodes(&self) -> Result<Vec<Object>, BackendError> {
        (**self).list_nodes()
    }
    fn get_node(&self, node: &NodeName) -> Result<Option<Object>, BackendError> {
        (**self).get_node(node)
    }
    fn put_node(&self, node: Object) -> Result<(), BackendError> {
        (**self).put_node(node)
    }
    fn pods_on_node(&self, node: &NodeName) -> Result<Vec<Object>, BackendError> {
        (**self).pods_on_node(node)
    }
    fn bound_pods(&self) -> Result<Vec<Object>, BackendError> {
        (**self).bound_pods()
    }
    fn get_config_map(&self, namespace: &str, name: &str) -> Result<Option<Object>, BackendError> {
        (**self).get_config_map(namespace, name)
    }
    fn get_secret(&self, namespace: &str, name: &str) -> Result<Option<Object>, BackendError> {
        (**self).get_secret(namespace, name)
    }
    fn write_pod_statuses(
        &self,
        statuses: Vec<(PodKey, String, serde_json::Value)>,
    ) -> Result<(), BackendError> {
        (**self).write_pod_statuses(statuses)
    }
    fn delete_pod(&self, key: &PodKey, uid: &str) -> Result<(), BackendError> {
        (**self).delete_pod(key, uid)
    }
}
