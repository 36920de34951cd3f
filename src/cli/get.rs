//! `edgectl get KIND [NAME…] [-n NS | -A] [-l SEL] [-o wide|json|yaml|name] [-w]`, and
//! `get all`: kubectl's tables, applyable JSON and YAML, and a watch that prints a row per
//! change.
use serde_json::Value;

use super::client::{with_query, Client, ClientError};
use super::output::{self, OutputFormat};
use super::table::{self, Layout};
use super::{kind_from_cli, split_targets, Context, Reported};
use crate::api::Kind;
use crate::master::route::{collection_path, object_path};

/// What `get all` lists, in kubectl's order.
pub const ALL_KINDS: [Kind; 5] = [
    Kind::Pod,
    Kind::Service,
    Kind::DaemonSet,
    Kind::Deployment,
    Kind::ReplicaSet,
];

#[derive(Debug, clap::Args)]
pub struct GetArgs {
    /// KIND [NAME...], KIND/NAME..., a comma-separated list of kinds, or all
    #[arg(required = true, value_name = "KIND [NAME]")]
    pub targets: Vec<String>,
    /// List across all namespaces
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Label selector (app=web,tier!=db,env in (a,b),!legacy)
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub selector: Option<String>,
    /// Field selector (metadata.name=x, spec.nodeName=pi-1, status.phase=Running)
    #[arg(long, value_name = "SELECTOR")]
    pub field_selector: Option<String>,
    /// Output format
    #[arg(short = 'o', long, value_enum)]
    pub output: Option<OutputFormat>,
    /// After listing, watch for changes
    #[arg(short = 'w', long)]
    pub watch: bool,
}

fn now_s() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Lists objects of `kind`, returning them and the list's resourceVersion.
pub async fn list(
    client: &Client,
    kind: Kind,
    namespace: Option<&str>,
    labels: Option<&str>,
    fields: Option<&str>,
) -> Result<(Vec<Value>, String), ClientError> {
    let mut params = Vec::new();
    if let Some(labels) = labels {
        params.push(("labelSelector", labels));
    }
    if let Some(fields) = fields {
        params.push(("fieldSelector", fields));
    }
    let list = client
        .get_json(&with_query(&collection_path(kind, namespace), &params))
        .await?;
    let version = list
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let mut items = match list.get("items") {
        Some(Value::Array(items)) => items.clone(),
        _ => Vec::new(),
    };
    // Lists leave out kind and apiVersion in Kubernetes; put them back so that output applies.
    for item in &mut items {
        if let Some(map) = item.as_object_mut() {
            map.entry("apiVersion")
                .or_insert_with(|| kind.api_version().into());
            map.entry("kind").or_insert_with(|| kind.name().into());
        }
    }
    Ok((items, version))
}

fn no_resources(kind_scope_namespaced: bool, namespace: Option<&str>) {
    match namespace {
        Some(ns) if kind_scope_namespaced => eprintln!("No resources found in {ns} namespace."),
        _ => eprintln!("No resources found"),
    }
}

pub async fn run(context: &Context, args: GetArgs) -> anyhow::Result<()> {
    let (kind_words, named) = split_targets(&args.targets)?;
    let client = context.client()?;
    let namespace = (!args.all_namespaces).then(|| context.namespace());
    let layout = Layout {
        wide: args.output == Some(OutputFormat::Wide),
        all_namespaces: args.all_namespaces,
        kind_prefix: false,
        now_s: now_s(),
    };
    let selector = args.selector.as_deref();
    let fields = args.field_selector.as_deref();

    if !named.is_empty() {
        if args.all_namespaces {
            anyhow::bail!("a resource cannot be retrieved by name across all namespaces");
        }
        return get_named(&client, &args, &named, namespace, &layout).await;
    }

    let all = kind_words.iter().any(|w| w == "all");
    let kinds: Vec<Kind> = if all {
        ALL_KINDS.to_vec()
    } else {
        kind_words
            .iter()
            .map(|w| kind_from_cli(w))
            .collect::<anyhow::Result<_>>()?
    };
    let several = kinds.len() > 1;
    let mut collected: Vec<(Kind, Vec<Value>, String)> = Vec::new();
    for kind in &kinds {
        let (items, version) = list(&client, *kind, namespace, selector, fields).await?;
        collected.push((*kind, items, version));
    }
    let total: usize = collected.iter().map(|(_, items, _)| items.len()).sum();
    match args.output {
        None | Some(OutputFormat::Wide) => {
            if total == 0 {
                no_resources(kinds.iter().any(|k| k.namespaced()), namespace);
            }
            let mut first = true;
            for (kind, items, _) in &collected {
                if items.is_empty() {
                    continue;
                }
                if !first {
                    println!();
                }
                first = false;
                let layout = Layout {
                    kind_prefix: several,
                    ..layout
                };
                print!(
                    "{}",
                    table::render(&table::table(*kind, items, &layout), true)
                );
            }
        }
        Some(format) => {
            let objects: Vec<Value> = collected.iter().flat_map(|(_, i, _)| i.clone()).collect();
            print_objects(format, objects, false, Kind::Pod)?;
        }
    }
    if args.watch {
        let [(kind, shown, version)] = collected.as_slice() else {
            anyhow::bail!("you may only watch a single resource type");
        };
        let mut params = vec![("watch", "true"), ("resourceVersion", version.as_str())];
        if let Some(selector) = selector {
            params.push(("labelSelector", selector));
        }
        if let Some(fields) = fields {
            params.push(("fieldSelector", fields));
        }
        let path = with_query(&collection_path(*kind, namespace), &params);
        watch(&client, *kind, &path, &args, &layout, shown.clone()).await?;
    }
    Ok(())
}

