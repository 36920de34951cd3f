//! Reading a container's log back, for `edged logs` (the local socket) and `edgectl logs`
//! (through the master): which file holds an instance (current or previous), the retained
//! history in order with the last N lines, and following new lines as they are written.
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::cri;
use super::rotate::files_oldest_first;
use super::LogLimits;
use crate::agent::pods::{naming, PodView, StatusMap};
use crate::api;

/// How often a followed log is checked for new lines.
pub const FOLLOW_POLL: Duration = Duration::from_millis(200);
/// Rotated files looked for, whatever the rotation settings were.
const ROTATED_FILES_SCAN_MAX: u32 = 32;
/// Bytes read from a followed file at once; the rest waits for the next poll.
const FOLLOW_READ_BYTES_MAX: u64 = 256 * 1024;
/// A line longer than this without a newline is passed on as it is (partial).
const PENDING_BYTES_MAX: usize = 256 * 1024;

/// Why a log cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogLookupError {
    /// the container is not one of the pod's
    #[error("container {container:?} is not valid for pod {pod}; choose one of: {}", choices.join(", "))]
    ContainerNotValid {
        container: String,
        pod: String,
        choices: Vec<String>,
    },
    /// the pod has several containers and none was named
    #[error("a container name must be specified for pod {pod}, choose one of: {}", choices.join(", "))]
    ContainerRequired { pod: String, choices: Vec<String> },
    /// `--previous` of a container that never restarted
    #[error("previous terminated container {container:?} in pod {pod:?} not found")]
    NoPrevious { container: String, pod: String },
}

/// The log file of one container instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogTarget {
    pub path: PathBuf,
    pub pod_uid: String,
    pub container: String,
}

/// The log file `container` (or the pod's only container) of `view` writes to, or wrote to
/// before its last restart with `previous`.
pub fn locate(
    view: &PodView,
    logs_root: &Path,
    container: Option<&str>,
    previous: bool,
) -> Result<LogTarget, LogLookupError> {
    let pod = naming::pod_key(&view.pod);
    let statuses: Vec<&api::ContainerStatus> = view
        .status
        .init_container_statuses
        .iter()
        .chain(&view.status.container_statuses)
        .collect();
    let status = match container {
        Some(name) => statuses.iter().find(|s| s.name == name).ok_or_else(|| {
            LogLookupError::ContainerNotValid {
                container: name.to_string(),
                pod: pod.clone(),
                choices: statuses.iter().map(|s| s.name.clone()).collect(),
            }
        })?,
        None if view.status.container_statuses.len() == 1 => &view.status.container_statuses[0],
        None => {
            return Err(LogLookupError::ContainerRequired {
                pod,
                choices: view
                    .status
                    .container_statuses
                    .iter()
                    .map(|s| s.name.clone())
                    .collect(),
            })
        }
    };
    let restart = status.restart_count.max(0) as u32;
    let instance = if previous {
        restart
            .checked_sub(1)
            .ok_or_else(|| LogLookupError::NoPrevious {
                container: status.name.clone(),
                pod: view.pod.metadata.name.clone(),
            })?
    } else {
        restart
    };
    Ok(LogTarget {
        path: naming::log_path(logs_root, &view.pod, &status.name, instance),
        pod_uid: view.pod.metadata.uid.clone(),
        container: status.name.clone(),
    })
}

/// Turns CRI lines into what `kubectl logs` prints (partial lines joined).
pub fn render(bytes: &[u8], timestamps: bool, out: &mut Vec<u8>) {
    for line in bytes.split(|b| *b == b'\n') {
        let Some(parsed) = cri::parse_line(line) else {
            continue;
        };
        if timestamps {
            out.extend_from_slice(parsed.timestamp.as_bytes());
            out.push(b' ');
        }
        out.extend_from_slice(parsed.content);
        if !parsed.partial {
            out.push(b'\n');
        }
    }
}

/// The last `tail` lines of rendered text (all of it when `None`).
pub fn tail_lines(rendered: Vec<u8>, tail: Option<u64>) -> Vec<u8> {
    let Some(tail) = tail else {
        return rendered;
    };
    let lines: Vec<&[u8]> = rendered.split_inclusive(|b| *b == b'\n').collect();
    let start = lines
        .len()
        .saturating_sub(usize::try_from(tail).unwrap_or(usize::MAX));
    lines[start..].concat()
}

/// The retained history of a log (rotated files, then the current one), rendered, with its
/// last `tail` lines only; and where the current file ended, for [`Follower`].
pub async fn history(target: &LogTarget, tail: Option<u64>, timestamps: bool) -> (Vec<u8>, u64) {
    let limits = LogLimits {
        files_max: ROTATED_FILES_SCAN_MAX,
        ..LogLimits::default()
    };
    let mut text = Vec::new();
    let mut current_len = 0;
    for file in files_oldest_first(&target.path, limits) {
        if let Ok(bytes) = tokio::fs::read(&file).await {
            if file == target.path {
                current_len = bytes.len() as u64;
            }
            text.extend_from_slice(&bytes);
        }
    }
    // An incomplete last line is left for the follower.
    let complete = text
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |end| end + 1);
    let unfinished = (text.len() - complete) as u64;
    let mut rendered = Vec::new();
    render(&text[..complete], timestamps, &mut rendered);
    (
        tail_lines(rendered, tail),
        current_len.saturating_sub(unfinished),
    )
}

