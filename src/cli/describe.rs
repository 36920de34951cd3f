//! `edgectl describe KIND NAME`: an object in kubectl's describe layout (metadata, the fields
//! that matter for its kind, conditions) followed by its Events.
use std::io::Write;

use serde_json::Value;
use tabwriter::TabWriter;

use super::client::{with_query, Client};
use super::table::{age, pod_summary, selector};
use super::{kind_from_cli, split_targets, Context};
use crate::api::Kind;
use crate::master::apply::LAST_APPLIED_ANNOTATION;
use crate::master::route::{collection_path, object_path};

#[derive(Debug, clap::Args)]
pub struct DescribeArgs {
    /// KIND NAME or KIND/NAME
    #[arg(required = true, value_name = "KIND NAME")]
    pub targets: Vec<String>,
}

/// Lines of a description: indentation level, key, value (empty for a section heading).
#[derive(Debug, Default)]
pub struct Description {
    lines: Vec<(usize, String, String)>,
}

impl Description {
    fn field(&mut self, level: usize, key: &str, value: impl Into<String>) {
        self.lines.push((level, key.to_string(), value.into()));
    }

    fn section(&mut self, level: usize, key: &str) {
        self.lines.push((level, key.to_string(), String::new()));
    }

    /// Multi-valued fields (labels, annotations): the first on the key's line, the rest
    /// aligned under it.
    fn list(&mut self, level: usize, key: &str, values: Vec<String>) {
        if values.is_empty() {
            self.field(level, key, "<none>");
            return;
        }
        for (i, value) in values.into_iter().enumerate() {
            let key = if i == 0 { key } else { "" };
            self.lines.push((level, key.to_string(), value));
        }
    }

    /// Renders with two spaces per level and aligned values.
    pub fn render(&self) -> String {
        let mut writer = TabWriter::new(Vec::new()).minwidth(0).padding(2);
        for (level, key, value) in &self.lines {
            let indent = "  ".repeat(*level);
            let key = if key.is_empty() {
                String::new()
            } else {
                format!("{key}:")
            };
            if value.is_empty() {
                let _ = writeln!(writer, "{indent}{key}");
            } else {
                let _ = writeln!(writer, "{indent}{key}\t{value}");
            }
        }
        String::from_utf8_lossy(&writer.into_inner().unwrap_or_default()).into_owned()
    }
}

fn s<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn i(object: &Value, pointer: &str) -> i64 {
    object.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

fn or_none(text: &str) -> String {
    if text.is_empty() {
        "<none>".to_string()
    } else {
        text.to_string()
    }
}

fn pairs(map: Option<&Value>, separator: &str, skip: &[&str]) -> Vec<String> {
    let mut pairs: Vec<String> = map
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter(|(k, _)| !skip.contains(&k.as_str()))
                .map(|(k, v)| format!("{k}{separator}{}", v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    pairs.sort();
    pairs
}

/// kubectl's describe time format: `Mon, 02 Jan 2026 15:04:05 +0000`.
fn when(timestamp: &str) -> String {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] +0000"
    );
    time::OffsetDateTime::parse(timestamp, &time::format_description::well_known::Rfc3339)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| timestamp.to_string())
}

fn metadata(d: &mut Description, object: &Value, namespaced: bool) {
    d.field(0, "Name", s(object, "/metadata/name"));
    if namespaced {
        d.field(0, "Namespace", s(object, "/metadata/namespace"));
    }
    d.field(
        0,
        "CreationTimestamp",
        when(s(object, "/metadata/creationTimestamp")),
    );
    d.list(
        0,
        "Labels",
        pairs(object.pointer("/metadata/labels"), "=", &[]),
    );
    d.list(
        0,
        "Annotations",
        pairs(
            object.pointer("/metadata/annotations"),
            ": ",
            &[LAST_APPLIED_ANNOTATION],
        ),
    );
    if let Some(owner) = object
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .and_then(|refs| {
            refs.iter()
                .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
        })
    {
        d.field(
            0,
            "Controlled By",
            format!("{}/{}", s(owner, "/kind"), s(owner, "/name")),
        );
    }
}

