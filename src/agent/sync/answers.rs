//! What the agent answers through the reverse tunnel, served from the agent daemon: container
//! logs (from the log files, followed while the container runs), commands run in a container
//! (through the runtime's exec) and cgroup statistics. Pods are found by uid, so a request for
//! a pod that was replaced under the same name never reads the wrong one.
use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::agent::daemon::Agent;
use crate::agent::logs::read::{self, LogLookupError};
use crate::agent::pods::{PodView, StatusMap};
use crate::agent::runtime::{ContainerId, ExitStatus, RuntimeError};
use crate::agent::stats::{ContainerTarget, Sampler};
use crate::api;
use crate::wire::tunnel::{ExecExit, EXEC_OUTPUT_BYTES_MAX};
use crate::wire::{ExecCall, FailureReason, LogsCall, NodeName, PodRef, TunnelCall, TunnelFrame};

use super::requests::{FrameSink, RequestHandler};

/// Commands run through the tunnel at once on one node (each holds a runtime helper child).
pub const EXECS_MAX: usize = 4;

/// The agent daemon as the tunnel's request handler.
pub struct AgentAnswers {
    agent: Arc<Agent>,
    node: NodeName,
    sampler: Sampler,
    execs: Semaphore,
}

/// A request that cannot be served, with what to tell the client.
type Refusal = (FailureReason, String);

fn find<'a>(views: &'a StatusMap, node: &NodeName, pod: &PodRef) -> Result<&'a PodView, Refusal> {
    views
        .get(pod.uid())
        .filter(|v| {
            v.pod.metadata.name == pod.name()
                && v.pod.metadata.namespace_or_default() == pod.namespace()
        })
        .map(|v| v.as_ref())
        .ok_or_else(|| {
            (
                FailureReason::NotFound,
                format!("pod {pod} is not running on node {node} (yet)"),
            )
        })
}

fn spec_has(view: &PodView, container: &str) -> bool {
    let spec = &view.pod.spec;
    spec.containers
        .iter()
        .chain(&spec.init_containers)
        .any(|c| c.name == container)
}

fn status_of<'a>(view: &'a PodView, container: &str) -> Option<&'a api::ContainerStatus> {
    view.status
        .init_container_statuses
        .iter()
        .chain(&view.status.container_statuses)
        .find(|s| s.name == container)
}

fn waiting(view: &PodView, container: &str) -> Refusal {
    let reason = status_of(view, container)
        .and_then(|s| s.state.as_ref())
        .and_then(|s| s.waiting.as_ref())
        .and_then(|w| w.reason.clone())
        .unwrap_or_else(|| "ContainerCreating".to_string());
    (
        FailureReason::BadRequest,
        format!(
            "container \"{container}\" in pod \"{}\" is waiting to start: {reason}",
            view.pod.metadata.name
        ),
    )
}

impl AgentAnswers {
    pub fn new(agent: Arc<Agent>, node: NodeName) -> AgentAnswers {
        let sampler = Sampler::new(agent.engine.cgroups());
        AgentAnswers {
            agent,
            node,
            sampler,
            execs: Semaphore::new(EXECS_MAX),
        }
    }

    fn locate(&self, call: &LogsCall) -> Result<read::LogTarget, Refusal> {
        let views = self.agent.statuses();
        let views = views.borrow();
        let view = find(&views, &self.node, &call.pod)?;
        let container = call.container.as_str();
        let logs_root = self.agent.config.data_dir().join("logs");
        let target = match read::locate(view, &logs_root, Some(container), call.previous) {
            Ok(target) => target,
            Err(LogLookupError::ContainerNotValid { .. }) if spec_has(view, container) => {
                return Err(waiting(view, container))
            }
            Err(e @ LogLookupError::NoPrevious { .. }) => {
                return Err((FailureReason::BadRequest, e.to_string()))
            }
            Err(e) => return Err((FailureReason::NotFound, e.to_string())),
        };
        if !target.path.exists() {
            return Err(if call.previous {
                (
                    FailureReason::BadRequest,
                    format!(
                        "previous terminated container \"{container}\" in pod \"{}\" not found",
                        view.pod.metadata.name
                    ),
                )
            } else {
                waiting(view, container)
            });
        }
        Ok(target)
    }

    async fn logs(&self, call: LogsCall, out: &FrameSink) {
        let target = match self.locate(&call) {
            Ok(target) => target,
            Err((reason, message)) => return out.fail(reason, message).await,
        };
        let (text, offset) = read::history(&target, call.tail_lines, call.timestamps).await;
        if out.output(&text).await.is_err() || !call.follow {
            return;
        }
        let views = self.agent.statuses();
        let mut follower = read::Follower::new(&target, offset, call.timestamps);
        loop {
            tokio::select! {
                _ = tokio::time::sleep(read::FOLLOW_POLL) => {}
                _ = out.closed() => return,
            }
            // Read before the running check, so the last lines of a container that just
            // stopped are sent too.
            let running = read::still_running(&views.borrow(), &target);
            match follower.read_new().await {
                Ok(lines) if !lines.is_empty() => {
                    if out.output(&lines).await.is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::debug!(%error, path = %target.path.display(), "following a log");
                    return;
                }
            }
            if !running {
                return;
            }
        }
    }

