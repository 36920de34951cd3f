//! The real master link: postcard messages over HTTP/1.1 over TLS (tokio-rustls, ring, the
//! client configurations of `pki`), one
//! kept-alive connection per kind of call (heartbeats, the long-poll and status reports never
//! wait behind each other), re-established after any failure. The client configuration can be
//! replaced after a certificate renewal.
use std::net::IpAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::master::nodes::http::{POSTCARD, PREFIX};
use crate::pki;
use crate::wire::{
    self, limits, Epoch, Generation, Heartbeat, HeartbeatAck, JoinRequest, JoinResponse, Message,
    NodeName, PodStatusReport, RenewRequest, RequestId, StatusAck, TunnelRequests, WireError,
};

use super::link::{JoinLink, LinkError, MasterLink, PollAnswer};
use super::requests::TunnelLink;

/// Longest wait for a TCP connection and TLS handshake.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Longest wait for the answer to a heartbeat or a status report: past it the master counts as
/// unreachable for this call and the connection is dropped (a paused master must not stall the
/// agent).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(3);

/// Extra time a long-poll may take beyond its own wait.
pub const POLL_SLACK: Duration = Duration::from_secs(5);

/// Where the master listens, parsed from `https://host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterAddress {
    pub url: String,
    pub host: String,
    pub port: u16,
}

/// The default API port.
pub const MASTER_PORT_DEFAULT: u16 = 7443;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("master URL {url:?} is not https://HOST[:PORT]")]
pub struct AddressError {
    pub url: String,
}

impl std::str::FromStr for MasterAddress {
    type Err = AddressError;
    fn from_str(url: &str) -> Result<MasterAddress, AddressError> {
        let err = || AddressError {
            url: url.to_string(),
        };
        let rest = url.strip_prefix("https://").ok_or_else(err)?;
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains('/') {
            return Err(err());
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(err)?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| err())?,
                None if after.is_empty() => MASTER_PORT_DEFAULT,
                None => return Err(err()),
            };
            (host.to_string(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), p.parse().map_err(|_| err())?),
                None => (authority.to_string(), MASTER_PORT_DEFAULT),
            }
        };
        Ok(MasterAddress {
            url: url.trim_end_matches('/').to_string(),
            host,
            port,
        })
    }
}

impl MasterAddress {
    fn server_name(&self) -> Result<ServerName<'static>, LinkError> {
        match self.host.parse::<IpAddr>() {
            Ok(ip) => Ok(ServerName::IpAddress(ip.into())),
            Err(_) => ServerName::try_from(self.host.clone()).map_err(|e| LinkError::Protocol {
                master: self.url.clone(),
                message: format!("bad server name: {e}"),
            }),
        }
    }

    fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

type Sender = SendRequest<Full<Bytes>>;

/// One kept-alive connection, opened on first use and after a failure.
#[derive(Default)]
struct Connection(Mutex<Option<Sender>>);

/// One request: what to send and how long and large the answer may be.
struct Call<'a> {
    method: Method,
    path_and_query: &'a str,
    body: Vec<u8>,
    limit_bytes: usize,
    timeout: Duration,
}

/// Sends one request on a fresh or kept-alive connection and reads the answer.
async fn exchange(
    address: &MasterAddress,
    config: Arc<ClientConfig>,
    slot: &Connection,
    call: Call<'_>,
) -> Result<(u16, Bytes), LinkError> {
    let Call {
        method,
        path_and_query,
        body,
        limit_bytes,
        timeout,
    } = call;
    let unreachable = |message: String| LinkError::Unreachable {
        master: address.url.clone(),
        message,
    };
    let kept = slot.0.lock().unwrap_or_else(|p| p.into_inner()).take();
    let mut sender = match kept {
        Some(s) if !s.is_closed() => s,
        _ => tokio::time::timeout(CONNECT_TIMEOUT, connect(address, config))
            .await
            .map_err(|_| unreachable(format!("no connection within {CONNECT_TIMEOUT:?}")))??,
    };
    let request = Request::builder()
        .method(method)
        .uri(path_and_query)
        .header(hyper::header::HOST, address.authority())
        .header(hyper::header::CONTENT_TYPE, POSTCARD)
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| unreachable(e.to_string()))?;
    let round_trip = async {
        sender
            .ready()
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let status = response.status().as_u16();
        let body = Limited::new(response.into_body(), limit_bytes)
            .collect()
            .await
            .map_err(|e| unreachable(format!("reading the answer: {e}")))?
            .to_bytes();
        Ok::<_, LinkError>((status, body))
    };
    let answer = tokio::time::timeout(timeout, round_trip)
        .await
        .map_err(|_| unreachable(format!("no answer within {timeout:?}")))??;
    // Only a connection that completed an exchange is kept: one that failed or timed out may
    // hold a half-read answer.
    *slot.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(sender);
    Ok(answer)
}

