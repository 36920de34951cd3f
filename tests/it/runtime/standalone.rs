//! `edged agent --standalone` as a user runs it: manifests dropped into a directory, pods seen
//! with `ps` and checked from outside (HTTP to the pod IP and the hostPort) and inside.
use std::net::SocketAddr;

use flotilla::agent::runtime::cgroup::CgroupSetup;

use super::harness::{
    container, container_init_pid, host_ip, http_get, is_running, pod, TestAgent, BUSYBOX,
};
use super::prereq;
use crate::require;

fn web_pod(host_port: u16) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: {BUSYBOX}
    command: ["httpd", "-f", "-p", "80", "-h", "/var/www"]
    ports:
    - containerPort: 80
      hostPort: {host_port}
    readinessProbe:
      httpGet: {{path: /index.html, port: 80}}
      periodSeconds: 1
  - name: sidecar
    image: {BUSYBOX}
    command: ["sh", "-c", "while true; do if wget -q -O- http://127.0.0.1:80/index.html; then echo reached-main; fi; sleep 1; done"]
"#
    )
}

#[test]
fn a_dropped_manifest_runs_reachable_on_its_ip_and_host_port_and_its_removal_cleans_up() {
    require!(prereq::containers());
    let agent = TestAgent::start();
    let host_port = 20_000 + agent.settings.subnet.n as u16;
    agent.write_manifest("web.yaml", &web_pod(host_port));
    let pods = agent.wait_for("web ready", 60, |pods| {
        container(pods, "web", "web").is_some_and(|c| c.ready)
    });
    let status = pod(&pods, "web").unwrap().pod.status.clone().unwrap();
    let ip: std::net::Ipv4Addr = status.pod_ip.unwrap().parse().unwrap();
    assert!(agent
        .settings
        .subnet
        .cidr()
        .starts_with(&format!("10.213.{}.", agent.settings.subnet.n)));
    // From outside: the pod IP, the hostPort on the node's address and on 127.0.0.1.
    for address in [
        SocketAddr::from((ip, 80)),
        SocketAddr::from((host_ip(), host_port)),
        SocketAddr::from(([127, 0, 0, 1], host_port)),
    ] {
        let (code, body) = http_get(address, "/index.html")
            .unwrap_or_else(|e| panic!("GET {address}: {e}\n{}", agent.log_text()));
        assert_eq!(
            (code, body.as_str()),
            (200, "hello from flotilla\n"),
            "{address}"
        );
    }
    // From inside: the sidecar reaches the main container on 127.0.0.1 (shared netns).
    agent.wait_for("the sidecar to reach the web server", 30, |_| {
        agent
            .logs("web", Some("sidecar"), false)
            .contains("reached-main")
    });
    // The containers are in the pod's network namespace, each in its own PID namespace.
    let netns = std::fs::read_dir(agent.settings.engine.run_dir.join("ns"))
        .unwrap()
        .flatten()
        .map(|e| e.path().join("net"))
        .next()
        .expect("the pod's netns is pinned");
    let inode =
        |p: &std::path::Path| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).unwrap());
    let netns_inode = inode(&netns);
    let pids: Vec<i32> =
        std::fs::read_dir(CgroupSetup::detect().dir("pids", &agent.settings.engine.cgroup_parent))
            .unwrap()
            .flatten()
            .filter(|e| e.path().is_dir())
            .filter_map(|e| container_init_pid(&e.path()))
            .collect();
    assert_eq!(pids.len(), 2, "two containers");
    for pid in &pids {
        assert_eq!(
            inode(std::path::Path::new(&format!("/proc/{pid}/ns/net"))),
            netns_inode
        );
        assert_ne!(
            inode(std::path::Path::new(&format!("/proc/{pid}/ns/pid"))),
            inode(std::path::Path::new("/proc/self/ns/pid"))
        );
    }
    agent.remove_manifest("web.yaml");
    agent.wait_for("the pod to be gone", 60, |pods| pods.is_empty());
    assert!(!netns.exists());
    assert!(
        http_get(SocketAddr::from((host_ip(), host_port)), "/").is_err(),
        "the hostPort is closed"
    );
}

