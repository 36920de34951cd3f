//! `edgectl delete -f FILE | KIND NAME… | KIND -l SELECTOR`: deletes objects, cascading to what
//! they own (`--cascade=background|foreground|orphan`), printing `pod "x" deleted`.
use std::path::PathBuf;

use hyper::Method;
use serde_json::{json, Value};

use super::client::{Client, ClientError, JSON};
use super::get::list;
use super::manifest;
use super::{kind_from_cli, split_targets, Context, Reported};
use crate::api::Kind;
use crate::master::object::kind_of;
use crate::master::route::object_path;

/// `--cascade` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Cascade {
    /// Delete the object now and what it owns after it
    Background,
    /// Delete what the object owns first, then the object
    Foreground,
    /// Delete only the object; what it owned stays
    Orphan,
}

impl Cascade {
    fn policy(self) -> &'static str {
        match self {
            Cascade::Background => "Background",
            Cascade::Foreground => "Foreground",
            Cascade::Orphan => "Orphan",
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct DeleteArgs {
    /// KIND NAME..., KIND/NAME..., or KIND with -l
    #[arg(value_name = "KIND [NAME]")]
    pub targets: Vec<String>,
    /// Delete the objects in these manifests (repeatable)
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Descend into subdirectories of directories given with -f
    #[arg(short = 'R', long)]
    pub recursive: bool,
    /// Delete every object of KIND matching this label selector
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub selector: Option<String>,
    /// What happens to the objects the deleted ones own
    #[arg(long, value_enum, default_value = "background")]
    pub cascade: Cascade,
    /// Do not fail on objects that do not exist
    #[arg(long)]
    pub ignore_not_found: bool,
}

/// Deletes one object, returning kubectl's line for it.
pub async fn delete_one(
    client: &Client,
    kind: Kind,
    namespace: Option<&str>,
    name: &str,
    cascade: Cascade,
) -> Result<String, ClientError> {
    let options = json!({
        "kind": "DeleteOptions",
        "apiVersion": "v1",
        "propagationPolicy": cascade.policy(),
    });
    client
        .send_json(
            Method::DELETE,
            &object_path(kind, namespace, name),
            JSON,
            &options,
        )
        .await?;
    Ok(format!("{} \"{name}\" deleted", kind.resource_name()))
}

pub async fn run(context: &Context, args: DeleteArgs) -> anyhow::Result<()> {
    let mut targets: Vec<(Kind, Option<String>, String)> = Vec::new();
    if !args.files.is_empty() {
        if !args.targets.is_empty() {
            anyhow::bail!("give either -f or KIND NAME, not both");
        }
        for document in manifest::load(&args.files, args.recursive)? {
            let kind = super::apply::check(&document, context.namespace.as_deref(), false)?;
            let object = &document.object;
            let namespace = object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or(context.namespace());
            let name = object["metadata"]["name"]
                .as_str()
                .unwrap_or("")
                .to_string();
            debug_assert_eq!(kind_of(object), Some(kind));
            targets.push((kind, Some(namespace.to_string()), name));
        }
    }
    let client = context.client()?;
    if args.files.is_empty() {
        let (kinds, named) = split_targets(&args.targets)?;
        match (&args.selector, named.is_empty()) {
            (Some(selector), true) => {
                for word in kinds {
                    let kind = kind_from_cli(&word)?;
                    let (items, _) =
                        list(&client, kind, Some(context.namespace()), Some(selector), None).await?;
                    if items.is_empty() {
                        eprintln!("No resources found");
                    }
                    for item in items {
                        let name = item["metadata"]["name"].as_str().unwrap_or("").to_string();
                        targets.push((kind, Some(context.namespace().to_string()), name));
                    }
                }
            }
            (None, false) => {
                for (word, name) in named {
                    let kind = kind_from_cli(&word)?;
                    targets.push((kind, Some(context.namespace().to_string()), name));
                }
            }
            (Some(_), false) => anyhow::bail!("name cannot be provided when a selector is specified"),
            (None, true) => anyhow::bail!(
                "resource(s) were provided, but no name was specified: use KIND NAME, -l SELECTOR or -f FILE"
            ),
        }
    }
    let mut errors = 0;
    for (kind, namespace, name) in targets {
        match delete_one(&client, kind, namespace.as_deref(), &name, args.cascade).await {
            Ok(line) => println!("{line}"),
            Err(ClientError::Status(status)) if args.ignore_not_found && status.code == 404 => {}
            Err(error @ ClientError::Status(_)) => {
                eprintln!("{error}");
                errors += 1;
            }
            Err(other) => return Err(other.into()),
        }
    }
    if errors > 0 {
        return Err(Reported { count: errors }.into());
    }
    Ok(())
}
