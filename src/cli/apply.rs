//! `edgectl apply -f FILE|DIR|-`: decode and check every document locally, then send them all
//! in one request to the master's apply endpoint, which validates again and writes all or
//! nothing. Prints `deployment.apps/web created|configured|unchanged` per object.
use std::path::PathBuf;

use hyper::Method;
use serde_json::Value;

use super::client::{with_query, JSON};
use super::manifest::{self, Document, ManifestError};
use super::Context;
use crate::api::Kind;
use crate::master::admission;
use crate::master::error::ApiError;
use crate::master::object::{kind_of, set_meta};
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

/// Checks a document before it is sent, with the master's own admission (types, defaults,
/// Kubernetes' validation rules) and a namespace that agrees with `-n`. The master checks
/// again; this only makes sure nothing is sent when anything is wrong.
pub fn check(
    document: &Document,
    namespace_flag: Option<&str>,
    strict: bool,
) -> Result<Kind, ManifestError> {
    let kind = check_identity(document, namespace_flag)?;
    let mut object = document.object.clone();
    if kind.namespaced() && object.pointer("/metadata/namespace").is_none() {
        set_meta(
            &mut object,
            "namespace",
            namespace_flag.unwrap_or("default").into(),
        );
    }
    admission::admit(kind, object, strict).map_err(|error| {
        let message = match error {
            ApiError::Invalid { causes, .. } => causes
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            other => other.to_string(),
        };
        ManifestError::Invalid {
            source_name: document.source_name.clone(),
            document: document.index,
            resource: describe(&document.object),
            message,
        }
    })?;
    Ok(kind)
}

/// A known kind, and a namespace that agrees with `-n`.
fn check_identity(
    document: &Document,
    namespace_flag: Option<&str>,
) -> Result<Kind, ManifestError> {
    let object = &document.object;
    let invalid = |message: String| ManifestError::Invalid {
        source_name: document.source_name.clone(),
        document: document.index,
        resource: describe(object),
        message,
    };
    let api_version = object.get("apiVersion").and_then(Value::as_str);
    let kind_word = object.get("kind").and_then(Value::as_str);
    let kind = match (api_version, kind_word) {
        (None, _) => return Err(invalid("apiVersion: Required value".to_string())),
        (_, None) => return Err(invalid("kind: Required value".to_string())),
        (Some(api_version), Some(kind_word)) => kind_of(object).ok_or_else(|| {
            invalid(format!(
                "no kind {kind_word:?} is registered for version {api_version:?}"
            ))
        })?,
    };
    if let (Some(flag), Some(own)) = (
        namespace_flag,
        object
            .pointer("/metadata/namespace")
            .and_then(Value::as_str),
    ) {
        if kind.namespaced() && flag != own {
            return Err(invalid(format!(
                "the namespace from the provided object {own:?} does not match the namespace {flag:?}; pass --namespace={own} or remove the namespace from the object"
            )));
        }
    }
    Ok(kind)
}

fn describe(object: &Value) -> String {
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or("?");
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    match kind_of(object) {
        Some(k) if name.is_empty() => k.resource_name(),
        Some(k) => format!("{}/{name}", k.resource_name()),
        None if name.is_empty() => kind.to_string(),
        None => format!("{kind}/{name}"),
    }
}

pub async fn run(context: &Context, args: ApplyArgs) -> anyhow::Result<()> {
    let documents = manifest::load(&args.files, args.recursive)?;
    if documents.is_empty() {
        anyhow::bail!("no objects passed to apply");
    }
    for document in &documents {
        check(document, context.namespace.as_deref(), args.strict)?;
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
    use serde_json::json;

    fn doc(object: Value) -> Document {
        Document {
            source_name: "app.yaml".into(),
            index: 2,
            object,
        }
    }

    #[test]
    fn a_document_without_a_name_is_refused_naming_the_field() {
        let error = check(
            &doc(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {}})),
            None,
            false,
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "app.yaml: document 2 (deployment.apps): metadata.name: Required value: name or generateName is required, spec.selector: Required value, spec.template.spec.containers: Required value"
        );
    }

    #[test]
    fn unknown_kinds_and_namespace_mismatches_are_refused() {
        let widget = doc(json!({"apiVersion": "v1", "kind": "Widget", "metadata": {"name": "w"}}));
        assert!(check(&widget, None, false)
            .unwrap_err()
            .to_string()
            .contains("Widget"));
        let pod = doc(
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "a"}}),
        );
        assert!(check(&pod, Some("b"), false).is_err());
        assert!(
            check(&pod, Some("a"), false).is_err(),
            "a pod without containers is invalid"
        );
    }
}