/// `edged ps` as a user runs it, against the test agent's socket.
fn edged_ps(agent: &TestAgent) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_edged"))
        .args(["ps", "--socket"])
        .arg(&agent.socket)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "edged ps: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn an_exec_liveness_probe_restarts_the_container_and_ps_shows_why() {
    require!(prereq::containers());
    let agent = TestAgent::start();
    // The Kubernetes documentation's exec-liveness pod ("Configure Liveness, Readiness and
    // Startup Probes"), as published but for the image: the file is there for 30 s, the probe
    // runs every 5 s after 5 s, and the third failure in a row restarts the container (after
    // the default 30 s grace period, which `sh` as PID 1 sits out).
    agent.write_manifest(
        "exec-liveness.yaml",
        &format!(
            r#"apiVersion: v1
kind: Pod
metadata:
  labels:
    test: liveness
  name: liveness-exec
spec:
  containers:
  - name: liveness
    image: {BUSYBOX}
    args:
    - /bin/sh
    - -c
    - touch /tmp/healthy; sleep 30; rm -f /tmp/healthy; sleep 600
    livenessProbe:
      exec:
        command:
        - cat
        - /tmp/healthy
      initialDelaySeconds: 5
      periodSeconds: 5
"#
        ),
    );
    let pods = agent.wait_for("a liveness restart", 240, |pods| {
        container(pods, "liveness-exec", "liveness").is_some_and(|c| c.restart_count >= 1)
    });
    let status = container(&pods, "liveness-exec", "liveness").unwrap();
    let last = status.last_state.unwrap().terminated.unwrap();
    assert_eq!(
        last.exit_code, 137,
        "SIGKILL after the grace period: {last:?}"
    );
    assert!(
        last.message
            .as_deref()
            .unwrap_or("")
            .starts_with("Liveness probe failed"),
        "{last:?}"
    );
    // Not while /tmp/healthy existed: the probe only failed once the file was gone.
    let lived_s =
        last.finished_at.unwrap().unix_seconds() - last.started_at.unwrap().unix_seconds();
    assert!(lived_s >= 30, "restarted after {lived_s} s: {last:?}");
    // What the user sees.
    let table = edged_ps(&agent);
    let line = table
        .lines()
        .find(|l| l.contains("liveness-exec"))
        .unwrap_or_else(|| panic!("no liveness-exec line:\n{table}"));
    let restarts: u32 = line.split_whitespace().nth(4).unwrap().parse().unwrap();
    assert!(restarts >= 1, "{table}");
    assert!(line.contains("Liveness probe failed"), "{table}");
    assert!(line.contains("cat: can't open '/tmp/healthy'"), "{table}");
    assert!(table.starts_with("POD"), "{table}");
}

#[test]
fn a_container_over_its_memory_limit_is_oom_killed() {
    require!(prereq::containers());
    let agent = TestAgent::start();
    agent.write_manifest(
        "oom.yaml",
        &format!(
            r#"apiVersion: v1
kind: Pod
metadata:
  name: memory-hog
spec:
  restartPolicy: Never
  containers:
  - name: hog
    image: {BUSYBOX}
    command: ["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"]
    resources:
      limits: {{memory: 32Mi}}
"#
        ),
    );
    let pods = agent.wait_for("the OOM kill", 60, |pods| {
        container(pods, "memory-hog", "hog")
            .and_then(|c| c.state)
            .and_then(|s| s.terminated)
            .is_some()
    });
    let terminated = container(&pods, "memory-hog", "hog")
        .unwrap()
        .state
        .unwrap()
        .terminated
        .unwrap();
    assert_eq!(
        (terminated.reason.as_deref(), terminated.exit_code),
        (Some("OOMKilled"), 137)
    );
    let table = edged_ps(&agent);
    assert!(
        table
            .lines()
            .any(|l| l.contains("memory-hog") && l.contains("OOMKilled")),
        "{table}"
    );
    assert_eq!(
        pod(&pods, "memory-hog")
            .unwrap()
            .pod
            .status
            .as_ref()
            .unwrap()
            .phase,
        Some(flotilla::api::PodPhase::Failed)
    );
}

