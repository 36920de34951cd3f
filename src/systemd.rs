//! Life under systemd: readiness, status text and watchdog keep-alives through `sd_notify`, and
//! logging to journald when systemd started the daemon (stderr otherwise).
//!
//! Every function here is harmless without systemd: no `NOTIFY_SOCKET`, no notification; no
//! journal, logs go to stderr. Notification failures are logged, never fatal: a daemon that
//! serves must not stop because its supervisor's socket hiccupped.

use std::future::Future;
use std::io::IsTerminal;
use std::time::Duration;

use sd_notify::NotifyState;
use thiserror::Error;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// The log filter variable (tracing's `EnvFilter` syntax); `RUST_LOG` is read when it is unset.
pub const LOG_ENV: &str = "FLOTILLA_LOG";
/// The filter when neither variable is set.
pub const DEFAULT_FILTER: &str = "info";

/// What went wrong setting up logging.
#[derive(Debug, Error)]
pub enum SystemdError {
    /// the log filter does not parse
    #[error("{var}={value:?} is not a valid log filter: {reason}")]
    Filter {
        var: &'static str,
        value: String,
        reason: String,
    },
    /// a global subscriber was already installed
    #[error("logging was already set up: {0}")]
    AlreadyInitialised(String),
}

/// Where logs go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogSink {
    /// The systemd journal, with priorities and structured fields.
    Journald,
    /// Human-readable lines on stderr.
    Stderr,
}

/// Sets up `tracing` for a daemon or CLI named `component` (the journal's SYSLOG_IDENTIFIER).
/// Logs go to journald when stderr is the journal stream systemd gave us (`JOURNAL_STREAM`),
/// else to stderr.
pub fn init_tracing(component: &str) -> Result<LogSink, SystemdError> {
    let filter = filter_from_env()?;
    let journal = stderr_is_journal()
        .then(tracing_journald::layer)
        .and_then(Result::ok)
        .map(|l| l.with_syslog_identifier(component.to_string()));
    let (layer, sink) = match journal {
        Some(journal) => (journal.boxed(), LogSink::Journald),
        None => {
            let fmt = tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal())
                .with_target(false);
            (fmt.boxed(), LogSink::Stderr)
        }
    };
    tracing_subscriber::registry()
        .with(layer.with_filter(filter))
        .try_init()
        .map_err(|e| SystemdError::AlreadyInitialised(e.to_string()))?;
    Ok(sink)
}

fn filter_from_env() -> Result<EnvFilter, SystemdError> {
    let (var, value) = match std::env::var(LOG_ENV) {
        Ok(v) => (LOG_ENV, v),
        Err(_) => ("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_default()),
    };
    let value = if value.trim().is_empty() {
        DEFAULT_FILTER.to_string()
    } else {
        value
    };
    EnvFilter::try_new(&value).map_err(|e| SystemdError::Filter {
        var,
        value,
        reason: e.to_string(),
    })
}

/// Whether stderr is the journal stream systemd connected (`JOURNAL_STREAM=<dev>:<ino>` names
/// it). Checking the inode, not just the variable's presence, matters: a child started from a
/// unit inherits the variable even when its stderr was redirected elsewhere.
fn stderr_is_journal() -> bool {
    let Ok(value) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    // SAFETY: fstat only writes into the zeroed struct we pass; fd 2 may be closed, which
    // fstat reports as an error.
    let stat = unsafe {
        let mut stat: libc::stat = std::mem::zeroed();
        if libc::fstat(2, &mut stat) != 0 {
            return false;
        }
        stat
    };
    journal_stream_matches(&value, stat.st_dev as u64, stat.st_ino as u64)
}

/// Whether a `JOURNAL_STREAM` value (`<device>:<inode>`, decimal) names this device and inode.
pub fn journal_stream_matches(value: &str, device: u64, inode: u64) -> bool {
    let Some((dev, ino)) = value.trim().split_once(':') else {
        return false;
    };
    dev.parse::<u64>() == Ok(device) && ino.parse::<u64>() == Ok(inode)
}

fn notify(states: &[NotifyState<'_>]) {
    if let Err(error) = sd_notify::notify(states) {
        tracing::warn!(%error, "sd_notify failed");
    }
}

/// Tells systemd the service is ready (`Type=notify` units wait for this), with a status line.
pub fn notify_ready(status: &str) {
    notify(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// Updates the status line `systemctl status` shows.
pub fn notify_status(status: &str) {
    notify(&[NotifyState::Status(status)]);
}

/// Tells systemd the service is shutting down.
pub fn notify_stopping(status: &str) {
    notify(&[NotifyState::Stopping, NotifyState::Status(status)]);
}

/// One watchdog keep-alive (`WATCHDOG=1`).
pub fn notify_watchdog() {
    notify(&[NotifyState::Watchdog]);
}

/// How often to send keep-alives: half of `WatchdogSec=` (as sd_watchdog_enabled(3) advises),
/// or `None` when systemd set no watchdog for this process.
pub fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled().map(keepalive_interval)
}

/// Half the watchdog timeout, and never less than 10 ms so a tiny setting cannot spin.
pub fn keepalive_interval(timeout: Duration) -> Duration {
    (timeout / 2).max(Duration::from_millis(10))
}

/// Sends keep-alives every `interval` while `healthy()` says so, until `shutdown` completes.
/// Run it as a task of the daemon's runtime: if the runtime stalls, or `healthy` turns false
/// (say, the main loop stopped making progress), the pings stop and systemd restarts the unit.
pub async fn run_watchdog(
    interval: Duration,
    healthy: impl Fn() -> bool,
    shutdown: impl Future<Output = ()>,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = ticker.tick() => {
                if healthy() {
                    notify_watchdog();
                } else {
                    tracing::warn!("unhealthy: withholding the watchdog keep-alive");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_stream_must_name_this_device_and_inode() {
        assert!(journal_stream_matches("8:12345", 8, 12345));
        assert!(journal_stream_matches("8:12345\n", 8, 12345));
        assert!(!journal_stream_matches("8:12345", 8, 12346));
        assert!(!journal_stream_matches("9:12345", 8, 12345));
        assert!(!journal_stream_matches("garbage", 8, 12345));
        assert!(!journal_stream_matches("", 0, 0));
    }

    #[test]
    fn keepalives_go_at_half_the_watchdog_timeout() {
        assert_eq!(
            keepalive_interval(Duration::from_secs(30)),
            Duration::from_secs(15)
        );
        assert_eq!(
            keepalive_interval(Duration::from_micros(1)),
            Duration::from_millis(10)
        );
    }

    /// Runs in a child process (see below) with NOTIFY_SOCKET set, so that no test thread of
    /// this process races on the environment.
    #[test]
    #[ignore = "run by notifications_reach_the_socket_named_by_notify_socket in a child process"]
    fn child_sends_notifications() {
        notify_ready("serving");
        notify_status("3 pods");
        notify_watchdog();
        notify_stopping("draining");
    }

    #[test]
    fn notifications_reach_the_socket_named_by_notify_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let socket = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "systemd::tests::child_sends_notifications",
                "--ignored",
                "--quiet",
            ])
            .env("NOTIFY_SOCKET", &path)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        let mut messages = Vec::new();
        let mut buf = [0u8; 512];
        for _ in 0..4 {
            let n = socket.recv(&mut buf).unwrap();
            messages.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        assert_eq!(
            messages,
            [
                "READY=1\nSTATUS=serving\n",
                "STATUS=3 pods\n",
                "WATCHDOG=1\n",
                "STOPPING=1\nSTATUS=draining\n"
            ]
        );
    }
}
