//! Manifest decoding: YAML and JSON streams (multi-document, `kind: List`) to typed, validated
//! resources. Every error names the source, the document, the field path and, for YAML and
//! JSON text, the line and column; every field Flotilla does not support is a warning naming
//! its path (an error with `strict`).
mod value_de;
mod yaml;

use std::fmt;

use serde_json::Value;

use super::defaults::apply_defaults;
use super::field_path::{FieldError, FieldPath, PathElement};
use super::kind::Kind;
use super::resource::Resource;
use super::validation::validate;
use value_de::Unknown;
use yaml::{Locations, Step};

pub use yaml::{Location, YAML_INPUT_MAX_BYTES};

/// How strictly to decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Unknown fields are errors instead of warnings (`--strict`).
    pub strict: bool,
    /// Run `validate` on each object (after defaults) and report its errors.
    pub validate: bool,
}

impl Default for DecodeOptions {
    fn default() -> DecodeOptions {
        DecodeOptions {
            strict: false,
            validate: true,
        }
    }
}

/// A field Flotilla does not support; it was ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub path: FieldPath,
    /// Where the field is in the source text, when decoding text.
    pub location: Option<Location>,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown field \"{}\"", self.path)
    }
}

/// One object read from a manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// Position of the document in the stream, from 0; empty documents are not counted.
    pub index: usize,
    /// Position in `items` when the document is a `kind: List`.
    pub item: Option<usize>,
    /// Where the object starts in the source text.
    pub location: Option<Location>,
    /// The object as written (defaults are not applied).
    pub resource: Resource,
    pub warnings: Vec<Warning>,
}

impl Document {
    /// The warnings as lines for people (`app.yaml:12:7: document 0 (Deployment web):
    /// unknown field "spec.foo"`).
    pub fn warning_messages(&self, source_name: &str) -> Vec<String> {
        let object = format!("{} {}", self.resource.kind(), self.resource.name());
        self.warnings
            .iter()
            .map(|w| {
                let place = Place {
                    source_name,
                    location: w.location,
                    document: Some(self.index),
                    item: self.item,
                    object: Some(&object),
                };
                format!("{place}: {w}")
            })
            .collect()
    }
}

/// What is wrong in one place of a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The text is not YAML (or JSON).
    Syntax(String),
    /// A field is missing, malformed, invalid or unknown (in strict mode).
    Field(FieldError),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Syntax(m) => f.write_str(m),
            Problem::Field(e) => write!(f, "{e}"),
        }
    }
}

/// One problem, with everything needed to find it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    /// Index of the document (from 0), when known.
    pub document: Option<usize>,
    /// Index in `items` of a `kind: List`.
    pub item: Option<usize>,
    /// `Kind name` of the object, when it could be read.
    pub object: Option<String>,
    pub location: Option<Location>,
    pub problem: Problem,
}

/// A manifest that cannot be applied, with every problem found in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct DecodeError {
    /// The file name (or `-` for standard input) the text came from.
    pub source_name: String,
    pub errors: Vec<ManifestError>,
}

struct Place<'a> {
    source_name: &'a str,
    location: Option<Location>,
    document: Option<usize>,
    item: Option<usize>,
    object: Option<&'a str>,
}

impl fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.source_name)?;
        if let Some(l) = self.location {
            write!(f, ":{}:{}", l.line, l.column)?;
        }
        if let Some(d) = self.document {
            write!(f, ": document {d}")?;
        }
        if let Some(i) = self.item {
            write!(f, " item {i}")?;
        }
        if let Some(o) = self.object {
            write!(f, " ({o})")?;
        }
        Ok(())
    }
}

impl DecodeError {
    /// Each error on its own line: `app.yaml:14:9: document 0 (Deployment web):
    /// spec.template.spec.containers[0].image: Required value`.
    pub fn lines(&self) -> Vec<String> {
        self.errors
            .iter()
            .map(|e| {
                let place = Place {
                    source_name: &self.source_name,
                    location: e.location,
                    document: e.document,
                    item: e.item,
                    object: e.object.as_deref(),
                };
                format!("{place}: {}", e.problem)
            })
            .collect()
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.lines().join("\n"))
    }
}

/// Reads every object of a YAML or JSON stream (`---`-separated documents, `kind: List`),
/// types and validates it. Nothing is returned unless everything is valid.
pub fn decode_manifests(source_name: &str, text: &str) -> Result<Vec<Document>, DecodeError> {
    decode_manifests_with(source_name, text, DecodeOptions::default())
}

/// `decode_manifests` with options (`strict`, whether to validate).
pub fn decode_manifests_with(
    source_name: &str,
    text: &str,
    options: DecodeOptions,
) -> Result<Vec<Document>, DecodeError> {
    let fail = |errors| DecodeError {
        source_name: source_name.to_string(),
        errors,
    };
    let docs = yaml::parse_stream(text).map_err(|e| {
        fail(vec![ManifestError {
            document: Some(e.documents_before),
            item: None,
            object: None,
            location: e.location,
            problem: Problem::Syntax(e.message),
        }])
    })?;
    let mut documents = Vec::new();
    let mut errors = Vec::new();
    for (index, doc) in docs.iter().enumerate() {
        let mut ctx = DocumentContext {
            index,
            locations: &doc.locations,
            options,
            documents: &mut documents,
            errors: &mut errors,
            pending_list_warnings: Vec::new(),
        };
        if let Some(items) = list_items(&doc.value) {
            ctx.decode_list(&doc.value, items);
        } else {
            ctx.decode_one(&doc.value, None, doc.start);
        }
    }
    if errors.is_empty() {
        Ok(documents)
    } else {
        Err(fail(errors))
    }
}