async fn get_named(
    client: &Client,
    args: &GetArgs,
    named: &[(String, String)],
    namespace: Option<&str>,
    layout: &Layout,
) -> anyhow::Result<()> {
    let mut found: Vec<(Kind, Value)> = Vec::new();
    let mut errors = 0;
    for (word, name) in named {
        let kind = kind_from_cli(word)?;
        match client.get_json(&object_path(kind, namespace, name)).await {
            Ok(object) => found.push((kind, object)),
            Err(error @ ClientError::Status(_)) => {
                eprintln!("{error}");
                errors += 1;
            }
            Err(other) => return Err(other.into()),
        }
    }
    let kinds: Vec<Kind> = {
        let mut kinds: Vec<Kind> = found.iter().map(|(k, _)| *k).collect();
        kinds.dedup();
        kinds
    };
    match args.output {
        None | Some(OutputFormat::Wide) => {
            let prefix = kinds.len() > 1;
            let mut first = true;
            for kind in &kinds {
                let items: Vec<Value> = found
                    .iter()
                    .filter(|(k, _)| k == kind)
                    .map(|(_, o)| o.clone())
                    .collect();
                if !first {
                    println!();
                }
                first = false;
                let layout = Layout {
                    kind_prefix: prefix,
                    ..*layout
                };
                print!(
                    "{}",
                    table::render(&table::table(*kind, &items, &layout), true)
                );
            }
        }
        Some(format) => {
            let single = named.len() == 1;
            let objects = found.iter().map(|(_, o)| o.clone()).collect();
            print_objects(
                format,
                objects,
                single,
                kinds.first().copied().unwrap_or(Kind::Pod),
            )?;
        }
    }
    if args.watch {
        let [(word, name)] = named else {
            anyhow::bail!("you may only watch a single object by name");
        };
        let kind = kind_from_cli(word)?;
        let version = found
            .first()
            .and_then(|(_, o)| o.pointer("/metadata/resourceVersion"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let selector = format!("metadata.name={name}");
        let params = [
            ("watch", "true"),
            ("resourceVersion", version.as_str()),
            ("fieldSelector", selector.as_str()),
        ];
        let path = with_query(&collection_path(kind, namespace), &params);
        let shown = found.iter().map(|(_, o)| o.clone()).collect();
        watch(client, kind, &path, args, layout, shown).await?;
    }
    if errors > 0 {
        return Err(Reported { count: errors }.into());
    }
    Ok(())
}

fn print_objects(
    format: OutputFormat,
    objects: Vec<Value>,
    single: bool,
    fallback: Kind,
) -> anyhow::Result<()> {
    match format {
        OutputFormat::Json => print!("{}", output::to_json(&output::document(objects, single))),
        OutputFormat::Yaml => print!("{}", output::to_yaml(&output::document(objects, single))?),
        OutputFormat::Name => {
            for object in &objects {
                println!("{}", output::name_of(object, fallback));
            }
        }
        OutputFormat::Wide => unreachable!("tables are printed by the caller"),
    }
    Ok(())
}

/// Prints a row (or document) per change. Rows are aligned with the table printed before:
/// each is rendered together with `shown` and only its own line is printed.
async fn watch(
    client: &Client,
    kind: Kind,
    path: &str,
    args: &GetArgs,
    layout: &Layout,
    shown: Vec<Value>,
) -> anyhow::Result<()> {
    use std::io::Write;
    let mut stream = client.watch(path).await?;
    let mut header_printed = !shown.is_empty();
    while let Some(event) = stream.next().await {
        let event = event?;
        let mut object = event.object;
        if let Some(map) = object.as_object_mut() {
            map.entry("apiVersion")
                .or_insert_with(|| kind.api_version().into());
            map.entry("kind").or_insert_with(|| kind.name().into());
        }
        match args.output {
            None | Some(OutputFormat::Wide) => {
                let layout = Layout {
                    now_s: now_s(),
                    ..*layout
                };
                let mut objects = shown.clone();
                objects.push(object);
                let text = table::render(&table::table(kind, &objects, &layout), true);
                // With nothing listed before, the header comes with the first row.
                if !header_printed {
                    println!("{}", text.lines().next().unwrap_or(""));
                    header_printed = true;
                }
                println!("{}", text.lines().last().unwrap_or(""));
            }
            Some(format) => print_objects(format, vec![object], true, kind)?,
        }
        let _ = std::io::stdout().flush();
    }
    Ok(())
}
