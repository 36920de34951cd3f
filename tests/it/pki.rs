//! mTLS between real sockets on 127.0.0.1 with the cluster's certificates: who gets in, who is
//! refused, and what the server learns about the client.
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use flotilla::pki::{self, ClientAuth, Pki, Role};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::{TlsAcceptor, TlsConnector};

const DAY: Duration = Duration::from_secs(24 * 3600);
/// Generous bound so that a hung handshake fails the test instead of hanging it.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);

/// What the server saw on its one connection: the client's role (`None` without a
/// certificate) and the negotiated ALPN protocol, or the handshake error.
type Seen = Result<(Option<Role>, Option<Vec<u8>>), String>;

/// Accepts one TLS connection, replies with the client's role, and reports what it saw.
async fn serve_once(config: Arc<rustls::ServerConfig>) -> (SocketAddr, JoinHandle<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.map_err(|e| e.to_string())?;
        let mut tls = TlsAcceptor::from(config)
            .accept(tcp)
            .await
            .map_err(|e| e.to_string())?;
        let (_, connection) = tls.get_ref();
        let role = match connection.peer_certificates() {
            Some([cert, ..]) => Some(pki::role_of(cert).map_err(|e| e.to_string())?),
            _ => None,
        };
        let alpn = connection.alpn_protocol().map(<[u8]>::to_vec);
        let answer = role.as_ref().map_or("anonymous".to_string(), Role::uri);
        tls.write_all(answer.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        tls.shutdown().await.map_err(|e| e.to_string())?;
        Ok((role, alpn))
    });
    (addr, task)
}

/// Connects to `addr` as `name` and returns the server's answer, or the error that ended the
/// exchange (handshake, or the alert a server sends after a TLS 1.3 client finished).
async fn ask(
    config: Arc<rustls::ClientConfig>,
    addr: SocketAddr,
    name: &str,
) -> Result<String, String> {
    let exchange = async {
        let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let name = ServerName::try_from(name.to_string()).map_err(|e| e.to_string())?;
        let mut tls = TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| e.to_string())?;
        let mut answer = String::new();
        tls.read_to_string(&mut answer)
            .await
            .map_err(|e| e.to_string())?;
        if answer.is_empty() {
            return Err("closed without an answer".to_string());
        }
        Ok(answer)
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, exchange)
        .await
        .map_err(|_| "timed out".to_string())?
}

async fn seen(task: JoinHandle<Seen>) -> Seen {
    tokio::time::timeout(HANDSHAKE_TIMEOUT, task)
        .await
        .expect("the server finishes")
        .expect("the server task does not panic")
}

fn cluster(dir: &tempfile::TempDir) -> Pki {
    Pki::load_or_create(dir.path(), &["pi-1".into()]).unwrap()
}

fn admin_client(pki: &Pki) -> Arc<rustls::ClientConfig> {
    let (cert, key) = pki.issue_client(&Role::Admin, DAY).unwrap();
    pki::client_config(pki.ca_pem(), &cert, &key).unwrap()
}

#[tokio::test]
async fn an_admin_certificate_from_the_cluster_ca_gets_in_with_its_role() {
    let dir = tempfile::tempdir().unwrap();
    let pki = cluster(&dir);
    let (addr, server) = serve_once(pki.server_config().unwrap()).await;
    assert_eq!(
        ask(admin_client(&pki), addr, "localhost").await,
        Ok("flotilla:admin".into())
    );
    assert_eq!(seen(server).await.unwrap().0, Some(Role::Admin));
}

#[tokio::test]
async fn a_node_certificate_from_a_signed_csr_gets_in_by_ip_address() {
    let dir = tempfile::tempdir().unwrap();
    let pki = cluster(&dir);
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let csr = rcgen::CertificateParams::default()
        .serialize_request(&key)
        .unwrap()
        .pem()
        .unwrap();
    let cert = pki
        .sign_csr(&csr, &Role::Node("pi-2".into()), 30 * DAY)
        .unwrap();
    let client = pki::client_config(pki.ca_pem(), &cert, &key.serialize_pem()).unwrap();
    let (addr, server) = serve_once(pki.server_config().unwrap()).await;
    assert_eq!(
        ask(client, addr, "127.0.0.1").await,
        Ok("flotilla:node:pi-2".into())
    );
    assert_eq!(
        seen(server).await.unwrap().0,
        Some(Role::Node("pi-2".into()))
    );
}

#[tokio::test]
async fn the_server_offers_http2_and_http1_by_alpn() {
    let dir = tempfile::tempdir().unwrap();
    let pki = cluster(&dir);
    let mut client = Arc::unwrap_or_clone(admin_client(&pki));
    client.alpn_protocols = vec![b"h2".to_vec()];
    let (addr, server) = serve_once(pki.server_config().unwrap()).await;
    ask(Arc::new(client), addr, "pi-1").await.unwrap();
    assert_eq!(seen(server).await.unwrap().1, Some(b"h2".to_vec()));
}

