//! The REST API over real TLS: optimistic concurrency, merge patch, watches (resume and 410),
//! body limits, content types and the system endpoints.
use bytes::Bytes;
use hyper::Method;
use serde_json::{json, Value};

use flotilla::cli::client::{with_query, Client, ClientError, JSON, MERGE_PATCH};
use flotilla::master::codec::{Envelope, POSTCARD};

use super::harness::Master;

const CONFIG_MAPS: &str = "/api/v1/namespaces/default/configmaps";

fn config_map(name: &str, value: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": value}})
}

fn status_of(error: ClientError) -> (u16, String, String) {
    match error {
        ClientError::Status(status) => (status.code, status.reason, status.message),
        other => panic!("expected a Status, got {other}"),
    }
}

async fn create(client: &Client, name: &str) -> Value {
    client
        .send_json(Method::POST, CONFIG_MAPS, JSON, &config_map(name, "1"))
        .await
        .unwrap()
        .0
}

#[tokio::test]
async fn an_update_with_a_stale_resource_version_is_a_conflict() {
    let master = Master::start();
    let client = master.admin_client();
    let created = create(&client, "a").await;
    let path = format!("{CONFIG_MAPS}/a");

    let mut first = created.clone();
    first["data"]["k"] = json!("2");
    let (updated, _) = client
        .send_json(Method::PUT, &path, JSON, &first)
        .await
        .unwrap();
    assert_ne!(
        updated["metadata"]["resourceVersion"],
        created["metadata"]["resourceVersion"]
    );

    let mut stale = created.clone();
    stale["data"]["k"] = json!("3");
    let error = client
        .send_json(Method::PUT, &path, JSON, &stale)
        .await
        .unwrap_err();
    let (code, reason, message) = status_of(error);
    assert_eq!((code, reason.as_str()), (409, "Conflict"));
    assert!(message.contains("configmaps \"a\""), "{message}");
    let now = client.get_json(&path).await.unwrap();
    assert_eq!(now["data"]["k"], "2");
}

#[tokio::test]
async fn merge_patch_changes_only_what_it_names() {
    let master = Master::start();
    let client = master.admin_client();
    create(&client, "a").await;
    let patch = json!({"data": {"extra": "x"}, "metadata": {"labels": {"l": "v"}}});
    let (patched, _) = client
        .send_json(
            Method::PATCH,
            &format!("{CONFIG_MAPS}/a"),
            MERGE_PATCH,
            &patch,
        )
        .await
        .unwrap();
    assert_eq!(patched["data"], json!({"k": "1", "extra": "x"}));
    assert_eq!(patched["metadata"]["labels"], json!({"l": "v"}));
    let error = client
        .send_json(
            Method::PATCH,
            &format!("{CONFIG_MAPS}/missing"),
            MERGE_PATCH,
            &patch,
        )
        .await
        .unwrap_err();
    assert_eq!(status_of(error).0, 404);
}

