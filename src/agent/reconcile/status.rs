//! The pod status the machine's state implies, in Kubernetes' terms: phase (the kubelet's
//! rules), conditions, and per-container state / lastState / ready / restartCount.
use crate::api::{
    self, pod::pod_condition, ConditionStatus, ContainerState, ContainerStateRunning,
    ContainerStateTerminated, ContainerStateWaiting, PodCondition, PodPhase, Time,
};

use super::pod::{ContainerSlot, PodMachine, Terminated};

fn time(ms: u64) -> Option<Time> {
    Time::from_unix_seconds((ms / 1000) as i64)
}

fn terminated_state(t: &Terminated) -> ContainerState {
    ContainerState {
        terminated: Some(ContainerStateTerminated {
            exit_code: t.exit_code,
            signal: t.signal,
            reason: Some(t.reason.clone()),
            message: t.message.clone(),
            started_at: time(t.started_at_ms),
            finished_at: time(t.finished_at_ms),
        }),
        ..Default::default()
    }
}

fn waiting(reason: &str, message: Option<String>) -> ContainerState {
    ContainerState {
        waiting: Some(ContainerStateWaiting {
            reason: Some(reason.to_string()),
            message,
        }),
        ..Default::default()
    }
}

fn container_status(
    machine: &PodMachine,
    slot: &ContainerSlot,
    inits_done: bool,
    now_ms: u64,
) -> api::ContainerStatus {
    let pod_name = &machine.pod().metadata.name;
    let (state, last_state) = if let Some(since) = slot.running_since_ms() {
        let state = ContainerState {
            running: Some(ContainerStateRunning {
                started_at: time(since),
            }),
            ..Default::default()
        };
        (state, slot.last.as_ref().map(terminated_state))
    } else if let Some(delay_ms) = machine.backoff_of(slot, now_ms) {
        let message = format!(
            "back-off {}s restarting failed container={} pod={pod_name}",
            delay_ms / 1000,
            slot.name()
        );
        (
            waiting("CrashLoopBackOff", Some(message)),
            slot.last.as_ref().map(terminated_state),
        )
    } else if let (true, Some(last)) = (slot.has_exited(), &slot.last) {
        // Finished for good (or restarting right now): the termination is the current state.
        (terminated_state(last), None)
    } else if let Some((reason, message)) = slot.image_problem() {
        (
            waiting(reason, Some(message.to_string())),
            slot.last.as_ref().map(terminated_state),
        )
    } else if let Some(error) = machine.sandbox_error() {
        (
            waiting("ContainerCreating", Some(format!("pod sandbox: {error}"))),
            None,
        )
    } else if !slot.init && !inits_done {
        (waiting("PodInitializing", None), None)
    } else {
        (
            waiting("ContainerCreating", None),
            slot.last.as_ref().map(terminated_state),
        )
    };
    api::ContainerStatus {
        name: slot.name().to_string(),
        state: Some(state),
        last_state,
        ready: slot.is_ready(),
        restart_count: slot.restart_count as i32,
        image: slot.spec.image.clone().unwrap_or_default(),
        image_id: slot.image_id().to_string(),
        container_id: slot.current_id().map(|id| format!("flotilla://{id}")),
        started: (!slot.init).then(|| slot.is_started()),
    }
}

/// The kubelet's phase rules for a pod.
pub fn phase(machine: &PodMachine) -> PodPhase {
    let policy = machine.pod().spec.restart_policy.unwrap_or_default();
    if machine.init_failed() {
        return PodPhase::Failed;
    }
    let inits_done = machine
        .containers
        .iter()
        .all(|c| !c.init || c.is_completed());
    if !inits_done {
        return PodPhase::Pending;
    }
    let apps: Vec<&ContainerSlot> = machine.containers.iter().filter(|c| !c.init).collect();
    let waiting = apps.iter().filter(|c| c.never_ran()).count();
    let running = apps
        .iter()
        .filter(|c| c.running_since_ms().is_some())
        .count();
    let exited: Vec<&Terminated> = apps
        .iter()
        .filter(|c| !c.never_ran() && c.running_since_ms().is_none())
        .filter_map(|c| c.last.as_ref())
        .collect();
    let failed = exited.iter().filter(|t| t.exit_code != 0).count();
    if waiting > 0 {
        return PodPhase::Pending;
    }
    if running > 0 {
        return PodPhase::Running;
    }
    match policy {
        api::RestartPolicy::Always => PodPhase::Running,
        api::RestartPolicy::OnFailure if failed > 0 => PodPhase::Running,
        api::RestartPolicy::OnFailure => PodPhase::Succeeded,
        api::RestartPolicy::Never if failed > 0 => PodPhase::Failed,
        api::RestartPolicy::Never => PodPhase::Succeeded,
    }
}

fn condition(type_: &str, ok: bool) -> PodCondition {
    PodCondition {
        type_: type_.to_string(),
        status: ConditionStatus::from_bool(ok),
        ..Default::default()
    }
}

/// The status to publish for the pod.
pub fn pod_status(machine: &PodMachine, now_ms: u64) -> api::PodStatus {
    let inits_done = machine
        .containers
        .iter()
        .all(|c| !c.init || c.is_completed());
    let apps_ready = machine
        .containers
        .iter()
        .filter(|c| !c.init)
        .all(ContainerSlot::is_ready);
    let ip = machine
        .sandbox()
        .and_then(|s| s.ip)
        .map(|ip| ip.to_string());
    let phase = phase(machine);
    let ready = apps_ready && phase == PodPhase::Running && !machine.is_deleting();
    api::PodStatus {
        phase: Some(phase),
        conditions: vec![
            condition(pod_condition::INITIALIZED, inits_done),
            condition(pod_condition::READY, ready),
            condition(pod_condition::CONTAINERS_READY, apps_ready),
            condition(pod_condition::POD_SCHEDULED, true),
        ],
        message: None,
        reason: None,
        host_ip: None,
        pod_ip: ip.clone(),
        pod_ips: ip.map(|ip| vec![api::PodIp { ip }]).unwrap_or_default(),
        start_time: machine.start_time_ms().and_then(time),
        init_container_statuses: machine
            .containers
            .iter()
            .filter(|c| c.init)
            .map(|c| container_status(machine, c, inits_done, now_ms))
            .collect(),
        container_statuses: machine
            .containers
            .iter()
            .filter(|c| !c.init)
            .map(|c| container_status(machine, c, inits_done, now_ms))
            .collect(),
    }
}
