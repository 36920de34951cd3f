//! Decoding tests: Kubernetes documentation manifests, multi-document files, lists, broken
//! YAML, missing fields, unknown fields, strict mode.
use super::*;
use crate::api::{
    ApiObject, DaemonSet, Deployment, ImagePullPolicy, IntOrString, Pod, Quantity, Secret, Service,
};

/// The Deployment from the Kubernetes documentation (controllers/nginx-deployment.yaml).
pub(crate) const NGINX_DEPLOYMENT: &str = "\
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

/// The Service from the Kubernetes documentation (service/simple-service.yaml).
pub(crate) const MY_SERVICE: &str = "\
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

/// The exec liveness probe Pod from the Kubernetes documentation (pods/probe/exec-liveness.yaml).
pub(crate) const EXEC_LIVENESS_POD: &str = "\
apiVersion: v1
kind: Pod
metadata:
  labels:
    test: liveness
  name: liveness-exec
spec:
  containers:
  - name: liveness
    image: registry.k8s.io/busybox
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
";

/// The DaemonSet from the Kubernetes documentation (controllers/daemonset.yaml).
const FLUENTD_DAEMONSET: &str = "\
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: fluentd-elasticsearch
  namespace: kube-system
  labels:
    k8s-app: fluentd-logging
spec:
  selector:
    matchLabels:
      name: fluentd-elasticsearch
  template:
    metadata:
      labels:
        name: fluentd-elasticsearch
    spec:
      tolerations:
      # these tolerations are to have the daemonset runnable on control plane nodes
      # remove them if your control plane nodes should not run pods
      - key: node-role.kubernetes.io/control-plane
        operator: Exists
        effect: NoSchedule
      - key: node-role.kubernetes.io/master
        operator: Exists
        effect: NoSchedule
      containers:
      - name: fluentd-elasticsearch
        image: quay.io/fluentd_elasticsearch/fluentd:v2.5.2
        resources:
          limits:
            memory: 200Mi
          requests:
            cpu: 100m
            memory: 200Mi
        volumeMounts:
        - name: varlog
          mountPath: /var/log
      # it may be desirable to set a high priority class to ensure that a DaemonSet Pod
      # preempts running Pods
      # priorityClassName: important
      terminationGracePeriodSeconds: 30
      volumes:
      - name: varlog
        hostPath:
          path: /var/log
";