async fn connect<B>(
    address: &MasterAddress,
    config: Arc<ClientConfig>,
) -> Result<SendRequest<B>, LinkError>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let unreachable = |message: String| LinkError::Unreachable {
        master: address.url.clone(),
        message,
    };
    let tcp = TcpStream::connect((address.host.as_str(), address.port))
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    // Heartbeats are tiny: do not let Nagle hold them back.
    let _ = tcp.set_nodelay(true);
    let tls = match TlsConnector::from(config)
        .connect(address.server_name()?, tcp)
        .await
    {
        Ok(tls) => tls,
        Err(e) => {
            return Err(match pki::PinMismatch::find(&e) {
                Some(mismatch) => LinkError::PinMismatch {
                    master: address.url.clone(),
                    expected: mismatch.expected.clone(),
                    found: mismatch.found.clone(),
                },
                None => unreachable(format!("TLS: {e}")),
            })
        }
    };
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    tokio::spawn(async move {
        // Ends when the sender is dropped or the master closes the connection.
        let _ = connection.await;
    });
    Ok(sender)
}

/// Decodes an answer; a refusal becomes `LinkError::Refused`.
fn decode_answer(
    address: &MasterAddress,
    status: u16,
    body: &[u8],
    limit: usize,
) -> Result<Message, LinkError> {
    let protocol = |message: String| LinkError::Protocol {
        master: address.url.clone(),
        message,
    };
    let message = wire::decode(body, limit).map_err(|e| {
        protocol(format!(
            "HTTP {status}, body not a protocol message ({e}): {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        ))
    })?;
    match message {
        Message::Refusal(refusal) => Err(LinkError::Refused(refusal)),
        other => Ok(other),
    }
}

/// A joined agent's link to its master.
pub struct HttpsLink {
    address: MasterAddress,
    config: RwLock<Arc<ClientConfig>>,
    heartbeats: Connection,
    polls: Connection,
    reports: Connection,
    /// The reverse tunnel's requests long-poll.
    tunnel_polls: Connection,
}

impl HttpsLink {
    pub fn new(address: MasterAddress, config: Arc<ClientConfig>) -> HttpsLink {
        HttpsLink {
            address,
            config: RwLock::new(config),
            heartbeats: Connection::default(),
            polls: Connection::default(),
            reports: Connection::default(),
            tunnel_polls: Connection::default(),
        }
    }

    /// Uses a new client configuration (after a renewal) for connections opened from now on.
    pub fn set_config(&self, config: Arc<ClientConfig>) {
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = config;
    }

    fn config(&self) -> Arc<ClientConfig> {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    async fn call_message(
        &self,
        slot: &Connection,
        method: Method,
        path: String,
        message: Option<Message>,
        answer_limit: usize,
        timeout: Duration,
    ) -> Result<Message, LinkError> {
        let body = match message {
            None => Vec::new(),
            Some(message) => wire::encode(&message).map_err(|e| LinkError::Protocol {
                master: self.address.url.clone(),
                message: e.to_string(),
            })?,
        };
        let call = Call {
            method,
            path_and_query: &path,
            body,
            limit_bytes: answer_limit,
            timeout,
        };
        let (status, bytes) = exchange(&self.address, self.config(), slot, call).await?;
        decode_answer(&self.address, status, &bytes, answer_limit)
    }

    async fn call<T>(
        &self,
        slot: &Connection,
        path: String,
        message: Message,
        answer_limit: usize,
    ) -> Result<T, LinkError>
    where
        T: TryFrom<Message, Error = WireError>,
    {
        let answer = self
            .call_message(
                slot,
                Method::POST,
                path,
                Some(message),
                answer_limit,
                CALL_TIMEOUT,
            )
            .await?;
        T::try_from(answer).map_err(|e| LinkError::Protocol {
            master: self.address.url.clone(),
            message: e.to_string(),
        })
    }
}

impl MasterLink for HttpsLink {
    async fn heartbeat(&self, heartbeat: Heartbeat) -> Result<HeartbeatAck, LinkError> {
        let path = format!("{PREFIX}nodes/{}/heartbeat", heartbeat.node);
        self.call(
            &self.heartbeats,
            path,
            heartbeat.into(),
            limits::SMALL_MESSAGE_BYTES_MAX,
        )
        .await
    }

    async fn assignments(
        &self,
        node: &NodeName,
        after: Generation,
        epoch_seen: Epoch,
        wait: Duration,
    ) -> Result<PollAnswer, LinkError> {
        let path = format!(
            "{PREFIX}nodes/{node}/assignments?after={}&epoch={}&timeoutSeconds={}",
            after.0,
            epoch_seen.0,
            wait.as_secs()
        );
        let message = self
            .call_message(
                &self.polls,
                Method::GET,
                path,
                None,
                limits::ASSIGNMENTS_BYTES_MAX,
                wait + POLL_SLACK,
            )
            .await?;
        match message {
            Message::Assignments(set) => Ok(PollAnswer::Changed(set)),
            Message::AssignmentsUnchanged(fence) => Ok(PollAnswer::Unchanged(fence)),
            other => Err(LinkError::Protocol {
                master: self.address.url.clone(),
                message: format!("expected assignments, got {}", other.kind()),
            }),
        }
    }

    async fn pod_status(&self, report: PodStatusReport) -> Result<StatusAck, LinkError> {
        let path = format!("{PREFIX}nodes/{}/podstatus", report.node);
        self.call(
            &self.reports,
            path,
            report.into(),
            limits::SMALL_MESSAGE_BYTES_MAX,
        )
        .await
    }

    fn reload(&self, identity: &super::identity::NodeIdentity) -> Result<(), LinkError> {
        let config = pki::client_config(&identity.ca_pem, &identity.cert_pem, &identity.key_pem)
            .map_err(|e| LinkError::Protocol {
                master: self.address.url.clone(),
                message: e.to_string(),
            })?;
        self.set_config(config);
        Ok(())
    }

    async fn renew(&self, request: RenewRequest) -> Result<JoinResponse, LinkError> {
        let path = format!("{PREFIX}nodes/{}/renew", request.node);
        self.call(
            &self.reports,
            path,
            Message::RenewRequest(request),
            limits::JOIN_RESPONSE_BYTES_MAX,
        )
        .await
    }
}

/// A request body fed by the tunnel's handler, one encoded frame at a time.
struct FrameBody(tokio::sync::mpsc::Receiver<Bytes>);

impl hyper::body::Body for FrameBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|b| Ok(hyper::body::Frame::data(b))))
    }
}

