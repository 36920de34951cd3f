//! `edgectl get` prints kubectl's tables, names and documents.
use super::apply::{MY_SERVICE, NGINX_DEPLOYMENT};
use super::harness::{fails, manifest_file, ok, Master};

const EXTRAS: &str = "\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  labels:
    tier: config
data:
  a: \"1\"
  b: \"2\"
---
apiVersion: v1
kind: Secret
metadata:
  name: token
type: Opaque
data:
  key: c2VjcmV0
---
apiVersion: v1
kind: Pod
metadata:
  name: solo
  labels:
    app: solo
spec:
  containers:
  - name: app
    image: busybox
";

fn setup() -> Master {
    let master = Master::start_api_only();
    let text = format!("{NGINX_DEPLOYMENT}---\n{MY_SERVICE}---\n{EXTRAS}");
    let (_dir, file) = manifest_file("all.yaml", &text);
    ok(master.edgectl(&["apply", "-f", file.to_str().unwrap()]));
    master
}

/// The header, then each row with its last cell (the AGE) removed.
fn without_age(table: &str) -> Vec<String> {
    let mut lines = table.lines();
    let mut out = vec![lines.next().unwrap_or("").to_string()];
    for line in lines {
        let trimmed = line.trim_end();
        let cut = trimmed.rfind("   ").map_or(trimmed, |i| &trimmed[..i + 3]);
        out.push(cut.to_string());
    }
    out
}

#[test]
fn tables_have_kubectls_columns_and_spacing() {
    let master = setup();
    let deployments = ok(master.edgectl(&["get", "deployments"]));
    assert_eq!(
        without_age(&deployments),
        [
            "NAME               READY   UP-TO-DATE   AVAILABLE   AGE",
            "nginx-deployment   0/3     0            0           "
        ]
    );
    let services = ok(master.edgectl(&["get", "svc"]));
    assert_eq!(
        without_age(&services),
        [
            "NAME         TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)   AGE",
            "my-service   ClusterIP   <none>       <none>        80/TCP    "
        ]
    );
    let config = ok(master.edgectl(&["get", "cm"]));
    assert_eq!(
        without_age(&config),
        ["NAME       DATA   AGE", "settings   2      "]
    );
    let secrets = ok(master.edgectl(&["get", "secret"]));
    assert_eq!(
        without_age(&secrets),
        ["NAME    TYPE     DATA   AGE", "token   Opaque   1      "]
    );
    let pods = ok(master.edgectl(&["get", "po", "-o", "wide"]));
    assert_eq!(
        without_age(&pods)[0],
        "NAME   READY   STATUS    RESTARTS   AGE   IP       NODE     NOMINATED NODE   READINESS GATES"
    );
    let namespaces = ok(master.edgectl(&["get", "ns"]));
    assert!(
        namespaces.starts_with("NAME      STATUS   AGE\ndefault   Active   "),
        "{namespaces}"
    );
    let everywhere = ok(master.edgectl(&["get", "deploy", "-A"]));
    assert!(
        everywhere.starts_with("NAMESPACE   NAME               READY"),
        "{everywhere}"
    );
}

#[test]
fn get_all_lists_workloads_by_kind_and_name() {
    let master = setup();
    let all = ok(master.edgectl(&["get", "all"]));
    let blocks: Vec<&str> = all.split("\n\n").collect();
    assert_eq!(blocks.len(), 3, "{all}");
    assert!(
        blocks[0].starts_with("NAME       READY   STATUS    RESTARTS   AGE\npod/solo   0/1"),
        "{all}"
    );
    assert!(blocks[1].contains("service/my-service"), "{all}");
    assert!(
        blocks[2].contains("deployment.apps/nginx-deployment"),
        "{all}"
    );
}

#[test]
fn selectors_names_and_output_formats() {
    let master = setup();
    assert_eq!(
        ok(master.edgectl(&["get", "cm", "-l", "tier=config", "-o", "name"])),
        "configmap/settings\n"
    );
    assert_eq!(
        ok(master.edgectl(&["get", "cm,po", "-l", "tier!=config", "-o", "name"])),
        "pod/solo\n"
    );
    assert_eq!(
        ok(master.edgectl(&[
            "get",
            "pods",
            "--field-selector",
            "metadata.name=solo",
            "-o",
            "name"
        ])),
        "pod/solo\n"
    );
    let yaml = ok(master.edgectl(&["get", "cm", "settings", "-o", "yaml"]));
    assert!(yaml.starts_with("apiVersion: v1\n"), "{yaml}");
    assert!(yaml.contains("kind: ConfigMap\n"), "{yaml}");
    let list = ok(master.edgectl(&["get", "configmaps", "-o", "json"]));
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list["kind"], "List");
    assert_eq!(list["items"][0]["kind"], "ConfigMap");
}

