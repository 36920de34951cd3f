//! A pod on a real agent, read and driven from `edgectl` through the master: logs (whole,
//! `--tail`, `-f` seeing a line written later), exec (output and exit status), top (numbers
//! from cgroups), and the message once the agent is gone.
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::harness::{all_running, prerequisites, Cluster, BUSYBOX};
use crate::control::harness::{edgectl_bin, fails};

fn talker() -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: talker
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: {BUSYBOX}
    command: ["sh", "-c", "echo first; echo second; echo third; while true; do if [ -f /tmp/go ]; then rm /tmp/go; echo later; fi; sleep 0.2; done"]
  - name: burner
    image: {BUSYBOX}
    command: ["sh", "-c", "echo burning; while true; do :; done"]
    resources:
      limits:
        cpu: 200m
"#
    )
}

fn run(cluster: &Cluster, args: &[&str]) -> (Option<i32>, String, String) {
    let output = cluster.edgectl(args);
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn logs_exec_and_top_reach_a_pod_through_the_master() {
    if !prerequisites() {
        return;
    }
    let mut cluster = Cluster::start(1);
    cluster.apply(&talker());
    cluster.wait_for("the talker running", 120, |c| {
        c.pods("talker").first().is_some_and(all_running)
    });
    cluster.wait_for("the talker's first lines", 30, |c| {
        run(c, &["logs", "talker", "-c", "main"]).1 == "first\nsecond\nthird\n"
    });

    // Logs: whole, the tail, another container, and the refusals.
    let (code, stdout, _) = run(&cluster, &["logs", "talker", "-c", "main", "--tail", "1"]);
    assert_eq!((code, stdout.as_str()), (Some(0), "third\n"));
    // The burner runs under a CPU quota: its first line may come after main's.
    cluster.wait_for("the burner's first line", 30, |c| {
        let (code, stdout, _) = run(c, &["logs", "pod/talker", "-c", "burner"]);
        code == Some(0) && stdout == "burning\n"
    });
    let stderr = fails(cluster.edgectl(&["logs", "talker"]));
    assert!(
        stderr.contains(
            "a container name must be specified for pod talker, choose one of: [main burner]"
        ),
        "{stderr}"
    );
    let stderr = fails(cluster.edgectl(&["logs", "talker", "-c", "main", "--previous"]));
    assert!(
        stderr.contains("previous terminated container \"main\" in pod \"talker\" not found"),
        "{stderr}"
    );

    // Follow: the history first, then a line written after the follow started.
    let credential = cluster.master.admin_conf();
    let mut follower = Command::new(edgectl_bin())
        .args(["logs", "talker", "-c", "main", "-f"])
        .env("EDGECONFIG", &credential)
        .env_remove("HOME")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (lines_tx, lines) = mpsc::channel();
    let stdout = follower.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                return;
            }
        }
    });
    // A guard against a hang, not a measurement: the lines come within milliseconds.
    let next = |lines: &mpsc::Receiver<String>| {
        lines
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("the follower printed nothing\n{}", cluster.state()))
    };
    for expected in ["first", "second", "third"] {
        assert_eq!(next(&lines), expected);
    }
    let (code, _, stderr) = run(
        &cluster,
        &["exec", "talker", "-c", "main", "--", "touch", "/tmp/go"],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(next(&lines), "later");
    let answered_before = cluster.agents[0]
        .log()
        .matches("tunnel request answered")
        .count();
    let _ = follower.kill();
    let _ = follower.wait();
    // The agent stops following once the client is gone: its answer ends.
    cluster.wait_for("the agent to end the followed log", 60, |c| {
        c.agents[0].log().matches("tunnel request answered").count() > answered_before
    });

    // Exec: output (stdout and stderr), exit status, a signal, the default container refused.
    let (code, stdout, _) = run(
        &cluster,
        &[
            "exec",
            "talker",
            "-c",
            "main",
            "--",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
        ],
    );
    assert_eq!(code, Some(3));
    assert_eq!(stdout, "out\nerr\n");
    let (code, stdout, _) = run(
        &cluster,
        &["exec", "talker", "-c", "main", "--", "cat", "/etc/passwd"],
    );
    assert_eq!(code, Some(0));
    assert!(stdout.starts_with("root:x:0:0"), "{stdout}");
    let (code, _, _) = run(
        &cluster,
        &[
            "exec",
            "talker",
            "-c",
            "main",
            "--",
            "sh",
            "-c",
            "kill -9 $$",
        ],
    );
    assert_eq!(code, Some(137));
    let stderr = fails(cluster.edgectl(&["exec", "talker", "--", "true"]));
    assert!(
        stderr.contains("a container name must be specified"),
        "{stderr}"
    );

    // Top: numbers from the cgroups, the burner busy.
    let (code, stdout, stderr) = run(&cluster, &["top", "pods", "--containers"]);
    assert_eq!(code, Some(0), "{stderr}");
    let burner = stdout
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("burner"))
        .unwrap_or_else(|| panic!("no burner row:\n{stdout}"));
    let cells: Vec<&str> = burner.split_whitespace().collect();
    let cpu_milli: u64 = cells[2].strip_suffix('m').unwrap().parse().unwrap();
    assert!(cpu_milli > 0, "{stdout}");
    assert!(cells[3].ends_with("Mi"), "{stdout}");
    let (code, stdout, stderr) = run(&cluster, &["top", "nodes"]);
    assert_eq!(code, Some(0), "{stderr}");
    let node = cluster.agents[0].name.clone();
    let row = stdout
        .lines()
        .find(|l| l.starts_with(node.as_str()))
        .unwrap_or_else(|| panic!("no row for {node}:\n{stdout}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert!(
        cells[1].ends_with('m') && cells[2].ends_with('%'),
        "{stdout}"
    );
    let memory_mib: u64 = cells[3].strip_suffix("Mi").unwrap().parse().unwrap();
    assert!(memory_mib > 0, "{stdout}");
    println!("{stdout}");

    // The agent gone: the master says which node it cannot reach.
    cluster.agents[0].stop();
    let stderr = cluster
        .wait_for("the master to notice the agent is gone", 60, |c| {
            let (code, _, stderr) = run(c, &["logs", "talker", "-c", "main"]);
            (code == Some(1) && stderr.contains("ServiceUnavailable")).then_some(stderr)
        })
        .expect("waited for");
    assert_eq!(
        stderr.trim(),
        format!(
            "Error from server (ServiceUnavailable): node {node} has no open connection to this master (is its agent running?)"
        )
    );
}
