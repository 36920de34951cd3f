//! The HTTPS client `edgectl` talks to the master with: one HTTP/1.1 connection over
//! tokio-rustls, trusting only the credential's CA and presenting its client certificate.
//! Failures are sorted into the cases a person needs to tell apart: the master is unreachable,
//! the master is not the one the credential trusts, the master refused our certificate, our
//! credential expired, or the master answered with a Kubernetes `Status`.
use std::time::SystemTime;

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio_rustls::TlsConnector;

use crate::master::status::Status;
use crate::pki::{Credential, PkiError};

/// The largest response body `edgectl` reads, in bytes (a list of every pod of a big cluster
/// fits many times over).
pub const RESPONSE_BYTES_MAX: usize = 256 * 1024 * 1024;
/// The longest line of a watch stream, in bytes.
pub const WATCH_LINE_BYTES_MAX: usize = 16 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// the server URL is not https://host:port
    #[error("invalid server URL {url:?}: expected https://host:port")]
    BadUrl { url: String },
    /// the credential could not be used
    #[error("the credential is unusable: {0}")]
    Credential(#[source] PkiError),
    /// the client certificate's validity is over
    #[error("the credential expired at {expired}; ask an administrator for a new one")]
    Expired { expired: String },
    /// no TCP connection
    #[error("cannot reach the master at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// the server's certificate does not chain to the credential's CA
    #[error("the master at {url} presented a certificate that is not signed by the credential's CA (is this credential for another cluster?)")]
    UntrustedServer { url: String },
    /// the server's certificate does not name the host in the URL
    #[error("the master's certificate is not valid for {host} (add it with edged master --tls-san {host})")]
    WrongServerName { host: String },
    /// the server refused our certificate
    #[error("the master at {url} refused the credential's client certificate ({alert}); it may be for another cluster or revoked")]
    Refused { url: String, alert: String },
    /// TLS failed in another way
    #[error("TLS with the master at {url} failed: {reason}")]
    Tls { url: String, reason: String },
    /// the connection broke mid-request
    #[error("connection to the master at {url} failed: {reason}")]
    Connection { url: String, reason: String },
    /// the server answered with a Status
    #[error("Error from server ({}): {}", .0.reason, .0.message)]
    Status(Box<Status>),
    /// the server answered something that is not a Status or the expected document
    #[error("unexpected answer from the master (HTTP {code}): {body}")]
    Unexpected { code: u16, body: String },
    /// the response was larger than the client reads
    #[error("the master's answer is larger than {RESPONSE_BYTES_MAX} bytes")]
    TooLarge,
}

/// A response, read whole.
#[derive(Debug)]
pub struct ApiResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl ApiResponse {
    /// The texts of the `Warning` headers (`299 - "text"` → `text`).
    pub fn warnings(&self) -> Vec<String> {
        self.headers
            .get_all("warning")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(warning_text)
            .collect()
    }
}

/// The text of a `299 - "…"` warning header.
pub fn warning_text(header: &str) -> String {
    let Some(quoted) = header
        .split_once(" - ")
        .map(|(_, q)| q.trim())
        .and_then(|q| q.strip_prefix('"'))
        .and_then(|q| q.strip_suffix('"'))
    else {
        return header.to_string();
    };
    let mut text = String::with_capacity(quoted.len());
    let mut chars = quoted.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            text.extend(chars.next());
        } else {
            text.push(c);
        }
    }
    text
}

/// A client for one master.
pub struct Client {
    url: String,
    host: String,
    port: u16,
    server_name: ServerName<'static>,
    tls: TlsConnector,
    connection: Mutex<Option<SendRequest<Full<Bytes>>>>,
}

impl Client {
    /// A client for `credential`, talking to `server` instead of the credential's server when
    /// given. Refuses an expired credential before any connection.
    pub fn new(credential: &Credential, server: Option<&str>) -> Result<Client, ClientError> {
        Client::new_at(credential, server, SystemTime::now())
    }

    /// [`Client::new`] with the time the expiry is checked against.
    pub fn new_at(
        credential: &Credential,
        server: Option<&str>,
        now: SystemTime,
    ) -> Result<Client, ClientError> {
        crate::pki::install_crypto_provider();
        let expiry = credential.expiry().map_err(ClientError::Credential)?;
        if expiry <= now {
            return Err(ClientError::Expired {
                expired: time::OffsetDateTime::from(expiry)
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_else(|_| "an unknown time".to_string()),
            });
        }
        let url = server.unwrap_or(&credential.server).trim_end_matches('/');
        let bad_url = || ClientError::BadUrl {
            url: url.to_string(),
        };
        let uri: Uri = url.parse().map_err(|_| bad_url())?;
        if uri.scheme_str() != Some("https") {
            return Err(bad_url());
        }
        let host = uri.host().ok_or_else(bad_url)?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(7443);
        let server_name = ServerName::try_from(host.clone()).map_err(|_| bad_url())?;
        let tls = credential
            .client_config()
            .map_err(ClientError::Credential)?;
        Ok(Client {
            url: url.to_string(),
            host,
            port,
            server_name,
            tls: TlsConnector::from(tls),
            connection: Mutex::new(None),
        })
    }