/// Types a JSON object (an API request body): `kind_hint` is the kind the request path names,
/// used when the body has no `apiVersion`/`kind` and checked when it has. Unknown fields come
/// back as warnings, or as errors when `strict`. Does not apply defaults or validate.
pub fn decode_value(
    kind_hint: Option<Kind>,
    value: Value,
    strict: bool,
) -> Result<(Resource, Vec<Warning>), Vec<FieldError>> {
    let (resource, unknown) = decode_object(&value, kind_hint)?;
    if strict && !unknown.is_empty() {
        return Err(unknown.into_iter().map(FieldError::unknown_field).collect());
    }
    let warnings = unknown
        .into_iter()
        .map(|path| Warning {
            path,
            location: None,
        })
        .collect();
    Ok((resource, warnings))
}

/// The items of a `kind: List` (or a typed list such as `PodList`), if `value` is one.
fn list_items(value: &Value) -> Option<&Value> {
    let kind = value.get("kind")?.as_str()?;
    let is_list = kind == "List"
        || kind
            .strip_suffix("List")
            .is_some_and(|k| Kind::ALL.iter().any(|known| known.name() == k));
    if is_list {
        Some(value.get("items").unwrap_or(&Value::Null))
    } else {
        None
    }
}

/// Fields a list wrapper may have.
const LIST_FIELDS: [&str; 4] = ["apiVersion", "kind", "items", "metadata"];

struct DocumentContext<'a> {
    index: usize,
    locations: &'a Locations,
    options: DecodeOptions,
    documents: &'a mut Vec<Document>,
    errors: &'a mut Vec<ManifestError>,
    /// Unknown fields of a `kind: List` wrapper, waiting for its first item.
    pending_list_warnings: Vec<Warning>,
}

impl DocumentContext<'_> {
    fn locate(&self, prefix: &[Step], path: &FieldPath) -> Option<Location> {
        let mut steps = prefix.to_vec();
        steps.extend(path.elements().iter().map(|e| match e {
            PathElement::Field(f) | PathElement::Key(f) => Step::Entry(f.clone()),
            PathElement::Index(i) => Step::Item(*i),
        }));
        self.locations.find(&steps)
    }

    fn error(
        &mut self,
        item: Option<usize>,
        object: Option<String>,
        prefix: &[Step],
        e: FieldError,
    ) {
        let location = self.locate(prefix, &e.path);
        self.errors.push(ManifestError {
            document: Some(self.index),
            item,
            object,
            location,
            problem: Problem::Field(e),
        });
    }

    fn decode_list(&mut self, list: &Value, items: &Value) {
        let mut list_warnings = Vec::new();
        if let Some(map) = list.as_object() {
            for key in map.keys() {
                if !LIST_FIELDS.contains(&key.as_str()) {
                    list_warnings.push(FieldPath::new(key));
                }
            }
        }
        let items = match items {
            Value::Array(items) => items.as_slice(),
            Value::Null => &[],
            other => {
                let e = FieldError {
                    path: FieldPath::new("items"),
                    kind: super::field_path::FieldErrorKind::TypeInvalid(other.to_string()),
                    detail: "expected a list of objects".to_string(),
                };
                self.error(None, Some("List".into()), &[], e);
                return;
            }
        };
        for path in list_warnings {
            if self.options.strict {
                self.error(
                    None,
                    Some("List".into()),
                    &[],
                    FieldError::unknown_field(path),
                );
            } else {
                // The list's own unknown fields are reported with its first object, so they
                // are shown with what gets applied.
                let location = self.locate(&[], &path);
                self.pending_list_warnings.push(Warning { path, location });
            }
        }
        for (j, item) in items.iter().enumerate() {
            let prefix = [Step::Entry("items".into()), Step::Item(j)];
            let start = self.locations.find(&prefix);
            self.decode_item(item, Some(j), &prefix, start);
        }
    }

    fn decode_one(&mut self, value: &Value, item: Option<usize>, start: Option<Location>) {
        self.decode_item(value, item, &[], start);
    }

    fn decode_item(
        &mut self,
        value: &Value,
        item: Option<usize>,
        prefix: &[Step],
        start: Option<Location>,
    ) {
        let object = describe(value);
        let (resource, unknown) = match decode_object(value, None) {
            Ok(r) => r,
            Err(errs) => {
                for e in errs {
                    self.error(item, object.clone(), prefix, e);
                }
                return;
            }
        };
        let mut warnings = std::mem::take(&mut self.pending_list_warnings);
        for path in unknown {
            if self.options.strict {
                self.error(
                    item,
                    object.clone(),
                    prefix,
                    FieldError::unknown_field(path),
                );
            } else {
                let location = self.locate(prefix, &path);
                warnings.push(Warning { path, location });
            }
        }
        if self.options.validate {
            let mut defaulted = resource.clone();
            apply_defaults(&mut defaulted);
            if let Err(errs) = validate(&defaulted) {
                for e in errs {
                    self.error(item, object.clone(), prefix, e);
                }
            }
        }
        self.documents.push(Document {
            index: self.index,
            item,
            location: start,
            resource,
            warnings,
        });
    }
}

