//! The node service's backend on the real store and PKI: Node, Pod, ConfigMap and Secret
//! objects in the redb store, join tokens through `Store::consume_token`, node certificates
//! from `Pki::sign_csr` with the role `node:<name>`.
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::api::Kind;
use crate::pki::{JoinToken, Pki, Role};
use crate::store::{Object, ObjectKey, Op, Store, StoreError, TokenError};
use crate::wire::{NodeName, TokenId, TokenSecret};

use super::backend::{BackendError, NodeBackend};
use super::join::TokenRejection;
use super::pod_status::{merge_status, rfc3339, PodKey};

/// Attempts at a status batch that keeps meeting concurrent pod updates.
pub const STATUS_BATCH_ATTEMPTS_MAX: u32 = 3;

/// The store and the PKI of a running master.
#[derive(Clone)]
pub struct StoreBackend {
    pub store: Store,
    pub pki: Arc<Pki>,
}

fn failed(operation: impl Into<String>) -> impl FnOnce(StoreError) -> BackendError {
    let operation = operation.into();
    move |e| BackendError {
        conflict: matches!(
            e,
            StoreError::Conflict { .. } | StoreError::AlreadyExists(_)
        ),
        operation,
        message: e.to_string(),
    }
}

fn node_key(node: &str) -> ObjectKey {
    ObjectKey {
        kind: Kind::Node,
        namespace: None,
        name: node.to_string(),
    }
}

fn namespaced(kind: Kind, namespace: &str, name: &str) -> ObjectKey {
    ObjectKey {
        kind,
        namespace: Some(namespace.to_string()),
        name: name.to_string(),
    }
}

fn uid_of(object: &Object) -> Option<&str> {
    object.pointer("/metadata/uid").and_then(|u| u.as_str())
}

fn resource_version(object: &Object) -> Option<u64> {
    object
        .pointer("/metadata/resourceVersion")
        .and_then(|v| v.as_str())
        .and_then(|v| v.parse().ok())
}

impl StoreBackend {
    fn get_optional(&self, key: &ObjectKey) -> Result<Option<Object>, BackendError> {
        match self.store.get(key) {
            Ok(object) => Ok(Some(object)),
            Err(StoreError::NotFound(_)) => Ok(None),
            Err(e) => Err(failed(format!("read {} {}", key.kind, key.name))(e)),
        }
    }

    fn pods_where(&self, keep: impl Fn(&Object) -> bool) -> Result<Vec<Object>, BackendError> {
        let (pods, _) = self
            .store
            .list(Kind::Pod, None)
            .map_err(failed("list pods"))?;
        Ok(pods.into_iter().filter(|p| keep(p)).collect())
    }
}