    /// The server URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, ClientError> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| ClientError::Unreachable {
                url: self.url.clone(),
                reason: io_reason(&e),
            })?;
        let tls = self
            .tls
            .connect(self.server_name.clone(), tcp)
            .await
            .map_err(|e| self.tls_error(&e))?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| self.hyper_error(&e))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }

    fn tls_error(&self, error: &std::io::Error) -> ClientError {
        let url = self.url.clone();
        let rustls_error = error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>());
        match rustls_error {
            Some(rustls::Error::InvalidCertificate(cert_error)) => match cert_error {
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. } => {
                    ClientError::WrongServerName {
                        host: self.host.clone(),
                    }
                }
                rustls::CertificateError::UnknownIssuer
                | rustls::CertificateError::BadSignature
                | rustls::CertificateError::BadEncoding => ClientError::UntrustedServer { url },
                other => ClientError::Tls {
                    url,
                    reason: format!("the master's certificate: {other:?}"),
                },
            },
            Some(rustls::Error::AlertReceived(alert)) => ClientError::Refused {
                url,
                alert: format!("{alert:?}"),
            },
            Some(other) => ClientError::Tls {
                url,
                reason: other.to_string(),
            },
            None => ClientError::Connection {
                url,
                reason: io_reason(error),
            },
        }
    }

    fn hyper_error(&self, error: &hyper::Error) -> ClientError {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(current) = source {
            if let Some(io) = current.downcast_ref::<std::io::Error>() {
                return self.tls_error(io);
            }
            source = current.source();
        }
        ClientError::Connection {
            url: self.url.clone(),
            reason: error.to_string(),
        }
    }

    /// Sends a request and returns the response with its body unread.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<(&'static str, Bytes)>,
    ) -> Result<hyper::Response<Incoming>, ClientError> {
        self.send_accepting(method, path, body, "application/json")
            .await
    }

    /// [`Client::send`] asking for the response in `accept` (e.g. `application/x-postcard`).
    pub async fn send_accepting(
        &self,
        method: Method,
        path: &str,
        body: Option<(&'static str, Bytes)>,
        accept: &'static str,
    ) -> Result<hyper::Response<Incoming>, ClientError> {
        let mut connection = self.connection.lock().await;
        let reusable = match connection.as_mut() {
            Some(sender) => sender.ready().await.is_ok(),
            None => false,
        };
        if !reusable {
            *connection = Some(self.connect().await?);
        }
        let sender = connection.as_mut().expect("connected above");
        let (content_type, bytes) = match body {
            Some((content_type, bytes)) => (Some(content_type), bytes),
            None => (None, Bytes::new()),
        };
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, format!("{}:{}", self.host, self.port))
            .header(ACCEPT, accept)
            .body(Full::new(bytes))
            .map_err(|_| ClientError::BadUrl {
                url: format!("{}{path}", self.url),
            })?;
        if let Some(content_type) = content_type {
            request
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        }
        sender
            .send_request(request)
            .await
            .map_err(|e| self.hyper_error(&e))
    }

    /// Sends a request and reads the whole answer; a non-2xx answer becomes an error.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<(&'static str, Bytes)>,
    ) -> Result<ApiResponse, ClientError> {
        let response = self.send(method, path, body).await?;
        let (parts, body) = response.into_parts();
        let body = http_body_util::Limited::new(body, RESPONSE_BYTES_MAX)
            .collect()
            .await
            .map_err(|e| match e.downcast::<hyper::Error>() {
                Ok(e) => self.hyper_error(&e),
                Err(_) => ClientError::TooLarge,
            })?
            .to_bytes();
        let response = ApiResponse {
            status: parts.status,
            headers: parts.headers,
            body,
        };
        if response.status.is_success() {
            Ok(response)
        } else {
            Err(error_of(&response))
        }
    }

    /// GET of a JSON document.
    pub async fn get_json(&self, path: &str) -> Result<serde_json::Value, ClientError> {
        let response = self.request(Method::GET, path, None).await?;
        json_of(&response)
    }

    /// A request with a JSON body, answered with a JSON document; returns it with the warnings.
    pub async fn send_json(
        &self,
        method: Method,
        path: &str,
        content_type: &'static str,
        body: &serde_json::Value,
    ) -> Result<(serde_json::Value, Vec<String>), ClientError> {
        let bytes = Bytes::from(serde_json::to_vec(body).expect("JSON values serialise"));
        let response = self
            .request(method, path, Some((content_type, bytes)))
            .await?;
        Ok((json_of(&response)?, response.warnings()))
    }

    /// Sends a request and returns the headers and the unread body of a 2xx answer (a log
    /// stream, an exec's output); any other answer becomes an error.
    pub async fn open(
        &self,
        method: Method,
        path: &str,
    ) -> Result<(HeaderMap, Incoming), ClientError> {
        let response = self.send_accepting(method, path, None, "*/*").await?;
        let (parts, body) = response.into_parts();
        if parts.status.is_success() {
            return Ok((parts.headers, body));
        }
        let body = http_body_util::Limited::new(body, RESPONSE_BYTES_MAX)
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        Err(error_of(&ApiResponse {
            status: parts.status,
            headers: parts.headers,
            body,
        }))
    }

    /// Starts a watch: `path` must carry `watch=true`.
    pub async fn watch(&self, path: &str) -> Result<WatchStream, ClientError> {
        let response = self.send(Method::GET, path, None).await?;
        if !response.status().is_success() {
            let (parts, body) = response.into_parts();
            let body = http_body_util::Limited::new(body, RESPONSE_BYTES_MAX)
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            return Err(error_of(&ApiResponse {
                status: parts.status,
                headers: parts.headers,
                body,
            }));
        }
        Ok(WatchStream {
            body: response.into_body(),
            buffer: BytesMut::new(),
            url: self.url.clone(),
        })
    }
}

