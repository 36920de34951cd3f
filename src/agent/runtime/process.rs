//! Container processes seen from the agent: pidfds (signals that can never hit a recycled pid),
//! exit statuses through `waitid(P_PIDFD)`, the child-subreaper bit, and `/proc` start times
//! that tell a re-adopted process from a stranger that reused its pid.
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ExitStatus {
    /// `exit(code)`.
    Code(i32),
    /// Killed by a signal.
    Signal(i32),
    /// The process was not our child (re-adopted after an agent restart), so its status went to
    /// its real parent.
    Unknown,
}

impl ExitStatus {
    /// The exit code Kubernetes reports: the code, or 128 + signal.
    pub fn code(self) -> Option<i32> {
        match self {
            ExitStatus::Code(code) => Some(code),
            ExitStatus::Signal(signal) => Some(128 + signal),
            ExitStatus::Unknown => None,
        }
    }

    pub fn success(self) -> bool {
        self == ExitStatus::Code(0)
    }
}

/// Makes this process the reaper of its orphaned descendants: containers, whose creating helper
/// child exits right after start, are re-parented to the agent, which reaps them.
pub fn become_subreaper() -> io::Result<()> {
    nix::sys::prctl::set_child_subreaper(true).map_err(io::Error::from)
}

/// A pidfd: a handle on one process that stays valid (and never aliases) after it exits.
#[derive(Debug)]
pub struct PidFd {
    fd: OwnedFd,
    pid: i32,
}

impl PidFd {
    /// Opens a pidfd for `pid`; fails with ESRCH when the process is gone (a zombie still counts
    /// as present).
    pub fn open(pid: i32) -> io::Result<PidFd> {
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the kernel just returned this fd to us; nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
        Ok(PidFd { fd, pid })
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Sends `signal` to the process, never to a later process with the same pid.
    pub fn signal(&self, signal: i32) -> io::Result<()> {
        // SAFETY: the pidfd is valid for the lifetime of self; a null siginfo is allowed.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.fd.as_raw_fd(),
                signal,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        if rc < 0 {
            let error = io::Error::last_os_error();
            // Already exited: nothing to signal.
            if error.raw_os_error() == Some(libc::ESRCH) {
                return Ok(());
            }
            return Err(error);
        }
        Ok(())
    }

    /// Collects the exit status of an exited process without blocking: `Ok(None)` while it runs,
    /// `Ok(Some(Unknown))` when it exited but was not our child.
    pub fn try_wait(&self) -> io::Result<Option<ExitStatus>> {
        // SAFETY: zeroed siginfo is a valid out-parameter for waitid.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: P_PIDFD with our valid fd; `info` is a valid pointer.
        let rc = unsafe {
            libc::waitid(
                libc::P_PIDFD,
                self.fd.as_raw_fd() as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG,
            )
        };
        if rc < 0 {
            let error = io::Error::last_os_error();
            if error.raw_os_error() == Some(libc::ECHILD) {
                return Ok(if self.is_alive() {
                    None
                } else {
                    Some(ExitStatus::Unknown)
                });
            }
            return Err(error);
        }
        // SAFETY: after a successful waitid the pid field is initialised (0 when nothing exited).
        let pid = unsafe { info.si_pid() };
        if pid == 0 {
            return Ok(None);
        }
        // SAFETY: as above, si_status is set for CLD_* codes.
        let status = unsafe { info.si_status() };
        Ok(Some(match info.si_code {
            libc::CLD_EXITED => ExitStatus::Code(status),
            _ => ExitStatus::Signal(status),
        }))
    }

    /// Whether the process is still running (the pidfd polls readable once it exits).
    pub fn is_alive(&self) -> bool {
        let mut poll = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, zero timeout.
        let rc = unsafe { libc::poll(&mut poll, 1, 0) };
        rc == 0
    }

    /// Waits until the process exits and returns its status.
    pub async fn wait(&self) -> io::Result<ExitStatus> {
        // SAFETY: the pidfd is owned by `self`, which outlives this registration (dropped at
        // the end of this function); the raw fd therefore stays open and unchanged meanwhile.
        let async_fd = unsafe {
            tokio::io::unix::AsyncFd::register_with_interest(
                self.fd.as_raw_fd(),
                tokio::io::Interest::READABLE,
            )
        }?;
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(status);
            }
            let mut guard = async_fd.readable().await?;
            guard.clear_ready();
        }
    }
}

/// The start time of a process in clock ticks since boot (`/proc/<pid>/stat` field 22): with
/// the boot id, what tells a re-adopted container from an unrelated process that reused its pid.
pub fn start_time_ticks(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// This boot's id: containers recorded under another boot are gone.
pub fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Resident set size of a process in bytes (`VmRSS`).
pub fn rss_bytes(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

impl AsRawFd for PidFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_start_time_is_readable_and_stable() {
        let pid = std::process::id() as i32;
        let first = start_time_ticks(pid).unwrap();
        assert_eq!(start_time_ticks(pid), Some(first));
    }

    // The children are reaped through their pidfds, which clippy cannot see.
    #[allow(clippy::zombie_processes)]
    #[tokio::test]
    async fn a_child_exit_code_is_collected_through_its_pidfd() {
        let child = std::process::Command::new("sh")
            .args(["-c", "exit 7"])
            .spawn()
            .unwrap();
        let pidfd = PidFd::open(child.id() as i32).unwrap();
        assert_eq!(pidfd.wait().await.unwrap(), ExitStatus::Code(7));
        let child = std::process::Command::new("sleep")
            .arg("10")
            .spawn()
            .unwrap();
        let pidfd = PidFd::open(child.id() as i32).unwrap();
        assert!(pidfd.is_alive());
        pidfd.signal(libc::SIGKILL).unwrap();
        assert_eq!(
            pidfd.wait().await.unwrap(),
            ExitStatus::Signal(libc::SIGKILL)
        );
    }
}
