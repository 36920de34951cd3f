//! An in-memory [`NodeBackend`] over the real cluster PKI: Node, Pod, ConfigMap and Secret
//! objects in maps, join tokens in a map, CSRs signed by a [`Pki`] made in a directory of the
//! caller's choice. For the node service's tests, the cluster load benchmark and protocol tests
//! over real mTLS. Every write is counted, so tests can assert that idle means zero writes.
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use crate::pki::{Pki, PkiError, Role};
use crate::store::Object;
use crate::wire::{NodeName, TokenId, TokenSecret};

use super::backend::{BackendError, NodeBackend};
use super::join::TokenRejection;
use super::pod_status::PodKey;

/// A join token as the memory backend keeps it.
#[derive(Debug, Clone)]
pub struct MemoryToken {
    pub secret: String,
    pub expires: SystemTime,
    pub revoked: bool,
    pub uses: u32,
}

/// Objects and tokens in maps. Cheap to share behind an `Arc`.
pub struct MemoryBackend {
    pub pki: Pki,
    pub nodes: Mutex<BTreeMap<String, Object>>,
    pub pods: Mutex<BTreeMap<PodKey, Object>>,
    pub config_maps: Mutex<BTreeMap<PodKey, Object>>,
    pub secrets: Mutex<BTreeMap<PodKey, Object>>,
    pub tokens: Mutex<BTreeMap<String, MemoryToken>>,
    /// Durable writes so far (node puts, status batches, pod deletes).
    pub writes: AtomicU64,
}

impl MemoryBackend {
    /// A backend whose PKI lives in `pki_dir` (created on first use, with a serving
    /// certificate for 127.0.0.1 and localhost).
    pub fn new(pki_dir: &Path) -> Result<MemoryBackend, PkiError> {
        Ok(MemoryBackend {
            pki: Pki::load_or_create(pki_dir, &["127.0.0.1".into(), "localhost".into()])?,
            nodes: Mutex::default(),
            pods: Mutex::default(),
            config_maps: Mutex::default(),
            secrets: Mutex::default(),
            tokens: Mutex::default(),
            writes: AtomicU64::new(0),
        })
    }

    /// A backend with a fresh PKI made in a temporary directory that is removed once loaded
    /// (the PKI keeps what it needs in memory).
    pub fn ephemeral() -> Result<MemoryBackend, PkiError> {
        static MADE: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "flotilla-memory-pki-{}-{}",
            std::process::id(),
            MADE.fetch_add(1, Ordering::SeqCst)
        ));
        let backend = MemoryBackend::new(&dir);
        let _ = std::fs::remove_dir_all(&dir);
        backend
    }

    /// Adds a token valid for `ttl`.
    pub fn add_token(&self, id: &str, secret: &str, ttl: Duration) {
        self.tokens.lock().unwrap().insert(
            id.to_string(),
            MemoryToken {
                secret: secret.to_string(),
                expires: SystemTime::now() + ttl,
                revoked: false,
                uses: 0,
            },
        );
    }

    /// Adds or replaces a pod (as a controller or the scheduler would).
    pub fn put_pod(&self, pod: Object) {
        let key = (
            pod["metadata"]["namespace"]
                .as_str()
                .unwrap_or("default")
                .to_string(),
            pod["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
        self.pods.lock().unwrap().insert(key, pod);
    }

    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::SeqCst)
    }

    fn wrote(&self) {
        self.writes.fetch_add(1, Ordering::SeqCst);
    }
}

impl NodeBackend for MemoryBackend {
    fn ca_pem(&self) -> String {
        self.pki.ca_pem().to_string()
    }

    fn sign_node_csr(
        &self,
        csr_pem: &str,
        node: &NodeName,
        validity: Duration,
    ) -> Result<String, BackendError> {
        self.pki
            .sign_csr(csr_pem, &Role::Node(node.to_string()), validity)
            .map_err(|e| BackendError {
                operation: format!("sign a certificate for node {node}"),
                message: e.to_string(),
                conflict: false,
            })
    }

    fn consume_token(
        &self,
        id: &TokenId,
        secret: &TokenSecret,
        now: SystemTime,
    ) -> Result<Result<(), TokenRejection>, BackendError> {
        let mut tokens = self.tokens.lock().unwrap();
        let Some(token) = tokens.get_mut(id.as_str()) else {
            return Ok(Err(TokenRejection::Unknown));
        };
        if token.secret != secret.expose() {
            return Ok(Err(TokenRejection::Unknown));
        }
        if token.revoked {
            return Ok(Err(TokenRejection::Revoked));
        }
        if token.expires <= now {
            let at = token
                .expires
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            return Ok(Err(TokenRejection::Expired {
                at: super::pod_status::rfc3339(at),
            }));
        }
        token.uses += 1;
        Ok(Ok(()))
    }

    fn list_nodes(&self) -> Result<Vec<Object>, BackendError> {
        Ok(self.nodes.lock().unwrap().values().cloned().collect())
    }

    fn get_node(&self, node: &NodeName) -> Result<Option<Object>, BackendError> {
        Ok(self.nodes.lock().unwrap().get(node.as_str()).cloned())
    }

    fn put_node(&self, node: Object) -> Result<(), BackendError> {
        let name = node["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        self.nodes.lock().unwrap().insert(name, node);
        self.wrote();
        Ok(())
    }

    fn pods_on_node(&self, node: &NodeName) -> Result<Vec<Object>, BackendError> {
        Ok(self
            .pods
            .lock()
            .unwrap()
            .values()
            .filter(|p| p.pointer("/spec/nodeName").and_then(|n| n.as_str()) == Some(node.as_str()))
            .cloned()
            .collect())
    }

    fn bound_pods(&self) -> Result<Vec<Object>, BackendError> {
        Ok(self
            .pods
            .lock()
            .unwrap()
            .values()
            .filter(|p| p.pointer("/spec/nodeName").is_some())
            .cloned()
            .collect())
    }

    fn get_config_map(&self, namespace: &str, name: &str) -> Result<Option<Object>, BackendError> {
        Ok(self
            .config_maps
            .lock()
            .unwrap()
            .get(&(namespace.to_string(), name.to_string()))
            .cloned())
    }

    fn get_secret(&self, namespace: &str, name: &str) -> Result<Option<Object>, BackendError> {
        Ok(self
            .secrets
            .lock()
            .unwrap()
            .get(&(namespace.to_string(), name.to_string()))
            .cloned())
    }

    fn write_pod_statuses(
        &self,
        statuses: Vec<(PodKey, String, serde_json::Value)>,
    ) -> Result<(), BackendError> {
        let mut pods = self.pods.lock().unwrap();
        for (key, uid, status) in statuses {
            if let Some(pod) = pods.get_mut(&key) {
                if pod.pointer("/metadata/uid").and_then(|u| u.as_str()) == Some(uid.as_str()) {
                    pod["status"] = super::pod_status::merge_status(pod.get("status"), &status);
                }
            }
        }
        self.wrote();
        Ok(())
    }

    fn delete_pod(&self, key: &PodKey, uid: &str) -> Result<(), BackendError> {
        let mut pods = self.pods.lock().unwrap();
        if pods
            .get(key)
            .is_some_and(|p| p.pointer("/metadata/uid").and_then(|u| u.as_str()) == Some(uid))
        {
            pods.remove(key);
            self.wrote();
        }
        Ok(())
    }
}