fn one(text: &str) -> Document {
    let mut docs = decode_manifests("test.yaml", text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(docs.len(), 1);
    docs.remove(0)
}

fn error_lines(text: &str) -> Vec<String> {
    decode_manifests("app.yaml", text)
        .expect_err("should fail")
        .lines()
}

#[test]
fn the_kubernetes_docs_nginx_deployment_decodes_unchanged() {
    let doc = one(NGINX_DEPLOYMENT);
    assert!(doc.warnings.is_empty());
    assert_eq!(doc.index, 0);
    assert_eq!(doc.location, Some(Location { line: 1, column: 1 }));
    let d: Deployment = doc.resource.downcast().unwrap();
    assert_eq!(d.metadata.name, "nginx-deployment");
    assert_eq!(d.spec.replicas, Some(3));
    let c = &d.spec.template.spec.containers[0];
    assert_eq!(c.name, "nginx");
    assert_eq!(c.image.as_deref(), Some("nginx:1.14.2"));
    assert_eq!(c.ports[0].container_port, 80);
    // Decoding keeps the object as written: no defaults yet.
    assert_eq!(d.spec.strategy, None);
}

#[test]
fn the_kubernetes_docs_service_decodes() {
    let s: Service = one(MY_SERVICE).resource.downcast().unwrap();
    assert_eq!(s.spec.selector["app.kubernetes.io/name"], "MyApp");
    assert_eq!(s.spec.ports[0].port, 80);
    assert_eq!(s.spec.ports[0].target_port, Some(IntOrString::Int(9376)));
}

#[test]
fn the_kubernetes_docs_exec_liveness_pod_decodes_and_defaults() {
    let mut r = one(EXEC_LIVENESS_POD).resource;
    apply_defaults(&mut r);
    let p: Pod = r.downcast().unwrap();
    let c = &p.spec.containers[0];
    assert_eq!(c.args.len(), 3);
    let probe = c.liveness_probe.as_ref().unwrap();
    assert_eq!(
        probe.exec.as_ref().unwrap().command,
        ["cat", "/tmp/healthy"]
    );
    assert_eq!(probe.initial_delay_seconds, Some(5));
    assert_eq!(probe.period_seconds, Some(5));
    assert_eq!(probe.timeout_seconds, Some(1));
    assert_eq!(probe.failure_threshold, Some(3));
    assert_eq!(c.image_pull_policy, Some(ImagePullPolicy::Always));
}

#[test]
fn the_kubernetes_docs_daemon_set_decodes_with_comments_between_list_items() {
    let d: DaemonSet = one(FLUENTD_DAEMONSET).resource.downcast().unwrap();
    assert_eq!(d.metadata.namespace.as_ref().unwrap(), "kube-system");
    let spec = &d.spec.template.spec;
    assert_eq!(spec.tolerations.len(), 2);
    let c = &spec.containers[0];
    assert_eq!(c.resources.cpu_request_milli(), 100);
    assert_eq!(c.resources.memory_limit_bytes(), Some(200 * 1024 * 1024));
    assert_eq!(spec.volumes[0].host_path.as_ref().unwrap().path, "/var/log");
}

#[test]
fn multi_document_files_decode_every_document_and_skip_empty_ones() {
    let text = format!("---\n{NGINX_DEPLOYMENT}---\n# only a comment\n---\n{MY_SERVICE}\n---\n");
    let docs = decode_manifests("app.yaml", &text).unwrap();
    let kinds: Vec<_> = docs
        .iter()
        .map(|d| (d.index, d.resource.kind(), d.resource.name().to_string()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (0, Kind::Deployment, "nginx-deployment".to_string()),
            (1, Kind::Service, "my-service".to_string()),
        ]
    );
    assert_eq!(
        docs[1].location,
        Some(Location {
            line: 26,
            column: 1
        })
    );
}

#[test]
fn kind_list_is_expanded_into_its_items() {
    let text = "\
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata:
    name: a
  data:
    k: v
- apiVersion: v1
  kind: Secret
  metadata:
    name: b
  stringData:
    password: hunter2
";
    let docs = decode_manifests("list.yaml", text).unwrap();
    assert_eq!(docs.len(), 2);
    assert_eq!((docs[0].index, docs[0].item), (0, Some(0)));
    assert_eq!((docs[1].index, docs[1].item), (0, Some(1)));
    assert_eq!(
        docs[1].location,
        Some(Location {
            line: 10,
            column: 3
        })
    );
    let s: Secret = docs[1].resource.clone().downcast().unwrap();
    assert_eq!(s.string_data["password"], "hunter2");
}

#[test]
fn a_json_list_is_expanded_too() {
    let text = r#"{
  "apiVersion": "v1",
  "kind": "List",
  "items": [
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "edge"}},
    {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "edge"},
     "spec": {"containers": [{"name": "c", "image": "busybox", "bogus": true}]}}
  ]
}"#;
    let docs = decode_manifests("list.json", text).unwrap();
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[1].warnings.len(), 1);
    let w = &docs[1].warnings[0];
    assert_eq!(w.to_string(), "unknown field \"spec.containers[0].bogus\"");
    assert_eq!(
        w.location,
        Some(Location {
            line: 7,
            column: 64
        })
    );
}

#[test]
fn json_output_of_a_resource_decodes_back_to_the_same_resource() {
    let mut r = one(NGINX_DEPLOYMENT).resource;
    apply_defaults(&mut r);
    let json = serde_json::to_string_pretty(&r.to_value()).unwrap();
    let back = one(&json);
    assert!(back.warnings.is_empty(), "{:?}", back.warnings);
    assert_eq!(back.resource, r);
}

#[test]
fn broken_yaml_is_rejected_with_its_line_and_column() {
    let text = format!(
        "{MY_SERVICE}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n   bad: indent\n"
    );
    let lines = error_lines(&text);
    assert_eq!(lines.len(), 1);
    assert!(lines[0].starts_with("app.yaml:17:"), "{lines:?}");
    assert!(lines[0].contains(": document 1: "), "{lines:?}");
}

#[test]
fn an_unclosed_flow_sequence_is_a_syntax_error_with_a_location() {
    let lines = error_lines("apiVersion: v1\nkind: ConfigMap\ndata: [a, b\n");
    assert_eq!(lines.len(), 1);
    assert!(lines[0].starts_with("app.yaml:"), "{lines:?}");
    let e =
        decode_manifests("app.yaml", "apiVersion: v1\nkind: ConfigMap\ndata: [a, b\n").unwrap_err();
    assert!(e.errors[0].location.is_some());
    assert!(matches!(e.errors[0].problem, Problem::Syntax(_)));
}

