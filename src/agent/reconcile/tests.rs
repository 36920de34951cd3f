//! The pod machine, driven input by input with a hand-held clock: what it asks the shell to do
//! and what status it reports.
use std::sync::Arc;

use serde_json::json;

use super::pod::{Observed, PodAction, PodInput, PodMachine, Started};
use super::probe::ProbeKind;
use crate::agent::runtime::{ContainerExit, ContainerId, ExitStatus, SandboxId, SandboxStatus};
use crate::api::{self, PodPhase};

fn pod(spec: serde_json::Value) -> Arc<api::Pod> {
    Arc::new(
        serde_json::from_value(
            json!({"metadata": {"name": "web", "namespace": "default", "uid": "u1"}, "spec": spec}),
        )
        .unwrap(),
    )
}

fn one_container(extra: serde_json::Value) -> serde_json::Value {
    let mut container = json!({"name": "app", "image": "busybox"});
    container
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    json!({"containers": [container]})
}

fn sandbox() -> SandboxStatus {
    SandboxStatus {
        id: SandboxId::new("sb").unwrap(),
        ip: Some("10.88.0.2".parse().unwrap()),
        net_ns: None,
        ipc_ns: "/ipc".into(),
        uts_ns: None,
        hosts_file: "/h".into(),
        resolv_conf: "/r".into(),
        hostname_file: "/n".into(),
        labels: Default::default(),
    }
}

fn id(name: &str) -> ContainerId {
    ContainerId::new(name).unwrap()
}

fn started(name: &str, at_ms: u64) -> PodInput {
    PodInput::ContainerStarted {
        container: name.split('-').next().unwrap().to_string(),
        result: Ok(Started {
            id: id(name),
            pid: 42,
            started_at_ms: at_ms,
            stop_signal: libc::SIGTERM,
            image_id: "sha256:x".into(),
        }),
    }
}

fn exited(name: &str, status: ExitStatus, at_ms: u64) -> PodInput {
    PodInput::ContainerExited {
        id: id(name),
        exit: ContainerExit {
            status,
            oom_killed: false,
            finished_at_ms: at_ms,
        },
    }
}

/// The actions of one step, status notifications left out.
fn check(machine: &mut PodMachine, input: PodInput, now_ms: u64, expected: &[PodAction]) {
    let actions: Vec<PodAction> = machine
        .step(input, now_ms)
        .into_iter()
        .filter(|a| *a != PodAction::StatusChanged)
        .collect();
    assert_eq!(actions, expected, "at {now_ms} ms");
}

fn start(name: &str, init: bool, restart_count: u32) -> PodAction {
    PodAction::StartContainer {
        container: name.to_string(),
        init,
        restart_count,
    }
}

/// A machine whose pod has pulled its images and has its sandbox.
fn ready_machine(spec: serde_json::Value) -> PodMachine {
    let mut machine = PodMachine::new(pod(spec));
    machine.step(PodInput::Tick, 0);
    let names: Vec<String> = machine
        .containers
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    for name in names {
        machine.step(
            PodInput::ImagePulled {
                container: name,
                result: Ok("sha256:x".into()),
            },
            0,
        );
    }
    machine
}

fn status(machine: &PodMachine, now_ms: u64) -> api::PodStatus {
    super::status::pod_status(machine, now_ms)
}

#[test]
fn a_new_pod_pulls_its_images_and_creates_its_sandbox_at_once() {
    let mut machine = PodMachine::new(pod(one_container(json!({}))));
    check(
        &mut machine,
        PodInput::Tick,
        0,
        &[
            PodAction::PullImage {
                container: "app".into(),
                image: "busybox".into(),
                policy: None,
            },
            PodAction::CreateSandbox,
        ],
    );
    check(
        &mut machine,
        PodInput::ImagePulled {
            container: "app".into(),
            result: Ok("sha256:x".into()),
        },
        5,
        &[],
    );
    assert_eq!(status(&machine, 5).phase, Some(PodPhase::Pending));
    check(
        &mut machine,
        PodInput::SandboxCreated(Ok(sandbox())),
        10,
        &[start("app", false, 0)],
    );
    check(&mut machine, started("app-0", 20), 20, &[]);
    let status = status(&machine, 20);
    assert_eq!(status.phase, Some(PodPhase::Running));
    assert!(status.container_statuses[0].ready);
    assert_eq!(status.pod_ip.as_deref(), Some("10.88.0.2"));
}

