//! The task that moves a container's output from its two pipes (FIFOs the container holds
//! read-write, see `runtime::youki`) into its CRI log file. One task per running container;
//! told when the container exited, it drains what is left and ends.
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::path::Path;

use tokio::io::unix::AsyncFd;
use tokio::sync::oneshot;

use super::cri::{self, Stream};
use super::rotate::RotatingFile;
use super::LogLimits;

/// A line longer than this is written in `P` fragments, as the kubelet does.
const LINE_BYTES_MAX: usize = 16 * 1024;
const READ_CHUNK_BYTES: usize = 32 * 1024;

/// A running pump.
pub struct LogPump {
    finish: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl LogPump {
    /// Starts pumping `stdout` and `stderr` (non-blocking FIFO fds) into the log at `path`.
    pub fn spawn(
        stdout: OwnedFd,
        stderr: OwnedFd,
        path: &Path,
        limits: LogLimits,
    ) -> io::Result<LogPump> {
        let log = RotatingFile::open(path, limits)?;
        // SAFETY: each AsyncFd takes ownership of its File, so the fd stays open and unchanged
        // for the AsyncFd's whole life.
        let stdout = unsafe {
            AsyncFd::register_with_interest(File::from(stdout), tokio::io::Interest::READABLE)
        }?;
        // SAFETY: as above.
        let stderr = unsafe {
            AsyncFd::register_with_interest(File::from(stderr), tokio::io::Interest::READABLE)
        }?;
        let (finish, finished) = oneshot::channel();
        let task = tokio::spawn(run(stdout, stderr, log, finished));
        Ok(LogPump {
            finish: Some(finish),
            task,
        })
    }

    /// The container exited: write what is left in the pipes and stop.
    pub async fn finish(mut self) {
        if let Some(finish) = self.finish.take() {
            let _ = finish.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for LogPump {
    fn drop(&mut self) {
        if self.finish.is_some() {
            self.task.abort();
        }
    }
}

struct StreamState {
    stream: Stream,
    pending: Vec<u8>,
}

impl StreamState {
    /// Turns newly read bytes into complete CRI lines appended to `out`.
    fn take(&mut self, bytes: &[u8], timestamp: &str, out: &mut Vec<u8>) {
        for &byte in bytes {
            if byte == b'\n' {
                cri::format_line(out, timestamp, self.stream, false, &self.pending);
                self.pending.clear();
            } else {
                self.pending.push(byte);
                if self.pending.len() >= LINE_BYTES_MAX {
                    cri::format_line(out, timestamp, self.stream, true, &self.pending);
                    self.pending.clear();
                }
            }
        }
    }

    fn flush(&mut self, timestamp: &str, out: &mut Vec<u8>) {
        if !self.pending.is_empty() {
            cri::format_line(out, timestamp, self.stream, false, &self.pending);
            self.pending.clear();
        }
    }
}

fn now_timestamp() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0);
    cri::timestamp(nanos)
}

/// Reads what is available without blocking; `Ok(0)` means nothing now.
fn read_available(fd: &AsyncFd<File>, buf: &mut [u8]) -> io::Result<usize> {
    match fd.get_ref().read(buf) {
        Ok(n) => Ok(n),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
        Err(e) => Err(e),
    }
}

async fn run(
    stdout: AsyncFd<File>,
    stderr: AsyncFd<File>,
    mut log: RotatingFile,
    mut finished: oneshot::Receiver<()>,
) {
    let mut states = [
        StreamState {
            stream: Stream::Stdout,
            pending: Vec::new(),
        },
        StreamState {
            stream: Stream::Stderr,
            pending: Vec::new(),
        },
    ];
    let mut buf = vec![0u8; READ_CHUNK_BYTES];
    let mut out = Vec::new();
    loop {
        let which = tokio::select! {
            guard = stdout.readable() => { if let Ok(mut g) = guard { g.clear_ready(); } 0 }
            guard = stderr.readable() => { if let Ok(mut g) = guard { g.clear_ready(); } 1 }
            _ = &mut finished => break,
        };
        let fd = if which == 0 { &stdout } else { &stderr };
        loop {
            match read_available(fd, &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let timestamp = now_timestamp();
                    states[which].take(&buf[..n], &timestamp, &mut out);
                }
            }
        }
        if !out.is_empty() {
            if let Err(e) = log.write_lines(&out) {
                tracing::warn!(error = %e, "writing container log");
            }
            out.clear();
        }
    }
    // The container is gone: whatever is still in the pipes is the end of its output.
    let timestamp = now_timestamp();
    for (which, fd) in [(0usize, &stdout), (1, &stderr)] {
        while let Ok(n) = read_available(fd, &mut buf) {
            if n == 0 {
                break;
            }
            states[which].take(&buf[..n], &timestamp, &mut out);
        }
        states[which].flush(&timestamp, &mut out);
    }
    if !out.is_empty() {
        let _ = log.write_lines(&out);
    }
}