#[test]
fn a_crashing_container_backs_off_and_its_previous_logs_stay_readable() {
    require!(prereq::containers());
    let agent = TestAgent::start();
    agent.write_manifest(
        "crash.yaml",
        &format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: crash\nspec:\n  containers:\n  - name: app\n    image: {BUSYBOX}\n    command: [\"sh\", \"-c\", \"echo attempt; exit 3\"]\n"
        ),
    );
    let pods = agent.wait_for("CrashLoopBackOff", 60, |pods| {
        container(pods, "crash", "app")
            .and_then(|c| c.state)
            .and_then(|s| s.waiting)
            .is_some_and(|w| w.reason.as_deref() == Some("CrashLoopBackOff"))
    });
    let status = container(&pods, "crash", "app").unwrap();
    assert!(status.restart_count >= 1);
    assert_eq!(status.last_state.unwrap().terminated.unwrap().exit_code, 3);
    assert_eq!(agent.logs("crash", None, true), "attempt\n");
}

#[test]
fn init_containers_volumes_config_maps_and_secrets_reach_the_app() {
    require!(prereq::containers());
    let agent = TestAgent::start();
    let host_dir = agent.settings.dir.path().join("host-data");
    agent.write_manifest(
        "app.yaml",
        &format!(
            r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  greeting: hello
  app.conf: "mode=edge\n"
---
apiVersion: v1
kind: Secret
metadata:
  name: token
stringData:
  token: s3cret
---
apiVersion: v1
kind: Pod
metadata:
  name: app
spec:
  restartPolicy: Never
  initContainers:
  - name: prepare
    image: {BUSYBOX}
    command: ["sh", "-c", "echo prepared > /work/ready"]
    volumeMounts: [{{name: work, mountPath: /work}}]
  containers:
  - name: app
    image: {BUSYBOX}
    command: ["sh", "-c", "cat /work/ready; echo $GREETING; cat /conf/app.conf; cat /secret/token; echo; echo $POD_NAME; mount | grep -c ' /scratch type tmpfs'; echo host > /host/out; touch /conf/x 2>/dev/null || echo read-only"]
    env:
    - name: GREETING
      valueFrom: {{configMapKeyRef: {{name: settings, key: greeting}}}}
    - name: POD_NAME
      valueFrom: {{fieldRef: {{fieldPath: metadata.name}}}}
    volumeMounts:
    - {{name: work, mountPath: /work}}
    - {{name: conf, mountPath: /conf}}
    - {{name: secret, mountPath: /secret}}
    - {{name: scratch, mountPath: /scratch}}
    - {{name: host, mountPath: /host}}
  volumes:
  - name: work
    emptyDir: {{}}
  - name: scratch
    emptyDir: {{medium: Memory, sizeLimit: 1Mi}}
  - name: conf
    configMap: {{name: settings}}
  - name: secret
    secret: {{secretName: token}}
  - name: host
    hostPath: {{path: {}, type: DirectoryOrCreate}}
"#,
            host_dir.display()
        ),
    );
    agent.wait_for("the app to complete", 60, |pods| {
        pod(pods, "app").is_some_and(|p| {
            p.pod.status.as_ref().and_then(|s| s.phase) == Some(flotilla::api::PodPhase::Succeeded)
        })
    });
    assert_eq!(
        agent.logs("app", None, false),
        "prepared\nhello\nmode=edge\ns3cret\napp\n1\nread-only\n"
    );
    assert_eq!(
        std::fs::read_to_string(host_dir.join("out")).unwrap(),
        "host\n"
    );
    assert!(agent.logs("app", Some("prepare"), false).is_empty());
}

