//! The pod worker: the shell around one pod's `PodMachine`. It feeds the machine inputs (the
//! pod's deletion, results of the actions it ran, timer ticks) and runs each action it gets back
//! as a task against the runtime, the image service and the probes. One task per pod; actions
//! run concurrently, results come back through a bounded channel.
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use super::container_config::{self, ConfigInputs};
use super::naming;
use super::probes::{self, ProbeTarget};
use super::volumes::{self, PodVolumes};
use super::{PodView, WorkerContext};
use crate::agent::image::service::ReadyImage;
use crate::agent::reconcile::{Observed, PodAction, PodInput, PodMachine, ProbeKind, Started};
use crate::agent::runtime::{
    now_ms, ContainerId, ContainerRuntime, PortMapping, Protocol, SandboxConfig, SandboxStatus,
};
use crate::api;

/// Results waiting for the worker at once; tasks wait for room beyond that.
const RESULTS_QUEUE_MAX: usize = 64;

/// What the manager tells a worker.
#[derive(Debug)]
pub enum WorkerMessage {
    Delete,
}

/// Per-worker state shared with its action tasks.
struct Shared {
    images: Mutex<HashMap<String, ReadyImage>>,
    volumes: Mutex<Option<PodVolumes>>,
}

/// The sandbox a pod needs: hostname, host network, hostPorts.
pub fn sandbox_config(pod: &api::Pod) -> SandboxConfig {
    let mut port_mappings = Vec::new();
    for container in &pod.spec.containers {
        for port in &container.ports {
            let (Some(host_port), Ok(container_port)) = (
                port.host_port.filter(|p| *p > 0),
                u16::try_from(port.container_port),
            ) else {
                continue;
            };
            let Ok(host_port) = u16::try_from(host_port) else {
                continue;
            };
            let protocol = match port.protocol.unwrap_or_default() {
                api::Protocol::Udp => Protocol::Udp,
                _ => Protocol::Tcp,
            };
            port_mappings.push(PortMapping {
                protocol,
                host_port,
                container_port,
            });
        }
    }
    SandboxConfig {
        id: naming::sandbox_id(&pod.metadata.uid),
        hostname: pod.metadata.name.chars().take(63).collect(),
        host_network: pod.spec.host_network,
        port_mappings,
        host_aliases: Vec::new(),
        labels: naming::sandbox_labels(pod),
    }
}

/// Runs one pod until it is deleted and everything it had is removed.
pub async fn run<R: ContainerRuntime + Clone>(
    ctx: Arc<WorkerContext<R>>,
    pod: Arc<api::Pod>,
    adopted: (Option<SandboxStatus>, Vec<Observed>),
    mut messages: mpsc::Receiver<WorkerMessage>,
) {
    let uid = pod.metadata.uid.clone();
    let pod_dir = ctx.pods_dir.join(&uid);
    let mut machine = PodMachine::new(pod.clone());
    let (results_tx, mut results) = mpsc::channel::<PodInput>(RESULTS_QUEUE_MAX);
    let shared = Arc::new(Shared {
        images: Mutex::new(HashMap::new()),
        volumes: Mutex::new(None),
    });
    // Adopted containers that still run: watch their exits like ours.
    for observed in adopted.1.iter().filter(|o| o.exit.is_none()) {
        spawn_exit_watch(&ctx, observed.id.clone(), results_tx.clone());
    }
    let mut input = PodInput::Adopt {
        sandbox: adopted.0,
        containers: adopted.1,
    };
    let mut deleting = false;
    loop {
        let actions = machine.step(input, now_ms());
        for action in actions {
            execute(&ctx, &machine, &shared, &pod_dir, action, &results_tx);
        }
        if machine.is_finished() {
            break;
        }
        let sleep = machine
            .next_wake_ms()
            .map(|at| Duration::from_millis(at.saturating_sub(now_ms()).max(1)));
        input = tokio::select! {
            message = messages.recv(), if !deleting => {
                // A closed channel means the manager is gone: stop the pod as if deleted.
                let _ = message;
                deleting = true;
                PodInput::Delete
            }
            Some(result) = results.recv() => result,
            _ = sleep_or_forever(sleep) => PodInput::Tick,
        };
    }
    let dir = pod_dir.clone();
    let log_dir = naming::pod_log_dir(&ctx.logs_dir, &pod);
    let _ = tokio::task::spawn_blocking(move || {
        let _ = volumes::remove(&dir);
        // The pod is gone, and its logs with it (as the kubelet removes them).
        let _ = std::fs::remove_dir_all(&log_dir);
    })
    .await;
    ctx.statuses.send_modify(|views| {
        views.remove(&uid);
    });
}

