//! An in-memory [`NodeBackend`] with a real certificate authority: Node, Pod, ConfigMap and
//! Secret objects in maps, join tokens in a map, CSRs signed by an rcgen CA whose node
//! certificates carry the role as their common name (`node:<name>`). For the node service's
//! tests, the cluster benchmark and protocol tests over real mTLS before the store and PKI are
//! wired in. Every write is counted, so tests can assert that idle means zero writes.
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

use crate::store::Object;
use crate::wire::{NodeName, TokenId, TokenSecret};

use super::backend::{BackendError, NodeBackend};
use super::join::TokenRejection;
use super::pod_status::PodKey;

/// A certificate authority for tests and benchmarks (ECDSA P-256, like the cluster's).
pub struct TestCa {
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn rcgen_error(operation: &str) -> impl Fn(rcgen::Error) -> BackendError + '_ {
    move |e| BackendError {
        operation: operation.to_string(),
        message: e.to_string(),
    }
}

impl TestCa {
    pub fn new() -> TestCa {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("ring keygen");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("no names");
        params
            .distinguished_name
            .push(DnType::CommonName, "flotilla test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).expect("self-signed CA");
        TestCa {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    fn leaf_params(common_name: &str, sans: &[String], validity: Duration) -> CertificateParams {
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.subject_alt_names = sans
            .iter()
            .map(|s| match s.parse::<std::net::IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName(s.clone().try_into().expect("valid DNS name")),
            })
            .collect();
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::minutes(5);
        params.not_after = now + time::Duration::seconds(validity.as_secs() as i64);
        params
    }

    /// A server certificate for `sans`, PEM (cert, key).
    pub fn issue_server(&self, sans: &[&str]) -> (String, String) {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("ring keygen");
        let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
        let mut params = Self::leaf_params("flotilla master", &sans, Duration::from_secs(86_400));
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params.signed_by(&key, &self.issuer).expect("sign server");
        (cert.pem(), key.serialize_pem())
    }

    /// A client certificate whose common name is `role` (`node:pi-2`, `admin`), PEM (cert, key).
    pub fn issue_client(&self, role: &str, validity: Duration) -> (String, String) {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("ring keygen");
        let mut params = Self::leaf_params(role, &[], validity);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&key, &self.issuer).expect("sign client");
        (cert.pem(), key.serialize_pem())
    }

    /// Signs a CSR as a client certificate for `role`, ignoring the names it asks for.
    pub fn sign_csr(
        &self,
        csr_pem: &str,
        role: &str,
        validity: Duration,
    ) -> Result<String, BackendError> {
        let mut csr = rcgen::CertificateSigningRequestParams::from_pem(csr_pem)
            .map_err(rcgen_error("parse the CSR"))?;
        csr.params = Self::leaf_params(role, &[], validity);
        csr.params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        Ok(csr
            .signed_by(&self.issuer)
            .map_err(rcgen_error("sign the CSR"))?
            .pem())
    }
}

impl Default for TestCa {
    fn default() -> TestCa {
        TestCa::new()
    }
}

/// The role in a certificate issued by [`TestCa`]: its common name.
pub fn test_role_of(cert_der: &[u8]) -> Option<crate::pki::Role> {
    use crate::pki::Role;
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der).ok()?;
    let cn = cert.subject().iter_common_name().next()?.as_str().ok()?;
    match cn.split_once(':') {
        Some(("node", name)) => Some(Role::Node(name.to_string())),
        Some(("master", id)) => Some(Role::Master(id.to_string())),
        _ if cn == "admin" => Some(Role::Admin),
        _ => None,
    }
}

/// A join token as the memory backend keeps it.
#[derive(Debug, Clone)]
pub struct MemoryToken {
    pub secret: String,
    pub expires: SystemTime,
    pub revoked: bool,
    pub uses: u32,
}

/// Objects and tokens in maps. Cheap to share behind an `Arc`.
#[derive(Default)]
pub struct MemoryBackend {
    pub ca: TestCa,
    pub nodes: Mutex<BTreeMap<String, Object>>,
    pub pods: Mutex<BTreeMap<PodKey, Object>>,
    pub config_maps: Mutex<BTreeMap<PodKey, Object>>,
    pub secrets: Mutex<BTreeMap<PodKey, Object>>,
    pub tokens: Mutex<BTreeMap<String, MemoryToken>>,
    /// Durable writes so far (node puts, status batches, pod deletes).
    pub writes: AtomicU64,
}

impl MemoryBackend {
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
        self.ca.cert_pem().to_string()
    }

    fn sign_node_csr(
        &self,
        csr_pem: &str,
        node: &NodeName,
        validity: Duration,
    ) -> Result<String, BackendError> {
        self.ca.sign_csr(csr_pem, &format!("node:{node}"), validity)
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
