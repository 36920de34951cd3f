//! The agent's local API: a root-only unix socket serving pod state to `edged ps` and container
//! logs to `edged logs`. One JSON request line per connection; answers are JSON (ps) or the
//! log's text (logs, streamed while following).
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;

use crate::agent::logs::read;
use crate::agent::pods::{PodView, StatusMap};
use crate::api;

/// The default socket path.
pub const DEFAULT_SOCKET: &str = "/run/flotilla/agent.sock";
const REQUEST_BYTES_MAX: u64 = 64 * 1024;
const CONNECTIONS_MAX: usize = 16;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Request {
    Ps,
    Logs(LogsRequest),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogsRequest {
    /// `name` (namespace default) or `namespace/name`.
    pub pod: String,
    pub container: Option<String>,
    pub follow: bool,
    pub previous: bool,
    pub tail: Option<usize>,
    pub timestamps: bool,
}

/// One pod in the `ps` answer: the Kubernetes object with its status.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PsPod {
    pub pod: api::Pod,
    pub deleting: bool,
    /// Per container: why it was last restarted, when known.
    pub last_messages: Vec<(String, Option<String>)>,
}

/// Why the socket could not be served or asked.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Remote(String),
}

fn ps_answer(views: &StatusMap) -> Vec<PsPod> {
    let mut pods: Vec<PsPod> = views
        .values()
        .map(|view| {
            let mut pod = (*view.pod).clone();
            pod.status = Some(view.status.clone());
            PsPod {
                pod,
                deleting: view.deleting,
                last_messages: view
                    .containers
                    .iter()
                    .map(|(name, _, message)| (name.clone(), message.clone()))
                    .collect(),
            }
        })
        .collect();
    pods.sort_by(|a, b| {
        (a.pod.metadata.namespace_or_default(), &a.pod.metadata.name)
            .cmp(&(b.pod.metadata.namespace_or_default(), &b.pod.metadata.name))
    });
    pods
}

fn find_pod<'a>(views: &'a StatusMap, wanted: &str) -> Option<&'a Arc<PodView>> {
    let (namespace, name) = wanted.split_once('/').unwrap_or(("default", wanted));
    views
        .values()
        .filter(|v| {
            v.pod.metadata.name == name
                && v.pod.metadata.namespace_or_default().as_str() == namespace
        })
        .min_by_key(|v| v.deleting)
}

async fn serve_logs(
    stream: &mut UnixStream,
    views: &watch::Receiver<StatusMap>,
    logs_root: &Path,
    request: LogsRequest,
) -> std::io::Result<()> {
    let found = {
        let views = views.borrow();
        find_pod(&views, &request.pod)
            .ok_or_else(|| format!("pod {:?} not found on this node", request.pod))
            .and_then(|view| {
                read::locate(
                    view,
                    logs_root,
                    request.container.as_deref(),
                    request.previous,
                )
                .map_err(|e| e.to_string())
            })
    };
    let target = match found {
        Ok(target) => target,
        Err(message) => {
            stream
                .write_all(format!("error: {message}\n").as_bytes())
                .await?;
            return Ok(());
        }
    };
    stream.write_all(b"ok\n").await?;
    let tail = request.tail.map(|t| t as u64);
    let (text, offset) = read::history(&target, tail, request.timestamps).await;
    stream.write_all(&text).await?;
    if !request.follow {
        return Ok(());
    }
    let mut follower = read::Follower::new(&target, offset, request.timestamps);
    loop {
        tokio::time::sleep(read::FOLLOW_POLL).await;
        let lines = follower.read_new().await?;
        if !lines.is_empty() {
            stream.write_all(&lines).await?;
        }
        if !read::still_running(&views.borrow(), &target) {
            return Ok(());
        }
    }
}

async fn serve_connection(
    mut stream: UnixStream,
    views: watch::Receiver<StatusMap>,
    logs_root: PathBuf,
) -> std::io::Result<()> {
    let mut line = String::new();
    BufReader::new((&mut stream).take(REQUEST_BYTES_MAX))
        .read_line(&mut line)
        .await?;
    match serde_json::from_str::<Request>(&line) {
        Ok(Request::Ps) => {
            let answer = ps_answer(&views.borrow());
            let mut bytes = serde_json::to_vec(&answer).expect("pods serialise");
            bytes.push(b'\n');
            stream.write_all(&bytes).await
        }
        Ok(Request::Logs(request)) => serve_logs(&mut stream, &views, &logs_root, request).await,
        Err(e) => {
            stream
                .write_all(format!("error: bad request: {e}\n").as_bytes())
                .await
        }
    }
}

/// Serves the socket at `path` (replacing a stale one; mode 0600) until `shutdown` completes.
pub async fn serve(
    path: &Path,
    views: watch::Receiver<StatusMap>,
    logs_root: PathBuf,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), SocketError> {
    let io = |source| SocketError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path).map_err(io)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    let slots = Arc::new(tokio::sync::Semaphore::new(CONNECTIONS_MAX));
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting on the agent socket");
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            continue;
        };
        let (views, logs_root) = (views.clone(), logs_root.clone());
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(e) = serve_connection(stream, views, logs_root).await {
                tracing::debug!(error = %e, "agent socket connection");
            }
        });
    }
    let _ = std::fs::remove_file(path);
    Ok(())
}

async fn send(path: &Path, request: &Request) -> Result<UnixStream, SocketError> {
    let io = |source| SocketError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut stream = UnixStream::connect(path).await.map_err(io)?;
    let mut line = serde_json::to_vec(request).expect("requests serialise");
    line.push(b'\n');
    stream.write_all(&line).await.map_err(io)?;
    Ok(stream)
}

/// Asks the agent at `path` for its pods.
pub async fn ps(path: &Path) -> Result<Vec<PsPod>, SocketError> {
    let io = |source| SocketError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut stream = send(path, &Request::Ps).await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.map_err(io)?;
    if let Some(message) = answer.strip_prefix(b"error: ") {
        return Err(SocketError::Remote(
            String::from_utf8_lossy(message).trim().to_string(),
        ));
    }
    serde_json::from_slice(&answer).map_err(|e| SocketError::Remote(format!("bad answer: {e}")))
}

/// Streams a container's log from the agent at `path` into `out` (flushed as lines arrive).
pub async fn logs(
    path: &Path,
    request: LogsRequest,
    out: &mut impl std::io::Write,
) -> Result<(), SocketError> {
    let io = |source| SocketError::Io {
        path: path.to_path_buf(),
        source,
    };
    let stream = send(path, &Request::Logs(request)).await?;
    let mut reader = BufReader::new(stream);
    let mut first = String::new();
    reader.read_line(&mut first).await.map_err(io)?;
    if let Some(message) = first.strip_prefix("error: ") {
        return Err(SocketError::Remote(message.trim().to_string()));
    }
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        let n = reader.read(&mut chunk).await.map_err(io)?;
        if n == 0 {
            return Ok(());
        }
        out.write_all(&chunk[..n]).map_err(io)?;
        out.flush().map_err(io)?;
    }
}