impl TunnelLink for HttpsLink {
    async fn poll_requests(
        &self,
        node: &NodeName,
        wait: Duration,
    ) -> Result<TunnelRequests, LinkError> {
        let path = format!(
            "{PREFIX}nodes/{node}/requests?timeoutSeconds={}",
            wait.as_secs()
        );
        let message = self
            .call_message(
                &self.tunnel_polls,
                Method::GET,
                path,
                None,
                limits::TUNNEL_REQUESTS_BYTES_MAX,
                wait + POLL_SLACK,
            )
            .await?;
        TunnelRequests::try_from(message).map_err(|e| LinkError::Protocol {
            master: self.address.url.clone(),
            message: e.to_string(),
        })
    }

    async fn answer(
        &self,
        node: &NodeName,
        id: RequestId,
        frames: tokio::sync::mpsc::Receiver<Bytes>,
    ) -> Result<(), LinkError> {
        let unreachable = |message: String| LinkError::Unreachable {
            master: self.address.url.clone(),
            message,
        };
        // One connection per answer: a followed log may hold it for hours, and a body that
        // the master stopped reading leaves the connection unusable anyway.
        let mut sender: SendRequest<FrameBody> =
            tokio::time::timeout(CONNECT_TIMEOUT, connect(&self.address, self.config()))
                .await
                .map_err(|_| unreachable(format!("no connection within {CONNECT_TIMEOUT:?}")))??;
        let request = Request::builder()
            .method(Method::POST)
            .uri(format!("{PREFIX}nodes/{node}/requests/{id}"))
            .header(hyper::header::HOST, self.address.authority())
            .header(hyper::header::CONTENT_TYPE, POSTCARD)
            .body(FrameBody(frames))
            .map_err(|e| unreachable(e.to_string()))?;
        sender
            .ready()
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let status = response.status().as_u16();
        let body = tokio::time::timeout(
            CALL_TIMEOUT,
            Limited::new(response.into_body(), limits::SMALL_MESSAGE_BYTES_MAX).collect(),
        )
        .await
        .map_err(|_| unreachable("no answer body".to_string()))?
        .map_err(|e| unreachable(format!("reading the answer: {e}")))?
        .to_bytes();
        decode_answer(
            &self.address,
            status,
            &body,
            limits::SMALL_MESSAGE_BYTES_MAX,
        )
        .map(drop)
    }
}