#[test]
fn init_containers_run_one_at_a_time_to_success_before_the_app_starts() {
    let spec = json!({
        "initContainers": [{"name": "one", "image": "busybox"}, {"name": "two", "image": "busybox"}],
        "containers": [{"name": "app", "image": "busybox"}],
    });
    let mut machine = ready_machine(spec);
    check(
        &mut machine,
        PodInput::SandboxCreated(Ok(sandbox())),
        0,
        &[start("one", true, 0)],
    );
    check(&mut machine, started("one-0", 1), 1, &[]);
    assert_eq!(
        status(&machine, 1).container_statuses[0]
            .state
            .as_ref()
            .unwrap()
            .waiting
            .as_ref()
            .unwrap()
            .reason
            .as_deref(),
        Some("PodInitializing")
    );
    // A failed init container is retried (restartPolicy Always), with back-off.
    check(
        &mut machine,
        exited("one-0", ExitStatus::Code(1), 2),
        2,
        &[
            PodAction::RemoveContainer { id: id("one-0") },
            start("one", true, 1),
        ],
    );
    check(&mut machine, started("one-1", 3), 3, &[]);
    check(
        &mut machine,
        exited("one-1", ExitStatus::Code(0), 4),
        4,
        &[start("two", true, 0)],
    );
    check(&mut machine, started("two-0", 5), 5, &[]);
    check(
        &mut machine,
        exited("two-0", ExitStatus::Code(0), 6),
        6,
        &[start("app", false, 0)],
    );
    assert_eq!(status(&machine, 6).phase, Some(PodPhase::Pending));
}

#[test]
fn a_crashing_container_restarts_with_the_kubelet_back_off() {
    let mut machine = ready_machine(one_container(json!({})));
    check(
        &mut machine,
        PodInput::SandboxCreated(Ok(sandbox())),
        0,
        &[start("app", false, 0)],
    );
    check(&mut machine, started("app-0", 0), 0, &[]);
    // First crash: restarted at once.
    check(
        &mut machine,
        exited("app-0", ExitStatus::Code(2), 1_000),
        1_000,
        &[
            PodAction::RemoveContainer { id: id("app-0") },
            start("app", false, 1),
        ],
    );
    check(&mut machine, started("app-1", 1_000), 1_000, &[]);
    // Second crash: 10 s.
    check(
        &mut machine,
        exited("app-1", ExitStatus::Code(2), 2_000),
        2_000,
        &[],
    );
    let waiting = status(&machine, 2_000).container_statuses[0].clone();
    assert_eq!(
        waiting.state.unwrap().waiting.unwrap().reason.as_deref(),
        Some("CrashLoopBackOff")
    );
    assert_eq!(waiting.last_state.unwrap().terminated.unwrap().exit_code, 2);
    assert_eq!(machine.next_wake_ms(), Some(12_000));
    check(&mut machine, PodInput::Tick, 11_999, &[]);
    check(
        &mut machine,
        PodInput::Tick,
        12_000,
        &[
            PodAction::RemoveContainer { id: id("app-1") },
            start("app", false, 2),
        ],
    );
    check(&mut machine, started("app-2", 12_000), 12_000, &[]);
    // Third crash: 20 s.
    check(
        &mut machine,
        exited("app-2", ExitStatus::Code(2), 13_000),
        13_000,
        &[],
    );
    assert_eq!(machine.next_wake_ms(), Some(33_000));
    assert_eq!(
        status(&machine, 13_000).container_statuses[0].restart_count,
        2
    );
}

#[test]
fn on_failure_leaves_a_completed_container_alone_and_the_pod_succeeds() {
    let mut machine = ready_machine(
        json!({"restartPolicy": "OnFailure", "containers": [{"name": "app", "image": "busybox"}]}),
    );
    check(
        &mut machine,
        PodInput::SandboxCreated(Ok(sandbox())),
        0,
        &[start("app", false, 0)],
    );
    check(&mut machine, started("app-0", 0), 0, &[]);
    check(
        &mut machine,
        exited("app-0", ExitStatus::Code(0), 5),
        5,
        &[],
    );
    assert_eq!(machine.next_wake_ms(), None);
    let status = status(&machine, 5);
    assert_eq!(status.phase, Some(PodPhase::Succeeded));
    let terminated = status.container_statuses[0]
        .state
        .clone()
        .unwrap()
        .terminated
        .unwrap();
    assert_eq!(terminated.reason.as_deref(), Some("Completed"));
}