fn ports(container: &Value) -> (String, String) {
    let ports: Vec<&Value> = container
        .get("ports")
        .and_then(Value::as_array)
        .map(|p| p.iter().collect())
        .unwrap_or_default();
    let protocol = |p: &Value| match s(p, "/protocol") {
        "" => "TCP".to_string(),
        proto => proto.to_string(),
    };
    let port = ports
        .iter()
        .map(|p| format!("{}/{}", i(p, "/containerPort"), protocol(p)))
        .collect::<Vec<_>>()
        .join(", ");
    let host = ports
        .iter()
        .map(|p| format!("{}/{}", i(p, "/hostPort"), protocol(p)))
        .collect::<Vec<_>>()
        .join(", ");
    (or_none(&port), or_none(&host))
}

fn containers(d: &mut Description, level: usize, spec: &Value, statuses: Option<&Value>) {
    let Some(list) = spec.get("containers").and_then(Value::as_array) else {
        return;
    };
    d.section(level, "Containers");
    for container in list {
        let name = s(container, "/name");
        d.section(level + 1, name);
        d.field(level + 2, "Image", s(container, "/image"));
        let (port, host_port) = ports(container);
        d.field(level + 2, "Port", port);
        d.field(level + 2, "Host Port", host_port);
        if let Some(command) = container.get("command").and_then(Value::as_array) {
            d.section(level + 2, "Command");
            for part in command.iter().filter_map(Value::as_str) {
                d.field(level + 3, "", part);
            }
        }
        let status = statuses
            .and_then(Value::as_array)
            .and_then(|all| all.iter().find(|st| s(st, "/name") == name));
        if let Some(status) = status {
            let state = status.get("state").and_then(Value::as_object);
            match state.and_then(|m| m.iter().next()) {
                Some((state, detail)) => {
                    let mut word = state.clone();
                    if let Some(first) = word.get_mut(0..1) {
                        first.make_ascii_uppercase();
                    }
                    d.field(level + 2, "State", word);
                    match s(detail, "/reason") {
                        "" => {}
                        reason => d.field(level + 3, "Reason", reason),
                    }
                    match s(detail, "/startedAt") {
                        "" => {}
                        started => d.field(level + 3, "Started", when(started)),
                    }
                }
                None => d.field(level + 2, "State", "Waiting"),
            }
            let ready = status.get("ready").and_then(Value::as_bool) == Some(true);
            d.field(level + 2, "Ready", if ready { "True" } else { "False" });
            d.field(
                level + 2,
                "Restart Count",
                i(status, "/restartCount").to_string(),
            );
        }
        let env: Vec<String> = container
            .get("env")
            .and_then(Value::as_array)
            .map(|vars| {
                vars.iter()
                    .map(|v| match v.get("value").and_then(Value::as_str) {
                        Some(value) => format!("{}: {value}", s(v, "/name")),
                        None => format!("{}: <set from a reference>", s(v, "/name")),
                    })
                    .collect()
            })
            .unwrap_or_default();
        d.list(level + 2, "Environment", env);
    }
}

fn conditions(d: &mut Description, object: &Value) {
    let Some(conditions) = object
        .pointer("/status/conditions")
        .and_then(Value::as_array)
    else {
        return;
    };
    d.section(0, "Conditions");
    d.field(1, "Type", "Status");
    for condition in conditions {
        d.field(1, s(condition, "/type"), s(condition, "/status"));
    }
}