#[test]
fn a_missing_name_and_template_are_reported_with_paths_and_lines() {
    let text = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  labels:
    app: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
";
    let lines = error_lines(text);
    assert_eq!(
        lines,
        vec![
            "app.yaml:3:1: document 0 (Deployment): metadata.name: Required value: name or generateName is required",
            "app.yaml:6:1: document 0 (Deployment): spec.template.metadata.labels: Invalid value: {}: `selector` does not match template `labels`",
            "app.yaml:6:1: document 0 (Deployment): spec.template.spec.containers: Required value",
        ]
    );
}

#[test]
fn errors_in_several_documents_are_all_reported_and_nothing_is_returned() {
    let text = format!(
        "{NGINX_DEPLOYMENT}---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n---\n{MY_SERVICE}---\napiVersion: v1\nkind: Service\nmetadata:\n  name: Bad_Name\nspec:\n  ports:\n  - port: 99999\n"
    );
    let lines = error_lines(&text);
    assert_eq!(
        lines,
        vec![
            "app.yaml:29:5: document 1 (Pod p): spec.containers[0].image: Required value",
            "app.yaml:46:3: document 3 (Service Bad_Name): metadata.name: Invalid value: \"Bad_Name\": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
            "app.yaml:49:5: document 3 (Service Bad_Name): spec.ports[0].port: Invalid value: 99999: must be between 1 and 65535, inclusive",
            // targetPort defaults to port, and Kubernetes validates it after defaulting too.
            "app.yaml:49:5: document 3 (Service Bad_Name): spec.ports[0].targetPort: Invalid value: 99999: must be between 1 and 65535, inclusive",
        ]
    );
}

#[test]
fn type_errors_point_at_the_offending_value() {
    let text = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: three
";
    assert_eq!(
        error_lines(text),
        vec!["app.yaml:6:3: document 0 (Deployment web): spec.replicas: Invalid value: string \"three\": expected i32"]
    );
}

#[test]
fn unknown_fields_are_warnings_with_full_paths_and_locations() {
    let text = "\
apiVersion: v1
kind: Pod
metadata:
  name: p
  labelz: {}
spec:
  dnsPolicy: ClusterFirst
  containers:
  - name: c
    image: busybox
    imagePullPolcy: Always
";
    let doc = one(text);
    let got: Vec<(String, Option<Location>)> = doc
        .warnings
        .iter()
        .map(|w| (w.path.to_string(), w.location))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "metadata.labelz".to_string(),
                Some(Location { line: 5, column: 3 })
            ),
            (
                "spec.containers[0].imagePullPolcy".to_string(),
                Some(Location {
                    line: 11,
                    column: 5
                })
            ),
            (
                "spec.dnsPolicy".to_string(),
                Some(Location { line: 7, column: 3 })
            ),
        ]
    );
    assert_eq!(
        doc.warning_messages("pod.yaml")[1],
        "pod.yaml:11:5: document 0 (Pod p): unknown field \"spec.containers[0].imagePullPolcy\""
    );
}

#[test]
fn strict_mode_turns_unknown_fields_into_errors() {
    let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\nextra: 1\n";
    let e = decode_manifests_with(
        "cm.yaml",
        text,
        DecodeOptions {
            strict: true,
            validate: true,
        },
    )
    .unwrap_err();
    assert_eq!(
        e.lines(),
        vec!["cm.yaml:5:1: document 0 (ConfigMap c): extra: unknown field"]
    );
    assert!(decode_manifests("cm.yaml", text).is_ok());
}

#[test]
fn unsupported_kinds_and_versions_are_errors() {
    let lines =
        error_lines("apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: x\n");
    assert_eq!(lines.len(), 1);
    assert!(
        lines[0].starts_with("app.yaml:2:1: document 0 (Ingress x): kind: Unsupported value: \"Ingress\": supported values: \"Namespace\""),
        "{lines:?}"
    );
    let lines = error_lines("apiVersion: v1\nkind: Deployment\nmetadata:\n  name: x\n");
    assert_eq!(
        lines,
        vec!["app.yaml:1:1: document 0 (Deployment x): apiVersion: Invalid value: \"v1\": kind Deployment is served as apiVersion \"apps/v1\""]
    );
    let lines = error_lines("metadata:\n  name: x\n");
    assert_eq!(
        lines,
        vec![
            "app.yaml:1:1: document 0: apiVersion: Required value",
            "app.yaml:1:1: document 0: kind: Required value",
        ]
    );
    let lines = error_lines("- a\n- b\n");
    assert_eq!(
        lines,
        vec!["app.yaml:1:1: document 0: Invalid value: a list: expected an object with apiVersion and kind"]
    );
}