async fn sleep_or_forever(duration: Option<Duration>) {
    match duration {
        Some(duration) => tokio::time::sleep(duration).await,
        None => std::future::pending().await,
    }
}

fn spawn_exit_watch<R: ContainerRuntime + Clone>(
    ctx: &Arc<WorkerContext<R>>,
    id: ContainerId,
    results: mpsc::Sender<PodInput>,
) {
    let runtime = ctx.runtime.clone();
    tokio::spawn(async move {
        if let Ok(exit) = runtime.wait(&id).await {
            let _ = results.send(PodInput::ContainerExited { id, exit }).await;
        }
    });
}

fn publish<R: ContainerRuntime>(ctx: &WorkerContext<R>, machine: &PodMachine) {
    let pod = machine.pod().clone();
    let mut status = crate::agent::reconcile::status::pod_status(machine, now_ms());
    status.host_ip = ctx.host_ip.clone();
    let view = Arc::new(PodView {
        pod,
        status,
        deleting: machine.is_deleting(),
        containers: machine
            .containers
            .iter()
            .map(|c| {
                (
                    c.name().to_string(),
                    c.init,
                    c.last.as_ref().and_then(|t| t.message.clone()),
                )
            })
            .collect(),
    });
    ctx.statuses.send_modify(|views| {
        views.insert(view.pod.metadata.uid.clone(), view);
    });
}