/// `Kind name` from a raw object, for error messages.
fn describe(value: &Value) -> Option<String> {
    let kind = value.get("kind")?.as_str()?;
    let name = value
        .get("metadata")
        .and_then(|m| m.get("name").or_else(|| m.get("generateName")))
        .and_then(Value::as_str)
        .unwrap_or("");
    Some(if name.is_empty() {
        kind.to_string()
    } else {
        format!("{kind} {name}")
    })
}

/// The kind of a raw object, checked against the hint.
fn resolve_kind(value: &Value, hint: Option<Kind>) -> Result<Kind, Vec<FieldError>> {
    let api_version = value.get("apiVersion");
    let kind = value.get("kind");
    let as_str = |v: Option<&Value>, field: &str| -> Result<Option<String>, FieldError> {
        match v {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(FieldError {
                path: FieldPath::new(field),
                kind: super::field_path::FieldErrorKind::TypeInvalid(other.to_string()),
                detail: "expected a string".to_string(),
            }),
        }
    };
    let (api_version, kind) = match (as_str(api_version, "apiVersion"), as_str(kind, "kind")) {
        (Ok(a), Ok(k)) => (a, k),
        (a, k) => return Err([a.err(), k.err()].into_iter().flatten().collect()),
    };
    match (api_version, kind, hint) {
        (None, None, Some(h)) => Ok(h),
        (Some(a), Some(k), _) => {
            let Some(found) = Kind::from_type(&a, &k) else {
                if let Some(by_name) = Kind::ALL.into_iter().find(|x| x.name() == k) {
                    return Err(vec![FieldError::invalid(
                        FieldPath::new("apiVersion"),
                        &a,
                        format!(
                            "kind {k} is served as apiVersion {:?}",
                            by_name.api_version()
                        ),
                    )]);
                }
                let supported: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
                return Err(vec![FieldError::not_supported(
                    FieldPath::new("kind"),
                    &k,
                    &supported,
                )]);
            };
            match hint {
                Some(h) if h != found => Err(vec![FieldError::invalid(
                    FieldPath::new("kind"),
                    &k,
                    format!("must be {h} for this request"),
                )]),
                _ => Ok(found),
            }
        }
        (a, k, _) => {
            let mut errs = Vec::new();
            if a.is_none() {
                errs.push(FieldError::required(FieldPath::new("apiVersion"), ""));
            }
            if k.is_none() {
                errs.push(FieldError::required(FieldPath::new("kind"), ""));
            }
            Err(errs)
        }
    }
}

/// Types one object; returns it with the paths of its unknown fields.
fn decode_object(
    value: &Value,
    hint: Option<Kind>,
) -> Result<(Resource, Vec<FieldPath>), Vec<FieldError>> {
    if !value.is_object() {
        return Err(vec![FieldError {
            path: FieldPath::root(),
            kind: super::field_path::FieldErrorKind::TypeInvalid(short(value)),
            detail: "expected an object with apiVersion and kind".to_string(),
        }]);
    }
    let kind = resolve_kind(value, hint)?;
    let unknown = Unknown::default();
    let typed = |e: value_de::DeError| vec![e.into_field_error()];
    let resource = match kind {
        Kind::Namespace => {
            Resource::Namespace(value_de::from_value(value, &unknown).map_err(typed)?)
        }
        Kind::Node => Resource::Node(value_de::from_value(value, &unknown).map_err(typed)?),
        Kind::Pod => Resource::Pod(value_de::from_value(value, &unknown).map_err(typed)?),
        Kind::Service => Resource::Service(value_de::from_value(value, &unknown).map_err(typed)?),
        Kind::ConfigMap => {
            Resource::ConfigMap(value_de::from_value(value, &unknown).map_err(typed)?)
        }
        Kind::Secret => Resource::Secret(value_de::from_value(value, &unknown).map_err(typed)?),
        Kind::Event => Resource::Event(value_de::from_value(value, &unknown).map_err(typed)?),
        Kind::Deployment => {
            Resource::Deployment(value_de::from_value(value, &unknown).map_err(typed)?)
        }
        Kind::ReplicaSet => {
            Resource::ReplicaSet(value_de::from_value(value, &unknown).map_err(typed)?)
        }
        Kind::DaemonSet => {
            Resource::DaemonSet(value_de::from_value(value, &unknown).map_err(typed)?)
        }
    };
    Ok((resource, unknown.paths.into_inner()))
}

fn short(value: &Value) -> String {
    match value {
        Value::Array(_) => "a list".to_string(),
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;