#[test]
fn never_fails_the_pod_when_its_container_fails() {
    let mut machine = ready_machine(
        json!({"restartPolicy": "Never", "containers": [{"name": "app", "image": "busybox"}]}),
    );
    check(
        &mut machine,
        PodInput::SandboxCreated(Ok(sandbox())),
        0,
        &[start("app", false, 0)],
    );
    check(&mut machine, started("app-0", 0), 0, &[]);
    check(
        &mut machine,
        exited("app-0", ExitStatus::Code(3), 5),
        5,
        &[],
    );
    assert_eq!(status(&machine, 5).phase, Some(PodPhase::Failed));
    check(&mut machine, PodInput::Tick, 600_000, &[]);
}

#[test]
fn an_oom_kill_is_reported_as_oom_killed() {
    let mut machine = ready_machine(
        json!({"restartPolicy": "Never", "containers": [{"name": "app", "image": "busybox"}]}),
    );
    machine.step(PodInput::SandboxCreated(Ok(sandbox())), 0);
    machine.step(started("app-0", 0), 0);
    machine.step(
        PodInput::ContainerExited {
            id: id("app-0"),
            exit: ContainerExit {
                status: ExitStatus::Signal(9),
                oom_killed: true,
                finished_at_ms: 9,
            },
        },
        9,
    );
    let terminated = status(&machine, 9).container_statuses[0]
        .state
        .clone()
        .unwrap()
        .terminated
        .unwrap();
    assert_eq!(
        (terminated.reason.as_deref(), terminated.exit_code),
        (Some("OOMKilled"), 137)
    );
}

#[test]
fn three_liveness_failures_restart_the_container_and_say_why() {
    let probe = json!({"livenessProbe": {"exec": {"command": ["cat", "/tmp/healthy"]}, "initialDelaySeconds": 5, "periodSeconds": 5}});
    let mut machine = ready_machine(one_container(probe));
    machine.step(PodInput::SandboxCreated(Ok(sandbox())), 0);
    check(&mut machine, started("app-0", 0), 0, &[]);
    assert_eq!(machine.next_wake_ms(), Some(5_000));
    let probe_action = PodAction::Probe {
        container: "app".into(),
        id: id("app-0"),
        kind: ProbeKind::Liveness,
        timeout_ms: 1_000,
    };
    check(
        &mut machine,
        PodInput::Tick,
        5_000,
        std::slice::from_ref(&probe_action),
    );
    let fail = |message: &str| PodInput::ProbeResult {
        id: id("app-0"),
        kind: ProbeKind::Liveness,
        success: false,
        message: Some(message.to_string()),
    };
    check(&mut machine, fail("no such file"), 5_010, &[]);
    check(
        &mut machine,
        PodInput::Tick,
        10_010,
        std::slice::from_ref(&probe_action),
    );
    check(&mut machine, fail("no such file"), 10_020, &[]);
    check(
        &mut machine,
        PodInput::Tick,
        15_020,
        std::slice::from_ref(&probe_action),
    );
    check(
        &mut machine,
        fail("no such file"),
        15_030,
        &[PodAction::Signal {
            container: "app".into(),
            id: id("app-0"),
            signal: libc::SIGTERM,
        }],
    );
    // The container ignores SIGTERM: SIGKILL at the end of the grace period (30 s).
    assert_eq!(machine.next_wake_ms(), Some(45_030));
    check(
        &mut machine,
        PodInput::Tick,
        45_030,
        &[PodAction::Signal {
            container: "app".into(),
            id: id("app-0"),
            signal: libc::SIGKILL,
        }],
    );
    check(
        &mut machine,
        exited("app-0", ExitStatus::Signal(9), 45_040),
        45_040,
        &[
            PodAction::RemoveContainer { id: id("app-0") },
            start("app", false, 1),
        ],
    );
    let status = status(&machine, 45_040).container_statuses[0].clone();
    let last = status.last_state.unwrap().terminated.unwrap();
    assert_eq!(last.exit_code, 137);
    assert_eq!(
        last.message.as_deref(),
        Some("Liveness probe failed: no such file")
    );
    assert_eq!(status.restart_count, 1);
}

