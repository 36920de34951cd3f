//! The container helper: a single-threaded process (`edged runtime-helper`, the agent's own
//! binary re-executed) that performs every libcontainer operation and namespace creation, fed
//! over its stdin/stdout by the agent.
//!
//! Why (RUNTIME-NOTES.md): libcontainer forks without `pthread_atfork` care and changes the
//! calling process (cwd, dumpable flag, oom score), so it must never run inside the
//! multi-threaded tokio agent. The helper forks one child per request — a fork of a
//! single-threaded process is safe — so requests run concurrently (a slow exec probe never
//! delays a create) and the helper itself is never altered. Container inits are children of
//! that short-lived child; when it exits they are re-parented to the agent, the nearest child
//! subreaper, which collects their exit statuses through pidfds.
//!
//! Wire: frames of a u32 little-endian length and a postcard body, each carrying a request id.
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{oneshot, Mutex};

use super::process::ExitStatus;

/// Largest frame either side accepts.
const FRAME_BYTES_MAX: usize = 1024 * 1024;
/// Requests in flight at once; more wait for a slot (bounded fork fan-out).
pub const REQUESTS_IN_FLIGHT_MAX: usize = 64;
/// The agent closes a helper that has had no request for this long; the next request starts a
/// new one (a fork and exec, a few milliseconds). Pods that run steadily need no helper, so an
/// idle node does not keep a second copy of the daemon resident.
pub const HELPER_IDLE_CLOSE: std::time::Duration = std::time::Duration::from_secs(30);

/// Creates and starts a container from a bundle.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateRequest {
    pub id: String,
    pub bundle: PathBuf,
    /// libcontainer's state directory root.
    pub state_root: PathBuf,
    /// FIFOs the container's stdout and stderr are connected to.
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}

/// Runs a command inside a running container (exec probes, preStop hooks).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecRequest {
    pub id: String,
    pub state_root: PathBuf,
    pub args: Vec<String>,
    pub uid: u32,
    pub gid: u32,
    pub timeout_ms: u64,
    /// Output beyond this is dropped (probes report a message, not a log).
    pub output_bytes_max: u32,
}

/// Creates a pod's shared namespaces and pins them on files (bind mounts of nsfs).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NamespacesRequest {
    /// Where to pin a new network namespace; `None` for `hostNetwork` pods.
    pub net: Option<PathBuf>,
    pub ipc: PathBuf,
    /// Where to pin a new UTS namespace; `None` for `hostNetwork` pods (they share the host's).
    pub uts: Option<PathBuf>,
    pub hostname: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Request {
    Create(CreateRequest),
    Delete { id: String, state_root: PathBuf },
    Exec(ExecRequest),
    Namespaces(NamespacesRequest),
}

/// How an exec ended.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum ExecOutcome {
    Exited(ExitStatus),
    TimedOut,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Response {
    Created {
        pid: i32,
    },
    Done,
    Exec {
        outcome: ExecOutcome,
        output: Vec<u8>,
    },
    Error {
        message: String,
    },
}

#[derive(Debug, Serialize, Deserialize)]
struct Frame<T> {
    id: u64,
    body: T,
}

/// Why a helper call failed.
#[derive(Debug, thiserror::Error)]
pub enum HelperError {
    #[error("starting the runtime helper {program}: {source}")]
    Spawn { program: PathBuf, source: io::Error },
    #[error("the runtime helper exited")]
    Gone,
    #[error("talking to the runtime helper: {0}")]
    Io(#[from] io::Error),
    #[error("runtime helper: {0}")]
    Failed(String),
}

// ----- the helper process side -----

fn write_frame<W: Write, T: Serialize>(writer: &mut W, frame: &Frame<T>) -> io::Result<()> {
    let body =
        postcard::to_allocvec(frame).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    writer.write_all(&(body.len() as u32).to_le_bytes())?;
    writer.write_all(&body)?;
    writer.flush()
}

fn read_frame<R: Read, T: for<'de> Deserialize<'de>>(
    reader: &mut R,
) -> io::Result<Option<Frame<T>>> {
    let mut len = [0u8; 4];
    match reader.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_le_bytes(len) as usize;
    if len > FRAME_BYTES_MAX {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "frame too large",
        ));
    }
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body)?;
    postcard::from_bytes(&body)
        .map(Some)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// A request being served by a forked child.