#[test]
fn empty_lists_and_missing_names_read_like_kubectl() {
    let master = Master::start_api_only();
    let output = master.edgectl(&["get", "pods"]);
    assert!(output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stdout), "");
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "No resources found in default namespace.\n"
    );
    let stderr = fails(master.edgectl(&["get", "deploy", "missing"]));
    assert_eq!(
        stderr,
        "Error from server (NotFound): deployments.apps \"missing\" not found\n"
    );
    let stderr = fails(master.edgectl(&["get", "widgets"]));
    assert_eq!(
        stderr,
        "error: the server doesn't have a resource type \"widgets\"\n"
    );
}

#[test]
fn describe_shows_the_object_and_its_events() {
    let master = setup();
    let text = ok(master.edgectl(&["describe", "deployment", "nginx-deployment"]));
    assert!(
        text.starts_with("Name:                   nginx-deployment\n"),
        "{text}"
    );
    assert!(text.contains("Replicas:               3 desired | 0 updated | 0 total | 0 available | 0 unavailable\n"), "{text}");
    assert!(text.contains("nginx:1.14.2"), "{text}");
    assert!(text.ends_with("Events:  <none>\n"), "{text}");

    let event = "apiVersion: v1\nkind: Event\nmetadata:\n  name: solo.1\ninvolvedObject:\n  kind: Pod\n  name: solo\n  namespace: default\nreason: Scheduled\ntype: Normal\nmessage: Successfully assigned default/solo to pi-1\nsource:\n  component: default-scheduler\n";
    let (_dir, file) = manifest_file("event.yaml", event);
    ok(master.edgectl(&["apply", "-f", file.to_str().unwrap()]));
    let text = ok(master.edgectl(&["describe", "pod", "solo"]));
    assert!(text.contains("Events:\n  Type    Reason     Age"), "{text}");
    assert!(
        text.contains("Successfully assigned default/solo to pi-1"),
        "{text}"
    );
}

#[test]
fn scale_patches_replicas() {
    let master = setup();
    assert_eq!(
        ok(master.edgectl(&["scale", "deployment/nginx-deployment", "--replicas", "5"])),
        "deployment.apps/nginx-deployment scaled\n"
    );
    let json = ok(master.edgectl(&["get", "deploy/nginx-deployment", "-o", "json"]));
    let deploy: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(deploy["spec"]["replicas"], 5);
}

#[test]
fn version_and_completion_work() {
    let master = Master::start_api_only();
    let version = ok(master.edgectl(&["version"]));
    let expected = format!("v{}", env!("CARGO_PKG_VERSION"));
    let lines: Vec<&str> = version.lines().collect();
    assert_eq!(lines[0], format!("Client Version: {expected}"));
    assert!(lines.iter().any(|l| l.starts_with("target: ")), "{version}");
    assert!(
        lines
            .last()
            .unwrap()
            .starts_with(&format!("Server Version: {expected}")),
        "{version}"
    );
    let bash = ok(master.edgectl(&["completion", "bash"]));
    assert!(bash.contains("edgectl"), "{bash}");
}

#[test]
fn get_watch_prints_a_row_per_change() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let master = Master::start_api_only();
    let mut watcher = Command::new(super::harness::edgectl_bin())
        .args(["get", "configmaps", "-w"])
        .env("EDGECONFIG", master.admin_conf())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(watcher.stdout.take().unwrap()).lines();
    let config = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: live\ndata:\n  a: \"1\"\n";
    let (_dir, file) = manifest_file("cm.yaml", config);
    // The watch starts with the list; `default` has no config maps, so the header comes with
    // the first change.
    ok(master.edgectl(&["apply", "-f", file.to_str().unwrap()]));
    let header = lines.next().unwrap().unwrap();
    let first = lines.next().unwrap().unwrap();
    std::fs::write(&file, config.replace("a: \"1\"", "a: \"1\"\n  b: \"2\"")).unwrap();
    ok(master.edgectl(&["apply", "-f", file.to_str().unwrap()]));
    let second = lines.next().unwrap().unwrap();
    let _ = watcher.kill();
    let _ = watcher.wait();
    assert_eq!(header, "NAME   DATA   AGE");
    assert!(first.starts_with("live   1      "), "{first:?}");
    assert!(second.starts_with("live   2      "), "{second:?}");
}