/// The kind-specific part of a description.
pub fn describe_object(kind: Kind, object: &Value) -> Description {
    let mut d = Description::default();
    metadata(&mut d, object, kind.namespaced());
    match kind {
        Kind::Pod => {
            let node = s(object, "/spec/nodeName");
            let host_ip = s(object, "/status/hostIP");
            let node = match (node, host_ip) {
                ("", _) => "<none>".to_string(),
                (node, "") => node.to_string(),
                (node, ip) => format!("{node}/{ip}"),
            };
            d.field(0, "Node", node);
            if let Some(start) = object.pointer("/status/startTime").and_then(Value::as_str) {
                d.field(0, "Start Time", when(start));
            }
            let (_, status, _) = pod_summary(object, 0);
            d.field(0, "Status", status);
            d.field(0, "IP", or_none(s(object, "/status/podIP")));
            if let Some(spec) = object.get("spec") {
                containers(&mut d, 0, spec, object.pointer("/status/containerStatuses"));
            }
            conditions(&mut d, object);
            d.list(
                0,
                "Node-Selectors",
                pairs(object.pointer("/spec/nodeSelector"), "=", &[]),
            );
        }
        Kind::Deployment | Kind::ReplicaSet | Kind::DaemonSet => {
            d.field(
                0,
                "Selector",
                or_none(&selector(object.pointer("/spec/selector"))),
            );
            match kind {
                Kind::Deployment => {
                    let desired = object
                        .pointer("/spec/replicas")
                        .and_then(Value::as_i64)
                        .unwrap_or(1);
                    d.field(
                        0,
                        "Replicas",
                        format!(
                            "{desired} desired | {} updated | {} total | {} available | {} unavailable",
                            i(object, "/status/updatedReplicas"),
                            i(object, "/status/replicas"),
                            i(object, "/status/availableReplicas"),
                            i(object, "/status/unavailableReplicas"),
                        ),
                    );
                    let strategy = match s(object, "/spec/strategy/type") {
                        "" => "RollingUpdate",
                        t => t,
                    };
                    d.field(0, "StrategyType", strategy);
                    d.field(
                        0,
                        "MinReadySeconds",
                        i(object, "/spec/minReadySeconds").to_string(),
                    );
                    if strategy == "RollingUpdate" {
                        let value = |p: &str| match object.pointer(p) {
                            Some(Value::String(v)) => v.clone(),
                            Some(Value::Number(n)) => n.to_string(),
                            _ => "25%".to_string(),
                        };
                        d.field(
                            0,
                            "RollingUpdateStrategy",
                            format!(
                                "{} max unavailable, {} max surge",
                                value("/spec/strategy/rollingUpdate/maxUnavailable"),
                                value("/spec/strategy/rollingUpdate/maxSurge")
                            ),
                        );
                    }
                }
                Kind::ReplicaSet => {
                    let desired = object
                        .pointer("/spec/replicas")
                        .and_then(Value::as_i64)
                        .unwrap_or(1);
                    d.field(
                        0,
                        "Replicas",
                        format!(
                            "{} current / {desired} desired",
                            i(object, "/status/replicas")
                        ),
                    );
                    d.field(
                        0,
                        "Pods Status",
                        format!(
                            "{} Running / 0 Waiting / 0 Succeeded / 0 Failed",
                            i(object, "/status/readyReplicas")
                        ),
                    );
                }
                _ => {
                    d.field(
                        0,
                        "Desired Number of Nodes Scheduled",
                        i(object, "/status/desiredNumberScheduled").to_string(),
                    );
                    d.field(
                        0,
                        "Current Number of Nodes Scheduled",
                        i(object, "/status/currentNumberScheduled").to_string(),
                    );
                    d.field(
                        0,
                        "Number of Nodes Scheduled with Up-to-date Pods",
                        i(object, "/status/updatedNumberScheduled").to_string(),
                    );
                    d.field(
                        0,
                        "Number of Nodes Scheduled with Available Pods",
                        i(object, "/status/numberAvailable").to_string(),
                    );
                }
            }
            if let Some(template) = object.pointer("/spec/template") {
                d.section(0, "Pod Template");
                d.list(
                    1,
                    "Labels",
                    pairs(template.pointer("/metadata/labels"), "=", &[]),
                );
                if let Some(spec) = template.get("spec") {
                    containers(&mut d, 1, spec, None);
                }
            }
            conditions(&mut d, object);
        }
        Kind::Service => {
            d.list(
                0,
                "Selector",
                pairs(object.pointer("/spec/selector"), "=", &[]),
            );
            let service_type = match s(object, "/spec/type") {
                "" => "ClusterIP",
                t => t,
            };
            d.field(0, "Type", service_type);
            d.field(0, "IP", or_none(s(object, "/spec/clusterIP")));
            for port in object
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let protocol = match s(port, "/protocol") {
                    "" => "TCP",
                    p => p,
                };
                let name = match s(port, "/name") {
                    "" => "<unset>",
                    n => n,
                };
                d.field(
                    0,
                    "Port",
                    format!("{name}  {}/{protocol}", i(port, "/port")),
                );
                let target = match port.get("targetPort") {
                    Some(Value::String(t)) => t.clone(),
                    Some(Value::Number(n)) => n.to_string(),
                    _ => i(port, "/port").to_string(),
                };
                d.field(0, "TargetPort", format!("{target}/{protocol}"));
                if i(port, "/nodePort") != 0 {
                    d.field(
                        0,
                        "NodePort",
                        format!("{name}  {}/{protocol}", i(port, "/nodePort")),
                    );
                }
            }
        }
        Kind::Node => {
            let unschedulable = object
                .pointer("/spec/unschedulable")
                .and_then(Value::as_bool)
                == Some(true);
            d.field(
                0,
                "Unschedulable",
                if unschedulable { "true" } else { "false" },
            );
            let taints: Vec<String> = object
                .pointer("/spec/taints")
                .and_then(Value::as_array)
                .map(|ts| {
                    ts.iter()
                        .map(|t| match s(t, "/value") {
                            "" => format!("{}:{}", s(t, "/key"), s(t, "/effect")),
                            v => format!("{}={v}:{}", s(t, "/key"), s(t, "/effect")),
                        })
                        .collect()
                })
                .unwrap_or_default();
            d.list(0, "Taints", taints);
            conditions(&mut d, object);
            for section in ["capacity", "allocatable"] {
                if let Some(resources) = object.pointer(&format!("/status/{section}")) {
                    let mut word = section.to_string();
                    if let Some(first) = word.get_mut(0..1) {
                        first.make_ascii_uppercase();
                    }
                    d.section(0, &word);
                    for line in pairs(Some(resources), ":  ", &[]) {
                        d.field(1, "", line);
                    }
                }
            }
        }
        Kind::Namespace => {
            d.field(0, "Status", s(object, "/status/phase"));
        }
        Kind::ConfigMap | Kind::Secret => {
            if kind == Kind::Secret {
                let secret_type = match s(object, "/type") {
                    "" => "Opaque",
                    t => t,
                };
                d.field(0, "Type", secret_type);
            }
            d.section(0, "Data");
            for (key, value) in object
                .get("data")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                let text = value.as_str().unwrap_or("");
                if kind == Kind::Secret {
                    // Secrets show sizes, never values, as kubectl does.
                    let bytes = text.len() / 4 * 3;
                    d.field(0, key, format!("{bytes} bytes"));
                } else {
                    d.field(0, key, text);
                }
            }
        }
        Kind::Event => {
            d.field(0, "Type", s(object, "/type"));
            d.field(0, "Reason", s(object, "/reason"));
            d.field(
                0,
                "Involved Object",
                format!(
                    "{}/{}",
                    s(object, "/involvedObject/kind"),
                    s(object, "/involvedObject/name")
                ),
            );
            d.field(0, "Message", s(object, "/message"));
        }
    }
    d
}