/// The link an agent uses to join.
pub struct HttpsJoinLink {
    address: MasterAddress,
}

impl HttpsJoinLink {
    pub fn new(address: MasterAddress) -> HttpsJoinLink {
        HttpsJoinLink { address }
    }
}

impl JoinLink for HttpsJoinLink {
    async fn fetch_ca(&self, ca_pin: &str) -> Result<String, LinkError> {
        let pinned = pki::client_config_pinned(ca_pin).map_err(|e| LinkError::Protocol {
            master: self.address.url.clone(),
            message: e.to_string(),
        })?;
        let call = Call {
            method: Method::GET,
            path_and_query: &format!("{PREFIX}ca"),
            body: Vec::new(),
            limit_bytes: limits::JOIN_RESPONSE_BYTES_MAX,
            timeout: CALL_TIMEOUT,
        };
        let (status, body) = exchange(&self.address, pinned, &Connection::default(), call).await?;
        if status != 200 {
            return Err(LinkError::Protocol {
                master: self.address.url.clone(),
                message: format!("fetching the CA answered HTTP {status}"),
            });
        }
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    async fn join(&self, ca_pem: &str, request: JoinRequest) -> Result<JoinResponse, LinkError> {
        let config = pki::client_config_ca_only(ca_pem).map_err(|e| LinkError::Protocol {
            master: self.address.url.clone(),
            message: e.to_string(),
        })?;
        let body = wire::encode(&request.into()).map_err(|e| LinkError::Protocol {
            master: self.address.url.clone(),
            message: e.to_string(),
        })?;
        let call = Call {
            method: Method::POST,
            path_and_query: &format!("{PREFIX}join"),
            body,
            limit_bytes: limits::JOIN_RESPONSE_BYTES_MAX,
            timeout: CALL_TIMEOUT,
        };
        let (status, bytes) = exchange(&self.address, config, &Connection::default(), call).await?;
        let answer = decode_answer(
            &self.address,
            status,
            &bytes,
            limits::JOIN_RESPONSE_BYTES_MAX,
        )?;
        JoinResponse::try_from(answer).map_err(|e| LinkError::Protocol {
            master: self.address.url.clone(),
            message: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_urls_parse_with_and_without_a_port() {
        let a: MasterAddress = "https://pi-1:7443".parse().unwrap();
        assert_eq!((a.host.as_str(), a.port), ("pi-1", 7443));
        let b: MasterAddress = "https://10.0.0.1/".parse().unwrap();
        assert_eq!((b.host.as_str(), b.port), ("10.0.0.1", MASTER_PORT_DEFAULT));
        let c: MasterAddress = "https://[fd00::1]:8443".parse().unwrap();
        assert_eq!((c.host.as_str(), c.port), ("fd00::1", 8443));
        assert_eq!(c.authority(), "[fd00::1]:8443");
        assert!("http://pi-1:7443".parse::<MasterAddress>().is_err());
        assert!("https://pi-1:7443/api".parse::<MasterAddress>().is_err());
        assert!("https://pi-1:x".parse::<MasterAddress>().is_err());
    }
}
