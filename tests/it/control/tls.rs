//! Identity at the door: only certificates from the cluster CA get in, roles limit what they
//! may do, and `edgectl` says plainly why it could not talk to a master.
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Empty;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use serde_json::{json, Value};

use flotilla::cli::client::{Client, ClientError, JSON, MERGE_PATCH};
use flotilla::pki::{self, Credential, Pki, Role};

use super::harness::{edgectl, fails, free_port, Master};

/// GET /healthz with a raw TLS configuration: the HTTP status, or why there was none.
async fn healthz(master: &Master, config: Arc<rustls::ClientConfig>) -> Result<u16, String> {
    let tcp = tokio::net::TcpStream::connect(master.address())
        .await
        .map_err(|e| e.to_string())?;
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let request = Request::builder()
        .method(Method::GET)
        .uri("/healthz")
        .header("host", "127.0.0.1")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("request: {e}"))?;
    Ok(response.status().as_u16())
}

#[tokio::test]
async fn only_certificates_from_the_cluster_ca_get_in() {
    let master = Master::start();
    let ca = master.pki().ca_pem().to_string();

    let admin = master.admin_credential();
    let good = pki::client_config(&admin.ca, &admin.cert, &admin.key).unwrap();
    assert_eq!(healthz(&master, good).await, Ok(200));

    // Joining agents have no certificate yet, so the handshake lets them in; every route but
    // the agent protocol's CA and join answers 401.
    let anonymous = pki::client_config_ca_only(&ca).unwrap();
    let refused = healthz(&master, anonymous).await;
    assert_eq!(
        refused,
        Ok(401),
        "a client without a certificate was served"
    );

    let other_dir = tempfile::tempdir().unwrap();
    let other = Pki::load_or_create(other_dir.path(), &[]).unwrap();
    let (cert, key) = other
        .issue_client(&Role::Admin, Duration::from_secs(3600))
        .unwrap();
    let impostor = pki::client_config(&ca, &cert, &key).unwrap();
    let refused = healthz(&master, impostor).await;
    assert!(
        refused.is_err(),
        "another CA's certificate was served: {refused:?}"
    );
}

fn forbidden(result: Result<impl std::fmt::Debug, ClientError>) -> String {
    match result {
        Err(ClientError::Status(status)) if status.code == 403 => status.message,
        other => panic!("expected 403 Forbidden, got {other:?}"),
    }
}

fn node(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
           "status": {"conditions": [{"type": "Ready", "status": "True"}]}})
}

fn pod(name: &str, node: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
           "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]}})
}

