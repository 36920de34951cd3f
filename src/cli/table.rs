//! kubectl's tables: the columns `kubectl get` prints for each kind (and with `-o wide`), its
//! cell formats (READY `1/1`, PORT(S) `80:30080/TCP`, AGE `5m12s`, `<none>`), and tabwriter
//! spacing.
use std::io::Write;

use serde_json::Value;
use tabwriter::TabWriter;

pub use crate::api::human_duration;
use crate::api::Kind;

/// A table to print: a header row and rows of cells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// How to print rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// `-o wide`.
    pub wide: bool,
    /// `-A`: a NAMESPACE column first.
    pub all_namespaces: bool,
    /// `get all`: names as `pod/web-1`.
    pub kind_prefix: bool,
    /// The current time, in Unix seconds, for AGE.
    pub now_s: i64,
}

fn str_at<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn int_at(object: &Value, pointer: &str) -> i64 {
    object.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

fn or_none(text: String) -> String {
    if text.is_empty() {
        "<none>".to_string()
    } else {
        text
    }
}

fn timestamp_s(text: &str) -> Option<i64> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

/// kubectl's AGE of an RFC 3339 timestamp: `<unknown>` when absent.
pub fn age(timestamp: &str, now_s: i64) -> String {
    match timestamp_s(timestamp) {
        Some(at) => human_duration(now_s - at),
        None => "<unknown>".to_string(),
    }
}

/// The column headers of `kind` (without NAMESPACE).
pub fn headers(kind: Kind, wide: bool) -> Vec<&'static str> {
    let mut headers = match kind {
        Kind::Pod => vec!["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
        Kind::Deployment => vec!["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
        Kind::ReplicaSet => vec!["NAME", "DESIRED", "CURRENT", "READY", "AGE"],
        Kind::DaemonSet => vec![
            "NAME",
            "DESIRED",
            "CURRENT",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "NODE SELECTOR",
            "AGE",
        ],
        Kind::Service => vec![
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE",
        ],
        Kind::Node => vec!["NAME", "STATUS", "ROLES", "AGE", "VERSION"],
        Kind::Namespace => vec!["NAME", "STATUS", "AGE"],
        Kind::ConfigMap => vec!["NAME", "DATA", "AGE"],
        Kind::Secret => vec!["NAME", "TYPE", "DATA", "AGE"],
        Kind::Event => vec!["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"],
    };
    if wide {
        headers.extend(match kind {
            Kind::Pod => &["IP", "NODE", "NOMINATED NODE", "READINESS GATES"][..],
            Kind::Deployment | Kind::ReplicaSet | Kind::DaemonSet => {
                &["CONTAINERS", "IMAGES", "SELECTOR"][..]
            }
            Kind::Service => &["SELECTOR"][..],
            Kind::Node => &[
                "INTERNAL-IP",
                "EXTERNAL-IP",
                "OS-IMAGE",
                "KERNEL-VERSION",
                "CONTAINER-RUNTIME",
            ][..],
            _ => &[][..],
        });
    }
    headers
}

/// The cells of one object's row (without NAMESPACE).
pub fn row(kind: Kind, object: &Value, layout: &Layout) -> Vec<String> {
    let name = {
        let name = str_at(object, "/metadata/name").to_string();
        if layout.kind_prefix {
            format!("{}/{name}", kind.resource_name())
        } else {
            name
        }
    };
    let age = age(str_at(object, "/metadata/creationTimestamp"), layout.now_s);
    let now = layout.now_s;
    let mut cells = match kind {
        Kind::Pod => {
            let (ready, status, restarts) = pod_summary(object, now);
            vec![name, ready, status, restarts, age]
        }
        Kind::Deployment => vec![
            name,
            format!(
                "{}/{}",
                int_at(object, "/status/readyReplicas"),
                replicas(object)
            ),
            int_at(object, "/status/updatedReplicas").to_string(),
            int_at(object, "/status/availableReplicas").to_string(),
            age,
        ],
        Kind::ReplicaSet => vec![
            name,
            replicas(object).to_string(),
            int_at(object, "/status/replicas").to_string(),
            int_at(object, "/status/readyReplicas").to_string(),
            age,
        ],
        Kind::DaemonSet => vec![
            name,
            int_at(object, "/status/desiredNumberScheduled").to_string(),
            int_at(object, "/status/currentNumberScheduled").to_string(),
            int_at(object, "/status/numberReady").to_string(),
            int_at(object, "/status/updatedNumberScheduled").to_string(),
            int_at(object, "/status/numberAvailable").to_string(),
            or_none(pairs(object.pointer("/spec/template/spec/nodeSelector"))),
            age,
        ],
        Kind::Service => vec![
            name,
            service_type(object).to_string(),
            or_none(str_at(object, "/spec/clusterIP").to_string()),
            service_external_ip(object),
            or_none(service_ports(object)),
            age,
        ],
        Kind::Node => vec![
            name,
            node_status(object),
            or_none(node_roles(object)),
            age,
            str_at(object, "/status/nodeInfo/kubeletVersion").to_string(),
        ],
        Kind::Namespace => vec![name, str_at(object, "/status/phase").to_string(), age],
        Kind::ConfigMap => {
            let count = |p: &str| {
                object
                    .pointer(p)
                    .and_then(Value::as_object)
                    .map_or(0, |m| m.len())
            };
            vec![
                name,
                (count("/data") + count("/binaryData")).to_string(),
                age,
            ]
        }
        Kind::Secret => {
            let data = object
                .pointer("/data")
                .and_then(Value::as_object)
                .map_or(0, |m| m.len());
            let secret_type = match str_at(object, "/type") {
                "" => "Opaque",
                t => t,
            };
            vec![name, secret_type.to_string(), data.to_string(), age]
        }
        Kind::Event => event_cells(object, now),
    };
    if layout.wide {
        cells.extend(match kind {
            Kind::Pod => vec![
                or_none(str_at(object, "/status/podIP").to_string()),
                or_none(str_at(object, "/spec/nodeName").to_string()),
                or_none(str_at(object, "/status/nominatedNodeName").to_string()),
                "<none>".to_string(),
            ],
            Kind::Deployment | Kind::ReplicaSet | Kind::DaemonSet => {
                let containers = containers(object, "/spec/template/spec/containers");
                vec![
                    containers.iter().map(|c| c.0).collect::<Vec<_>>().join(","),
                    containers.iter().map(|c| c.1).collect::<Vec<_>>().join(","),
                    or_none(selector(object.pointer("/spec/selector"))),
                ]
            }
            Kind::Service => vec![or_none(pairs(object.pointer("/spec/selector")))],
            Kind::Node => vec![
                or_none(node_address(object, "InternalIP")),
                or_none(node_address(object, "ExternalIP")),
                or_none(str_at(object, "/status/nodeInfo/osImage").to_string()),
                or_none(str_at(object, "/status/nodeInfo/kernelVersion").to_string()),
                or_none(str_at(object, "/status/nodeInfo/containerRuntimeVersion").to_string()),
            ],
            _ => Vec::new(),
        });
    }
    cells
}

/// The full table of `objects` of `kind`.
pub fn table(kind: Kind, objects: &[Value], layout: &Layout) -> Table {
    let mut headers: Vec<String> = headers(kind, layout.wide)
        .into_iter()
        .map(str::to_string)
        .collect();
    if layout.all_namespaces && kind.namespaced() {
        headers.insert(0, "NAMESPACE".to_string());
    }
    let mut sorted: Vec<&Value> = objects.iter().collect();
    if kind == Kind::Event {
        sorted.sort_by_key(|e| event_time(e));
    }
    let rows = sorted
        .into_iter()
        .map(|object| {
            let mut cells = row(kind, object, layout);
            if layout.all_namespaces && kind.namespaced() {
                cells.insert(0, str_at(object, "/metadata/namespace").to_string());
            }
            cells
        })
        .collect();
    Table { headers, rows }
}

/// Renders rows with kubectl's spacing; `header` includes the header row.
pub fn render(table: &Table, header: bool) -> String {
    let mut writer = TabWriter::new(Vec::new()).minwidth(3).padding(3);
    let mut lines: Vec<&Vec<String>> = Vec::new();
    if header {
        lines.push(&table.headers);
    }
    lines.extend(table.rows.iter());
    for line in lines {
        let cleaned: Vec<String> = line.iter().map(|c| c.replace(['\t', '\n'], " ")).collect();
        let _ = writeln!(writer, "{}", cleaned.join("\t"));
    }
    let bytes = writer.into_inner().unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn replicas(object: &Value) -> i64 {
    object
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

fn pairs(map: Option<&Value>) -> String {
    map.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

/// A label selector in kubectl's string form.
pub fn selector(selector: Option<&Value>) -> String {
    let Some(selector) = selector else {
        return String::new();
    };
    let mut terms = Vec::new();
    let labels = pairs(selector.get("matchLabels"));
    if !labels.is_empty() {
        terms.push(labels);
    }
    for expression in selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = expression.get("key").and_then(Value::as_str).unwrap_or("");
        let values: Vec<&str> = expression
            .get("values")
            .and_then(Value::as_array)
            .map(|v| v.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        terms.push(match expression.get("operator").and_then(Value::as_str) {
            Some("In") => format!("{key} in ({})", values.join(",")),
            Some("NotIn") => format!("{key} notin ({})", values.join(",")),
            Some("Exists") => key.to_string(),
            Some("DoesNotExist") => format!("!{key}"),
            _ => continue,
        });
    }
    terms.join(",")
}

fn containers<'a>(object: &'a Value, pointer: &str) -> Vec<(&'a str, &'a str)> {
    object
        .pointer(pointer)
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .map(|c| (str_at(c, "/name"), str_at(c, "/image")))
                .collect()
        })
        .unwrap_or_default()
}

/// READY, STATUS and RESTARTS of a pod, computed as kubectl does.
pub fn pod_summary(pod: &Value, now_s: i64) -> (String, String, String) {
    let total = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let mut reason = match str_at(pod, "/status/reason") {
        "" => match str_at(pod, "/status/phase") {
            "" => "Pending".to_string(),
            phase => phase.to_string(),
        },
        reason => reason.to_string(),
    };
    let mut restarts = 0i64;
    let mut ready = 0;
    let mut last_restart: Option<i64> = None;
    let mut note_restart = |status: &Value| {
        if let Some(at) = timestamp_s(str_at(status, "/lastState/terminated/finishedAt")) {
            last_restart = Some(last_restart.map_or(at, |l: i64| l.max(at)));
        }
    };
    let init_statuses = pod
        .pointer("/status/initContainerStatuses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let init_total = pod
        .pointer("/spec/initContainers")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let mut initializing = false;
    for (i, status) in init_statuses.iter().enumerate() {
        restarts += int_at(status, "/restartCount");
        note_restart(status);
        let terminated = status.pointer("/state/terminated");
        let waiting_reason = str_at(status, "/state/waiting/reason");
        match terminated {
            Some(t) if int_at(t, "/exitCode") == 0 => continue,
            Some(t) => {
                reason = match (str_at(t, "/reason"), int_at(t, "/signal")) {
                    ("", 0) => format!("Init:ExitCode:{}", int_at(t, "/exitCode")),
                    ("", signal) => format!("Init:Signal:{signal}"),
                    (r, _) => format!("Init:{r}"),
                };
            }
            None if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" => {
                reason = format!("Init:{waiting_reason}");
            }
            None => reason = format!("Init:{i}/{init_total}"),
        }
        initializing = true;
        break;
    }
    if !initializing {
        restarts = 0;
        let mut has_running = false;
        let statuses = pod
            .pointer("/status/containerStatuses")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for status in statuses.iter().rev() {
            restarts += int_at(status, "/restartCount");
            note_restart(status);
            let waiting = str_at(status, "/state/waiting/reason");
            let terminated = status.pointer("/state/terminated");
            if !waiting.is_empty() {
                reason = waiting.to_string();
            } else if let Some(t) = terminated {
                reason = match (str_at(t, "/reason"), int_at(t, "/signal")) {
                    ("", 0) => format!("ExitCode:{}", int_at(t, "/exitCode")),
                    ("", signal) => format!("Signal:{signal}"),
                    (r, _) => r.to_string(),
                };
            } else if status.get("ready").and_then(Value::as_bool) == Some(true)
                && status.pointer("/state/running").is_some()
            {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            let pod_ready = pod
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .is_some_and(|cs| {
                    cs.iter()
                        .any(|c| str_at(c, "/type") == "Ready" && str_at(c, "/status") == "True")
                });
            reason = if pod_ready { "Running" } else { "NotReady" }.to_string();
        }
    }
    if !str_at(pod, "/metadata/deletionTimestamp").is_empty() {
        reason = if str_at(pod, "/status/reason") == "NodeLost" {
            "Unknown".to_string()
        } else {
            "Terminating".to_string()
        };
    }
    let restarts = match last_restart {
        Some(at) if restarts > 0 => format!("{restarts} ({} ago)", human_duration(now_s - at)),
        _ => restarts.to_string(),
    };
    (format!("{ready}/{total}"), reason, restarts)
}

fn service_type(service: &Value) -> &str {
    match str_at(service, "/spec/type") {
        "" => "ClusterIP",
        t => t,
    }
}

fn service_external_ip(service: &Value) -> String {
    let external: Vec<&str> = service
        .pointer("/spec/externalIPs")
        .and_then(Value::as_array)
        .map(|v| v.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    match service_type(service) {
        "LoadBalancer" => {
            let mut ips: Vec<&str> = service
                .pointer("/status/loadBalancer/ingress")
                .and_then(Value::as_array)
                .map(|v| {
                    v.iter()
                        .filter_map(|i| i.get("ip").or(i.get("hostname")).and_then(Value::as_str))
                        .collect()
                })
                .unwrap_or_default();
            ips.extend(external);
            if ips.is_empty() {
                "<pending>".to_string()
            } else {
                ips.join(",")
            }
        }
        "ExternalName" => str_at(service, "/spec/externalName").to_string(),
        _ => or_none(external.join(",")),
    }
}

fn service_ports(service: &Value) -> String {
    service
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .map(|ports| {
            ports
                .iter()
                .map(|p| {
                    let protocol = match str_at(p, "/protocol") {
                        "" => "TCP",
                        proto => proto,
                    };
                    let port = int_at(p, "/port");
                    match int_at(p, "/nodePort") {
                        0 => format!("{port}/{protocol}"),
                        node_port => format!("{port}:{node_port}/{protocol}"),
                    }
                })
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

fn node_status(node: &Value) -> String {
    let ready = node
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| str_at(c, "/type") == "Ready"))
        .map(|c| str_at(c, "/status"));
    // As kubectl prints it: a Ready condition that is not True (False, or Unknown when the
    // node stopped heartbeating) is NotReady; Unknown only when there is no condition at all.
    let mut status = match ready {
        Some("True") => "Ready",
        Some(_) => "NotReady",
        None => "Unknown",
    }
    .to_string();
    if node.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        status.push_str(",SchedulingDisabled");
    }
    status
}

fn node_roles(node: &Value) -> String {
    let mut roles: Vec<String> = node
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .iter()
                .filter_map(|(k, v)| {
                    if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
                        Some(role.to_string()).filter(|r| !r.is_empty())
                    } else if k == "kubernetes.io/role" {
                        v.as_str().map(str::to_string)
                    } else {
                        None
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    roles.sort();
    roles.dedup();
    roles.join(",")
}

fn node_address(node: &Value, address_type: &str) -> String {
    node.pointer("/status/addresses")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().find(|a| str_at(a, "/type") == address_type))
        .map(|a| str_at(a, "/address").to_string())
        .unwrap_or_default()
}

fn event_time(event: &Value) -> i64 {
    [
        "/lastTimestamp",
        "/eventTime",
        "/firstTimestamp",
        "/metadata/creationTimestamp",
    ]
    .iter()
    .find_map(|p| timestamp_s(str_at(event, p)))
    .unwrap_or(0)
}

fn event_cells(event: &Value, now_s: i64) -> Vec<String> {
    let last_seen = ["/lastTimestamp", "/eventTime", "/firstTimestamp"]
        .iter()
        .find_map(|p| timestamp_s(str_at(event, p)))
        .map(|at| human_duration(now_s - at))
        .unwrap_or_else(|| "<unknown>".to_string());
    let kind = str_at(event, "/involvedObject/kind").to_ascii_lowercase();
    let target = match str_at(event, "/involvedObject/name") {
        "" => kind,
        name => format!("{kind}/{name}"),
    };
    vec![
        last_seen,
        str_at(event, "/type").to_string(),
        str_at(event, "/reason").to_string(),
        target,
        str_at(event, "/message").trim().to_string(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;

    fn at(seconds_ago: i64) -> String {
        time::OffsetDateTime::from_unix_timestamp(NOW - seconds_ago)
            .unwrap()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    }

    fn layout() -> Layout {
        Layout {
            wide: false,
            all_namespaces: false,
            kind_prefix: false,
            now_s: NOW,
        }
    }

    #[test]
    fn human_durations_match_kubectl() {
        for (seconds, expected) in [
            (-5, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (119, "119s"),
            (120, "2m"),
            (312, "5m12s"),
            (600, "10m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 60, "3h1m"),
            (9 * 3600, "9h"),
            (50 * 3600, "2d2h"),
            (10 * 86400, "10d"),
            (800 * 86400, "2y70d"),
            (9 * 365 * 86400, "9y"),
        ] {
            assert_eq!(human_duration(seconds), expected, "{seconds}");
        }
    }

    #[test]
    fn pods_table_reads_like_kubectl() {
        let pods = vec![
            json!({"metadata": {"name": "nginx-deployment-66b6c48dd5-4jw2p", "creationTimestamp": at(312)},
                   "spec": {"containers": [{"name": "nginx"}], "nodeName": "pi-1"},
                   "status": {"phase": "Running", "podIP": "10.88.1.4", "containerStatuses": [
                       {"name": "nginx", "ready": true, "restartCount": 0, "state": {"running": {}}}]}}),
            json!({"metadata": {"name": "web", "creationTimestamp": at(30)},
                   "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
                   "status": {"phase": "Pending", "containerStatuses": [
                       {"name": "a", "ready": false, "restartCount": 2,
                        "lastState": {"terminated": {"finishedAt": at(10)}},
                        "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}}),
        ];
        let text = render(&table(Kind::Pod, &pods, &layout()), true);
        assert_eq!(
            text,
            "NAME                                READY   STATUS             RESTARTS      AGE\n\
             nginx-deployment-66b6c48dd5-4jw2p   1/1     Running            0             5m12s\n\
             web                                 0/2     CrashLoopBackOff   2 (10s ago)   30s\n"
        );
    }

    #[test]
    fn wide_pods_and_all_namespaces_add_columns() {
        let pods = vec![
            json!({"metadata": {"name": "a", "namespace": "prod", "creationTimestamp": at(5)},
            "spec": {"containers": [{"name": "c"}]}}),
        ];
        let wide = Layout {
            wide: true,
            all_namespaces: true,
            ..layout()
        };
        let t = table(Kind::Pod, &pods, &wide);
        assert_eq!(
            t.headers,
            [
                "NAMESPACE",
                "NAME",
                "READY",
                "STATUS",
                "RESTARTS",
                "AGE",
                "IP",
                "NODE",
                "NOMINATED NODE",
                "READINESS GATES"
            ]
        );
        assert_eq!(
            t.rows[0],
            ["prod", "a", "0/1", "Pending", "0", "5s", "<none>", "<none>", "<none>", "<none>"]
        );
    }

    #[test]
    fn services_show_type_ip_and_ports() {
        let svc = json!({"metadata": {"name": "my-service", "creationTimestamp": at(60)},
            "spec": {"type": "NodePort", "clusterIP": "10.89.0.12", "selector": {"app": "web"},
                     "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}});
        let t = table(Kind::Service, &[svc], &layout());
        assert_eq!(
            t.rows[0],
            [
                "my-service",
                "NodePort",
                "10.89.0.12",
                "<none>",
                "80:30080/TCP,53/UDP",
                "60s"
            ]
        );
    }

    #[test]
    fn nodes_show_readiness_roles_and_cordon() {
        let node = json!({"metadata": {"name": "pi-1", "creationTimestamp": at(7200),
                "labels": {"node-role.kubernetes.io/control-plane": "", "kubernetes.io/arch": "arm64"}},
            "spec": {"unschedulable": true},
            "status": {"conditions": [{"type": "Ready", "status": "True"}], "nodeInfo": {"kubeletVersion": "v0.1.0"}}});
        let t = table(Kind::Node, &[node], &layout());
        assert_eq!(
            t.rows[0],
            [
                "pi-1",
                "Ready,SchedulingDisabled",
                "control-plane",
                "120m",
                "v0.1.0"
            ]
        );
    }

    #[test]
    fn a_node_whose_ready_condition_is_unknown_shows_not_ready_as_kubectl_does() {
        let node = |conditions: Value| {
            json!({"metadata": {"name": "pi-2", "creationTimestamp": at(7200)},
                "status": {"conditions": conditions}})
        };
        let unknown = node(json!([{"type": "Ready", "status": "Unknown"}]));
        let none = node(json!([]));
        let t = table(Kind::Node, &[unknown, none], &layout());
        assert_eq!(t.rows[0][1], "NotReady");
        assert_eq!(t.rows[1][1], "Unknown");
    }

    #[test]
    fn deployments_replica_sets_and_selectors() {
        let deploy = json!({"metadata": {"name": "web", "creationTimestamp": at(10)},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]},
                "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.14.2"}]}}},
            "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}});
        let wide = Layout {
            wide: true,
            ..layout()
        };
        let t = table(Kind::Deployment, &[deploy], &wide);
        assert_eq!(
            t.rows[0],
            [
                "web",
                "2/3",
                "3",
                "2",
                "10s",
                "nginx",
                "nginx:1.14.2",
                "app=web,tier in (a,b)"
            ]
        );
    }

    #[test]
    fn events_name_their_object() {
        let event = json!({"metadata": {"name": "e"}, "type": "Normal", "reason": "Scheduled",
            "involvedObject": {"kind": "Pod", "name": "web-1"}, "lastTimestamp": at(3),
            "message": "Successfully assigned default/web-1 to pi-1\n"});
        let t = table(Kind::Event, &[event], &layout());
        assert_eq!(
            t.rows[0],
            [
                "3s",
                "Normal",
                "Scheduled",
                "pod/web-1",
                "Successfully assigned default/web-1 to pi-1"
            ]
        );
    }
}
