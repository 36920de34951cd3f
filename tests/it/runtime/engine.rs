//! The engine with real containers: output to CRI logs, exit codes, namespaces seen from
//! outside, cgroup limits, exec inside, OOM kills, and cleanup.
use std::collections::BTreeMap;
use std::path::Path;

use flotilla::agent::runtime::{
    ContainerConfig, ContainerId, ContainerRuntime, ExitStatus, ProcessConfig, Resources,
    SandboxConfig, SandboxId,
};

use super::harness::{block_on, TestEngine};
use super::prereq;
use crate::require;

fn sandbox(id: &str) -> SandboxConfig {
    SandboxConfig {
        id: SandboxId::new(id).unwrap(),
        hostname: "testpod".to_string(),
        host_network: false,
        port_mappings: vec![],
        host_aliases: vec![],
        labels: BTreeMap::new(),
    }
}

fn container(
    node: &TestEngine,
    id: &str,
    sandbox: &flotilla::agent::runtime::SandboxStatus,
    args: &[&str],
) -> ContainerConfig {
    ContainerConfig {
        id: ContainerId::new(id).unwrap(),
        sandbox: sandbox.clone(),
        layers: node.busybox_layers(),
        process: ProcessConfig {
            args: args.iter().map(|s| s.to_string()).collect(),
            env: vec!["PATH=/usr/sbin:/usr/bin:/sbin:/bin".to_string()],
            cwd: "/".to_string(),
            uid: 0,
            gid: 0,
            additional_gids: vec![],
            privileged: false,
            capabilities_add: vec![],
            capabilities_drop: vec![],
            no_new_privileges: false,
        },
        mounts: vec![],
        resources: Resources {
            cpu_period_us: 100_000,
            ..Default::default()
        },
        read_only_root: false,
        log_path: node.settings.data_dir().join(format!("logs/{id}/0.log")),
        labels: BTreeMap::new(),
    }
}

fn ns_inode(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().ino()
}

#[test]
fn a_container_writes_cri_logs_and_reports_its_exit_code() {
    require!(prereq::containers());
    block_on(async {
        let node = TestEngine::start().await;
        let sandbox = node
            .engine
            .create_sandbox(&sandbox(&format!("{}-logs", node.settings.name)))
            .await
            .unwrap();
        let config = container(
            &node,
            "c-logs",
            &sandbox,
            &["sh", "-c", "echo hello; echo oops >&2; printf tail; exit 3"],
        );
        let started = node.engine.start_container(&config).await.unwrap();
        assert!(started.pid > 1);
        let exit = node.engine.wait(&config.id).await.unwrap();
        assert_eq!(exit.status, ExitStatus::Code(3));
        assert!(!exit.oom_killed);
        let log = std::fs::read_to_string(&config.log_path).unwrap();
        let lines: Vec<&str> = log.lines().collect();
        assert_eq!(lines.len(), 3, "{log}");
        assert!(
            lines.iter().any(|l| l.ends_with(" stdout F hello")),
            "{log}"
        );
        assert!(lines.iter().any(|l| l.ends_with(" stderr F oops")), "{log}");
        assert!(lines.iter().any(|l| l.ends_with(" stdout F tail")), "{log}");
        node.engine.remove_container(&config.id).await.unwrap();
        node.engine.remove_sandbox(&sandbox.id).await.unwrap();
        assert!(!node.settings.data_dir().join("containers/c-logs").exists());
        assert!(!sandbox.net_ns.as_ref().unwrap().exists());
    });
}