/// The Events section: `<none>`, or a table of type, reason, age, source and message.
pub fn events_section(events: &[Value], now_s: i64) -> String {
    if events.is_empty() {
        return "Events:  <none>\n".to_string();
    }
    let mut sorted: Vec<&Value> = events.iter().collect();
    sorted.sort_by_key(|e| s(e, "/lastTimestamp").to_string());
    let mut writer = TabWriter::new(Vec::new()).minwidth(0).padding(2);
    let _ = writeln!(writer, "  Type\tReason\tAge\tFrom\tMessage");
    let _ = writeln!(writer, "  ----\t------\t----\t----\t-------");
    for event in sorted {
        let last = age(s(event, "/lastTimestamp"), now_s);
        let count = i(event, "/count");
        let seen = if count > 1 {
            format!(
                "{last} (x{count} over {})",
                age(s(event, "/firstTimestamp"), now_s)
            )
        } else {
            last
        };
        let from = match s(event, "/source/component") {
            "" => s(event, "/reportingComponent"),
            c => c,
        };
        let _ = writeln!(
            writer,
            "  {}\t{}\t{seen}\t{from}\t{}",
            s(event, "/type"),
            s(event, "/reason"),
            s(event, "/message").trim()
        );
    }
    let table = String::from_utf8_lossy(&writer.into_inner().unwrap_or_default()).into_owned();
    format!("Events:\n{table}")
}

