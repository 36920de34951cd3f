//! Validation tests: each rule with the message Kubernetes gives, and every problem of an
//! object reported at once.
use serde_json::{json, Value};

use super::super::{apply_defaults, Resource};
use super::validate;

/// Validates `value` (after defaults) and returns the errors as strings.
fn errors(value: Value) -> Vec<String> {
    let mut r = Resource::from_value(value).expect("typed");
    apply_defaults(&mut r);
    match validate(&r) {
        Ok(()) => Vec::new(),
        Err(errs) => errs.iter().map(|e| e.to_string()).collect(),
    }
}

fn check(value: Value, expected: &[&str]) {
    let got = errors(value);
    for want in expected {
        assert!(
            got.iter().any(|g| g.starts_with(want)),
            "missing {want:?} in {got:#?}"
        );
    }
    assert_eq!(got.len(), expected.len(), "unexpected errors: {got:#?}");
}

fn deployment(spec: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": spec})
}

fn nginx_template() -> Value {
    json!({"metadata": {"labels": {"app": "nginx"}},
           "spec": {"containers": [{"name": "nginx", "image": "nginx:1.14.2", "ports": [{"containerPort": 80}]}]}})
}

fn pod(spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec})
}

#[test]
fn the_kubernetes_docs_nginx_deployment_is_valid() {
    check(
        deployment(json!({
            "replicas": 3,
            "selector": {"matchLabels": {"app": "nginx"}},
            "template": nginx_template(),
        })),
        &[],
    );
}

#[test]
fn a_missing_name_selector_and_template_are_all_reported() {
    check(
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {}, "spec": {"replicas": 1}}),
        &[
            "metadata.name: Required value: name or generateName is required",
            "spec.selector: Required value",
            "spec.template.spec.containers: Required value",
        ],
    );
}

#[test]
fn a_selector_that_does_not_match_the_template_labels_is_invalid() {
    check(
        deployment(json!({
            "selector": {"matchLabels": {"app": "web"}},
            "template": nginx_template(),
        })),
        &["spec.template.metadata.labels: Invalid value: {\"app\":\"nginx\"}: `selector` does not match template `labels`"],
    );
}

#[test]
fn an_empty_selector_is_invalid_for_workloads() {
    check(
        deployment(json!({"selector": {}, "template": nginx_template()})),
        &["spec.selector: Invalid value: {}: empty selector is invalid for deployment"],
    );
}

#[test]
fn workload_templates_must_restart_always() {
    let mut t = nginx_template();
    t["spec"]["restartPolicy"] = json!("Never");
    check(
        deployment(json!({"selector": {"matchLabels": {"app": "nginx"}}, "template": t})),
        &["spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\""],
    );
}

#[test]
fn rolling_update_parameters_are_checked() {
    check(
        deployment(json!({
            "selector": {"matchLabels": {"app": "nginx"}},
            "template": nginx_template(),
            "replicas": -1,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "150%", "maxSurge": "x"}},
            "progressDeadlineSeconds": 5,
            "minReadySeconds": 10,
        })),
        &[
            "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
            "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: \"150%\": must not be greater than 100%",
            "spec.strategy.rollingUpdate.maxSurge: Invalid value: \"x\": a valid percent string",
            "spec.progressDeadlineSeconds: Invalid value: 5: must be greater than minReadySeconds",
        ],
    );
    check(
        deployment(json!({
            "selector": {"matchLabels": {"app": "nginx"}},
            "template": nginx_template(),
            "strategy": {"rollingUpdate": {"maxUnavailable": 0, "maxSurge": "0%"}},
        })),
        &["spec.strategy.rollingUpdate.maxUnavailable: Invalid value: \"0\": may not be 0 when `maxSurge` is 0"],
    );
    check(
        deployment(json!({
            "selector": {"matchLabels": {"app": "nginx"}},
            "template": nginx_template(),
            "strategy": {"type": "Recreate", "rollingUpdate": {"maxSurge": 1}},
        })),
        &["spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"],
    );
}

#[test]
fn names_follow_the_rule_of_their_kind() {
    check(
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "1svc"}, "spec": {"ports": [{"port": 80}]}}),
        &["metadata.name: Invalid value: \"1svc\": a DNS-1035 label"],
    );
    check(
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a.b"}}),
        &["metadata.name: Invalid value: \"a.b\": a lowercase RFC 1123 label"],
    );
    check(
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app.config"}}),
        &[],
    );
    check(
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "cfg-"}}),
        &[],
    );
    check(
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "pi-1", "namespace": "default"}}),
        &["metadata.namespace: Forbidden: not allowed on this type"],
    );
}

