//! `edgectl top nodes [NAME]` and `edgectl top pods [NAME] [-A] [--containers]`: CPU and
//! memory use, as `kubectl top` prints it, from the master's `metrics.k8s.io` API (which
//! asks each agent for its cgroup statistics at that moment).
use serde_json::Value;

use super::client::with_query;
use super::table::{render, Table};
use super::Context;
use crate::api::{Kind, Quantity};
use crate::master::route::collection_path;

#[derive(Debug, clap::Args)]
pub struct TopArgs {
    #[command(subcommand)]
    pub what: TopWhat,
}

#[derive(Debug, clap::Subcommand)]
pub enum TopWhat {
    /// CPU and memory of nodes, and their share of what the node offers
    #[command(visible_alias = "node", visible_alias = "no")]
    Nodes(TopNodesArgs),
    /// CPU and memory of pods
    #[command(visible_alias = "pod", visible_alias = "po")]
    Pods(TopPodsArgs),
}

#[derive(Debug, clap::Args)]
pub struct TopNodesArgs {
    /// One node only
    pub name: Option<String>,
    /// Order by cpu or memory (highest first)
    #[arg(long, value_name = "cpu|memory", value_parser = ["cpu", "memory"])]
    pub sort_by: Option<String>,
    /// Leave out the header row
    #[arg(long)]
    pub no_headers: bool,
}

#[derive(Debug, clap::Args)]
pub struct TopPodsArgs {
    /// One pod only
    pub name: Option<String>,
    /// Pods of every namespace
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// One row per container
    #[arg(long)]
    pub containers: bool,
    /// Order by cpu or memory (highest first)
    #[arg(long, value_name = "cpu|memory", value_parser = ["cpu", "memory"])]
    pub sort_by: Option<String>,
    /// Leave out the header row
    #[arg(long)]
    pub no_headers: bool,
}

const METRICS: &str = "/apis/metrics.k8s.io/v1beta1";

/// CPU and memory read from a `usage` object: milli-cores and bytes.
pub fn usage(value: &Value) -> (i64, i64) {
    let quantity = |key: &str| {
        value
            .get(key)
            .and_then(Value::as_str)
            .and_then(|q| Quantity::parse(q).ok())
    };
    (
        quantity("cpu").map_or(0, |q| q.milli_value()),
        quantity("memory").map_or(0, |q| q.value()),
    )
}

/// kubectl's cells: `250m`, `512Mi`.
pub fn cpu_cell(milli: i64) -> String {
    format!("{milli}m")
}

pub fn memory_cell(bytes: i64) -> String {
    format!("{}Mi", bytes / (1024 * 1024))
}

fn percent(used: i64, of: i64) -> String {
    if of <= 0 {
        return "<unknown>".to_string();
    }
    format!("{}%", used * 100 / of)
}

fn name_of(object: &Value) -> String {
    object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// The `top nodes` table: measured nodes with their share of allocatable, then the nodes
/// without statistics as `<unknown>`.
pub fn nodes_table(nodes: &[Value], metrics: &[Value], sort_by: Option<&str>) -> Table {
    let mut measured: Vec<(String, i64, i64)> = metrics
        .iter()
        .map(|m| {
            let (cpu, memory) = usage(m.get("usage").unwrap_or(&Value::Null));
            (name_of(m), cpu, memory)
        })
        .collect();
    sort(&mut measured, sort_by);
    let allocatable = |name: &str, key: &str| {
        nodes
            .iter()
            .find(|n| name_of(n) == name)
            .and_then(|n| n.pointer(&format!("/status/allocatable/{key}")))
            .and_then(Value::as_str)
            .and_then(|q| Quantity::parse(q).ok())
    };
    let mut rows: Vec<Vec<String>> = measured
        .iter()
        .map(|(name, cpu, memory)| {
            let cpu_of = allocatable(name, "cpu").map_or(0, |q| q.milli_value());
            let memory_of = allocatable(name, "memory").map_or(0, |q| q.value());
            vec![
                name.clone(),
                cpu_cell(*cpu),
                percent(*cpu, cpu_of),
                memory_cell(*memory),
                percent(*memory, memory_of),
            ]
        })
        .collect();
    for node in nodes {
        let name = name_of(node);
        if !measured.iter().any(|(n, _, _)| *n == name) {
            let unknown = "<unknown>".to_string();
            rows.push(vec![
                name,
                unknown.clone(),
                unknown.clone(),
                unknown.clone(),
                unknown,
            ]);
        }
    }
    Table {
        headers: ["NAME", "CPU(cores)", "CPU%", "MEMORY(bytes)", "MEMORY%"]
            .map(str::to_string)
            .to_vec(),
        rows,
    }
}

fn sort(rows: &mut [(String, i64, i64)], sort_by: Option<&str>) {
    match sort_by {
        Some("cpu") => rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0))),
        Some("memory") => rows.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0))),
        _ => rows.sort_by(|a, b| a.0.cmp(&b.0)),
    }
}

