//! `edgectl apply -f FILE|DIR|-`: decode, type and validate every document locally (the
//! resource model names file, document, field and line of each problem), then send them all in
//! one request to the master's apply endpoint, which validates again and writes all or
//! nothing. Prints `deployment.apps/web created|configured|unchanged` per object; unsupported
//! fields are `Warning:` lines on stderr (errors with `--strict`).
use std::path::PathBuf;

use hyper::Method;
use serde_json::Value;

use super::client::{with_query, JSON};
use super::manifest::{self, Document, ManifestError};
use super::Context;
use crate::api::{DecodeOptions, Kind};
use crate::master::route::APPLY_PATH;

#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    /// Manifest file, directory of .yaml/.yml/.json files, or - for stdin (repeatable)
    #[arg(short = 'f', long = "filename", required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Descend into subdirectories of directories given with -f
    #[arg(short = 'R', long)]
    pub recursive: bool,
    /// Treat fields Flotilla does not support as errors instead of warnings
    #[arg(long)]
    pub strict: bool,
}

/// Refuses a document whose namespace differs from the one given with `-n`, as kubectl does.
pub fn check_namespace(
    document: &Document,
    namespace_flag: Option<&str>,
) -> Result<(), ManifestError> {
    let own = document
        .object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str);
    match (namespace_flag, own) {
        (Some(flag), Some(own)) if document.kind.namespaced() && flag != own => {
            Err(ManifestError::Invalid {
                source_name: document.source_name.clone(),
                document: document.index,
                resource: describe(document),
                message: format!(
                    "the namespace from the provided object {own:?} does not match the namespace {flag:?}; pass --namespace={own} or remove the namespace from the object"
                ),
            })
        }
        _ => Ok(()),
    }
}

/// `deployment.apps/web`.
fn describe(document: &Document) -> String {
    let name = document
        .object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    format!("{}/{name}", document.kind.resource_name())
}

pub async fn run(context: &Context, args: ApplyArgs) -> anyhow::Result<()> {
    let options = DecodeOptions {
        strict: args.strict,
        validate: true,
    };
    let documents = manifest::load(&args.files, args.recursive, options)?;
    if documents.is_empty() {
        anyhow::bail!("no objects passed to apply");
    }
    for document in &documents {
        check_namespace(document, context.namespace.as_deref())?;
    }
    for warning in documents.iter().flat_map(|d| &d.warnings) {
        eprintln!("Warning: {warning}");
    }
    let objects: Vec<Value> = documents.into_iter().map(|d| d.object).collect();
    let client = context.client()?;
    let mut params = vec![("namespace", context.namespace())];
    if args.strict {
        params.push(("fieldValidation", "Strict"));
    }
    let (result, warnings) = client
        .send_json(
            Method::POST,
            &with_query(APPLY_PATH, &params),
            JSON,
            &Value::Array(objects),
        )
        .await?;
    for warning in warnings {
        eprintln!("Warning: {warning}");
    }
    for item in result
        .get("items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let kind = Kind::from_type(
            item["apiVersion"].as_str().unwrap_or(""),
            item["kind"].as_str().unwrap_or(""),
        );
        let resource = kind.map_or_else(|| "object".to_string(), |k| k.resource_name());
        println!(
            "{resource}/{} {}",
            item["name"].as_str().unwrap_or(""),
            item["result"].as_str().unwrap_or("")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> Document {
        manifest::decode("app.yaml", text, DecodeOptions::default())
            .unwrap()
            .remove(0)
    }

    #[test]
    fn a_namespace_that_differs_from_the_flag_is_refused() {
        let pod = doc("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: p\n  namespace: a\n");
        let error = check_namespace(&pod, Some("b")).unwrap_err().to_string();
        assert!(
            error.starts_with("app.yaml: document 0 (configmap/p): the namespace"),
            "{error}"
        );
        assert!(check_namespace(&pod, Some("a")).is_ok());
        assert!(check_namespace(&pod, None).is_ok());
    }

    #[test]
    fn incomplete_manifests_are_refused_naming_every_missing_field() {
        let text = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  labels: {app: web}\nspec:\n  replicas: 1\n";
        let error = manifest::decode("app.yaml", text, DecodeOptions::default())
            .unwrap_err()
            .to_string();
        assert!(error.contains("metadata.name: Required value"), "{error}");
        assert!(error.contains("spec.template"), "{error}");
    }
}