#[tokio::test]
async fn a_create_that_exists_is_already_exists_and_lists_carry_a_version() {
    let master = Master::start();
    let client = master.admin_client();
    create(&client, "a").await;
    let error = client
        .send_json(Method::POST, CONFIG_MAPS, JSON, &config_map("a", "1"))
        .await
        .unwrap_err();
    assert_eq!(status_of(error).1, "AlreadyExists");
    let list = client.get_json(CONFIG_MAPS).await.unwrap();
    assert_eq!(list["kind"], "ConfigMapList");
    assert_eq!(list["apiVersion"], "v1");
    assert!(list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse::<u64>()
        .is_ok());
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn watches_resume_from_a_resource_version() {
    let master = Master::start();
    let client = master.admin_client();
    let a = create(&client, "a").await;
    let after_a = a["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    create(&client, "b").await;
    client
        .request(Method::DELETE, &format!("{CONFIG_MAPS}/a"), None)
        .await
        .unwrap();

    let watcher = master.admin_client();
    let path = with_query(
        CONFIG_MAPS,
        &[("watch", "true"), ("resourceVersion", &after_a)],
    );
    let mut stream = watcher.watch(&path).await.unwrap();
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(
        (
            first.event_type.as_str(),
            first.object["metadata"]["name"].as_str()
        ),
        ("ADDED", Some("b"))
    );
    let second = stream.next().await.unwrap().unwrap();
    assert_eq!(
        (
            second.event_type.as_str(),
            second.object["metadata"]["name"].as_str()
        ),
        ("DELETED", Some("a"))
    );

    create(&client, "c").await;
    let third = stream.next().await.unwrap().unwrap();
    assert_eq!(
        (
            third.event_type.as_str(),
            third.object["metadata"]["name"].as_str()
        ),
        ("ADDED", Some("c"))
    );
}

#[tokio::test]
async fn a_watch_without_a_version_starts_with_the_current_objects() {
    let master = Master::start();
    let client = master.admin_client();
    create(&client, "a").await;
    let watcher = master.admin_client();
    let path = with_query(CONFIG_MAPS, &[("watch", "true"), ("labelSelector", "x!=y")]);
    let mut stream = watcher.watch(&path).await.unwrap();
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(first.event_type, "ADDED");
    let patch = json!({"data": {"k": "2"}});
    client
        .send_json(
            Method::PATCH,
            &format!("{CONFIG_MAPS}/a"),
            MERGE_PATCH,
            &patch,
        )
        .await
        .unwrap();
    let second = stream.next().await.unwrap().unwrap();
    assert_eq!(second.event_type, "MODIFIED");
    assert_eq!(second.object["data"]["k"], "2");
    // Leaving the selector reads as a deletion for this watcher.
    let patch = json!({"metadata": {"labels": {"x": "y"}}});
    client
        .send_json(
            Method::PATCH,
            &format!("{CONFIG_MAPS}/a"),
            MERGE_PATCH,
            &patch,
        )
        .await
        .unwrap();
    let third = stream.next().await.unwrap().unwrap();
    assert_eq!(third.event_type, "DELETED");
}

#[tokio::test]
async fn a_watch_from_forgotten_history_is_gone() {
    let mut master = Master::start();
    let client = master.admin_client();
    let a = create(&client, "a").await;
    let old = a["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    create(&client, "b").await;
    drop(client);
    // History lives in memory: after a restart, older revisions are gone.
    master.restart();
    let client = master.admin_client();
    let path = with_query(CONFIG_MAPS, &[("watch", "true"), ("resourceVersion", &old)]);
    let error = client.watch(&path).await.err().expect("410 Gone");
    let (code, reason, message) = status_of(error);
    assert_eq!((code, reason.as_str()), (410, "Gone"));
    assert!(message.starts_with("too old resource version"), "{message}");
}

#[tokio::test]
async fn a_body_over_four_mebibytes_is_refused_with_413() {
    let master = Master::start();
    let client = master.admin_client();
    let mut big = config_map("big", "");
    big["data"]["k"] = json!("x".repeat(5 * 1024 * 1024));
    let body = Bytes::from(serde_json::to_vec(&big).unwrap());
    let error = client
        .request(Method::POST, CONFIG_MAPS, Some((JSON, body)))
        .await
        .unwrap_err();
    let (code, reason, _) = status_of(error);
    assert_eq!((code, reason.as_str()), (413, "RequestEntityTooLarge"));
    // The connection is still good for the next request.
    assert!(master.admin_client().get_json(CONFIG_MAPS).await.is_ok());
}

#[tokio::test]
async fn postcard_is_accepted_and_produced() {
    let master = Master::start();
    let client = master.admin_client();
    let envelope = Envelope {
        version: 1,
        json: serde_json::to_vec(&config_map("pc", "1")).unwrap(),
    };
    let body = Bytes::from(postcard::to_stdvec(&envelope).unwrap());
    let response = client
        .send_accepting(Method::POST, CONFIG_MAPS, Some((POSTCARD, body)), POSTCARD)
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["content-type"], POSTCARD);
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let envelope: Envelope = postcard::from_bytes(&bytes).unwrap();
    let object: Value = serde_json::from_slice(&envelope.json).unwrap();
    assert_eq!(object["metadata"]["name"], "pc");
}

#[tokio::test]
async fn system_endpoints_answer() {
    let master = Master::start();
    let client = master.admin_client();
    for path in ["/healthz", "/readyz"] {
        let response = client.request(Method::GET, path, None).await.unwrap();
        assert_eq!(&response.body[..], b"ok");
    }
    let version = client.get_json("/version").await.unwrap();
    assert_eq!(
        version["gitVersion"],
        format!("v{}", env!("CARGO_PKG_VERSION"))
    );
    assert!(version["platform"].as_str().unwrap().starts_with("linux/"));
    create(&client, "a").await;
    let metrics = client.request(Method::GET, "/metrics", None).await.unwrap();
    let text = String::from_utf8_lossy(&metrics.body);
    assert!(
        text.contains("flotilla_apiserver_requests_total{verb=\"create\",code=\"201\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("flotilla_apiserver_objects{kind=\"ConfigMap\"} 1"),
        "{text}"
    );
    assert!(text.contains("flotilla_apiserver_watchers 0"), "{text}");
}

#[tokio::test]
async fn errors_are_kubernetes_status_objects() {
    let master = Master::start();
    let client = master.admin_client();
    let response = client
        .send(Method::GET, "/api/v1/namespaces/default/pods/nope", None)
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let status: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        status,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": "pods \"nope\" not found", "reason": "NotFound",
               "details": {"name": "nope", "kind": "pods"}, "code": 404})
    );
    let error = client.get_json("/api/v1/widgets").await.unwrap_err();
    assert_eq!(status_of(error).0, 404);
    let error = client
        .send_json(
            Method::POST,
            "/api/v1/namespaces/default/pods",
            JSON,
            &config_map("x", "1"),
        )
        .await
        .unwrap_err();
    assert_eq!(status_of(error).0, 400);
}

#[tokio::test]
async fn http2_is_served_on_the_same_port() {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let master = Master::start();
    let admin = master.admin_credential();
    let mut config =
        (*flotilla::pki::client_config(&admin.ca, &admin.cert, &admin.key).unwrap()).clone();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(master.address())
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(connection);
    let request = hyper::Request::builder()
        .uri(format!("{}/api/v1/namespaces", master.url()))
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), hyper::Version::HTTP_2);
}

#[tokio::test]
async fn sigterm_stops_the_master_cleanly_while_a_watch_is_open() {
    let mut master = Master::start();
    let watcher = master.admin_client();
    let path = with_query(CONFIG_MAPS, &[("watch", "true")]);
    let mut stream = watcher.watch(&path).await.unwrap();
    assert!(
        master.stop(),
        "the master did not exit cleanly:\n{}",
        master.log()
    );
    assert!(
        stream.next().await.is_none(),
        "the watch outlived the master"
    );
    assert!(
        master.log().contains("API server stopped"),
        "{}",
        master.log()
    );
}