/// Starts the task that carries out one action.
fn execute<R: ContainerRuntime + Clone>(
    ctx: &Arc<WorkerContext<R>>,
    machine: &PodMachine,
    shared: &Arc<Shared>,
    pod_dir: &std::path::Path,
    action: PodAction,
    results: &mpsc::Sender<PodInput>,
) {
    let pod = machine.pod().clone();
    let results = results.clone();
    let ctx_task = ctx.clone();
    match action {
        PodAction::StatusChanged => publish(ctx, machine),
        PodAction::PullImage {
            container,
            image,
            policy,
        } => {
            let shared = shared.clone();
            tokio::spawn(async move {
                let result = ctx_task.images.ensure(&image, policy).await;
                let result = result.map(|ready| {
                    let id = ready.record.config.to_string();
                    shared
                        .images
                        .lock()
                        .expect("images lock")
                        .insert(container.clone(), ready);
                    id
                });
                let _ = results
                    .send(PodInput::ImagePulled { container, result })
                    .await;
            });
        }
        PodAction::CreateSandbox => {
            tokio::spawn(async move {
                let result = ctx_task
                    .runtime
                    .create_sandbox(&sandbox_config(&pod))
                    .await
                    .map_err(|e| e.to_string());
                let _ = results.send(PodInput::SandboxCreated(result)).await;
            });
        }
        PodAction::StartContainer {
            container,
            init,
            restart_count,
        } => {
            let shared = shared.clone();
            let sandbox = machine.sandbox().cloned();
            let pod_dir = pod_dir.to_path_buf();
            tokio::spawn(async move {
                let result = start_container(
                    &ctx_task,
                    &pod,
                    &shared,
                    sandbox,
                    &pod_dir,
                    &container,
                    init,
                    restart_count,
                )
                .await;
                if let Ok(started) = &result {
                    spawn_exit_watch(&ctx_task, started.id.clone(), results.clone());
                }
                let _ = results
                    .send(PodInput::ContainerStarted { container, result })
                    .await;
            });
        }
        PodAction::Probe {
            container,
            id,
            kind,
            timeout_ms,
        } => {
            let sandbox = machine.sandbox().cloned();
            tokio::spawn(async move {
                let Some(spec) = pod
                    .spec
                    .containers
                    .iter()
                    .find(|c| c.name.as_str() == container)
                else {
                    return;
                };
                let probe = match kind {
                    ProbeKind::Startup => &spec.startup_probe,
                    ProbeKind::Liveness => &spec.liveness_probe,
                    ProbeKind::Readiness => &spec.readiness_probe,
                };
                let Some(probe) = probe else { return };
                let target = ProbeTarget {
                    container: spec,
                    id: &id,
                    pod_ip: sandbox
                        .as_ref()
                        .and_then(|s| s.ip)
                        .map(std::net::IpAddr::V4),
                    netns: sandbox.as_ref().and_then(|s| s.net_ns.as_deref()),
                };
                let outcome = probes::run(&ctx_task.runtime, probe, target, timeout_ms).await;
                let _ = results
                    .send(PodInput::ProbeResult {
                        id,
                        kind,
                        success: outcome.success,
                        message: outcome.message,
                    })
                    .await;
            });
        }
        PodAction::PreStop {
            container,
            id,
            grace_ms,
        } => {
            tokio::spawn(async move {
                let handler = pod
                    .spec
                    .containers
                    .iter()
                    .chain(&pod.spec.init_containers)
                    .find(|c| c.name.as_str() == container)
                    .and_then(|c| c.lifecycle.as_ref())
                    .and_then(|l| l.pre_stop.clone());
                if let Some(handler) = handler {
                    if let Some(exec) = &handler.exec {
                        if let Err(e) = ctx_task
                            .runtime
                            .exec(&id, &exec.command, grace_ms.max(1000))
                            .await
                        {
                            tracing::warn!(container = %id, error = %e, "preStop hook failed");
                        }
                    } else if let Some(sleep) = &handler.sleep {
                        let ms = (sleep.seconds.max(0) as u64 * 1000).min(grace_ms);
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                    }
                }
                let _ = results.send(PodInput::PreStopDone { id }).await;
            });
        }
        PodAction::Signal { id, signal, .. } => {
            tokio::spawn(async move {
                if let Err(e) = ctx_task.runtime.signal(&id, signal).await {
                    tracing::warn!(container = %id, signal, error = %e, "signalling container");
                }
            });
        }
        PodAction::RemoveContainer { id } => {
            tokio::spawn(async move {
                // A failed removal is retried by nobody: log it; the leak test watches for it.
                if let Err(e) = ctx_task.runtime.remove_container(&id).await {
                    tracing::warn!(container = %id, error = %e, "removing container");
                }
                let _ = results.send(PodInput::ContainerRemoved { id }).await;
            });
        }
        PodAction::RemoveSandbox { id } => {
            tokio::spawn(async move {
                if let Err(e) = ctx_task.runtime.remove_sandbox(&id).await {
                    tracing::warn!(sandbox = %id, error = %e, "removing sandbox");
                }
                let _ = results.send(PodInput::SandboxRemoved).await;
            });
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn start_container<R: ContainerRuntime + Clone>(
    ctx: &Arc<WorkerContext<R>>,
    pod: &Arc<api::Pod>,
    shared: &Arc<Shared>,
    sandbox: Option<SandboxStatus>,
    pod_dir: &std::path::Path,
    name: &str,
    init: bool,
    restart_count: u32,
) -> Result<Started, String> {
    let sandbox = sandbox.ok_or("the pod has no sandbox")?;
    let spec = if init {
        &pod.spec.init_containers
    } else {
        &pod.spec.containers
    };
    let container = spec
        .iter()
        .find(|c| c.name.as_str() == name)
        .ok_or("unknown container")?;
    let resolved = shared
        .images
        .lock()
        .expect("images lock")
        .get(name)
        .cloned();
    let image = match resolved {
        Some(image) => image,
        // A container adopted from an earlier agent (or boot) counts as having its image, but
        // this worker never resolved it: do it now, as a pull would have.
        None => {
            let ready = ctx
                .images
                .ensure(
                    container.image.as_deref().unwrap_or_default(),
                    container.image_pull_policy,
                )
                .await?;
            shared
                .images
                .lock()
                .expect("images lock")
                .insert(name.to_string(), ready.clone());
            ready
        }
    };
    let volumes = {
        let existing = shared.volumes.lock().expect("volumes lock").clone();
        match existing {
            Some(volumes) => volumes,
            None => {
                let (pod_for_volumes, dir, objects) =
                    (pod.clone(), pod_dir.to_path_buf(), ctx.objects.clone());
                let prepared = tokio::task::spawn_blocking(move || {
                    volumes::prepare(&pod_for_volumes, &dir, objects.as_ref())
                })
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
                *shared.volumes.lock().expect("volumes lock") = Some(prepared.clone());
                prepared
            }
        }
    };
    let mounts = volumes.mounts_for(container).map_err(|e| e.to_string())?;
    let inputs = ConfigInputs {
        pod,
        container,
        image: &image.config,
        layers: image.layers.clone(),
        sandbox: &sandbox,
        mounts,
        objects: ctx.objects.as_ref(),
        node_name: &ctx.node_name,
        host_ip: ctx.host_ip.as_deref(),
        restart_count,
        init,
        logs_root: &ctx.logs_dir,
    };
    let mut config = container_config::container_config(&inputs).map_err(|e| e.to_string())?;
    config.labels.insert(
        naming::LABEL_IMAGE_ID.to_string(),
        image.record.config.to_string(),
    );
    let started = ctx
        .runtime
        .start_container(&config)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Started {
        id: started.id,
        pid: started.pid,
        started_at_ms: started.started_at_ms,
        stop_signal: container_config::stop_signal(&image.config),
        image_id: image.record.config.to_string(),
    })
}

/// The pods directory of a pod (volumes, per-pod files).
pub fn pod_dir(pods_dir: &std::path::Path, uid: &str) -> PathBuf {
    pods_dir.join(uid)
}