impl NodeBackend for StoreBackend {
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
        // The agent checked the pin already; the store wants a whole token, so it gets this
        // master's own pin.
        let text = format!("EDGE1.{}.{}.{}", self.pki.ca_pin(), id, secret.expose());
        let Ok(token) = JoinToken::parse(&text) else {
            return Ok(Err(TokenRejection::Unknown));
        };
        match self.store.consume_token(&token, now) {
            Ok(()) => Ok(Ok(())),
            Err(TokenError::Expired { expired, .. }) => {
                let at = expired
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() as i64);
                Ok(Err(TokenRejection::Expired { at: rfc3339(at) }))
            }
            // The store keeps no revoked tokens: unknown and revoked are one case to it.
            Err(TokenError::Revoked { .. }) => Ok(Err(TokenRejection::Revoked)),
            Err(TokenError::WrongSecret { .. }) | Err(TokenError::Malformed(_)) => {
                Ok(Err(TokenRejection::Unknown))
            }
            Err(e) => Err(BackendError {
                operation: format!("check join token {id}"),
                message: e.to_string(),
                conflict: false,
            }),
        }
    }

    fn list_nodes(&self) -> Result<Vec<Object>, BackendError> {
        Ok(self
            .store
            .list(Kind::Node, None)
            .map_err(failed("list nodes"))?
            .0)
    }

    fn get_node(&self, node: &NodeName) -> Result<Option<Object>, BackendError> {
        self.get_optional(&node_key(node.as_str()))
    }

    fn put_node(&self, node: Object) -> Result<(), BackendError> {
        let name = node
            .pointer("/metadata/name")
            .and_then(|n| n.as_str())
            .unwrap_or_default()
            .to_string();
        let key = node_key(&name);
        let result = if resource_version(&node).is_some() {
            self.store.update(&key, node)
        } else {
            self.store.create(&key, node)
        };
        result
            .map(|_| ())
            .map_err(failed(format!("write node {name}")))
    }

    fn pods_on_node(&self, node: &NodeName) -> Result<Vec<Object>, BackendError> {
        self.pods_where(|p| {
            p.pointer("/spec/nodeName").and_then(|n| n.as_str()) == Some(node.as_str())
        })
    }

    fn bound_pods(&self) -> Result<Vec<Object>, BackendError> {
        self.pods_where(|p| p.pointer("/spec/nodeName").is_some_and(|n| n.is_string()))
    }

    fn get_config_map(&self, namespace: &str, name: &str) -> Result<Option<Object>, BackendError> {
        self.get_optional(&namespaced(Kind::ConfigMap, namespace, name))
    }

    fn get_secret(&self, namespace: &str, name: &str) -> Result<Option<Object>, BackendError> {
        self.get_optional(&namespaced(Kind::Secret, namespace, name))
    }

    fn write_pod_statuses(
        &self,
        statuses: Vec<(PodKey, String, serde_json::Value)>,
    ) -> Result<(), BackendError> {
        let mut attempt = 1;
        loop {
            let mut ops = Vec::new();
            for ((namespace, name), uid, status) in &statuses {
                let key = namespaced(Kind::Pod, namespace, name);
                let Some(mut pod) = self.get_optional(&key)? else {
                    continue;
                };
                if uid_of(&pod) != Some(uid.as_str()) {
                    continue;
                }
                let merged = merge_status(pod.get("status"), status);
                if pod.get("status") == Some(&merged) {
                    continue;
                }
                pod["status"] = merged;
                ops.push(Op::Update(key, pod));
            }
            if ops.is_empty() {
                return Ok(());
            }
            match self.store.batch(ops) {
                Ok(_) => return Ok(()),
                Err(StoreError::Conflict { .. } | StoreError::NotFound(_))
                    if attempt < STATUS_BATCH_ATTEMPTS_MAX =>
                {
                    attempt += 1
                }
                Err(e) => return Err(failed("write pod statuses")(e)),
            }
        }
    }

    fn delete_pod(&self, (namespace, name): &PodKey, uid: &str) -> Result<(), BackendError> {
        let key = namespaced(Kind::Pod, namespace, name);
        let Some(pod) = self.get_optional(&key)? else {
            return Ok(());
        };
        if uid_of(&pod) != Some(uid) {
            return Ok(());
        }
        match self.store.delete(&key, resource_version(&pod)) {
            Ok(_) | Err(StoreError::NotFound(_)) => Ok(()),
            Err(e) => Err(failed(format!("delete pod {namespace}/{name}"))(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use serde_json::json;

    use super::*;
    use crate::master::nodes::{NodesConfig, NodesService};
    use crate::wire::{Epoch, JoinRequest, RefusalReason};

    struct Fixture {
        _dir: tempfile::TempDir,
        backend: StoreBackend,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store.redb")).unwrap();
        let pki =
            Arc::new(Pki::load_or_create(&dir.path().join("pki"), &["localhost".into()]).unwrap());
        Fixture {
            _dir: dir,
            backend: StoreBackend { store, pki },
        }
    }

    fn csr() -> String {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        rcgen::CertificateParams::new(Vec::<String>::new())
            .unwrap()
            .serialize_request(&key)
            .unwrap()
            .pem()
            .unwrap()
    }

    fn request(token: &JoinToken, csr_pem: String) -> JoinRequest {
        JoinRequest {
            token_id: TokenId::new(token.id()).unwrap(),
            token_secret: TokenSecret::new(token.secret()).unwrap(),
            node: NodeName::new("pi-1").unwrap(),
            csr_pem,
        }
    }

    #[test]
    fn a_join_with_a_store_token_creates_the_node_and_counts_the_use() {
        let f = fixture();
        let now = SystemTime::now();
        let token = f
            .backend
            .store
            .create_token(
                &f.backend.pki.ca_pin(),
                Duration::from_secs(600),
                "test",
                now,
            )
            .unwrap();
        let service = NodesService::start(
            f.backend.clone(),
            NodesConfig::default(),
            Epoch(1),
            Instant::now(),
        )
        .unwrap();
        let answer = service
            .join(&request(&token, csr()), Instant::now(), now)
            .unwrap();
        assert!(answer.node_cert_pem.contains("BEGIN CERTIFICATE"));
        let node = f
            .backend
            .get_node(&NodeName::new("pi-1").unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(node["spec"]["podCIDR"], "10.88.0.0/24");
        assert_eq!(f.backend.store.list_tokens().unwrap()[0].uses, 1);
    }

    #[test]
    fn store_token_refusals_keep_their_kind() {
        let f = fixture();
        let now = SystemTime::now();
        let token = f
            .backend
            .store
            .create_token(&f.backend.pki.ca_pin(), Duration::from_secs(1), "test", now)
            .unwrap();
        let service = NodesService::start(
            f.backend.clone(),
            NodesConfig::default(),
            Epoch(1),
            Instant::now(),
        )
        .unwrap();
        let later = now + Duration::from_secs(5);
        let expired = service
            .join(&request(&token, csr()), Instant::now(), later)
            .unwrap_err();
        assert_eq!(expired.reason, RefusalReason::TokenExpired);
        f.backend.store.revoke_token(token.id()).unwrap();
        let revoked = service
            .join(&request(&token, csr()), Instant::now(), now)
            .unwrap_err();
        assert_eq!(revoked.reason, RefusalReason::TokenRevoked);
    }

    #[test]
    fn statuses_are_written_in_one_batch_and_only_onto_the_same_pod() {
        let f = fixture();
        let pod_key = namespaced(Kind::Pod, "default", "web");
        let pod = f
            .backend
            .store
            .create(
                &pod_key,
                json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "web", "namespace": "default"},
                "spec": {"nodeName": "pi-1", "containers": [{"name": "c", "image": "busybox"}]}}),
            )
            .unwrap();
        let uid = uid_of(&pod).unwrap().to_string();
        let revision = f.backend.store.revision();
        let key = ("default".to_string(), "web".to_string());
        f.backend
            .write_pod_statuses(vec![
                (key.clone(), uid.clone(), json!({"phase": "Running"})),
                (
                    key.clone(),
                    "another-uid".into(),
                    json!({"phase": "Failed"}),
                ),
            ])
            .unwrap();
        assert_eq!(f.backend.store.revision(), revision + 1);
        assert_eq!(
            f.backend.store.get(&pod_key).unwrap()["status"]["phase"],
            "Running"
        );
        // The same status again writes nothing.
        f.backend
            .write_pod_statuses(vec![(key, uid, json!({"phase": "Running"}))])
            .unwrap();
        assert_eq!(f.backend.store.revision(), revision + 1);
    }

    #[test]
    fn an_eviction_deletes_only_the_pod_it_decided_on() {
        let f = fixture();
        let pod_key = namespaced(Kind::Pod, "default", "web");
        let pod = f
            .backend
            .store
            .create(
                &pod_key,
                json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "web", "namespace": "default"},
                "spec": {"nodeName": "pi-1", "containers": [{"name": "c", "image": "busybox"}]}}),
            )
            .unwrap();
        let key = ("default".to_string(), "web".to_string());
        f.backend.delete_pod(&key, "a-successor").unwrap();
        assert!(f.backend.store.get(&pod_key).is_ok());
        f.backend.delete_pod(&key, uid_of(&pod).unwrap()).unwrap();
        assert!(f.backend.store.get(&pod_key).is_err());
    }
}
