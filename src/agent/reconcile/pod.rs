//! `PodMachine`: one pod's state and its transitions. `step(input, now)` applies one input, then
//! looks at the whole state again (level-triggered, like a kubelet sync) and returns the actions
//! still missing. Actions are idempotent requests; every in-flight one is remembered so that it
//! is not issued twice.
use std::sync::Arc;

use crate::agent::runtime::{ContainerExit, ContainerId, ExitStatus, SandboxId, SandboxStatus};
use crate::api;

use super::backoff::Backoff;
use super::probe::{ProbeKind, ProbeState, ProbeTiming, Verdict};

/// The pod's grace period when the spec names none (Kubernetes' default).
pub const DEFAULT_GRACE_MS: u64 = 30_000;
/// The exit code reported for a container whose exit the agent could not observe (the
/// kubelet's `ContainerStatusUnknown` uses the same).
pub const UNKNOWN_EXIT_CODE: i32 = 137;
/// The exit code reported when a container could not be started.
pub const START_ERROR_EXIT_CODE: i32 = 128;

/// A container the shell found running or exited when the worker started (re-adoption).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub name: String,
    pub init: bool,
    pub id: ContainerId,
    pub restart_count: u32,
    pub started_at_ms: u64,
    pub stop_signal: i32,
    pub exit: Option<ContainerExit>,
}

/// A container the shell started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    pub id: ContainerId,
    pub pid: i32,
    pub started_at_ms: u64,
    /// The image's stop signal (SIGTERM unless the image says otherwise).
    pub stop_signal: i32,
    /// The image's id (config digest), for status.
    pub image_id: String,
}

/// What happened, as the shell tells the machine.
#[derive(Debug, Clone)]
pub enum PodInput {
    /// What the runtime already has for this pod; the first input of a worker.
    Adopt {
        sandbox: Option<SandboxStatus>,
        containers: Vec<Observed>,
    },
    /// The pod left the desired set: stop it.
    Delete,
    ImagePulled {
        container: String,
        result: Result<String, String>,
    },
    SandboxCreated(Result<SandboxStatus, String>),
    ContainerStarted {
        container: String,
        result: Result<Started, String>,
    },
    ContainerExited {
        id: ContainerId,
        exit: ContainerExit,
    },
    ContainerRemoved {
        id: ContainerId,
    },
    ProbeResult {
        id: ContainerId,
        kind: ProbeKind,
        success: bool,
        message: Option<String>,
    },
    PreStopDone {
        id: ContainerId,
    },
    SandboxRemoved,
    /// Time passed.
    Tick,
}

/// What the shell should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodAction {
    /// Make the image of `container` available (the shell applies the pull policy).
    PullImage {
        container: String,
        image: String,
        policy: Option<api::ImagePullPolicy>,
    },
    CreateSandbox,
    StartContainer {
        container: String,
        init: bool,
        restart_count: u32,
    },
    Probe {
        container: String,
        id: ContainerId,
        kind: ProbeKind,
        timeout_ms: u64,
    },
    PreStop {
        container: String,
        id: ContainerId,
        grace_ms: u64,
    },
    Signal {
        container: String,
        id: ContainerId,
        signal: i32,
    },
    RemoveContainer {
        id: ContainerId,
    },
    RemoveSandbox {
        id: SandboxId,
    },
    /// The pod's status changed: publish `status()`.
    StatusChanged,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ImageState {
    Needed,
    Pulling,
    Ready { image_id: String },
    Failed { message: String, retry_at_ms: u64 },
}

