//! A `ContainerRuntime` that runs nothing and records every call, for testing pod workers and
//! the agent without root. Tests make containers exit and decide exec results.
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::{
    now_ms, ContainerConfig, ContainerExit, ContainerId, ContainerRecord, ContainerRuntime,
    ContainerStarted, ExecResult, ExitStatus, RuntimeError, SandboxConfig, SandboxId,
    SandboxStatus,
};

/// One recorded call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    CreateSandbox(SandboxId),
    RemoveSandbox(SandboxId),
    Start { id: ContainerId, args: Vec<String> },
    Signal { id: ContainerId, signal: i32 },
    Remove(ContainerId),
    Exec { id: ContainerId, args: Vec<String> },
}

struct FakeContainer {
    record: ContainerRecord,
    exit: watch::Sender<Option<ContainerExit>>,
}

#[derive(Default)]
struct Inner {
    calls: Vec<Call>,
    containers: HashMap<ContainerId, FakeContainer>,
    sandboxes: BTreeMap<SandboxId, SandboxStatus>,
    next_pid: i32,
    /// Exec results by command (first argument).
    exec_results: HashMap<String, ExecResult>,
    /// Containers whose start fails, by label `container`.
    failing_starts: Vec<String>,
    /// Exit statuses given to containers that receive SIGTERM/SIGKILL.
    exit_on_signal: bool,
}

/// The recording fake. Clones share state.
#[derive(Clone)]
pub struct FakeRuntime {
    inner: Arc<Mutex<Inner>>,
}

impl Default for FakeRuntime {
    fn default() -> Self {
        FakeRuntime::new()
    }
}

impl FakeRuntime {
    pub fn new() -> FakeRuntime {
        let inner = Inner {
            next_pid: 1000,
            exit_on_signal: true,
            ..Default::default()
        };
        FakeRuntime {
            inner: Arc::new(Mutex::new(inner)),
        }
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.inner.lock().expect("fake lock").calls.clone()
    }

    /// Forgets the calls recorded so far.
    pub fn clear_calls(&self) {
        self.inner.lock().expect("fake lock").calls.clear();
    }

    /// Makes a running container exit with `status`.
    pub fn exit(&self, id: &ContainerId, status: ExitStatus, oom_killed: bool) {
        let inner = self.inner.lock().expect("fake lock");
        if let Some(container) = inner.containers.get(id) {
            // `send_replace`, not `send`: `send` drops the value when no waiter has subscribed
            // yet, and the worker's exit watch may subscribe after this.
            container.exit.send_replace(Some(ContainerExit {
                status,
                oom_killed,
                finished_at_ms: now_ms(),
            }));
        }
    }

    /// The running container whose label `container` is `name` (the newest if several).
    pub fn running(&self, name: &str) -> Option<ContainerId> {
        let inner = self.inner.lock().expect("fake lock");
        inner
            .containers
            .values()
            .filter(|c| {
                c.record.labels.get("container").map(String::as_str) == Some(name)
                    && c.exit.borrow().is_none()
            })
            .max_by_key(|c| c.record.pid)
            .map(|c| c.record.id.clone())
    }

    /// What `exec` answers for a command whose first argument is `command`.
    pub fn set_exec_result(&self, command: &str, result: ExecResult) {
        self.inner
            .lock()
            .expect("fake lock")
            .exec_results
            .insert(command.to_string(), result);
    }

    /// Makes starts of containers named `name` fail.
    pub fn fail_starts(&self, name: &str) {
        self.inner
            .lock()
            .expect("fake lock")
            .failing_starts
            .push(name.to_string());
    }

    /// Whether signals end containers (default) or are ignored (a container that ignores
    /// SIGTERM).
    pub fn set_exit_on_signal(&self, exit: bool) {
        self.inner.lock().expect("fake lock").exit_on_signal = exit;
    }
}

impl ContainerRuntime for FakeRuntime {
    async fn create_sandbox(&self, config: &SandboxConfig) -> Result<SandboxStatus, RuntimeError> {
        let mut inner = self.inner.lock().expect("fake lock");
        inner.calls.push(Call::CreateSandbox(config.id.clone()));
        let n = inner.sandboxes.len() as u8 + 2;
        let status = SandboxStatus {
            id: config.id.clone(),
            ip: Some(std::net::Ipv4Addr::new(10, 88, 0, n)),
            net_ns: Some(format!("/run/fake/{}/net", config.id).into()),
            ipc_ns: format!("/run/fake/{}/ipc", config.id).into(),
            uts_ns: Some(format!("/run/fake/{}/uts", config.id).into()),
            hosts_file: "/fake/hosts".into(),
            resolv_conf: "/fake/resolv.conf".into(),
            hostname_file: "/fake/hostname".into(),
            labels: config.labels.clone(),
        };
        inner.sandboxes.insert(config.id.clone(), status.clone());
        Ok(status)
    }