#[test]
fn an_agent_killed_with_sigkill_readopts_its_running_containers_with_the_same_pids() {
    require!(prereq::containers());
    let mut agent = TestAgent::start();
    let host_port = 21_000 + agent.settings.subnet.n as u16;
    agent.write_manifest("web.yaml", &web_pod(host_port));
    agent.wait_for("web ready", 60, |pods| {
        container(pods, "web", "web").is_some_and(|c| c.ready)
    });
    let cgroup_dir = CgroupSetup::detect().dir("pids", &agent.settings.engine.cgroup_parent);
    let container_pids = || -> Vec<String> {
        let mut pids: Vec<String> = std::fs::read_dir(&cgroup_dir)
            .unwrap()
            .flatten()
            .filter(|e| e.path().is_dir())
            // The commands a container runs come and go: only its init is compared.
            .filter_map(|e| container_init_pid(&e.path()))
            .map(|pid| pid.to_string())
            .collect();
        pids.sort();
        pids
    };
    let before = container_pids();
    assert_eq!(before.len(), 2);
    agent.kill9();
    assert_eq!(container_pids(), before, "containers outlive the agent");
    agent.spawn();
    let pods = agent.wait_for("the pod re-adopted and ready", 60, |pods| {
        container(pods, "web", "web").is_some_and(|c| c.ready)
    });
    assert_eq!(
        container_pids(),
        before,
        "no container was restarted or duplicated"
    );
    for name in ["web", "sidecar"] {
        assert_eq!(container(&pods, "web", name).unwrap().restart_count, 0);
        assert!(is_running(&container(&pods, "web", name)));
    }
    assert!(agent.log_text().contains("re-adopted running container"));
    let (code, _) = http_get(SocketAddr::from((host_ip(), host_port)), "/index.html").unwrap();
    assert_eq!(code, 200);
    // Logs keep flowing into the same file after re-adoption.
    let lines = agent.logs("web", Some("sidecar"), false).lines().count();
    agent.wait_for("more sidecar output", 30, |_| {
        agent.logs("web", Some("sidecar"), false).lines().count() > lines
    });
    agent.remove_manifest("web.yaml");
    agent.wait_for("the pod to be gone", 60, |pods| pods.is_empty());
}

#[test]
fn an_archive_dropped_into_the_air_gap_directory_is_imported_and_its_pod_starts() {
    require!(prereq::containers() && prereq::require(prereq::has_command("file"), "file"));
    let mut agent = TestAgent::start_with_images(false);
    agent.write_manifest(
        "airgap.yaml",
        &format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: airgap\nspec:\n  containers:\n  - name: app\n    image: {BUSYBOX}\n    command: [\"sleep\", \"600\"]\n"),
    );
    agent.wait_for("the pull to fail", 60, |pods| {
        container(pods, "airgap", "app")
            .and_then(|c| c.state)
            .and_then(|s| s.waiting)
            .is_some_and(|w| w.reason.as_deref() == Some("ErrImagePull"))
    });
    // The image a user builds from Debian's busybox-static with `scripts/busybox-image`
    // (a `docker save` archive), written aside and moved in, as an operator copying over a
    // slow link should.
    let import = agent.settings.data_dir().join("images/import");
    let built = agent.settings.dir.path().join("busybox-built.tar");
    let script = std::process::Command::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scripts/busybox-image"
    ))
    .arg(&built)
    .arg(BUSYBOX)
    .output()
    .unwrap();
    assert!(
        script.status.success(),
        "scripts/busybox-image: {}",
        String::from_utf8_lossy(&script.stderr)
    );
    std::fs::copy(&built, import.join(".busybox.tar.part")).unwrap();
    std::fs::rename(import.join(".busybox.tar.part"), import.join("busybox.tar")).unwrap();
    agent.wait_for("the pod to run from the imported image", 90, |pods| {
        is_running(&container(pods, "airgap", "app"))
    });
    assert!(agent.log_text().contains("imported air-gap images"));
    // A clean stop leaves the pod running for the next agent.
    agent.stop();
    agent.spawn();
    let pods = agent.wait_for("the pod re-adopted", 30, |pods| {
        is_running(&container(pods, "airgap", "app"))
    });
    assert_eq!(container(&pods, "airgap", "app").unwrap().restart_count, 0);
    agent.remove_manifest("airgap.yaml");
    agent.wait_for("the pod to be gone", 60, |pods| pods.is_empty());
}