    fn running_container(&self, call: &ExecCall) -> Result<ContainerId, Refusal> {
        let views = self.agent.statuses();
        let views = views.borrow();
        let view = find(&views, &self.node, &call.pod)?;
        let container = call.container.as_str();
        let not_running = || {
            (
                FailureReason::BadRequest,
                format!(
                    "container \"{container}\" in pod \"{}\" is not running",
                    view.pod.metadata.name
                ),
            )
        };
        let status = status_of(view, container).ok_or_else(|| {
            if spec_has(view, container) {
                waiting(view, container)
            } else {
                (
                    FailureReason::NotFound,
                    format!(
                        "container {container} is not valid for pod {}",
                        view.pod.metadata.name
                    ),
                )
            }
        })?;
        if status.state.as_ref().is_none_or(|s| s.running.is_none()) {
            return Err(not_running());
        }
        status
            .container_id
            .as_deref()
            .and_then(|id| id.strip_prefix("flotilla://"))
            .and_then(|id| ContainerId::new(id).ok())
            .ok_or_else(not_running)
    }

    async fn exec(&self, call: ExecCall, out: &FrameSink) {
        let id = match self.running_container(&call) {
            Ok(id) => id,
            Err((reason, message)) => return out.fail(reason, message).await,
        };
        let Ok(_permit) = self.execs.try_acquire() else {
            return out
                .fail(
                    FailureReason::Unavailable,
                    format!(
                        "node {} runs {EXECS_MAX} commands already; try again later",
                        self.node
                    ),
                )
                .await;
        };
        tracing::info!(pod = %call.pod, container = %call.container, "exec through the master");
        let result = self
            .agent
            .engine
            .exec_with_output_limit(
                &id,
                call.command(),
                u64::from(call.timeout_s) * 1000,
                EXEC_OUTPUT_BYTES_MAX as u32 + 1,
            )
            .await;
        let mut result = match result {
            Ok(result) => result,
            Err(RuntimeError::NotFound(_)) => {
                return out
                    .fail(
                        FailureReason::BadRequest,
                        format!("container \"{}\" is not running", call.container),
                    )
                    .await
            }
            Err(error) => {
                return out
                    .fail(
                        FailureReason::BadRequest,
                        format!("exec in container \"{}\" failed: {error}", call.container),
                    )
                    .await
            }
        };
        let output_truncated = result.output.len() > EXEC_OUTPUT_BYTES_MAX;
        result.output.truncate(EXEC_OUTPUT_BYTES_MAX);
        let exit = ExecExit {
            exit_code: match result.status {
                Some(ExitStatus::Code(code)) => Some(code),
                _ => None,
            },
            signal: match result.status {
                Some(ExitStatus::Signal(signal)) => Some(signal),
                _ => None,
            },
            timed_out: result.status.is_none(),
            output_truncated,
        };
        if out.send(TunnelFrame::Exited(exit)).await.is_ok() {
            let _ = out.output(&result.output).await;
        }
    }

    fn stats_targets(&self) -> Vec<ContainerTarget> {
        let views = self.agent.statuses();
        let views = views.borrow();
        let mut targets = Vec::new();
        for view in views.values().filter(|v| !v.deleting) {
            let meta = &view.pod.metadata;
            let Ok(pod) = PodRef::new(
                meta.namespace_or_default(),
                meta.name.clone(),
                meta.uid.clone(),
            ) else {
                continue;
            };
            for status in view
                .status
                .init_container_statuses
                .iter()
                .chain(&view.status.container_statuses)
            {
                let running = status.state.as_ref().is_some_and(|s| s.running.is_some());
                let id = status
                    .container_id
                    .as_deref()
                    .and_then(|id| id.strip_prefix("flotilla://"))
                    .and_then(|id| ContainerId::new(id).ok());
                let (true, Some(id), Ok(name)) =
                    (running, id, api::ContainerName::new(status.name.clone()))
                else {
                    continue;
                };
                targets.push(ContainerTarget {
                    pod: pod.clone(),
                    name,
                    cgroup_path: self.agent.engine.cgroup_path(&id),
                });
            }
        }
        targets
    }

    async fn stats(&self, out: &FrameSink) {
        let targets = self.stats_targets();
        let usage = self.sampler.usage(&targets).await;
        let _ = out.send(TunnelFrame::Stats(Box::new(usage))).await;
    }
}

impl RequestHandler for AgentAnswers {
    async fn serve(&self, call: TunnelCall, out: FrameSink) {
        match call {
            TunnelCall::Logs(call) => self.logs(call, &out).await,
            TunnelCall::Exec(call) => self.exec(call, &out).await,
            TunnelCall::Stats => self.stats(&out).await,
        }
    }
}