/// The events about an object.
pub async fn events_of(client: &Client, kind: Kind, object: &Value) -> anyhow::Result<Vec<Value>> {
    let name = s(object, "/metadata/name");
    let namespace = s(object, "/metadata/namespace");
    let mut selector = format!(
        "involvedObject.kind={},involvedObject.name={name}",
        kind.name()
    );
    let path = if kind.namespaced() {
        selector.push_str(&format!(",involvedObject.namespace={namespace}"));
        collection_path(Kind::Event, Some(namespace))
    } else {
        collection_path(Kind::Event, None)
    };
    let list = client
        .get_json(&with_query(&path, &[("fieldSelector", selector.as_str())]))
        .await?;
    Ok(list
        .get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default())
}

pub async fn run(context: &Context, args: DescribeArgs) -> anyhow::Result<()> {
    let (_, named) = split_targets(&args.targets)?;
    if named.is_empty() {
        anyhow::bail!("describe needs a name: edgectl describe KIND NAME");
    }
    let client = context.client()?;
    let now_s = time::OffsetDateTime::now_utc().unix_timestamp();
    for (index, (word, name)) in named.iter().enumerate() {
        let kind = kind_from_cli(word)?;
        let object = client
            .get_json(&object_path(kind, Some(context.namespace()), name))
            .await?;
        let events = if kind == Kind::Event {
            Vec::new()
        } else {
            events_of(&client, kind, &object).await?
        };
        if index > 0 {
            println!();
        }
        print!("{}", describe_object(kind, &object).render());
        if kind != Kind::Event {
            print!("{}", events_section(&events, now_s));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_deployment_description_reads_like_kubectl() {
        let deploy = json!({"metadata": {"name": "web", "namespace": "default",
                "creationTimestamp": "2026-01-05T10:00:00Z", "labels": {"app": "web"},
                "annotations": {LAST_APPLIED_ANNOTATION: "{}", "deployment.kubernetes.io/revision": "1"}},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "nginx", "image": "nginx:1.14.2", "ports": [{"containerPort": 80}]}]}}},
            "status": {"replicas": 3, "updatedReplicas": 3, "availableReplicas": 3}});
        let text = describe_object(Kind::Deployment, &deploy).render();
        assert!(
            text.starts_with("Name:                   web\nNamespace:              default\n"),
            "{text}"
        );
        assert!(
            text.contains("Annotations:            deployment.kubernetes.io/revision: 1\n"),
            "{text}"
        );
        assert!(!text.contains("last-applied"), "{text}");
        assert!(text.contains("Replicas:               3 desired | 3 updated | 3 total | 3 available | 0 unavailable\n"), "{text}");
        assert!(text.contains("      Image:"), "{text}");
        assert!(
            text.contains("CreationTimestamp:      Mon, 05 Jan 2026 10:00:00 +0000"),
            "{text}"
        );
    }

    #[test]
    fn events_section_lists_or_says_none() {
        assert_eq!(events_section(&[], 0), "Events:  <none>\n");
        let event = json!({"type": "Normal", "reason": "Scheduled", "source": {"component": "default-scheduler"},
            "lastTimestamp": "2026-01-05T10:00:00Z", "message": "Successfully assigned default/web-1 to pi-1"});
        let now = time::macros::datetime!(2026-01-05 10:00:10 UTC).unix_timestamp();
        let text = events_section(&[event], now);
        assert_eq!(
            text,
            "Events:\n  Type    Reason     Age   From               Message\n  ----    ------     ----  ----               -------\n  Normal  Scheduled  10s   default-scheduler  Successfully assigned default/web-1 to pi-1\n"
        );
    }
}
