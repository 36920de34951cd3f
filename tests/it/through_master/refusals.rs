//! What `logs`, `exec` and `top` say when they cannot reach a container: no such pod, a pod
//! not bound yet, a node without an agent connected, and a caller that is not an admin.
use crate::control::harness::{edgectl, fails, manifest_file, ok, Master};
use flotilla::pki::Role;

fn pending_and_ghost_pods(master: &Master) {
    let (_dir, path) = manifest_file(
        "pods.yaml",
        r#"apiVersion: v1
kind: Pod
metadata:
  name: pending
spec:
  nodeSelector:
    no-such-label: "true"
  containers:
  - name: main
    image: busybox
---
apiVersion: v1
kind: Pod
metadata:
  name: ghost
spec:
  nodeName: pi-9
  containers:
  - name: main
    image: busybox
  - name: side
    image: busybox
"#,
    );
    ok(master.edgectl(&["apply", "-f", path.to_str().unwrap()]));
}

#[test]
fn logs_and_exec_name_what_is_missing() {
    let master = Master::start();
    pending_and_ghost_pods(&master);
    let stderr = fails(master.edgectl(&["logs", "nothere"]));
    assert_eq!(
        stderr.trim(),
        "Error from server (NotFound): pods \"nothere\" not found"
    );
    let stderr = fails(master.edgectl(&["logs", "pending"]));
    assert!(
        stderr.contains("pod \"pending\" is not bound to a node yet"),
        "{stderr}"
    );
    let stderr = fails(master.edgectl(&["logs", "ghost"]));
    assert!(
        stderr.contains(
            "a container name must be specified for pod ghost, choose one of: [main side]"
        ),
        "{stderr}"
    );
    let stderr = fails(master.edgectl(&["logs", "ghost", "-c", "db"]));
    assert!(
        stderr.contains("container db is not valid for pod ghost"),
        "{stderr}"
    );
    let stderr = fails(master.edgectl(&["logs", "ghost", "-c", "main"]));
    assert_eq!(
        stderr.trim(),
        "Error from server (ServiceUnavailable): node pi-9 has no open connection to this master (is its agent running?)"
    );
    let stderr = fails(master.edgectl(&["exec", "ghost", "-c", "main", "--", "true"]));
    assert!(
        stderr.contains("node pi-9 has no open connection to this master"),
        "{stderr}"
    );
    let stderr = fails(master.edgectl(&["exec", "ghost", "-c", "main", "-it", "--", "sh"]));
    assert!(
        stderr.contains("interactive exec (-i, -t) is not supported yet"),
        "{stderr}"
    );
    let stderr = fails(master.edgectl(&["top", "pods"]));
    assert!(stderr.contains("no metrics are available"), "{stderr}");
}

#[test]
fn only_admins_may_read_logs_run_commands_and_read_metrics() {
    let master = Master::start();
    pending_and_ghost_pods(&master);
    let node = master.credential_for(&Role::Node("pi-9".into()));
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("node.conf");
    node.save(&conf).unwrap();
    let stderr = fails(edgectl(&conf, &["logs", "ghost", "-c", "main"], None));
    assert!(
        stderr.contains("Forbidden") && stderr.contains("node:pi-9"),
        "{stderr}"
    );
    let stderr = fails(edgectl(
        &conf,
        &["exec", "ghost", "-c", "main", "--", "true"],
        None,
    ));
    assert!(stderr.contains("Forbidden"), "{stderr}");
    let stderr = fails(edgectl(&conf, &["top", "nodes"], None));
    assert!(stderr.contains("Forbidden"), "{stderr}");
}

#[test]
fn an_api_only_master_says_it_reaches_no_node() {
    let master = Master::start_api_only();
    pending_and_ghost_pods(&master);
    let stderr = fails(master.edgectl(&["logs", "ghost", "-c", "main"]));
    assert_eq!(
        stderr.trim(),
        "Error from server (ServiceUnavailable): this master runs with --api-only: it has no connection to any node"
    );
}