/// The `top pods` table (`--containers`: a row per container).
pub fn pods_table(
    metrics: &[Value],
    all_namespaces: bool,
    containers: bool,
    sort_by: Option<&str>,
) -> Table {
    let mut rows: Vec<(Vec<String>, i64, i64)> = Vec::new();
    for pod in metrics {
        let namespace = pod
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let name = name_of(pod);
        let list = pod
            .get("containers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut prefix = Vec::new();
        if all_namespaces {
            prefix.push(namespace);
        }
        prefix.push(name);
        if containers {
            for container in &list {
                let (cpu, memory) = usage(container.get("usage").unwrap_or(&Value::Null));
                let mut row = prefix.clone();
                row.push(
                    container
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                );
                rows.push((row, cpu, memory));
            }
        } else {
            let (cpu, memory) = list
                .iter()
                .map(|c| usage(c.get("usage").unwrap_or(&Value::Null)))
                .fold((0, 0), |(a, b), (c, m)| (a + c, b + m));
            rows.push((prefix, cpu, memory));
        }
    }
    match sort_by {
        Some("cpu") => rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0))),
        Some("memory") => rows.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0))),
        _ => rows.sort_by(|a, b| a.0.cmp(&b.0)),
    }
    let mut headers = Vec::new();
    if all_namespaces {
        headers.push("NAMESPACE");
    }
    headers.push(if containers { "POD" } else { "NAME" });
    if containers {
        headers.push("NAME");
    }
    headers.extend(["CPU(cores)", "MEMORY(bytes)"]);
    Table {
        headers: headers.into_iter().map(str::to_string).collect(),
        rows: rows
            .into_iter()
            .map(|(mut row, cpu, memory)| {
                row.push(cpu_cell(cpu));
                row.push(memory_cell(memory));
                row
            })
            .collect(),
    }
}

fn items(list: Value) -> Vec<Value> {
    match list.get("items").and_then(Value::as_array) {
        Some(items) => items.clone(),
        None if list.get("kind").and_then(Value::as_str).is_some() => vec![list],
        None => Vec::new(),
    }
}

pub async fn run(context: &Context, args: TopArgs) -> anyhow::Result<()> {
    let client = context.client()?;
    match args.what {
        TopWhat::Nodes(args) => {
            let (nodes, metrics) = match &args.name {
                Some(name) => (
                    vec![
                        client
                            .get_json(&format!("{}/{name}", collection_path(Kind::Node, None)))
                            .await?,
                    ],
                    vec![client.get_json(&format!("{METRICS}/nodes/{name}")).await?],
                ),
                None => (
                    items(client.get_json(&collection_path(Kind::Node, None)).await?),
                    items(client.get_json(&format!("{METRICS}/nodes")).await?),
                ),
            };
            if metrics.is_empty() && args.name.is_none() {
                anyhow::bail!("metrics not available yet: no node answered");
            }
            let table = nodes_table(&nodes, &metrics, args.sort_by.as_deref());
            print!("{}", render(&table, !args.no_headers));
        }
        TopWhat::Pods(args) => {
            let namespace = context.namespace();
            let path = match (&args.name, args.all_namespaces) {
                (Some(name), _) => format!("{METRICS}/namespaces/{namespace}/pods/{name}"),
                (None, true) => format!("{METRICS}/pods"),
                (None, false) => format!("{METRICS}/namespaces/{namespace}/pods"),
            };
            let metrics = items(client.get_json(&with_query(&path, &[])).await?);
            if metrics.is_empty() {
                if args.all_namespaces {
                    anyhow::bail!("no pods found: no metrics are available");
                }
                anyhow::bail!("no pods found in namespace {namespace}: no metrics are available");
            }
            let table = pods_table(
                &metrics,
                args.all_namespaces,
                args.containers,
                args.sort_by.as_deref(),
            );
            print!("{}", render(&table, !args.no_headers));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn top_nodes_reads_like_kubectl_with_unmeasured_nodes_last() {
        let nodes = vec![
            json!({"metadata": {"name": "pi-1"}, "status": {"allocatable": {"cpu": "4", "memory": "4Gi"}}}),
            json!({"metadata": {"name": "pi-2"}, "status": {"allocatable": {"cpu": "4", "memory": "4Gi"}}}),
        ];
        let metrics = vec![json!({
            "metadata": {"name": "pi-1"},
            "usage": {"cpu": "500000000n", "memory": "1048576Ki"}
        })];
        let table = nodes_table(&nodes, &metrics, None);
        assert_eq!(
            render(&table, true),
            "NAME   CPU(cores)   CPU%        MEMORY(bytes)   MEMORY%\n\
             pi-1   500m         12%         1024Mi          25%\n\
             pi-2   <unknown>    <unknown>   <unknown>       <unknown>\n"
        );
    }

    #[test]
    fn top_pods_sums_containers_or_lists_them() {
        let metrics = vec![json!({
            "metadata": {"name": "web-1", "namespace": "default"},
            "containers": [
                {"name": "web", "usage": {"cpu": "2000000n", "memory": "2048Ki"}},
                {"name": "side", "usage": {"cpu": "1000000n", "memory": "1024Ki"}}
            ]
        })];
        let table = pods_table(&metrics, false, false, None);
        assert_eq!(table.headers, ["NAME", "CPU(cores)", "MEMORY(bytes)"]);
        assert_eq!(table.rows, [["web-1", "3m", "3Mi"]]);
        let table = pods_table(&metrics, true, true, Some("cpu"));
        assert_eq!(
            table.headers,
            ["NAMESPACE", "POD", "NAME", "CPU(cores)", "MEMORY(bytes)"]
        );
        assert_eq!(table.rows[0], ["default", "web-1", "web", "2m", "2Mi"]);
    }
}
