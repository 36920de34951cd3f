//! `-o json`, `-o yaml` and `-o name`: objects as they are stored, so that the output can be
//! applied again (apiVersion and kind are kept), and names as `kind.group/name`.
use serde_json::{json, Value};

use crate::api::Kind;
use crate::master::object::kind_of;

/// `-o` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Tables with more columns
    Wide,
    /// JSON, applyable
    Json,
    /// YAML, applyable
    Yaml,
    /// kind/name
    Name,
}

/// One object, or a `List` of several, as a document.
pub fn document(objects: Vec<Value>, single: bool) -> Value {
    if single && objects.len() == 1 {
        return objects.into_iter().next().expect("one object");
    }
    json!({
        "apiVersion": "v1",
        "kind": "List",
        "items": objects,
        "metadata": {"resourceVersion": ""},
    })
}

/// A document as pretty JSON (two-space indent, as kubectl), with a final newline.
pub fn to_json(document: &Value) -> String {
    let mut text = serde_json::to_string_pretty(document).expect("JSON values serialise");
    text.push('\n');
    text
}

/// A document as YAML.
pub fn to_yaml(document: &Value) -> anyhow::Result<String> {
    Ok(serde_saphyr::to_string(document)?)
}

/// `deployment.apps/web`.
pub fn name_of(object: &Value, fallback: Kind) -> String {
    let kind = kind_of(object).unwrap_or(fallback);
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    format!("{}/{name}", kind.resource_name())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_object_stays_an_object_and_several_become_a_list() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}});
        assert_eq!(document(vec![pod.clone()], true), pod);
        assert_eq!(document(vec![pod.clone()], false)["kind"], "List");
        assert_eq!(name_of(&pod, Kind::Pod), "pod/a");
    }

    #[test]
    fn yaml_output_decodes_back_to_the_same_document() {
        let doc = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"},
            "data": {"on": "no", "n": "1"}});
        let yaml = to_yaml(&doc).unwrap();
        let back: Value = serde_saphyr::from_str(&yaml).unwrap();
        assert_eq!(back, doc);
    }
}