fn io_reason(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
        std::io::ErrorKind::TimedOut => "connection timed out".to_string(),
        _ => error.to_string(),
    }
}

fn json_of(response: &ApiResponse) -> Result<serde_json::Value, ClientError> {
    serde_json::from_slice(&response.body).map_err(|_| ClientError::Unexpected {
        code: response.status.as_u16(),
        body: String::from_utf8_lossy(&response.body)
            .chars()
            .take(200)
            .collect(),
    })
}

fn error_of(response: &ApiResponse) -> ClientError {
    match serde_json::from_slice::<Status>(&response.body) {
        Ok(status) if status.kind == "Status" => ClientError::Status(Box::new(status)),
        _ => ClientError::Unexpected {
            code: response.status.as_u16(),
            body: String::from_utf8_lossy(&response.body)
                .chars()
                .take(200)
                .collect(),
        },
    }
}

/// One watch event as received.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct WatchEvent {
    #[serde(rename = "type")]
    pub event_type: String,
    pub object: serde_json::Value,
}

/// The events of a watch, one JSON line each.
pub struct WatchStream {
    body: Incoming,
    buffer: BytesMut,
    url: String,
}

impl WatchStream {
    /// The next event; `None` when the server ended the stream. An `ERROR` event becomes
    /// `Err(Status)`.
    pub async fn next(&mut self) -> Option<Result<WatchEvent, ClientError>> {
        loop {
            if let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
                let line = self.buffer.split_to(end + 1);
                let line = &line[..end];
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let event: WatchEvent = match serde_json::from_slice(line) {
                    Ok(event) => event,
                    Err(e) => {
                        return Some(Err(ClientError::Unexpected {
                            code: 200,
                            body: e.to_string(),
                        }))
                    }
                };
                if event.event_type == "ERROR" {
                    return Some(Err(match serde_json::from_value::<Status>(event.object) {
                        Ok(status) => ClientError::Status(Box::new(status)),
                        Err(e) => ClientError::Unexpected {
                            code: 200,
                            body: e.to_string(),
                        },
                    }));
                }
                return Some(Ok(event));
            }
            if self.buffer.len() > WATCH_LINE_BYTES_MAX {
                return Some(Err(ClientError::TooLarge));
            }
            match self.body.frame().await? {
                Ok(frame) => {
                    if let Ok(data) = frame.into_data() {
                        self.buffer.extend_from_slice(&data);
                    }
                }
                Err(e) => {
                    return Some(Err(ClientError::Connection {
                        url: self.url.clone(),
                        reason: e.to_string(),
                    }))
                }
            }
        }
    }
}

/// Builds a path with query parameters, percent-encoded.
pub fn with_query(path: &str, params: &[(&str, &str)]) -> String {
    if params.is_empty() {
        return path.to_string();
    }
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    format!("{path}?{query}")
}

/// The JSON content type.
pub const JSON: &str = "application/json";
/// The merge-patch content type.
pub const MERGE_PATCH: &str = "application/merge-patch+json";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warning_headers_are_unquoted() {
        assert_eq!(
            warning_text("299 - \"unknown field \\\"spec.foo\\\"\""),
            "unknown field \"spec.foo\""
        );
        assert_eq!(warning_text("plain"), "plain");
    }

    #[test]
    fn query_parameters_are_encoded() {
        assert_eq!(
            with_query(
                "/api/v1/pods",
                &[("labelSelector", "app=web,tier in (a,b)")]
            ),
            "/api/v1/pods?labelSelector=app%3Dweb%2Ctier+in+%28a%2Cb%29"
        );
    }
}
