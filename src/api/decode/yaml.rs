//! YAML text to JSON values, keeping the line and column of every node so that errors found
//! later (type errors, validation) can point into the file.
use std::collections::HashMap;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// A place in the source text (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Location {
    pub line: u32,
    pub column: u32,
}

impl Location {
    fn from_saphyr(l: &serde_saphyr::Location) -> Option<Location> {
        let line = u32::try_from(l.line()).ok()?;
        let column = u32::try_from(l.column()).ok()?;
        (line > 0).then_some(Location { line, column })
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// One step in a YAML tree: a mapping entry or a sequence item. Field names and map keys
/// are both mapping entries here, since YAML does not tell them apart.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Step {
    Entry(String),
    Item(usize),
}

/// Where each node of a document is: for a mapping entry, its key; for an item, the item.
#[derive(Debug, Clone, Default)]
pub(crate) struct Locations {
    by_path: HashMap<Vec<Step>, Location>,
}

impl Locations {
    /// The location of `path`, or of its nearest ancestor that exists (a missing field is
    /// reported where its parent is).
    pub(crate) fn find(&self, path: &[Step]) -> Option<Location> {
        let mut end = path.len();
        loop {
            if let Some(l) = self.by_path.get(&path[..end]) {
                return Some(*l);
            }
            if end == 0 {
                return None;
            }
            end -= 1;
        }
    }
}

/// A YAML node as serde-saphyr reports it, with locations.
enum Node {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<Node>>),
    Map(Vec<(Spanned<String>, Spanned<Node>)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::UInt(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Node>>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<String>>()? {
            let value = map.next_value::<Spanned<Node>>()?;
            entries.push((key, value));
        }
        Ok(Node::Map(entries))
    }
}

/// A document of the stream: its JSON value and where its nodes are.
pub(crate) struct YamlDocument {
    pub value: serde_json::Value,
    pub locations: Locations,
    pub start: Option<Location>,
}

/// A YAML stream that cannot be read.
#[derive(Debug, Clone)]
pub(crate) struct YamlError {
    /// Documents read successfully before the error.
    pub documents_before: usize,
    pub location: Option<Location>,
    pub message: String,
}

/// Most events that aliases (`*ref`) may replay in one stream. Manifests use aliases for a
/// shared env block or two at most; a hundredth of serde-saphyr's default keeps an alias bomb
/// cheap to refuse.
pub const ALIAS_REPLAYED_EVENTS_MAX: usize = 10_000;

/// Most bytes of YAML accepted in one stream.
pub const YAML_INPUT_MAX_BYTES: usize = 16 * 1024 * 1024;

/// Reads every non-empty document of a YAML (or JSON) stream.
pub(crate) fn parse_stream(text: &str) -> Result<Vec<YamlDocument>, YamlError> {
    if text.len() > YAML_INPUT_MAX_BYTES {
        return Err(YamlError {
            documents_before: 0,
            location: None,
            message: format!("input is larger than {YAML_INPUT_MAX_BYTES} bytes"),
        });
    }
    // YAML 1.2 booleans only (`on`, `yes` stay strings, so a label value `on` is not a type
    // error), but YAML 1.1 octal numbers: `defaultMode: 0644` means 420, as in Kubernetes.
    let options = serde_saphyr::options! {
        with_snippet: false,
        strict_booleans: true,
        legacy_octal_numbers: true,
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: ALIAS_REPLAYED_EVENTS_MAX,
        },
    };
    let mut reader = text.as_bytes();
    let mut docs = Vec::new();
    for item in serde_saphyr::read_with_options::<_, Spanned<Node>>(&mut reader, options) {
        match item {
            Ok(node) => {
                let mut locations = Locations::default();
                let start = Location::from_saphyr(&node.referenced);
                let mut path = Vec::new();
                if let Some(l) = start {
                    locations.by_path.insert(Vec::new(), l);
                }
                let value =
                    to_json(node.value, &mut path, &mut locations).map_err(|m| YamlError {
                        documents_before: docs.len(),
                        location: m.0,
                        message: m.1,
                    })?;
                docs.push(YamlDocument {
                    value,
                    locations,
                    start,
                });
            }
            Err(e) => {
                return Err(YamlError {
                    documents_before: docs.len(),
                    location: e.location().as_ref().and_then(Location::from_saphyr),
                    message: plain_message(&e),
                })
            }
        }
    }
    Ok(docs)
}