#[test]
fn labels_and_annotations_follow_kubernetes_rules() {
    check(
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
            "name": "c",
            "labels": {"-bad": "x", "good": "not ok", "example.com/fine": "v1"},
            "annotations": {"a/b/c": "x", "example.com/note": "anything at all"}
        }}),
        &[
            "metadata.labels: Invalid value: \"-bad\": name part must consist of",
            "metadata.labels[good]: Invalid value: \"not ok\": a valid label must be",
            "metadata.annotations: Invalid value: \"a/b/c\": a qualified name must consist",
        ],
    );
    let big = "x".repeat(300 * 1024);
    check(
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "annotations": {"big": big}}}),
        &["metadata.annotations: Too long: may not be more than 262144 bytes"],
    );
}

#[test]
fn containers_need_names_images_and_unique_names() {
    check(
        pod(json!({"containers": [
            {"name": "a", "image": "busybox"},
            {"name": "a"},
        ], "initContainers": [{"name": "init", "image": " busybox"}]})),
        &[
            "spec.initContainers[0].image: Invalid value: \" busybox\": must not have leading or trailing whitespace",
            "spec.containers[1].name: Duplicate value: \"a\"",
            "spec.containers[1].image: Required value",
        ],
    );
    check(
        pod(json!({"containers": []})),
        &["spec.containers: Required value"],
    );
}

#[test]
fn ports_are_checked_for_range_names_and_host_network() {
    check(
        pod(json!({"hostNetwork": true, "containers": [{"name": "a", "image": "x", "ports": [
            {"containerPort": 0},
            {"containerPort": 80, "hostPort": 8080, "name": "HTTP"},
            {"containerPort": 443, "name": "https"},
            {"containerPort": 444, "name": "https"},
        ]}]})),
        &[
            "spec.containers[0].ports[0].containerPort: Invalid value: 0: must be between 1 and 65535, inclusive",
            "spec.containers[0].ports[1].containerPort: Invalid value: 80: must match `hostPort` when `hostNetwork` is true",
            "spec.containers[0].ports[1].name: Invalid value: \"HTTP\": must contain only alpha-numeric",
            "spec.containers[0].ports[3].name: Duplicate value: \"https\"",
        ],
    );
}

#[test]
fn env_resources_and_mounts_are_checked() {
    check(
        pod(json!({
            "containers": [{"name": "a", "image": "x",
                "env": [
                    {"name": "1BAD", "value": "x"},
                    {"name": "FROM", "value": "x", "valueFrom": {"fieldRef": {"fieldPath": "spec.nope"}}},
                    {"name": "CM", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "k"}}},
                ],
                "resources": {"requests": {"cpu": "2", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "128Mi", "gpu": "1"}},
                "volumeMounts": [{"name": "data", "mountPath": "/data"}, {"name": "missing", "mountPath": "/data", "subPath": "../etc"}],
            }],
            "volumes": [{"name": "data", "emptyDir": {"medium": "Memory"}}],
        })),
        &[
            "spec.containers[0].env[0].name: Invalid value: \"1BAD\": a valid environment variable name",
            "spec.containers[0].env[1].valueFrom: Invalid value: \"\": may not be specified when `value` is not empty",
            "spec.containers[0].env[1].valueFrom.fieldRef.fieldPath: Unsupported value: \"spec.nope\"",
            "spec.containers[0].resources.limits[gpu]: Invalid value: \"gpu\": must be a standard resource type",
            // Defaults copy limits into missing requests, as in Kubernetes.
            "spec.containers[0].resources.requests[gpu]: Invalid value: \"gpu\": must be a standard resource type",
            "spec.containers[0].resources.requests[cpu]: Invalid value: \"2\": must be less than or equal to cpu limit of 1",
            "spec.containers[0].volumeMounts[1].name: Not found: \"missing\"",
            "spec.containers[0].volumeMounts[1].mountPath: Invalid value: \"/data\": must be unique",
            "spec.containers[0].volumeMounts[1].subPath: Invalid value: \"../etc\": must not contain '..'",
        ],
    );
}

#[test]
fn probes_need_exactly_one_handler_and_sane_numbers() {
    check(
        pod(json!({"containers": [{"name": "a", "image": "x",
            "livenessProbe": {"periodSeconds": -1, "successThreshold": 2},
            "readinessProbe": {"exec": {"command": ["true"]}, "tcpSocket": {"port": 80}},
            "startupProbe": {"httpGet": {"port": "no--way"}},
        }]})),
        &[
            "spec.containers[0].livenessProbe: Required value: must specify a handler type",
            "spec.containers[0].livenessProbe.periodSeconds: Invalid value: -1: must be greater than or equal to 0",
            "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1",
            "spec.containers[0].readinessProbe: Forbidden: may not specify more than 1 handler type",
            "spec.containers[0].startupProbe.httpGet.port: Invalid value: \"no--way\": must not contain consecutive hyphens",
        ],
    );
}

