//! `edgectl apply`: Kubernetes documentation manifests apply unchanged, re-apply as
//! `unchanged`, edits as `configured`; bad input applies nothing and names where it is wrong.
use super::harness::{fails, manifest_file, ok, Master};

/// The Deployment from the Kubernetes documentation ("Creating a Deployment").
pub const NGINX_DEPLOYMENT: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx-deployment
  labels:
    app: nginx
spec:
  replicas: 3
  selector:
    matchLabels:
      app: nginx
  template:
    metadata:
      labels:
        app: nginx
    spec:
      containers:
      - name: nginx
        image: nginx:1.14.2
        ports:
        - containerPort: 80
";

/// The Service from the Kubernetes documentation ("Defining a Service").
pub const MY_SERVICE: &str = "\
apiVersion: v1
kind: Service
metadata:
  name: my-service
spec:
  selector:
    app.kubernetes.io/name: MyApp
  ports:
    - protocol: TCP
      port: 80
      targetPort: 9376
";

fn both() -> String {
    format!("{NGINX_DEPLOYMENT}---\n{MY_SERVICE}")
}

#[test]
fn documentation_manifests_are_created_then_unchanged_then_configured() {
    let master = Master::start();
    let (_dir, file) = manifest_file("nginx.yaml", &both());
    let file = file.to_str().unwrap();

    let first = ok(master.edgectl(&["apply", "-f", file]));
    assert_eq!(
        first,
        "deployment.apps/nginx-deployment created\nservice/my-service created\n"
    );
    let again = ok(master.edgectl(&["apply", "-f", file]));
    assert_eq!(
        again,
        "deployment.apps/nginx-deployment unchanged\nservice/my-service unchanged\n"
    );

    std::fs::write(file, both().replace("nginx:1.14.2", "nginx:1.16.1")).unwrap();
    let edited = ok(master.edgectl(&["apply", "-f", file]));
    assert_eq!(
        edited,
        "deployment.apps/nginx-deployment configured\nservice/my-service unchanged\n"
    );
    let image = ok(master.edgectl(&["get", "deployment", "nginx-deployment", "-o", "json"]));
    let image: serde_json::Value = serde_json::from_str(&image).unwrap();
    assert_eq!(
        image["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.16.1"
    );
    assert_eq!(image["metadata"]["generation"], 2);
}

#[test]
fn manifests_from_stdin_and_directories_apply() {
    let master = Master::start();
    let out = ok(master.edgectl_with(&["apply", "-f", "-"], Some(MY_SERVICE)));
    assert_eq!(out, "service/my-service created\n");

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a-deploy.yaml"), NGINX_DEPLOYMENT).unwrap();
    std::fs::write(dir.path().join("b-svc.yml"), MY_SERVICE).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a manifest").unwrap();
    let out = ok(master.edgectl(&["apply", "-f", dir.path().to_str().unwrap()]));
    assert_eq!(
        out,
        "deployment.apps/nginx-deployment created\nservice/my-service unchanged\n"
    );
}

#[test]
fn broken_yaml_is_rejected_with_line_and_column_and_nothing_is_applied() {
    let master = Master::start();
    let broken = format!(
        "{MY_SERVICE}---\n{}",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: [3\n"
    );
    let (_dir, file) = manifest_file("broken.yaml", &broken);
    let stderr = fails(master.edgectl(&["apply", "-f", file.to_str().unwrap()]));
    assert!(stderr.starts_with("error: "), "{stderr}");
    // file:line:column of the unclosed bracket, in the second document (counted from 0).
    assert!(
        stderr.contains("broken.yaml:18:13: document 1: "),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    let services = master.edgectl(&["get", "services"]);
    assert_eq!(String::from_utf8_lossy(&services.stdout), "");
    assert_eq!(
        String::from_utf8_lossy(&services.stderr),
        "No resources found in default namespace.\n"
    );
}

#[test]
fn a_manifest_without_a_name_is_rejected_naming_the_field() {
    let master = Master::start();
    let nameless = NGINX_DEPLOYMENT.replace("  name: nginx-deployment\n", "");
    let (_dir, file) = manifest_file("nameless.yaml", &format!("{MY_SERVICE}---\n{nameless}"));
    let stderr = fails(master.edgectl(&["apply", "-f", file.to_str().unwrap()]));
    assert!(
        stderr
            .contains("nameless.yaml:15:1: document 1 (Deployment): metadata.name: Required value"),
        "{stderr}"
    );
    let services = master.edgectl(&["get", "svc", "-o", "name"]);
    assert_eq!(String::from_utf8_lossy(&services.stdout), "");
}

#[test]
fn a_deployment_without_a_template_is_rejected_naming_the_fields() {
    let master = Master::start();
    let start = NGINX_DEPLOYMENT.find("  template:").unwrap();
    let incomplete = NGINX_DEPLOYMENT[..start]
        .replace("  name: nginx-deployment\n", "")
        .to_string();
    let (_dir, file) = manifest_file("incomplete.yaml", &incomplete);
    let stderr = fails(master.edgectl(&["apply", "-f", file.to_str().unwrap()]));
    // One `error:` line per problem, each naming file, line, column, document and field.
    assert!(
        stderr
            .lines()
            .all(|l| l.starts_with("error: ") && l.contains("incomplete.yaml:")),
        "{stderr}"
    );
    assert!(
        stderr.contains("document 0 (Deployment): metadata.name: Required value"),
        "{stderr}"
    );
    assert!(
        stderr.contains("document 0 (Deployment): spec.template.spec.containers: Required value"),
        "{stderr}"
    );
    assert_eq!(ok(master.edgectl(&["get", "deploy", "-o", "name"])), "");
}

#[test]
fn unsupported_fields_warn_and_strict_refuses_them() {
    let master = Master::start();
    let extra = MY_SERVICE.replace("spec:\n", "spec:\n  flavour: vanilla\n");
    let (_dir, file) = manifest_file("extra.yaml", &extra);
    let file = file.to_str().unwrap();
    let stderr = fails(master.edgectl(&["apply", "--strict", "-f", file]));
    assert!(
        stderr.contains(
            "extra.yaml:6:3: document 0 (Service my-service): spec.flavour: unknown field"
        ),
        "{stderr}"
    );
    let output = master.edgectl(&["apply", "-f", file]);
    let warnings = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(warnings.starts_with("Warning: "), "{warnings}");
    assert!(
        warnings.ends_with(
            "extra.yaml:6:3: document 0 (Service my-service): unknown field \"spec.flavour\"\n"
        ),
        "{warnings}"
    );
    assert_eq!(warnings.lines().count(), 1, "{warnings}");
    assert_eq!(ok(output), "service/my-service created\n");
}

#[test]
fn json_output_round_trips_through_apply() {
    let master = Master::start();
    let (dir, file) = manifest_file("nginx.yaml", &both());
    ok(master.edgectl(&["apply", "-f", file.to_str().unwrap()]));

    let json = ok(master.edgectl(&["get", "deploy", "nginx-deployment", "-o", "json"]));
    let exported = dir.path().join("exported.json");
    std::fs::write(&exported, &json).unwrap();
    let out = ok(master.edgectl(&["apply", "-f", exported.to_str().unwrap()]));
    assert_eq!(out, "deployment.apps/nginx-deployment unchanged\n");

    let yaml = ok(master.edgectl(&["get", "svc", "my-service", "-o", "yaml"]));
    let exported = dir.path().join("exported.yaml");
    std::fs::write(&exported, &yaml).unwrap();
    let out = ok(master.edgectl(&["apply", "-f", exported.to_str().unwrap()]));
    assert_eq!(out, "service/my-service unchanged\n");

    ok(master.edgectl(&["delete", "deploy", "nginx-deployment"]));
    let exported = dir.path().join("exported.json");
    let out = ok(master.edgectl(&["apply", "-f", exported.to_str().unwrap()]));
    assert_eq!(out, "deployment.apps/nginx-deployment created\n");
}

#[test]
fn objects_in_a_missing_namespace_are_refused_naming_it() {
    let master = Master::start();
    let (_dir, file) = manifest_file("svc.yaml", MY_SERVICE);
    let output = master.edgectl(&["apply", "-n", "shop", "-f", file.to_str().unwrap()]);
    let stderr = fails(output);
    assert!(stderr.contains("namespaces \"shop\" not found"), "{stderr}");

    let with_namespace =
        format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n---\n{MY_SERVICE}");
    let (_dir, file) = manifest_file("both.yaml", &with_namespace);
    let out = ok(master.edgectl(&["apply", "-n", "shop", "-f", file.to_str().unwrap()]));
    assert_eq!(out, "namespace/shop created\nservice/my-service created\n");
}

#[test]
fn the_examples_apply_cleanly() {
    let master = Master::start();
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    let output = master.edgectl(&["apply", "-f", examples]);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let stdout = ok(output);
    assert!(stderr.is_empty(), "warnings: {stderr}");
    assert!(stdout.lines().count() >= 2, "{stdout}");
    assert!(stdout.lines().all(|l| l.ends_with(" created")), "{stdout}");
}

#[test]
fn an_applied_node_keeps_its_status_and_other_kinds_start_without_one() {
    // No agent heartbeats for this node: keep the master from calling it NotReady meanwhile.
    let master = Master::start_with(&crate::brain::NODES_WITHOUT_AGENTS);
    let text = "\
apiVersion: v1
kind: Node
metadata:
  name: pi-1
  labels:
    kubernetes.io/arch: arm64
status:
  capacity:
    cpu: \"4\"
    memory: 4Gi
  conditions:
  - type: Ready
    status: \"True\"
---
apiVersion: v1
kind: Pod
metadata:
  name: seeded
spec:
  containers:
  - name: c
    image: busybox
status:
  phase: Running
";
    let (_dir, file) = manifest_file("node.yaml", text);
    ok(master.edgectl(&["apply", "-f", file.to_str().unwrap()]));
    let nodes = ok(master.edgectl(&["get", "nodes"]));
    assert!(
        nodes
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("pi-1   Ready    <none>"),
        "{nodes}"
    );
    let pod = ok(master.edgectl(&["get", "pod", "seeded", "-o", "json"]));
    let pod: serde_json::Value = serde_json::from_str(&pod).unwrap();
    assert_ne!(pod["status"]["phase"], "Running", "{pod}");
    assert_eq!(
        ok(master.edgectl(&["apply", "-f", file.to_str().unwrap()])),
        "node/pi-1 unchanged\npod/seeded unchanged\n"
    );
}