#[test]
fn containers_join_the_pod_namespaces_and_get_their_own_pid_and_mount_namespaces() {
    require!(prereq::containers());
    block_on(async {
        let node = TestEngine::start().await;
        let sandbox = node
            .engine
            .create_sandbox(&sandbox(&format!("{}-ns", node.settings.name)))
            .await
            .unwrap();
        let mut config = container(&node, "c-ns", &sandbox, &["sleep", "1000"]);
        config.resources.memory_limit_bytes = Some(64 * 1024 * 1024);
        config.resources.cpu_shares = Some(512);
        let started = node.engine.start_container(&config).await.unwrap();
        let ns = |kind: &str| ns_inode(Path::new(&format!("/proc/{}/ns/{kind}", started.pid)));
        let host = |kind: &str| ns_inode(Path::new(&format!("/proc/self/ns/{kind}")));
        assert_eq!(ns("net"), ns_inode(sandbox.net_ns.as_ref().unwrap()));
        assert_eq!(ns("ipc"), ns_inode(&sandbox.ipc_ns));
        assert_eq!(ns("uts"), ns_inode(sandbox.uts_ns.as_ref().unwrap()));
        assert_ne!(ns("pid"), host("pid"));
        assert_ne!(ns("mnt"), host("mnt"));
        // The writable layer is a volatile overlay: unmounting it does not sync the node's disk.
        let rootfs = node
            .settings
            .data_dir()
            .join("containers/c-ns/bundle/rootfs");
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let line = mountinfo
            .lines()
            .find(|l| l.split(' ').nth(4) == Some(rootfs.to_str().unwrap()))
            .unwrap_or_else(|| panic!("{} is not mounted:\n{mountinfo}", rootfs.display()));
        assert!(
            line.contains(" - overlay ") && line.contains("volatile"),
            "{line}"
        );
        let cgroups = node.engine.cgroups();
        let cgroup = node.engine.cgroup_path(&config.id);
        let memory_file = match cgroups {
            flotilla::agent::runtime::cgroup::CgroupSetup::Unified => {
                cgroups.dir("memory", &cgroup).join("memory.max")
            }
            _ => cgroups.dir("memory", &cgroup).join("memory.limit_in_bytes"),
        };
        assert_eq!(
            std::fs::read_to_string(memory_file).unwrap().trim(),
            (64 * 1024 * 1024).to_string()
        );
        let hostname = node
            .engine
            .exec(&config.id, &["hostname".to_string()], 5_000)
            .await
            .unwrap();
        assert_eq!(hostname.status, Some(ExitStatus::Code(0)));
        assert_eq!(String::from_utf8_lossy(&hostname.output).trim(), "testpod");
        let ip = node
            .engine
            .exec(
                &config.id,
                &["ip".into(), "-4".into(), "-o".into(), "addr".into()],
                5_000,
            )
            .await
            .unwrap();
        let ip = String::from_utf8_lossy(&ip.output).into_owned();
        assert!(ip.contains(&format!("{}/24", sandbox.ip.unwrap())), "{ip}");
        assert!(ip.contains("127.0.0.1/8"), "lo is up: {ip}");
        // `sleep` is PID 1 of its namespace: without a handler, SIGTERM is ignored there.
        node.engine.signal(&config.id, libc::SIGKILL).await.unwrap();
        assert_eq!(
            node.engine.wait(&config.id).await.unwrap().status,
            ExitStatus::Signal(libc::SIGKILL)
        );
        node.engine.remove_container(&config.id).await.unwrap();
        assert!(!cgroups.dir("memory", &cgroup).exists());
        node.engine.remove_sandbox(&sandbox.id).await.unwrap();
    });
}

#[test]
fn a_container_over_its_memory_limit_is_reported_oom_killed() {
    require!(prereq::containers());
    block_on(async {
        let node = TestEngine::start().await;
        let sandbox = node
            .engine
            .create_sandbox(&sandbox(&format!("{}-oom", node.settings.name)))
            .await
            .unwrap();
        let mut config = container(
            &node,
            "c-oom",
            &sandbox,
            &["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"],
        );
        config.resources.memory_limit_bytes = Some(32 * 1024 * 1024);
        node.engine.start_container(&config).await.unwrap();
        let exit = node.engine.wait(&config.id).await.unwrap();
        assert_eq!(exit.status, ExitStatus::Signal(libc::SIGKILL));
        assert!(exit.oom_killed);
        node.engine.remove_container(&config.id).await.unwrap();
        node.engine.remove_sandbox(&sandbox.id).await.unwrap();
    });
}