/// Follows a log file from an offset: new complete lines, rendered.
pub struct Follower {
    path: PathBuf,
    offset: u64,
    pending: Vec<u8>,
    timestamps: bool,
}

impl Follower {
    pub fn new(target: &LogTarget, offset: u64, timestamps: bool) -> Follower {
        Follower {
            path: target.path.clone(),
            offset,
            pending: Vec::new(),
            timestamps,
        }
    }

    /// What was appended since the last call, rendered (empty when nothing was).
    pub async fn read_new(&mut self) -> std::io::Result<Vec<u8>> {
        let Ok(mut file) = tokio::fs::File::open(&self.path).await else {
            return Ok(Vec::new());
        };
        let len = file.metadata().await.map(|m| m.len()).unwrap_or(0);
        if len < self.offset {
            // Rotated: the new file starts from the beginning.
            self.offset = 0;
        }
        if len <= self.offset {
            return Ok(Vec::new());
        }
        file.seek(std::io::SeekFrom::Start(self.offset)).await?;
        let mut chunk = Vec::new();
        (&mut file)
            .take((len - self.offset).min(FOLLOW_READ_BYTES_MAX))
            .read_to_end(&mut chunk)
            .await?;
        self.offset += chunk.len() as u64;
        self.pending.extend_from_slice(&chunk);
        let complete = match self.pending.iter().rposition(|b| *b == b'\n') {
            Some(end) => end + 1,
            None if self.pending.len() > PENDING_BYTES_MAX => self.pending.len(),
            None => return Ok(Vec::new()),
        };
        let lines: Vec<u8> = self.pending.drain(..complete).collect();
        let mut out = Vec::new();
        render(&lines, self.timestamps, &mut out);
        Ok(out)
    }
}

/// Whether the container instance a log belongs to still runs (following ends when it stops,
/// like `kubectl logs -f`).
pub fn still_running(views: &StatusMap, target: &LogTarget) -> bool {
    views.get(&target.pod_uid).is_some_and(|view| {
        view.status
            .init_container_statuses
            .iter()
            .chain(&view.status.container_statuses)
            .any(|s| {
                s.name == target.container
                    && s.state.as_ref().is_some_and(|st| st.running.is_some())
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn view(restarts: i32) -> PodView {
        let pod: api::Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web-1", "namespace": "default", "uid": "u1"},
            "spec": {"containers": [{"name": "web", "image": "busybox"}, {"name": "side", "image": "busybox"}]}
        }))
        .unwrap();
        let status: api::PodStatus = serde_json::from_value(serde_json::json!({
            "containerStatuses": [
                {"name": "web", "restartCount": restarts},
                {"name": "side", "restartCount": 0}
            ]
        }))
        .unwrap();
        PodView {
            pod: Arc::new(pod),
            status,
            deleting: false,
            containers: vec![],
        }
    }

    #[test]
    fn the_previous_instance_is_the_one_before_the_last_restart() {
        let root = Path::new("/logs");
        let current = locate(&view(2), root, Some("web"), false).unwrap();
        let previous = locate(&view(2), root, Some("web"), true).unwrap();
        assert!(current.path.ends_with("web/2.log"));
        assert!(previous.path.ends_with("web/1.log"));
        assert_eq!(
            locate(&view(0), root, Some("web"), true),
            Err(LogLookupError::NoPrevious {
                container: "web".into(),
                pod: "web-1".into()
            })
        );
    }

    #[test]
    fn a_pod_with_several_containers_needs_a_valid_name() {
        let root = Path::new("/logs");
        assert!(matches!(
            locate(&view(0), root, None, false),
            Err(LogLookupError::ContainerRequired { .. })
        ));
        assert!(matches!(
            locate(&view(0), root, Some("db"), false),
            Err(LogLookupError::ContainerNotValid { .. })
        ));
    }

    #[test]
    fn the_tail_keeps_the_last_lines() {
        assert_eq!(tail_lines(b"a\nb\nc\n".to_vec(), Some(2)), b"b\nc\n");
        assert_eq!(tail_lines(b"a\nb\n".to_vec(), Some(5)), b"a\nb\n");
        assert_eq!(tail_lines(b"a\nb\n".to_vec(), Some(0)), b"");
        assert_eq!(tail_lines(b"a\nb\n".to_vec(), None), b"a\nb\n");
    }

    #[tokio::test]
    async fn history_then_follow_sees_every_line_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        let line = |text: &str| format!("2026-01-01T00:00:00.000000000Z stdout F {text}\n");
        std::fs::write(&path, format!("{}{}", line("one"), line("two"))).unwrap();
        let target = LogTarget {
            path: path.clone(),
            pod_uid: "u1".into(),
            container: "web".into(),
        };
        let (text, offset) = history(&target, Some(1), false).await;
        assert_eq!(text, b"two\n");
        let mut follower = Follower::new(&target, offset, false);
        assert!(follower.read_new().await.unwrap().is_empty());
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        use std::io::Write;
        let three = line("three");
        file.write_all(&three.as_bytes()[..10]).unwrap();
        assert!(follower.read_new().await.unwrap().is_empty());
        file.write_all(&three.as_bytes()[10..]).unwrap();
        assert_eq!(follower.read_new().await.unwrap(), b"three\n");
    }
}