struct InFlight {
    id: u64,
    child: nix::unistd::Pid,
    result: std::fs::File,
    buffer: Vec<u8>,
}

/// The helper's main loop: runs until the agent closes its stdin and every child is done.
/// Must be called before any thread is started (it forks).
pub fn helper_main() -> io::Result<()> {
    // SAFETY: fds 0 and 1 are the pipes the agent gave us; we own them from here on.
    let mut requests = unsafe { std::fs::File::from_raw_fd(0) };
    let mut responses = unsafe { std::fs::File::from_raw_fd(1) };
    // If the agent dies, stop: the next agent starts its own helper.
    let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM);
    let mut in_flight: Vec<InFlight> = Vec::new();
    let mut requests_open = true;
    while requests_open || !in_flight.is_empty() {
        let mut fds: Vec<libc::pollfd> = Vec::with_capacity(in_flight.len() + 1);
        for job in &in_flight {
            fds.push(libc::pollfd {
                fd: job.result.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        let accept_requests = requests_open && in_flight.len() < REQUESTS_IN_FLIGHT_MAX;
        if accept_requests {
            fds.push(libc::pollfd {
                fd: 0,
                events: libc::POLLIN,
                revents: 0,
            });
        }
        // SAFETY: `fds` is a valid array of pollfd for its length; -1 waits indefinitely.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if rc < 0 {
            let error = io::Error::last_os_error();
            if error.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(error);
        }
        // Finished children first (iterate backwards so removal keeps indexes valid).
        for index in (0..in_flight.len()).rev() {
            if fds[index].revents == 0 {
                continue;
            }
            let mut chunk = [0u8; 8192];
            let n = match in_flight[index].result.read(&mut chunk) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => 0,
            };
            if n > 0 {
                if in_flight[index].buffer.len() + n <= FRAME_BYTES_MAX {
                    in_flight[index].buffer.extend_from_slice(&chunk[..n]);
                }
                continue;
            }
            let job = in_flight.swap_remove(index);
            let status = nix::sys::wait::waitpid(job.child, None);
            let body =
                postcard::from_bytes::<Response>(&job.buffer).unwrap_or_else(|_| Response::Error {
                    message: format!(
                        "helper child for request {} died without answering ({status:?})",
                        job.id
                    ),
                });
            write_frame(&mut responses, &Frame { id: job.id, body })?;
        }
        if accept_requests && fds.last().is_some_and(|p| p.revents != 0) {
            match read_frame::<_, Request>(&mut requests)? {
                None => requests_open = false,
                Some(frame) => in_flight.push(spawn_job(frame)?),
            }
        }
    }
    Ok(())
}