/// serde-saphyr's message without the location it appends (we print our own).
fn plain_message(e: &serde_saphyr::Error) -> String {
    let text = e.to_string();
    let mut text = text.lines().next().unwrap_or("").trim();
    if let Some(i) = text.find(" at line ") {
        text = &text[..i];
    }
    // Advice meant for the programmer using the library, not for the person applying.
    if let Some(i) = text.find(", set DuplicateKeyPolicy") {
        text = &text[..i];
    }
    text.to_string()
}

fn to_json(
    node: Node,
    path: &mut Vec<Step>,
    locations: &mut Locations,
) -> Result<serde_json::Value, (Option<Location>, String)> {
    use serde_json::Value;
    Ok(match node {
        Node::Null => Value::Null,
        Node::Bool(b) => Value::Bool(b),
        Node::Int(i) => Value::from(i),
        Node::UInt(u) => Value::from(u),
        Node::Float(f) => match serde_json::Number::from_f64(f) {
            Some(n) => Value::Number(n),
            None => {
                return Err((
                    locations.find(path),
                    format!("{f} is not a number JSON can carry"),
                ))
            }
        },
        Node::Str(s) => Value::String(s),
        Node::Seq(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                path.push(Step::Item(i));
                if let Some(l) = Location::from_saphyr(&item.referenced) {
                    locations.by_path.insert(path.clone(), l);
                }
                out.push(to_json(item.value, path, locations)?);
                path.pop();
            }
            Value::Array(out)
        }
        Node::Map(entries) => {
            let mut out = serde_json::Map::new();
            for (key, value) in entries {
                path.push(Step::Entry(key.value.clone()));
                if let Some(l) = Location::from_saphyr(&key.referenced) {
                    locations.by_path.insert(path.clone(), l);
                }
                let v = to_json(value.value, path, locations)?;
                path.pop();
                out.insert(key.value, v);
            }
            Value::Object(out)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(s: &str) -> Step {
        Step::Entry(s.to_string())
    }

    #[test]
    fn documents_keep_the_location_of_every_node() {
        let text = "a: 1\nb:\n  c: [x, y]\n  d: null\n---\n---\n# nothing\n---\ne: {f: 2}\n";
        let docs = parse_stream(text).unwrap();
        assert_eq!(docs.len(), 2, "empty documents are skipped");
        assert_eq!(
            docs[0].value,
            serde_json::json!({"a": 1, "b": {"c": ["x", "y"], "d": null}})
        );
        let at = |line, column| Some(Location { line, column });
        let l = &docs[0].locations;
        assert_eq!(l.find(&[step("b"), step("c")]), at(3, 3));
        assert_eq!(l.find(&[step("b"), step("c"), Step::Item(1)]), at(3, 10));
        assert_eq!(l.find(&[step("b"), step("missing")]), at(2, 1));
        assert_eq!(docs[1].start, at(9, 1));
        assert_eq!(docs[1].locations.find(&[step("e"), step("f")]), at(9, 5));
    }

    #[test]
    fn broken_yaml_reports_line_column_and_how_many_documents_came_before() {
        let e = parse_stream("a: 1\n---\nb: 2\n  c: 3\n").err().unwrap();
        assert_eq!(e.documents_before, 1);
        assert_eq!(e.location, Some(Location { line: 4, column: 4 }));
        assert_eq!(e.message, "mapping values are not allowed in this context");
    }

    #[test]
    fn yaml_booleans_are_strict_and_octal_modes_are_kubernetes_style() {
        let docs = parse_stream("a: on\nb: yes\nc: true\nmode: 0644\nd: 010.5\n").unwrap();
        assert_eq!(
            docs[0].value,
            serde_json::json!({"a": "on", "b": "yes", "c": true, "mode": 420, "d": 10.5})
        );
    }

    #[test]
    fn json_is_read_as_yaml_with_locations() {
        let json = "{\"apiVersion\": \"v1\",\n \"kind\": \"List\", \"items\": [{\"a\": 1.5}]}";
        let docs = parse_stream(json).unwrap();
        assert_eq!(docs[0].value["items"][0]["a"], serde_json::json!(1.5));
        assert_eq!(
            docs[0]
                .locations
                .find(&[step("items"), Step::Item(0), step("a")]),
            Some(Location {
                line: 2,
                column: 29
            })
        );
    }
}