#[test]
fn volumes_need_unique_names_and_one_source() {
    check(
        pod(json!({"containers": [{"name": "a", "image": "x"}], "volumes": [
            {"name": "v", "hostPath": {"path": ""}},
            {"name": "v", "configMap": {"name": "c", "items": [{"key": "k", "path": "/abs"}]}},
            {"name": "w", "emptyDir": {}, "secret": {"secretName": "s"}},
            {"name": "x", "secret": {"defaultMode": 1024}},
        ]})),
        &[
            "spec.volumes[0].hostPath.path: Required value",
            "spec.volumes[1].name: Duplicate value: \"v\"",
            "spec.volumes[1].configMap.items[0].path: Invalid value: \"/abs\": must be a relative path",
            "spec.volumes[2]: Forbidden: may not specify more than 1 volume type",
            "spec.volumes[3].secret.secretName: Required value",
            "spec.volumes[3].secret.defaultMode: Invalid value: 1024: must be a number between 0 and 0777",
        ],
    );
}

#[test]
fn tolerations_follow_kubernetes_rules() {
    check(
        pod(json!({"containers": [{"name": "a", "image": "x"}], "tolerations": [
            {"operator": "Exists"},
            {"key": "k", "operator": "Exists", "value": "v"},
            {"operator": "Equal", "value": "v"},
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 0},
            {"key": "k", "tolerationSeconds": 5},
        ]})),
        &[
            "spec.tolerations[1].operator: Invalid value: \"v\": value must be empty when `operator` is 'Exists'",
            "spec.tolerations[2].operator: Invalid value: \"Equal\": operator must be Exists when `key` is empty",
            "spec.tolerations[4].effect: Invalid value: \"\": effect must be 'NoExecute' when `tolerationSeconds` is set",
        ],
    );
}

#[test]
fn services_need_ports_with_names_when_there_are_several() {
    check(
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "my-service"},
               "spec": {"selector": {"app.kubernetes.io/name": "MyApp"},
                        "ports": [{"protocol": "TCP", "port": 80, "targetPort": 9376}]}}),
        &[],
    );
    check(
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {}}),
        &["spec.ports: Required value"],
    );
    check(
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
               "spec": {"ports": [{"port": 80}, {"port": 80, "nodePort": 30080}, {"port": 70000, "name": "x", "targetPort": "http"}]}}),
        &[
            "spec.ports[0].name: Required value",
            "spec.ports[1].name: Required value",
            "spec.ports[1]: Duplicate value: \"80/TCP\"",
            "spec.ports[1].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'",
            "spec.ports[2].port: Invalid value: 70000: must be between 1 and 65535, inclusive",
        ],
    );
    check(
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
               "spec": {"type": "NodePort", "clusterIP": "10.89.0.300", "ports": [{"port": 80, "nodePort": 80}]}}),
        &[
            "spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767",
            "spec.clusterIP: Invalid value: \"10.89.0.300\": must be a valid IP address",
        ],
    );
}

#[test]
fn config_maps_and_secrets_check_their_keys_and_types() {
    check(
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
               "data": {"a/b": "x", "ok": "y"}, "binaryData": {"ok": "eA=="}}),
        &[
            "data: Invalid value: \"a/b\": a valid config key",
            "binaryData: Invalid value: \"ok\": duplicate of key present in data",
        ],
    );
    check(
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
               "type": "kubernetes.io/tls", "stringData": {"tls.crt": "x"}}),
        &["data[tls.key]: Required value"],
    );
}

#[test]
fn nodes_check_taints_and_pod_cidrs() {
    check(
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "pi-1"},
        "spec": {"podCIDR": "10.88.1.0/24", "taints": [
            {"key": "dedicated", "value": "edge", "effect": "NoSchedule"},
            {"key": "dedicated", "value": "other", "effect": "NoSchedule"},
            {"key": "", "effect": "NoExecute"},
        ]}}),
        &[
            "spec.taints[1]: Duplicate value: \"dedicated:NoSchedule\"",
            "spec.taints[2].key: Required value",
        ],
    );
    check(
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "pi-1"}, "spec": {"podCIDR": "10.88.1.0"}}),
        &["spec.podCIDR: Invalid value: \"10.88.1.0\": must be a valid CIDR"],
    );
}

#[test]
fn daemon_sets_check_selector_template_and_update_strategy() {
    check(
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
               "spec": {"selector": {"matchLabels": {"app": "nginx"}}, "template": nginx_template(),
                        "updateStrategy": {"rollingUpdate": {"maxUnavailable": 1, "maxSurge": 1}}}}),
        &["spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: \"1\": may not be set when maxUnavailable is non-zero"],
    );
    check(
        json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "rs"},
               "spec": {"selector": {"matchExpressions": [{"key": "app", "operator": "In"}]}, "template": nginx_template()}}),
        &["spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'"],
    );
}