/// Forks a child that serves one request and writes its response into a pipe.
fn spawn_job(frame: Frame<Request>) -> io::Result<InFlight> {
    let (read_end, write_end) = nix::unistd::pipe().map_err(io::Error::from)?;
    // SAFETY: the helper is single-threaded (it starts no threads and runs no async runtime),
    // so the child is a complete copy and may allocate and run arbitrary Rust code.
    match unsafe { nix::unistd::fork() }.map_err(io::Error::from)? {
        nix::unistd::ForkResult::Child => {
            drop(read_end);
            // The protocol pipes belong to the helper: the child must never write to them.
            if let Ok(null) = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/null")
            {
                let _ = nix::unistd::dup2(null.as_raw_fd(), 0);
                let _ = nix::unistd::dup2(null.as_raw_fd(), 1);
            }
            let response = serve(frame.body);
            let mut out = std::fs::File::from(write_end);
            let bytes = postcard::to_allocvec(&response).unwrap_or_default();
            let _ = out.write_all(&bytes);
            drop(out);
            // SAFETY: _exit skips atexit handlers and destructors the parent still owns.
            unsafe { libc::_exit(0) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(write_end);
            Ok(InFlight {
                id: frame.id,
                child,
                result: std::fs::File::from(read_end),
                buffer: Vec::new(),
            })
        }
    }
}

/// Serves one request inside a forked child.
fn serve(request: Request) -> Response {
    let result = match request {
        Request::Create(create) => {
            super::youki::create_and_start(&create).map(|pid| Response::Created { pid })
        }
        Request::Delete { id, state_root } => {
            super::youki::delete(&state_root, &id).map(|()| Response::Done)
        }
        Request::Exec(exec) => {
            super::youki::exec(&exec).map(|(outcome, output)| Response::Exec { outcome, output })
        }
        Request::Namespaces(ns) => super::namespaces::create(&ns).map(|()| Response::Done),
    };
    result.unwrap_or_else(|message| Response::Error { message })
}

// ----- the agent side -----

type Pending = Arc<std::sync::Mutex<HashMap<u64, oneshot::Sender<Response>>>>;

struct Connection {
    stdin: tokio::process::ChildStdin,
    pending: Pending,
    alive: Arc<std::sync::atomic::AtomicBool>,
    _child: tokio::process::Child,
}

/// The agent's handle on its helper process: starts it on first use, respawns it if it died,
/// and closes it after [`HELPER_IDLE_CLOSE`] without a request.
pub struct HelperClient {
    program: PathBuf,
    next_id: AtomicU64,
    connection: Arc<Mutex<Option<Connection>>>,
    /// When the last request started or finished.
    last_used: Arc<std::sync::Mutex<std::time::Instant>>,
    idle_close: std::time::Duration,
    slots: tokio::sync::Semaphore,
}

impl HelperClient {
    /// A client that runs `program runtime-helper` on first use.
    pub fn new(program: &Path) -> HelperClient {
        HelperClient::with_idle_close(program, HELPER_IDLE_CLOSE)
    }

    /// As [`HelperClient::new`], closing the helper after `idle_close` without a request.
    pub fn with_idle_close(program: &Path, idle_close: std::time::Duration) -> HelperClient {
        HelperClient {
            program: program.to_path_buf(),
            next_id: AtomicU64::new(1),
            connection: Arc::new(Mutex::new(None)),
            last_used: Arc::new(std::sync::Mutex::new(std::time::Instant::now())),
            idle_close,
            slots: tokio::sync::Semaphore::new(REQUESTS_IN_FLIGHT_MAX),
        }
    }

    /// The helper's process id, while one runs.
    pub async fn helper_pid(&self) -> Option<u32> {
        let connection = self.connection.lock().await;
        connection
            .as_ref()
            .filter(|c| c.alive.load(Ordering::SeqCst))
            .and_then(|c| c._child.id())
    }

    fn touch(&self) {
        *self.last_used.lock().expect("last_used lock") = std::time::Instant::now();
    }

    /// Closes the helper once it has been idle (no request in flight, none started or finished)
    /// for `idle_close`. Wakes only while a helper runs: once per idle period at most.
    fn watch_idle(&self, alive: Arc<std::sync::atomic::AtomicBool>) {
        let connection = Arc::downgrade(&self.connection);
        let last_used = self.last_used.clone();
        let idle_close = self.idle_close;
        tokio::spawn(async move {
            let mut wait = idle_close;
            loop {
                tokio::time::sleep(wait).await;
                let Some(connection) = connection.upgrade() else {
                    return;
                };
                let mut guard = connection.lock().await;
                // Only the helper this watcher was started for, and only while it lives.
                let Some(current) = guard.as_ref() else {
                    return;
                };
                if !Arc::ptr_eq(&current.alive, &alive) || !alive.load(Ordering::SeqCst) {
                    return;
                }
                let idle_for = last_used.lock().expect("last_used lock").elapsed();
                let busy = !current.pending.lock().expect("pending lock").is_empty();
                if !busy && idle_for >= idle_close {
                    // Holding the lock: no request can be sent meanwhile. Closing stdin ends
                    // the helper's loop; nothing is in flight, so nothing is lost.
                    if let Some(mut closed) = guard.take() {
                        alive.store(false, Ordering::SeqCst);
                        let _ = closed.stdin.shutdown().await;
                        drop(closed.stdin);
                        let _ = tokio::time::timeout(
                            std::time::Duration::from_secs(5),
                            closed._child.wait(),
                        )
                        .await;
                    }
                    return;
                }
                wait = idle_close
                    .saturating_sub(idle_for)
                    .max(std::time::Duration::from_secs(1));
            }
        });
    }

    fn spawn(&self) -> Result<Connection, HelperError> {
        let mut child = tokio::process::Command::new(&self.program)
            .arg("runtime-helper")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| HelperError::Spawn {
                program: self.program.clone(),
                source,
            })?;
        let stdin = child.stdin.take().expect("piped stdin");
        let mut stdout = child.stdout.take().expect("piped stdout");
        let pending: Pending = Default::default();
        let alive = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let (reader_pending, reader_alive) = (pending.clone(), alive.clone());
        tokio::spawn(async move {
            loop {
                let mut len = [0u8; 4];
                if stdout.read_exact(&mut len).await.is_err() {
                    break;
                }
                let len = u32::from_le_bytes(len) as usize;
                if len > FRAME_BYTES_MAX {
                    break;
                }
                let mut body = vec![0u8; len];
                if stdout.read_exact(&mut body).await.is_err() {
                    break;
                }
                let Ok(frame) = postcard::from_bytes::<Frame<Response>>(&body) else {
                    break;
                };
                if let Some(reply) = reader_pending
                    .lock()
                    .expect("pending lock")
                    .remove(&frame.id)
                {
                    let _ = reply.send(frame.body);
                }
            }
            reader_alive.store(false, Ordering::SeqCst);
            // Dropping the senders fails every caller still waiting.
            reader_pending.lock().expect("pending lock").clear();
        });
        Ok(Connection {
            stdin,
            pending,
            alive,
            _child: child,
        })
    }

    /// Sends one request and waits for its answer.
    pub async fn call(&self, request: Request) -> Result<Response, HelperError> {
        let _slot = self.slots.acquire().await.expect("semaphore never closed");
        self.touch();
        let result = self.call_inner(request).await;
        self.touch();
        result
    }

    async fn call_inner(&self, request: Request) -> Result<Response, HelperError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = postcard::to_allocvec(&Frame { id, body: request })
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let (reply_tx, reply_rx) = oneshot::channel();
        {
            let mut connection = self.connection.lock().await;
            if connection
                .as_ref()
                .is_none_or(|c| !c.alive.load(Ordering::SeqCst))
            {
                let spawned = self.spawn()?;
                self.watch_idle(spawned.alive.clone());
                *connection = Some(spawned);
            }
            let conn = connection.as_mut().expect("connection present");
            conn.pending
                .lock()
                .expect("pending lock")
                .insert(id, reply_tx);
            let mut bytes = (body.len() as u32).to_le_bytes().to_vec();
            bytes.extend_from_slice(&body);
            if let Err(e) = conn.stdin.write_all(&bytes).await {
                conn.alive.store(false, Ordering::SeqCst);
                return Err(HelperError::Io(e));
            }
        }
        match reply_rx.await.map_err(|_| HelperError::Gone)? {
            Response::Error { message } => Err(HelperError::Failed(message)),
            response => Ok(response),
        }
    }
}