#[tokio::test]
async fn a_node_certificate_reaches_only_its_own_objects() {
    let master = Master::start();
    let admin = master.admin_client();
    for name in ["pi-1", "pi-2"] {
        admin
            .send_json(Method::POST, "/api/v1/nodes", JSON, &node(name))
            .await
            .unwrap();
    }
    let pods = "/api/v1/namespaces/default/pods";
    for (name, node) in [("mine", "pi-1"), ("theirs", "pi-2")] {
        admin
            .send_json(Method::POST, pods, JSON, &pod(name, node))
            .await
            .unwrap();
    }
    let agent = Client::new(&master.credential_for(&Role::Node("pi-1".into())), None).unwrap();

    assert!(agent.get_json("/api/v1/nodes/pi-1").await.is_ok());
    let message = forbidden(agent.get_json("/api/v1/nodes/pi-2").await);
    assert_eq!(
        message,
        "nodes \"pi-2\" is forbidden: User \"node:pi-1\" cannot get resource \"nodes\" in API group \"\" at the cluster scope"
    );
    let status = json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}});
    assert!(agent
        .send_json(
            Method::PATCH,
            "/api/v1/nodes/pi-1/status",
            MERGE_PATCH,
            &status
        )
        .await
        .is_ok());
    forbidden(
        agent
            .send_json(
                Method::PATCH,
                "/api/v1/nodes/pi-2/status",
                MERGE_PATCH,
                &status,
            )
            .await,
    );
    forbidden(
        agent
            .send_json(Method::POST, "/api/v1/nodes", JSON, &node("pi-3"))
            .await,
    );

    assert!(agent.get_json(&format!("{pods}/mine")).await.is_ok());
    forbidden(agent.get_json(&format!("{pods}/theirs")).await);
    forbidden(agent.get_json("/api/v1/pods").await);
    let own = agent
        .get_json("/api/v1/pods?fieldSelector=spec.nodeName%3Dpi-1")
        .await
        .unwrap();
    assert_eq!(own["items"].as_array().unwrap().len(), 1);
    let running = json!({"status": {"phase": "Running"}});
    assert!(agent
        .send_json(
            Method::PATCH,
            &format!("{pods}/mine/status"),
            MERGE_PATCH,
            &running
        )
        .await
        .is_ok());
    forbidden(
        agent
            .send_json(
                Method::PATCH,
                &format!("{pods}/theirs/status"),
                MERGE_PATCH,
                &running,
            )
            .await,
    );
    forbidden(
        agent
            .send_json(
                Method::PATCH,
                &format!("{pods}/mine"),
                MERGE_PATCH,
                &running,
            )
            .await,
    );
    forbidden(
        agent
            .request(Method::DELETE, &format!("{pods}/mine"), None)
            .await,
    );

    assert!(agent
        .get_json("/api/v1/namespaces/default/configmaps")
        .await
        .is_ok());
    let event = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e1"},
        "involvedObject": {"kind": "Pod", "name": "mine", "namespace": "default"},
        "reason": "Started", "type": "Normal", "message": "started"});
    assert!(agent
        .send_json(
            Method::POST,
            "/api/v1/namespaces/default/events",
            JSON,
            &event
        )
        .await
        .is_ok());
    forbidden(agent.get_json("/apis/apps/v1/deployments").await);
    forbidden(
        agent
            .send_json(
                Method::POST,
                "/apis/flotilla.dev/v1/apply",
                JSON,
                &json!([]),
            )
            .await,
    );
    forbidden(agent.get_json("/apis/flotilla.dev/v1/tokens").await);

    let phase = admin.get_json(&format!("{pods}/mine")).await.unwrap();
    assert_eq!(phase["status"]["phase"], "Running");
}

#[test]
fn edgectl_names_an_unreachable_master() {
    let master = Master::start();
    let url = format!("https://127.0.0.1:{}", free_port());
    let stderr = fails(edgectl(
        &master.admin_conf(),
        &["--server", &url, "get", "pods"],
        None,
    ));
    assert_eq!(
        stderr,
        format!("error: cannot reach the master at {url}: connection refused\n")
    );
}

#[test]
fn edgectl_refuses_a_master_of_another_cluster() {
    let ours = Master::start();
    let theirs = Master::start();
    let stderr = fails(edgectl(
        &ours.admin_conf(),
        &["--server", &theirs.url(), "get", "pods"],
        None,
    ));
    assert_eq!(
        stderr,
        format!(
            "error: the master at {} presented a certificate that is not signed by the credential's CA (is this credential for another cluster?)\n",
            theirs.url()
        )
    );
}

#[test]
fn edgectl_refuses_an_expired_credential_before_connecting() {
    let master = Master::start();
    let (cert, key) = master
        .pki()
        .issue_client(&Role::Admin, Duration::from_secs(1))
        .unwrap();
    let credential = Credential {
        server: master.url(),
        ca: master.pki().ca_pem().to_string(),
        cert,
        key,
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("expired.conf");
    credential.save(&path).unwrap();
    // Let the one-second certificate run out.
    std::thread::sleep(Duration::from_secs(2));
    let stderr = fails(edgectl(&path, &["get", "pods"], None));
    assert!(
        stderr.starts_with("error: the credential expired at "),
        "{stderr}"
    );
    assert!(
        stderr.ends_with("; ask an administrator for a new one\n"),
        "{stderr}"
    );
}
