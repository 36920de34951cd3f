//! Waiting for changes in a directory with inotify (no polling: an idle agent does nothing).
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

use tokio::io::unix::AsyncFd;

/// Events that can change what a directory holds.
const EVENTS: u32 = libc::IN_CLOSE_WRITE
    | libc::IN_MOVED_TO
    | libc::IN_MOVED_FROM
    | libc::IN_DELETE
    | libc::IN_CREATE
    | libc::IN_ATTRIB;

/// A watch on one or more directories.
pub struct DirWatch {
    fd: AsyncFd<OwnedFd>,
}

impl DirWatch {
    /// Watches `dirs` (which must exist).
    pub fn new(dirs: &[&Path]) -> io::Result<DirWatch> {
        // SAFETY: plain syscall; the returned fd is owned below.
        let raw = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh fd nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        for dir in dirs {
            let path = CString::new(dir.as_os_str().as_bytes())
                .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
            // SAFETY: valid fd and NUL-terminated path.
            if unsafe { libc::inotify_add_watch(fd.as_raw_fd(), path.as_ptr(), EVENTS) } < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        // SAFETY: the AsyncFd owns the fd for its whole life.
        let fd = unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }?;
        Ok(DirWatch { fd })
    }

    fn drain(&self) -> io::Result<bool> {
        let mut buf = [0u8; 4096];
        let mut any = false;
        loop {
            // SAFETY: valid fd and buffer of the given length.
            let n = unsafe {
                libc::read(
                    self.fd.get_ref().as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                )
            };
            if n > 0 {
                any = true;
                continue;
            }
            let error = io::Error::last_os_error();
            return match error.kind() {
                io::ErrorKind::WouldBlock => Ok(any),
                _ if n == 0 => Ok(any),
                _ => Err(error),
            };
        }
    }

    /// Waits for a change, then for `settle` without further events (an editor's save is
    /// several events), so that one rescan sees the finished result.
    pub async fn changed(&self, settle: Duration) -> io::Result<()> {
        loop {
            let mut guard = self.fd.readable().await?;
            guard.clear_ready();
            if self.drain()? {
                break;
            }
        }
        loop {
            tokio::time::sleep(settle).await;
            if !self.drain()? {
                return Ok(());
            }
        }
    }
}