#[test]
fn decode_value_types_request_bodies_and_checks_the_kind() {
    let body = serde_json::json!({
        "metadata": {"name": "c"},
        "data": {"k": "v"},
        "unknownThing": 1,
    });
    let (r, warnings) = decode_value(Some(Kind::ConfigMap), body.clone(), false).unwrap();
    assert_eq!(r.kind(), Kind::ConfigMap);
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].to_string(), "unknown field \"unknownThing\"");
    let errs = decode_value(Some(Kind::ConfigMap), body, true).unwrap_err();
    assert_eq!(errs[0].to_string(), "unknownThing: unknown field");
    let pod = serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}});
    let errs = decode_value(Some(Kind::Service), pod, false).unwrap_err();
    assert_eq!(
        errs[0].to_string(),
        "kind: Invalid value: \"Pod\": must be Service for this request"
    );
}

#[test]
fn secret_data_is_base64_and_string_data_merges_on_defaults() {
    let text = "\
apiVersion: v1
kind: Secret
metadata:
  name: s
data:
  user: YWRtaW4=
stringData:
  password: hunter2
";
    let mut r = one(text).resource;
    apply_defaults(&mut r);
    let s: Secret = r.downcast().unwrap();
    assert_eq!(s.data["user"].as_bytes(), b"admin");
    assert_eq!(s.data["password"].as_bytes(), b"hunter2");
    let bad = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  user: not*base64\n";
    let lines = error_lines(bad);
    assert_eq!(
        lines,
        vec!["app.yaml:6:3: document 0 (Secret s): data[user]: Invalid value: \"not*base64\": illegal base64 data at input byte 3"]
    );
}

#[test]
fn quantities_in_yaml_may_be_numbers_or_strings() {
    let text = "\
apiVersion: v1
kind: Pod
metadata:
  name: p
spec:
  containers:
  - name: c
    image: busybox
    resources:
      requests:
        cpu: 0.5
        memory: 128Mi
      limits:
        cpu: 1
        memory: 1e9
";
    let p: Pod = one(text).resource.downcast().unwrap();
    let r = &p.spec.containers[0].resources;
    assert_eq!(r.requests["cpu"], Quantity::from_milli(500));
    assert_eq!(r.limits["cpu"].milli_value(), 1000);
    assert_eq!(r.limits["memory"].value(), 1_000_000_000);
    assert_eq!(r.requests["memory"].to_string(), "128Mi");
}

#[test]
fn decoded_resources_round_trip_through_their_json_form() {
    for text in [
        NGINX_DEPLOYMENT,
        MY_SERVICE,
        EXEC_LIVENESS_POD,
        FLUENTD_DAEMONSET,
    ] {
        let r = one(text).resource;
        let back = Resource::from_value(r.to_value()).unwrap();
        assert_eq!(back, r);
        let typed = match &r {
            Resource::Deployment(d) => d.to_value(),
            other => other.to_value(),
        };
        assert_eq!(typed, r.to_value());
    }
}

#[test]
fn duplicate_keys_are_errors_without_library_advice() {
    let lines = error_lines("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n");
    assert_eq!(
        lines,
        vec!["app.yaml:5:3: document 0: duplicate mapping key: name"]
    );
}

#[test]
fn kubectl_generated_manifests_with_null_timestamps_and_empty_structs_decode_cleanly() {
    // `kubectl create deployment web --image=nginx --dry-run=client -o yaml`
    let text = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  creationTimestamp: null
  labels:
    app: web
  name: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  strategy: {}
  template:
    metadata:
      creationTimestamp: null
      labels:
        app: web
    spec:
      containers:
      - image: nginx
        name: nginx
        resources: {}
status: {}
";
    let doc = one(text);
    assert!(doc.warnings.is_empty(), "{:?}", doc.warnings);
    let d: Deployment = doc.resource.downcast().unwrap();
    assert_eq!(d.metadata.creation_timestamp, None);
    assert!(d.spec.template.spec.containers[0].resources.is_empty());
}