#[tokio::test]
async fn a_client_without_a_certificate_fails_the_handshake() {
    let dir = tempfile::tempdir().unwrap();
    let pki = cluster(&dir);
    let (addr, server) = serve_once(pki.server_config().unwrap()).await;
    let client = pki::client_config_ca_only(pki.ca_pem()).unwrap();
    let answer = ask(client, addr, "localhost").await;
    assert!(answer.is_err(), "{answer:?}");
    let refused = seen(server).await.unwrap_err();
    assert!(refused.contains("certificate"), "{refused}");
}

#[tokio::test]
async fn a_client_certificate_from_another_ca_fails_the_handshake() {
    let (ours, theirs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (pki, other) = (cluster(&ours), cluster(&theirs));
    let (cert, key) = other.issue_client(&Role::Admin, DAY).unwrap();
    // The client trusts our CA, so only the server's check of the client can fail.
    let client = pki::client_config(pki.ca_pem(), &cert, &key).unwrap();
    let (addr, server) = serve_once(pki.server_config().unwrap()).await;
    let answer = ask(client, addr, "localhost").await;
    assert!(answer.is_err(), "{answer:?}");
    let refused = seen(server).await.unwrap_err();
    assert!(refused.contains("UnknownIssuer"), "{refused}");
}

#[tokio::test]
async fn a_client_refuses_a_server_from_another_ca() {
    let (ours, theirs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (pki, other) = (cluster(&ours), cluster(&theirs));
    let (addr, server) = serve_once(other.server_config().unwrap()).await;
    let refused = ask(admin_client(&pki), addr, "localhost")
        .await
        .unwrap_err();
    assert!(refused.contains("UnknownIssuer"), "{refused}");
    assert!(seen(server).await.is_err());
}

#[tokio::test]
async fn a_client_refuses_a_server_certificate_for_another_name() {
    let dir = tempfile::tempdir().unwrap();
    let pki = cluster(&dir);
    let (addr, server) = serve_once(pki.server_config().unwrap()).await;
    let refused = ask(admin_client(&pki), addr, "pi-9").await.unwrap_err();
    assert!(refused.contains("not valid for name \"pi-9\""), "{refused}");
    assert!(seen(server).await.is_err());
}

#[tokio::test]
async fn a_joining_agent_reaches_the_server_whose_ca_matches_its_pin() {
    let dir = tempfile::tempdir().unwrap();
    let pki = cluster(&dir);
    let (addr, server) = serve_once(pki.server_config_with(ClientAuth::Optional).unwrap()).await;
    let client = pki::client_config_pinned(&pki.ca_pin()).unwrap();
    assert_eq!(ask(client, addr, "localhost").await, Ok("anonymous".into()));
    assert_eq!(seen(server).await.unwrap().0, None);
}

#[tokio::test]
async fn a_joining_agent_refuses_a_server_whose_ca_does_not_match_its_pin() {
    let (ours, theirs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (pki, impostor) = (cluster(&ours), cluster(&theirs));
    let (addr, server) =
        serve_once(impostor.server_config_with(ClientAuth::Optional).unwrap()).await;
    let client = pki::client_config_pinned(&pki.ca_pin()).unwrap();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let refused = tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        TlsConnector::from(client).connect(name, tcp),
    )
    .await
    .unwrap()
    .expect_err("the handshake fails");
    let mismatch = pki::PinMismatch::find(&refused).expect("a pin mismatch");
    assert_eq!(mismatch.expected, pki.ca_pin());
    assert_eq!(mismatch.found, impostor.ca_pin());
    assert!(mismatch
        .to_string()
        .contains("does not match the join token's CA pin"));
    assert!(seen(server).await.is_err());
}

#[tokio::test]
async fn optional_client_authentication_still_refuses_a_foreign_certificate() {
    let (ours, theirs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (pki, other) = (cluster(&ours), cluster(&theirs));
    let (cert, key) = other.issue_client(&Role::Admin, DAY).unwrap();
    let client = pki::client_config(pki.ca_pem(), &cert, &key).unwrap();
    let (addr, server) = serve_once(pki.server_config_with(ClientAuth::Optional).unwrap()).await;
    assert!(ask(client, addr, "localhost").await.is_err());
    assert!(seen(server).await.is_err());
}

#[test]
fn the_pin_in_a_token_matches_the_ca_a_joining_agent_downloads() {
    let dir = tempfile::tempdir().unwrap();
    let pki = cluster(&dir);
    let downloaded = std::fs::read_to_string(dir.path().join("ca.crt")).unwrap();
    assert_eq!(pki::ca_pin_of_pem(&downloaded).unwrap(), pki.ca_pin());
    let token = pki::JoinToken::generate(&pki.ca_pin(), &ring::rand::SystemRandom::new()).unwrap();
    let parsed = pki::JoinToken::parse(&token.to_string()).unwrap();
    assert_eq!(parsed.ca_pin(), pki::ca_pin_of_pem(&downloaded).unwrap());
}