#[test]
fn edged_image_commands_import_list_and_remove() {
    require!(prereq::containers());
    let data = tempfile::tempdir().unwrap();
    let edged = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_edged"))
            .args(args)
            .arg("--data-dir")
            .arg(data.path())
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned()
                + &String::from_utf8_lossy(&output.stderr),
        )
    };
    let archive = super::harness::busybox_archive();
    let (ok, out) = edged(&["image", "import", archive.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert!(out.contains(&format!("imported {BUSYBOX}")), "{out}");
    let (ok, out) = edged(&["image", "ls"]);
    assert!(
        ok && out.contains("IMAGE ID") && out.contains(BUSYBOX),
        "{out}"
    );
    // A container created from it (as the agent records one) keeps it: its layers are the
    // container's overlayfs lower directories.
    let refs: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data.path().join("images/refs.json")).unwrap())
            .unwrap();
    let config = refs["images"].as_object().unwrap().values().next().unwrap()["config"].clone();
    let record = data.path().join("containers/0123456789abcdef-app-0");
    std::fs::create_dir_all(&record).unwrap();
    let record = record.join("record.json");
    std::fs::write(
        &record,
        serde_json::to_vec(&serde_json::json!({
            "id": "0123456789abcdef-app-0", "pid": 1, "start_ticks": 1, "boot_id": "b",
            "started_at_ms": 0, "uid": 0, "gid": 0, "cgroup_path": "x", "log_path": "/dev/null",
            "labels": {"image-id": config, "pod": "default/web"}, "exit": null,
        }))
        .unwrap(),
    )
    .unwrap();
    let (ok, out) = edged(&["image", "rm", BUSYBOX]);
    assert!(
        !ok && out.contains("used by 1 container(s)") && out.contains("(pod default/web)"),
        "{out}"
    );
    let (_, out) = edged(&["image", "ls"]);
    assert!(out.contains(BUSYBOX), "{out}");
    let (ok, out) = edged(&["image", "rm", "--force", BUSYBOX]);
    assert!(ok, "{out}");
    std::fs::remove_file(&record).unwrap();
    let (ok, out) = edged(&["image", "import", archive.to_str().unwrap()]);
    assert!(ok, "{out}");
    let (ok, out) = edged(&["image", "rm", BUSYBOX]);
    assert!(ok, "{out}");
    let (_, out) = edged(&["image", "ls"]);
    assert!(!out.contains(BUSYBOX), "{out}");
    assert_eq!(
        std::fs::read_dir(data.path().join("images/layers"))
            .unwrap()
            .count(),
        0
    );
    let (ok, out) = edged(&["image", "rm", BUSYBOX]);
    assert!(!ok && out.contains("not found"), "{out}");
}

#[test]
fn deleting_a_pod_runs_its_pre_stop_hook_before_the_stop_signal() {
    require!(prereq::containers());
    let agent = TestAgent::start();
    let host_dir = agent.settings.dir.path().join("hook");
    agent.write_manifest(
        "hook.yaml",
        &format!(
            r#"apiVersion: v1
kind: Pod
metadata:
  name: hook
spec:
  terminationGracePeriodSeconds: 20
  containers:
  - name: app
    image: {BUSYBOX}
    command: ["sh", "-c", "trap 'echo got-term >> /out/events; exit 0' TERM; while true; do sleep 1; done"]
    lifecycle:
      preStop:
        exec:
          command: ["sh", "-c", "echo pre-stop >> /out/events"]
    volumeMounts: [{{name: out, mountPath: /out}}]
  volumes:
  - name: out
    hostPath: {{path: {}, type: DirectoryOrCreate}}
"#,
            host_dir.display()
        ),
    );
    agent.wait_for("the pod running", 60, |pods| {
        is_running(&container(pods, "hook", "app"))
    });
    agent.remove_manifest("hook.yaml");
    agent.wait_for("the pod gone", 60, |pods| pods.is_empty());
    assert_eq!(
        std::fs::read_to_string(host_dir.join("events")).unwrap(),
        "pre-stop\ngot-term\n"
    );
}
