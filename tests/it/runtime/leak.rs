//! Nothing leaks: 50 pods (each with a tmpfs volume, every fifth with a hostPort) created and
//! deleted leave mounts, cgroups, links, addresses, nftables rules, processes and files as
//! they were. Compared on what this test's agent owns, so that other tests may run meanwhile.
use std::collections::BTreeSet;
use std::path::Path;

use super::harness::{is_running, TestAgent, BUSYBOX};
use super::prereq;
use crate::require;

const PODS: usize = 50;

fn command(program: &str, args: &[&str]) -> String {
    let output = std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn files_under(dir: &Path, skip: &[&str], out: &mut BTreeSet<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if skip.iter().any(|s| path.ends_with(s)) {
            continue;
        }
        out.insert(path.display().to_string());
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            files_under(&path, skip, out);
        }
    }
}

/// Everything the agent's pods could leave behind.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    mounts: BTreeSet<String>,
    cgroups: BTreeSet<String>,
    processes: usize,
    bridge_ports: BTreeSet<String>,
    netns: BTreeSet<String>,
    addresses: BTreeSet<String>,
    nft_rules: String,
    files: BTreeSet<String>,
}

fn snapshot(agent: &TestAgent) -> Snapshot {
    let engine = &agent.settings.engine;
    let owned = |path: &str| {
        path.starts_with(agent.settings.dir.path().to_str().unwrap())
            || path.starts_with(engine.run_dir.to_str().unwrap())
    };
    let mounts = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4))
        .filter(|m| owned(m))
        .map(str::to_string)
        .collect();
    let mut cgroups = BTreeSet::new();
    let mut processes = 0;
    for controller in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let dir = controller.path().join(&engine.cgroup_parent);
        let mut found = BTreeSet::new();
        files_under(&dir, &[], &mut found);
        let counted = controller.file_name() == "pids";
        for path in found.into_iter().filter(|p| Path::new(p).is_dir()) {
            if counted {
                processes += std::fs::read_to_string(Path::new(&path).join("cgroup.procs"))
                    .unwrap_or_default()
                    .lines()
                    .count();
            }
            cgroups.insert(path);
        }
    }
    let bridge = &engine.network.bridge;
    let bridge_ports = command("ip", &["-o", "link", "show", "master", bridge])
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(str::to_string)
        .collect();
    let netns = std::fs::read_dir(engine.run_dir.join("ns"))
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    let mut addresses: BTreeSet<String> =
        command("ip", &["-o", "-4", "addr", "show", "dev", bridge])
            .lines()
            .filter_map(|l| l.split_whitespace().nth(3))
            .map(str::to_string)
            .collect();
    let ipam =
        std::fs::read_to_string(engine.data_dir.join("network/ipam.json")).unwrap_or_default();
    let allocations: serde_json::Value = serde_json::from_str(&ipam).unwrap_or_default();
    addresses.extend(
        allocations["allocations"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(ip, owner)| format!("ipam {ip} {owner}")),
    );
    let nft_rules = command("nft", &["list", "table", "ip", &engine.network.nft_table]);
    let mut files = BTreeSet::new();
    files_under(&engine.data_dir, &["images", "ipam.json"], &mut files);
    files_under(&engine.run_dir, &[], &mut files);
    Snapshot {
        mounts,
        cgroups,
        processes,
        bridge_ports,
        netns,
        addresses,
        nft_rules,
        files,
    }
}

fn pod_manifest(index: usize, host_port: Option<u16>) -> String {
    let port = host_port
        .map(|p| format!("    ports:\n    - containerPort: 8080\n      hostPort: {p}\n"))
        .unwrap_or_default();
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: leak-{index}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: app
    image: {BUSYBOX}
    command: ["sh", "-c", "trap 'exit 0' TERM; echo started > /scratch/state; while true; do sleep 1; done"]
{port}    volumeMounts:
    - {{name: scratch, mountPath: /scratch}}
  volumes:
  - name: scratch
    emptyDir: {{medium: Memory, sizeLimit: 1Mi}}
"#
    )
}

#[test]
fn fifty_pods_created_and_deleted_leave_nothing_behind() {
    require!(prereq::containers());
    let agent = TestAgent::start();
    // The node's steady state: agent started, bridge and table in place, no pod.
    agent.wait_for("the agent to settle", 30, |pods| pods.is_empty());
    let before = snapshot(&agent);
    assert_eq!(before.processes, 0);
    let base_port = 22_000 + 100 * agent.settings.subnet.n as u16 % 10_000;
    for index in 0..PODS {
        let host_port = (index % 5 == 0).then_some(base_port + index as u16);
        agent.write_manifest(
            &format!("leak-{index}.yaml"),
            &pod_manifest(index, host_port),
        );
    }
    agent.wait_for("50 running pods", 300, |pods| {
        pods.len() == PODS
            && pods.iter().all(|p| {
                p.pod.status.as_ref().is_some_and(|s| {
                    s.container_statuses
                        .iter()
                        .all(|c| is_running(&Some(c.clone())))
                })
            })
    });
    // Running is reported once a container's process started, before its shell forked its
    // first `sleep`; and between two sleeps a shell is alone for a moment. Sample until every
    // pod shows its shell and its sleep.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let running = loop {
        let running = snapshot(&agent);
        if running.processes == PODS * 2 {
            break running;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} processes in the pods' cgroups, not a shell and a sleep per pod ({})",
            running.processes,
            PODS * 2
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(running.netns.len(), PODS);
    assert_eq!(running.bridge_ports.len(), PODS);
    assert!(running.nft_rules.matches("dnat to").count() >= 2 * PODS / 5);
    for index in 0..PODS {
        agent.remove_manifest(&format!("leak-{index}.yaml"));
    }
    agent.wait_for("every pod gone", 300, |pods| pods.is_empty());
    let after = snapshot(&agent);
    assert_eq!(
        after, before,
        "the node after 50 pods differs from the node before"
    );
    assert!(
        agent
            .log_text()
            .lines()
            .all(|l| !l.contains("WARN") || !l.contains("removing")),
        "removal warnings:\n{}",
        agent.log_text()
    );
}