#[test]
fn readiness_decides_the_ready_condition() {
    let mut machine = ready_machine(one_container(
        json!({"readinessProbe": {"tcpSocket": {"port": 80}}}),
    ));
    machine.step(PodInput::SandboxCreated(Ok(sandbox())), 0);
    check(
        &mut machine,
        started("app-0", 0),
        0,
        &[PodAction::Probe {
            container: "app".into(),
            id: id("app-0"),
            kind: ProbeKind::Readiness,
            timeout_ms: 1_000,
        }],
    );
    assert!(!machine.pod_is_ready(0));
    machine.step(
        PodInput::ProbeResult {
            id: id("app-0"),
            kind: ProbeKind::Readiness,
            success: true,
            message: None,
        },
        100,
    );
    assert!(machine.pod_is_ready(100));
    for t in [10_100, 20_100, 30_100] {
        machine.step(PodInput::Tick, t);
        machine.step(
            PodInput::ProbeResult {
                id: id("app-0"),
                kind: ProbeKind::Readiness,
                success: false,
                message: None,
            },
            t + 1,
        );
    }
    assert!(!machine.pod_is_ready(30_101));
    assert_eq!(status(&machine, 30_101).phase, Some(PodPhase::Running));
}

#[test]
fn a_startup_probe_holds_back_liveness_until_it_passes() {
    let spec = one_container(json!({
        "startupProbe": {"exec": {"command": ["true"]}},
        "livenessProbe": {"exec": {"command": ["true"]}},
    }));
    let mut machine = ready_machine(spec);
    machine.step(PodInput::SandboxCreated(Ok(sandbox())), 0);
    check(
        &mut machine,
        started("app-0", 0),
        0,
        &[PodAction::Probe {
            container: "app".into(),
            id: id("app-0"),
            kind: ProbeKind::Startup,
            timeout_ms: 1_000,
        }],
    );
    check(
        &mut machine,
        PodInput::ProbeResult {
            id: id("app-0"),
            kind: ProbeKind::Startup,
            success: true,
            message: None,
        },
        10,
        &[PodAction::Probe {
            container: "app".into(),
            id: id("app-0"),
            kind: ProbeKind::Liveness,
            timeout_ms: 1_000,
        }],
    );
}

#[test]
fn deletion_runs_pre_stop_then_the_stop_signal_then_sigkill_after_the_grace_period() {
    let spec = json!({"terminationGracePeriodSeconds": 10, "containers": [
        {"name": "app", "image": "busybox", "lifecycle": {"preStop": {"exec": {"command": ["sh", "-c", "sleep 1"]}}}}]});
    let mut machine = ready_machine(spec);
    machine.step(PodInput::SandboxCreated(Ok(sandbox())), 0);
    machine.step(started("app-0", 0), 0);
    check(
        &mut machine,
        PodInput::Delete,
        1_000,
        &[PodAction::PreStop {
            container: "app".into(),
            id: id("app-0"),
            grace_ms: 10_000,
        }],
    );
    check(
        &mut machine,
        PodInput::PreStopDone { id: id("app-0") },
        2_000,
        &[PodAction::Signal {
            container: "app".into(),
            id: id("app-0"),
            signal: libc::SIGTERM,
        }],
    );
    check(
        &mut machine,
        PodInput::Tick,
        11_000,
        &[PodAction::Signal {
            container: "app".into(),
            id: id("app-0"),
            signal: libc::SIGKILL,
        }],
    );
    check(
        &mut machine,
        exited("app-0", ExitStatus::Signal(9), 11_010),
        11_010,
        &[PodAction::RemoveContainer { id: id("app-0") }],
    );
    check(
        &mut machine,
        PodInput::ContainerRemoved { id: id("app-0") },
        11_020,
        &[PodAction::RemoveSandbox {
            id: SandboxId::new("sb").unwrap(),
        }],
    );
    assert!(!machine.is_finished());
    check(&mut machine, PodInput::SandboxRemoved, 11_030, &[]);
    assert!(machine.is_finished());
}