    async fn remove_sandbox(&self, id: &SandboxId) -> Result<(), RuntimeError> {
        let mut inner = self.inner.lock().expect("fake lock");
        inner.calls.push(Call::RemoveSandbox(id.clone()));
        inner.sandboxes.remove(id);
        Ok(())
    }

    async fn start_container(
        &self,
        config: &ContainerConfig,
    ) -> Result<ContainerStarted, RuntimeError> {
        let mut inner = self.inner.lock().expect("fake lock");
        inner.calls.push(Call::Start {
            id: config.id.clone(),
            args: config.process.args.clone(),
        });
        let name = config.labels.get("container").cloned().unwrap_or_default();
        if inner.failing_starts.contains(&name) {
            return Err(RuntimeError::Bundle {
                id: config.id.clone(),
                message: "executable not found".to_string(),
            });
        }
        inner.next_pid += 1;
        let pid = inner.next_pid;
        let started_at_ms = now_ms();
        let (exit, _) = watch::channel(None);
        let record = ContainerRecord {
            id: config.id.clone(),
            pid,
            started_at_ms,
            labels: config.labels.clone(),
            exit: None,
        };
        inner
            .containers
            .insert(config.id.clone(), FakeContainer { record, exit });
        Ok(ContainerStarted {
            id: config.id.clone(),
            pid,
            started_at_ms,
        })
    }

    async fn signal(&self, id: &ContainerId, signal: i32) -> Result<(), RuntimeError> {
        let mut inner = self.inner.lock().expect("fake lock");
        inner.calls.push(Call::Signal {
            id: id.clone(),
            signal,
        });
        let exit_on_signal = inner.exit_on_signal || signal == libc::SIGKILL;
        let container = inner
            .containers
            .get(id)
            .ok_or_else(|| RuntimeError::NotFound(id.clone()))?;
        if exit_on_signal && container.exit.borrow().is_none() {
            container.exit.send_replace(Some(ContainerExit {
                status: ExitStatus::Signal(signal),
                oom_killed: false,
                finished_at_ms: now_ms(),
            }));
        }
        Ok(())
    }

    async fn wait(&self, id: &ContainerId) -> Result<ContainerExit, RuntimeError> {
        let mut exit = {
            let inner = self.inner.lock().expect("fake lock");
            inner
                .containers
                .get(id)
                .ok_or_else(|| RuntimeError::NotFound(id.clone()))?
                .exit
                .subscribe()
        };
        loop {
            if let Some(status) = *exit.borrow_and_update() {
                return Ok(status);
            }
            if exit.changed().await.is_err() {
                return Ok(ContainerExit {
                    status: ExitStatus::Unknown,
                    oom_killed: false,
                    finished_at_ms: now_ms(),
                });
            }
        }
    }

    async fn remove_container(&self, id: &ContainerId) -> Result<(), RuntimeError> {
        let mut inner = self.inner.lock().expect("fake lock");
        inner.calls.push(Call::Remove(id.clone()));
        inner.containers.remove(id);
        Ok(())
    }

    async fn exec(
        &self,
        id: &ContainerId,
        args: &[String],
        _timeout_ms: u64,
    ) -> Result<ExecResult, RuntimeError> {
        let mut inner = self.inner.lock().expect("fake lock");
        inner.calls.push(Call::Exec {
            id: id.clone(),
            args: args.to_vec(),
        });
        let command = args.first().cloned().unwrap_or_default();
        Ok(inner
            .exec_results
            .get(&command)
            .cloned()
            .unwrap_or(ExecResult {
                status: Some(ExitStatus::Code(0)),
                output: Vec::new(),
            }))
    }

    async fn list_containers(&self) -> Vec<ContainerRecord> {
        let inner = self.inner.lock().expect("fake lock");
        let mut list: Vec<ContainerRecord> = inner
            .containers
            .values()
            .map(|c| ContainerRecord {
                exit: *c.exit.borrow(),
                ..c.record.clone()
            })
            .collect();
        list.sort_by(|a, b| a.id.cmp(&b.id));
        list
    }

    async fn list_sandboxes(&self) -> Vec<SandboxStatus> {
        self.inner
            .lock()
            .expect("fake lock")
            .sandboxes
            .values()
            .cloned()
            .collect()
    }
}