/// A finished container instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terminated {
    pub exit_code: i32,
    pub signal: Option<i32>,
    pub reason: String,
    pub message: Option<String>,
    pub started_at_ms: u64,
    pub finished_at_ms: u64,
    pub container_id: Option<ContainerId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Instance {
    /// Not started yet (or its last instance was removed and is remembered in `last`).
    None,
    Starting,
    Running {
        id: ContainerId,
        started_at_ms: u64,
        stop_signal: i32,
    },
    /// Exited; `removing` once its removal was asked for.
    Exited {
        id: Option<ContainerId>,
        removing: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PreStop {
    NotNeeded,
    Pending,
    Running,
    Done,
}

/// Why and how a running container is being stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stopping {
    /// Set for probe kills: recorded as the termination message.
    message: Option<String>,
    deadline_ms: u64,
    grace_ms: u64,
    pre_stop: PreStop,
    signalled: bool,
    killed: bool,
}

/// One container of the pod, across its restarts.
#[derive(Debug, Clone)]
pub struct ContainerSlot {
    pub spec: api::Container,
    pub init: bool,
    image: ImageState,
    pull_backoff: Backoff,
    instance: Instance,
    pub restart_count: u32,
    /// The last finished instance (`lastState` while a new one runs).
    pub last: Option<Terminated>,
    backoff: Backoff,
    probes: Vec<ProbeState>,
    /// Startup probe passed (or there is none).
    started: bool,
    /// Readiness probe passed (or there is none).
    ready: bool,
    /// An init container that exited 0.
    completed: bool,
    stopping: Option<Stopping>,
    image_id: String,
}

impl ContainerSlot {
    fn new(spec: &api::Container, init: bool) -> ContainerSlot {
        ContainerSlot {
            spec: spec.clone(),
            init,
            image: ImageState::Needed,
            pull_backoff: Backoff::default(),
            instance: Instance::None,
            restart_count: 0,
            last: None,
            backoff: Backoff::default(),
            probes: Vec::new(),
            started: false,
            ready: false,
            completed: false,
            stopping: None,
            image_id: String::new(),
        }
    }

    pub fn name(&self) -> &str {
        self.spec.name.as_str()
    }

    fn image(&self) -> String {
        self.spec.image.clone().unwrap_or_default()
    }

    fn running_id(&self) -> Option<&ContainerId> {
        match &self.instance {
            Instance::Running { id, .. } => Some(id),
            _ => None,
        }
    }

    /// The id of a live or not yet removed instance.
    fn any_id(&self) -> Option<&ContainerId> {
        match &self.instance {
            Instance::Running { id, .. } => Some(id),
            Instance::Exited { id: Some(id), .. } => Some(id),
            _ => None,
        }
    }

    fn is_running(&self) -> bool {
        matches!(self.instance, Instance::Running { .. })
    }

    fn is_busy(&self) -> bool {
        matches!(self.instance, Instance::Running { .. } | Instance::Starting)
    }

    /// Probes for a new instance started at `started_at_ms`.
    fn arm_probes(&mut self, started_at_ms: u64) {
        self.probes.clear();
        let spec = &self.spec;
        for (kind, probe) in [
            (ProbeKind::Startup, &spec.startup_probe),
            (ProbeKind::Liveness, &spec.liveness_probe),
            (ProbeKind::Readiness, &spec.readiness_probe),
        ] {
            if let (Some(probe), false) = (probe, self.init) {
                self.probes.push(ProbeState::new(
                    kind,
                    ProbeTiming::of(probe, kind),
                    started_at_ms,
                ));
            }
        }
        self.started = spec.startup_probe.is_none() || self.init;
        self.ready = spec.readiness_probe.is_none();
        self.stopping = None;
    }

    /// Whether the container is ready: running, started, readiness passed, not stopping.
    pub fn is_ready(&self) -> bool {
        self.is_running() && self.started && self.ready && self.stopping.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Sandbox {
    None,
    Creating,
    Ready(SandboxStatus),
    Failed { message: String, retry_at_ms: u64 },
    Removing,
}

/// One pod's state machine.
#[derive(Debug, Clone)]
pub struct PodMachine {
    pod: Arc<api::Pod>,
    pub containers: Vec<ContainerSlot>,
    sandbox: Sandbox,
    sandbox_backoff: Backoff,
    deleting_since_ms: Option<u64>,
    finished: bool,
    start_time_ms: Option<u64>,
    last_status: Option<api::PodStatus>,
}

fn terminated_from_exit(
    exit: &ContainerExit,
    started_at_ms: u64,
    id: &ContainerId,
    message: Option<String>,
) -> Terminated {
    let (exit_code, signal, reason) = match exit.status {
        ExitStatus::Code(0) => (0, None, "Completed"),
        ExitStatus::Code(code) => (code, None, "Error"),
        ExitStatus::Signal(signal) if exit.oom_killed => (128 + signal, Some(signal), "OOMKilled"),
        ExitStatus::Signal(signal) => (128 + signal, Some(signal), "Error"),
        ExitStatus::Unknown => (UNKNOWN_EXIT_CODE, None, "ContainerStatusUnknown"),
    };
    let message = message.or_else(|| {
        (exit.status == ExitStatus::Unknown).then(|| {
            "the container exited while the agent was not running; its exit code is unknown"
                .to_string()
        })
    });
    Terminated {
        exit_code,
        signal,
        reason: reason.to_string(),
        message,
        started_at_ms,
        finished_at_ms: exit.finished_at_ms,
        container_id: Some(id.clone()),
    }
}

impl PodMachine {
    pub fn new(pod: Arc<api::Pod>) -> PodMachine {
        let spec = &pod.spec;
        let containers = spec
            .init_containers
            .iter()
            .map(|c| ContainerSlot::new(c, true))
            .chain(spec.containers.iter().map(|c| ContainerSlot::new(c, false)))
            .collect();
        PodMachine {
            pod,
            containers,
            sandbox: Sandbox::None,
            sandbox_backoff: Backoff::default(),
            deleting_since_ms: None,
            finished: false,
            start_time_ms: None,
            last_status: None,
        }
    }

    pub fn pod(&self) -> &Arc<api::Pod> {
        &self.pod
    }

    /// The sandbox, once created.
    pub fn sandbox(&self) -> Option<&SandboxStatus> {
        match &self.sandbox {
            Sandbox::Ready(status) => Some(status),
            _ => None,
        }
    }

    /// Everything was removed after a deletion: the worker can end.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    pub fn is_deleting(&self) -> bool {
        self.deleting_since_ms.is_some()
    }

    fn restart_policy(&self) -> api::RestartPolicy {
        self.pod.spec.restart_policy.unwrap_or_default()
    }

    fn grace_ms(&self) -> u64 {
        self.pod
            .spec
            .termination_grace_period_seconds
            .map_or(DEFAULT_GRACE_MS, |s| s.max(0) as u64 * 1000)
    }

    fn slot_by_id(&mut self, id: &ContainerId) -> Option<&mut ContainerSlot> {
        self.containers.iter_mut().find(|c| c.any_id() == Some(id))
    }

    fn slot_by_name(&mut self, name: &str) -> Option<&mut ContainerSlot> {
        self.containers.iter_mut().find(|c| c.name() == name)
    }

    /// Applies one input and returns the actions now due.
    pub fn step(&mut self, input: PodInput, now_ms: u64) -> Vec<PodAction> {
        let mut actions = Vec::new();
        self.apply(input, now_ms);
        if self.deleting_since_ms.is_some() {
            self.reconcile_deletion(now_ms, &mut actions);
        } else {
            self.reconcile_running(now_ms, &mut actions);
        }
        self.reconcile_stopping(now_ms, &mut actions);
        let status = super::status::pod_status(self, now_ms);
        if self.last_status.as_ref() != Some(&status) {
            self.last_status = Some(status);
            actions.push(PodAction::StatusChanged);
        }
        actions
    }

    fn apply(&mut self, input: PodInput, now_ms: u64) {
        match input {
            PodInput::Adopt {
                sandbox,
                containers,
            } => self.adopt(sandbox, containers, now_ms),
            PodInput::Delete => {
                if self.deleting_since_ms.is_none() {
                    self.deleting_since_ms = Some(now_ms);
                }
            }
            PodInput::ImagePulled { container, result } => {
                if let Some(slot) = self.slot_by_name(&container) {
                    slot.image = match result {
                        Ok(image_id) => {
                            slot.pull_backoff = Backoff::default();
                            ImageState::Ready { image_id }
                        }
                        Err(message) => {
                            slot.pull_backoff.restarted(now_ms);
                            ImageState::Failed {
                                message,
                                retry_at_ms: now_ms + slot.pull_backoff.current_delay_ms(),
                            }
                        }
                    };
                }
            }
            PodInput::SandboxCreated(result) => {
                self.sandbox = match result {
                    Ok(status) => {
                        self.start_time_ms.get_or_insert(now_ms);
                        Sandbox::Ready(status)
                    }
                    Err(message) => {
                        self.sandbox_backoff.restarted(now_ms);
                        Sandbox::Failed {
                            message,
                            retry_at_ms: now_ms + self.sandbox_backoff.current_delay_ms(),
                        }
                    }
                };
            }
            PodInput::ContainerStarted { container, result } => {
                let Some(slot) = self.slot_by_name(&container) else {
                    return;
                };
                match result {
                    Ok(started) => {
                        slot.image_id = started.image_id;
                        slot.instance = Instance::Running {
                            id: started.id,
                            started_at_ms: started.started_at_ms,
                            stop_signal: started.stop_signal,
                        };
                        slot.arm_probes(started.started_at_ms);
                    }
                    Err(message) => {
                        slot.last = Some(Terminated {
                            exit_code: START_ERROR_EXIT_CODE,
                            signal: None,
                            reason: "StartError".to_string(),
                            message: Some(message),
                            started_at_ms: now_ms,
                            finished_at_ms: now_ms,
                            container_id: None,
                        });
                        slot.instance = Instance::Exited {
                            id: None,
                            removing: false,
                        };
                    }
                }
            }
            PodInput::ContainerExited { id, exit } => {
                let Some(slot) = self.slot_by_id(&id) else {
                    return;
                };
                let Instance::Running { started_at_ms, .. } = slot.instance else {
                    return;
                };
                let message = slot.stopping.as_ref().and_then(|s| s.message.clone());
                let terminated = terminated_from_exit(&exit, started_at_ms, &id, message);
                if slot.init && terminated.exit_code == 0 {
                    slot.completed = true;
                }
                slot.last = Some(terminated);
                slot.instance = Instance::Exited {
                    id: Some(id),
                    removing: false,
                };
                slot.stopping = None;
                slot.ready = false;
                for probe in &mut slot.probes {
                    probe.in_flight = false;
                }
            }
            PodInput::ContainerRemoved { id } => {
                if let Some(slot) = self.containers.iter_mut().find(
                    |c| matches!(&c.instance, Instance::Exited { id: Some(i), .. } if *i == id),
                ) {
                    slot.instance = Instance::Exited {
                        id: None,
                        removing: false,
                    };
                }
            }
            PodInput::ProbeResult {
                id,
                kind,
                success,
                message,
            } => self.probe_result(&id, kind, success, message, now_ms),
            PodInput::PreStopDone { id } => {
                if let Some(stopping) = self.slot_by_id(&id).and_then(|s| s.stopping.as_mut()) {
                    stopping.pre_stop = PreStop::Done;
                }
            }
            PodInput::SandboxRemoved => {
                self.sandbox = Sandbox::None;
                if self.deleting_since_ms.is_some() {
                    self.finished = true;
                }
            }
            PodInput::Tick => {}
        }
    }

    fn adopt(&mut self, sandbox: Option<SandboxStatus>, observed: Vec<Observed>, now_ms: u64) {
        if let Some(sandbox) = sandbox {
            self.sandbox = Sandbox::Ready(sandbox);
            self.start_time_ms.get_or_insert(now_ms);
        }
        let any_app = observed.iter().any(|o| !o.init);
        for o in observed {
            let Some(slot) = self
                .containers
                .iter_mut()
                .find(|c| c.name() == o.name && c.init == o.init)
            else {
                continue;
            };
            // Several instances may exist (a crash between start and removal): keep the newest.
            if slot.any_id().is_some() && slot.restart_count > o.restart_count {
                continue;
            }
            slot.restart_count = o.restart_count;
            slot.image = ImageState::Ready {
                image_id: String::new(),
            };
            match o.exit {
                None => {
                    slot.instance = Instance::Running {
                        id: o.id,
                        started_at_ms: o.started_at_ms,
                        stop_signal: o.stop_signal,
                    };
                    // Probes start over from now: a re-adopted container is not restarted
                    // before it failed its probes again under this agent.
                    slot.arm_probes(now_ms);
                    for probe in &mut slot.probes {
                        probe.next_due_ms = now_ms;
                    }
                    // A container that was serving keeps its started state (startup probes
                    // are not run twice).
                    slot.started = true;
                }
                Some(exit) => {
                    let terminated = terminated_from_exit(&exit, o.started_at_ms, &o.id, None);
                    if slot.init && terminated.exit_code == 0 {
                        slot.completed = true;
                    }
                    slot.last = Some(terminated);
                    slot.instance = Instance::Exited {
                        id: Some(o.id),
                        removing: false,
                    };
                }
            }
        }
        // App containers only ever start after every init container succeeded.
        if any_app {
            for slot in self.containers.iter_mut().filter(|c| c.init) {
                slot.completed = true;
            }
        }
    }

    fn probe_result(
        &mut self,
        id: &ContainerId,
        kind: ProbeKind,
        success: bool,
        message: Option<String>,
        now_ms: u64,
    ) {
        let grace = self.grace_ms();
        let Some(slot) = self.slot_by_id(id) else {
            return;
        };
        if !slot.is_running() {
            return;
        }
        let Some(probe) = slot.probes.iter_mut().find(|p| p.kind == kind) else {
            return;
        };
        let verdict = probe.record(success, message.clone(), now_ms);
        let probe_grace = probe.timing.termination_grace_ms;
        match (kind, verdict) {
            (ProbeKind::Startup, Verdict::Succeeded) => {
                slot.started = true;
                for other in slot
                    .probes
                    .iter_mut()
                    .filter(|p| p.kind != ProbeKind::Startup)
                {
                    other.next_due_ms = other.next_due_ms.max(now_ms);
                }
            }
            (ProbeKind::Readiness, Verdict::Succeeded) => slot.ready = true,
            (ProbeKind::Readiness, Verdict::Failed) => slot.ready = false,
            (ProbeKind::Startup | ProbeKind::Liveness, Verdict::Failed)
                if slot.stopping.is_none() =>
            {
                let detail = message.unwrap_or_default();
                let grace_ms = probe_grace.unwrap_or(grace);
                slot.stopping = Some(Stopping {
                    message: Some(format!("{} probe failed: {detail}", kind.name())),
                    deadline_ms: now_ms + grace_ms,
                    grace_ms,
                    pre_stop: if slot
                        .spec
                        .lifecycle
                        .as_ref()
                        .is_some_and(|l| l.pre_stop.is_some())
                    {
                        PreStop::Pending
                    } else {
                        PreStop::NotNeeded
                    },
                    signalled: false,
                    killed: false,
                });
            }
            _ => {}
        }
    }

    /// Whether a finished container is started again under the pod's restart policy.
    fn should_restart(&self, slot: &ContainerSlot) -> bool {
        let failed = slot.last.as_ref().is_some_and(|t| t.exit_code != 0);
        match (slot.init, self.restart_policy()) {
            // Init containers re-run until they succeed, unless the pod never restarts.
            (true, api::RestartPolicy::Never) => false,
            (true, _) => !slot.completed,
            (false, api::RestartPolicy::Always) => true,
            (false, api::RestartPolicy::OnFailure) => failed,
            (false, api::RestartPolicy::Never) => false,
        }
    }

    /// Whether an init container failed for good (restartPolicy Never): the pod failed.
    pub fn init_failed(&self) -> bool {
        self.restart_policy() == api::RestartPolicy::Never
            && self
                .containers
                .iter()
                .any(|c| c.init && matches!(c.instance, Instance::Exited { .. }) && !c.completed)
    }

    fn reconcile_running(&mut self, now_ms: u64, actions: &mut Vec<PodAction>) {
        for slot in &mut self.containers {
            let pull = match &slot.image {
                ImageState::Needed => true,
                ImageState::Failed { retry_at_ms, .. } => now_ms >= *retry_at_ms,
                _ => false,
            };
            if pull {
                slot.image = ImageState::Pulling;
                actions.push(PodAction::PullImage {
                    container: slot.name().to_string(),
                    image: slot.image(),
                    policy: slot.spec.image_pull_policy,
                });
            }
        }
        let create = match &self.sandbox {
            Sandbox::None => true,
            Sandbox::Failed { retry_at_ms, .. } => now_ms >= *retry_at_ms,
            _ => false,
        };
        if create {
            self.sandbox = Sandbox::Creating;
            actions.push(PodAction::CreateSandbox);
        }
        if !matches!(self.sandbox, Sandbox::Ready(_)) {
            return;
        }
        // Init containers, in order, one at a time.
        if let Some(index) = self.containers.iter().position(|c| c.init && !c.completed) {
            if !self.init_failed() {
                self.start_if_due(index, now_ms, actions);
            }
            return;
        }
        for index in 0..self.containers.len() {
            if !self.containers[index].init {
                self.start_if_due(index, now_ms, actions);
            }
        }
        for slot in &mut self.containers {
            let (Some(id), None) = (slot.running_id().cloned(), &slot.stopping) else {
                continue;
            };
            let started = slot.started;
            for probe in &mut slot.probes {
                let gated = probe.kind != ProbeKind::Startup && !started;
                let done_starting = probe.kind == ProbeKind::Startup && started;
                if !gated && !done_starting && probe.due(now_ms) {
                    probe.in_flight = true;
                    actions.push(PodAction::Probe {
                        container: slot.spec.name.to_string(),
                        id: id.clone(),
                        kind: probe.kind,
                        timeout_ms: probe.timing.timeout_ms,
                    });
                }
            }
        }
    }

    /// Starts (or restarts, after its back-off) the container at `index` if it should run.
    fn start_if_due(&mut self, index: usize, now_ms: u64, actions: &mut Vec<PodAction>) {
        let restart = self.should_restart(&self.containers[index]);
        let slot = &mut self.containers[index];
        if !matches!(slot.image, ImageState::Ready { .. }) || slot.is_busy() {
            return;
        }
        let first_start = matches!(slot.instance, Instance::None) && slot.last.is_none();
        if !first_start {
            if !restart {
                return;
            }
            let finished = slot.last.as_ref().map_or(now_ms, |t| t.finished_at_ms);
            if now_ms < slot.backoff.restart_at(finished) {
                return;
            }
            slot.backoff.restarted(now_ms);
            slot.restart_count += 1;
            // The previous instance goes before its successor comes (names stay unique).
            if let Instance::Exited {
                id: Some(id),
                removing: false,
            } = &slot.instance
            {
                actions.push(PodAction::RemoveContainer { id: id.clone() });
            }
        }
        slot.instance = Instance::Starting;
        actions.push(PodAction::StartContainer {
            container: slot.name().to_string(),
            init: slot.init,
            restart_count: slot.restart_count,
        });
    }

    fn reconcile_deletion(&mut self, now_ms: u64, actions: &mut Vec<PodAction>) {
        let since = self.deleting_since_ms.unwrap_or(now_ms);
        let grace = self.grace_ms();
        for slot in &mut self.containers {
            match &mut slot.instance {
                Instance::Running { .. } => {
                    let has_pre_stop = slot
                        .spec
                        .lifecycle
                        .as_ref()
                        .is_some_and(|l| l.pre_stop.is_some());
                    let stopping = slot.stopping.get_or_insert(Stopping {
                        message: None,
                        deadline_ms: since + grace,
                        grace_ms: grace,
                        pre_stop: if has_pre_stop {
                            PreStop::Pending
                        } else {
                            PreStop::NotNeeded
                        },
                        signalled: false,
                        killed: false,
                    });
                    // A probe kill in progress is shortened, never lengthened, by the deletion.
                    stopping.deadline_ms = stopping.deadline_ms.min(since + grace);
                }
                Instance::Exited {
                    id: Some(id),
                    removing,
                } if !*removing => {
                    *removing = true;
                    actions.push(PodAction::RemoveContainer { id: id.clone() });
                }
                _ => {}
            }
        }
        let settled = self.containers.iter().all(|c| {
            matches!(
                c.instance,
                Instance::None | Instance::Exited { id: None, .. }
            )
        });
        if !settled || matches!(self.sandbox, Sandbox::Creating | Sandbox::Removing) {
            return;
        }
        if self
            .containers
            .iter()
            .any(|c| c.image == ImageState::Pulling)
        {
            // Nothing will use the image, but its pull must end before the worker does.
            return;
        }
        match &self.sandbox {
            Sandbox::Ready(status) => {
                let id = status.id.clone();
                self.sandbox = Sandbox::Removing;
                actions.push(PodAction::RemoveSandbox { id });
            }
            Sandbox::None | Sandbox::Failed { .. } => self.finished = true,
            Sandbox::Creating | Sandbox::Removing => {}
        }
    }

    /// Drives every stop in progress: preStop, then the stop signal, then SIGKILL at the deadline.
    fn reconcile_stopping(&mut self, now_ms: u64, actions: &mut Vec<PodAction>) {
        for slot in &mut self.containers {
            let Instance::Running {
                id, stop_signal, ..
            } = &slot.instance
            else {
                continue;
            };
            let name = slot.spec.name.to_string();
            let Some(stopping) = &mut slot.stopping else {
                continue;
            };
            if stopping.pre_stop == PreStop::Pending {
                stopping.pre_stop = PreStop::Running;
                let grace_ms = stopping.deadline_ms.saturating_sub(now_ms);
                actions.push(PodAction::PreStop {
                    container: name.clone(),
                    id: id.clone(),
                    grace_ms,
                });
            }
            let pre_stop_over = matches!(stopping.pre_stop, PreStop::NotNeeded | PreStop::Done);
            if !stopping.signalled && (pre_stop_over || now_ms >= stopping.deadline_ms) {
                stopping.signalled = true;
                actions.push(PodAction::Signal {
                    container: name.clone(),
                    id: id.clone(),
                    signal: *stop_signal,
                });
            }
            if !stopping.killed && now_ms >= stopping.deadline_ms {
                stopping.killed = true;
                actions.push(PodAction::Signal {
                    container: name,
                    id: id.clone(),
                    signal: libc::SIGKILL,
                });
            }
        }
    }

    /// When the machine next needs a `Tick` (a back-off, retry, probe or deadline), if ever.
    pub fn next_wake_ms(&self) -> Option<u64> {
        let mut wake: Option<u64> = None;
        let mut at = |t: u64| wake = Some(wake.map_or(t, |w| w.min(t)));
        if let Sandbox::Failed { retry_at_ms, .. } = &self.sandbox {
            at(*retry_at_ms);
        }
        let deleting = self.deleting_since_ms.is_some();
        let inits_done = self.containers.iter().all(|c| !c.init || c.completed);
        for slot in &self.containers {
            if let ImageState::Failed { retry_at_ms, .. } = &slot.image {
                if !deleting {
                    at(*retry_at_ms);
                }
            }
            if let Some(stopping) = &slot.stopping {
                if !stopping.killed && slot.is_running() {
                    at(stopping.deadline_ms);
                }
            }
            if deleting {
                continue;
            }
            if slot.is_running() && slot.stopping.is_none() {
                for probe in &slot.probes {
                    let gated = probe.kind != ProbeKind::Startup && !slot.started;
                    let done_starting = probe.kind == ProbeKind::Startup && slot.started;
                    if !probe.in_flight && !gated && !done_starting {
                        at(probe.next_due_ms);
                    }
                }
            }
            let waiting_turn = !slot.init && !inits_done;
            if matches!(slot.instance, Instance::Exited { .. })
                && !waiting_turn
                && self.should_restart(slot)
            {
                let finished = slot.last.as_ref().map_or(0, |t| t.finished_at_ms);
                at(slot.backoff.restart_at(finished));
            }
        }
        wake
    }

    /// The restart back-off delay of a container, for status messages.
    pub(super) fn backoff_of(&self, slot: &ContainerSlot, now_ms: u64) -> Option<u64> {
        let last = slot.last.as_ref()?;
        let due = slot.backoff.restart_at(last.finished_at_ms);
        (matches!(slot.instance, Instance::Exited { .. })
            && self.should_restart(slot)
            && due > now_ms)
            .then(|| slot.backoff.current_delay_ms())
    }

    pub(super) fn start_time_ms(&self) -> Option<u64> {
        self.start_time_ms
    }

    pub(super) fn sandbox_error(&self) -> Option<&str> {
        match &self.sandbox {
            Sandbox::Failed { message, .. } => Some(message),
            _ => None,
        }
    }
}

/// Read-only views of a slot for the status builder.
impl ContainerSlot {
    pub(super) fn running_since_ms(&self) -> Option<u64> {
        match &self.instance {
            Instance::Running { started_at_ms, .. } => Some(*started_at_ms),
            _ => None,
        }
    }

    pub(super) fn current_id(&self) -> Option<&ContainerId> {
        self.any_id()
    }

    pub(super) fn has_exited(&self) -> bool {
        matches!(self.instance, Instance::Exited { .. })
    }

    pub(super) fn never_ran(&self) -> bool {
        matches!(self.instance, Instance::None | Instance::Starting) && self.last.is_none()
    }

    pub(super) fn is_started(&self) -> bool {
        self.is_running() && self.started
    }

    pub(super) fn is_completed(&self) -> bool {
        self.completed
    }

    pub(super) fn image_problem(&self) -> Option<(&'static str, &str)> {
        match &self.image {
            ImageState::Failed { message, .. } => {
                // The first failure is an error; repeated ones are the back-off between tries.
                let reason = if self.pull_backoff.current_delay_ms() > super::backoff::INITIAL_MS {
                    "ImagePullBackOff"
                } else {
                    "ErrImagePull"
                };
                Some((reason, message))
            }
            _ => None,
        }
    }

    pub(super) fn image_id(&self) -> &str {
        match &self.image {
            ImageState::Ready { image_id } if self.image_id.is_empty() => image_id,
            _ => &self.image_id,
        }
    }
}

impl PodMachine {
    /// Whether the pod's Ready condition holds.
    pub fn pod_is_ready(&self, now_ms: u64) -> bool {
        api::condition_is_true(
            &super::status::pod_status(self, now_ms).conditions,
            api::pod::pod_condition::READY,
        )
    }
}