#[test]
fn a_pod_deleted_before_its_sandbox_exists_waits_for_it_and_removes_it() {
    let mut machine = PodMachine::new(pod(one_container(json!({}))));
    machine.step(PodInput::Tick, 0);
    check(&mut machine, PodInput::Delete, 1, &[]);
    check(
        &mut machine,
        PodInput::ImagePulled {
            container: "app".into(),
            result: Ok("x".into()),
        },
        2,
        &[],
    );
    check(
        &mut machine,
        PodInput::SandboxCreated(Ok(sandbox())),
        3,
        &[PodAction::RemoveSandbox {
            id: SandboxId::new("sb").unwrap(),
        }],
    );
    check(&mut machine, PodInput::SandboxRemoved, 4, &[]);
    assert!(machine.is_finished());
}

#[test]
fn an_adopted_running_container_is_kept_and_an_exit_seen_meanwhile_restarts_it() {
    let mut machine = PodMachine::new(pod(
        json!({"containers": [{"name": "app", "image": "busybox"}, {"name": "side", "image": "busybox"}]}),
    ));
    let observed = vec![
        Observed {
            name: "app".into(),
            init: false,
            id: id("app-3"),
            restart_count: 3,
            started_at_ms: 0,
            stop_signal: 15,
            exit: None,
        },
        Observed {
            name: "side".into(),
            init: false,
            id: id("side-0"),
            restart_count: 0,
            started_at_ms: 0,
            stop_signal: 15,
            exit: Some(ContainerExit {
                status: ExitStatus::Unknown,
                oom_killed: false,
                finished_at_ms: 50,
            }),
        },
    ];
    check(
        &mut machine,
        PodInput::Adopt {
            sandbox: Some(sandbox()),
            containers: observed,
        },
        100,
        &[
            PodAction::RemoveContainer { id: id("side-0") },
            start("side", false, 1),
        ],
    );
    let status = status(&machine, 100);
    assert_eq!(status.container_statuses[0].restart_count, 3);
    assert!(status.container_statuses[0]
        .state
        .as_ref()
        .unwrap()
        .running
        .is_some());
    assert_eq!(
        status.container_statuses[1]
            .last_state
            .as_ref()
            .unwrap()
            .terminated
            .as_ref()
            .unwrap()
            .reason
            .as_deref(),
        Some("ContainerStatusUnknown")
    );
}

#[test]
fn image_pull_failures_retry_with_back_off() {
    let mut machine = PodMachine::new(pod(one_container(json!({}))));
    machine.step(PodInput::Tick, 0);
    check(
        &mut machine,
        PodInput::ImagePulled {
            container: "app".into(),
            result: Err("manifest unknown".into()),
        },
        10,
        &[],
    );
    let waiting = status(&machine, 10).container_statuses[0]
        .state
        .clone()
        .unwrap()
        .waiting
        .unwrap();
    assert_eq!(
        (waiting.reason.as_deref(), waiting.message.as_deref()),
        (Some("ErrImagePull"), Some("manifest unknown"))
    );
    assert_eq!(machine.next_wake_ms(), Some(10_010));
    check(
        &mut machine,
        PodInput::Tick,
        10_010,
        &[PodAction::PullImage {
            container: "app".into(),
            image: "busybox".into(),
            policy: None,
        }],
    );
    machine.step(
        PodInput::ImagePulled {
            container: "app".into(),
            result: Err("manifest unknown".into()),
        },
        10_020,
    );
    let waiting = status(&machine, 10_020).container_statuses[0]
        .state
        .clone()
        .unwrap()
        .waiting
        .unwrap();
    assert_eq!(waiting.reason.as_deref(), Some("ImagePullBackOff"));
    assert_eq!(machine.next_wake_ms(), Some(30_020));
}

#[test]
fn a_failed_start_counts_as_a_failure_of_the_container() {
    let mut machine = ready_machine(
        json!({"restartPolicy": "Never", "containers": [{"name": "app", "image": "busybox"}]}),
    );
    machine.step(PodInput::SandboxCreated(Ok(sandbox())), 0);
    machine.step(
        PodInput::ContainerStarted {
            container: "app".into(),
            result: Err("executable file not found".into()),
        },
        1,
    );
    let status = status(&machine, 1);
    assert_eq!(status.phase, Some(PodPhase::Failed));
    let terminated = status.container_statuses[0]
        .state
        .clone()
        .unwrap()
        .terminated
        .unwrap();
    assert_eq!(
        (terminated.reason.as_deref(), terminated.exit_code),
        (Some("StartError"), 128)
    );
}
