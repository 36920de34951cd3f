//! A serde `Deserializer` over a JSON value that knows where it is: errors carry the field
//! path, and fields a struct does not declare are recorded as unknown (kubectl's field
//! validation "Warn") instead of being dropped silently.
//!
//! It is also lenient where Kubernetes is: `null` reads as an empty map, list or struct.
use std::cell::RefCell;
use std::fmt;

use serde::de::{
    self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Unexpected,
    Visitor,
};
use serde_json::Value;

use super::super::field_path::{FieldError, FieldPath, PathElement};

/// A path kept as a chain of borrowed steps on the stack, rendered only when needed.
#[derive(Clone, Copy)]
enum Path<'p> {
    Root,
    Field(&'p Path<'p>, &'p str),
    /// An entry of a map (labels, resource lists), printed `[key]`.
    Key(&'p Path<'p>, &'p str),
    Index(&'p Path<'p>, usize),
}

impl Path<'_> {
    fn to_field_path(self) -> FieldPath {
        let mut elements = Vec::new();
        let mut p = self;
        loop {
            match p {
                Path::Root => break,
                Path::Field(parent, name) => {
                    elements.push(PathElement::Field(name.to_string()));
                    p = *parent;
                }
                Path::Key(parent, key) => {
                    elements.push(PathElement::Key(key.to_string()));
                    p = *parent;
                }
                Path::Index(parent, i) => {
                    elements.push(PathElement::Index(i));
                    p = *parent;
                }
            }
        }
        elements
            .into_iter()
            .rev()
            .fold(FieldPath::root(), |acc, e| match e {
                PathElement::Field(f) => acc.child(&f),
                PathElement::Index(i) => acc.index(i),
                PathElement::Key(k) => acc.key(&k),
            })
    }

    fn is_root(self) -> bool {
        matches!(self, Path::Root)
    }
}

/// What went wrong, before a path is attached.
#[derive(Debug)]
enum Problem {
    Custom(String),
    Missing(&'static str),
    UnknownVariant {
        value: String,
        expected: &'static [&'static str],
    },
    InvalidType {
        unexpected: String,
        expected: String,
        null: bool,
    },
}

/// A decoding error; the innermost node that sees it attaches its path and value.
#[derive(Debug)]
pub(crate) struct DeError {
    problem: Problem,
    at: Option<(FieldPath, String)>,
}

impl DeError {
    fn at(mut self, path: Path<'_>, value: &Value) -> DeError {
        if self.at.is_none() {
            self.at = Some((path.to_field_path(), render(value)));
        }
        self
    }

    /// The error in Kubernetes' field-error form.
    pub(crate) fn into_field_error(self) -> FieldError {
        let (path, rendered) = self.at.unwrap_or_default();
        match self.problem {
            Problem::Missing(field) => FieldError::required(path.child(field), ""),
            Problem::UnknownVariant { value, expected } => {
                FieldError::not_supported(path, &value, expected)
            }
            Problem::InvalidType { null: true, .. } => FieldError::required(path, ""),
            Problem::InvalidType {
                unexpected,
                expected,
                ..
            } => FieldError {
                path,
                kind: super::super::field_path::FieldErrorKind::TypeInvalid(unexpected),
                detail: format!("expected {expected}"),
            },
            Problem::Custom(message) => FieldError::invalid_rendered(path, rendered, message),
        }
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.problem {
            Problem::Custom(m) => f.write_str(m),
            Problem::Missing(field) => write!(f, "missing field `{field}`"),
            Problem::UnknownVariant { value, .. } => write!(f, "unknown variant `{value}`"),
            Problem::InvalidType {
                unexpected,
                expected,
                ..
            } => write!(f, "invalid type: {unexpected}, expected {expected}"),
        }
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> DeError {
        DeError {
            problem: Problem::Custom(msg.to_string()),
            at: None,
        }
    }

    fn missing_field(field: &'static str) -> DeError {
        DeError {
            problem: Problem::Missing(field),
            at: None,
        }
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> DeError {
        DeError {
            problem: Problem::UnknownVariant {
                value: variant.to_string(),
                expected,
            },
            at: None,
        }
    }

    fn invalid_type(unexp: Unexpected<'_>, exp: &dyn de::Expected) -> DeError {
        DeError {
            problem: Problem::InvalidType {
                null: matches!(unexp, Unexpected::Unit | Unexpected::Option),
                unexpected: unexp.to_string(),
                expected: exp.to_string(),
            },
            at: None,
        }
    }
}

/// A short rendering of a value for `Invalid value: …`.
fn render(value: &Value) -> String {
    const MAX_CHARS: usize = 80;
    let s = value.to_string();
    if s.chars().count() > MAX_CHARS {
        let cut: String = s.chars().take(MAX_CHARS).collect();
        format!("{cut}…")
    } else {
        s
    }
}

/// Collects the paths of unknown fields during one decode.
#[derive(Default)]
pub(crate) struct Unknown {
    pub paths: RefCell<Vec<FieldPath>>,
}

/// Fields a root object may carry besides those of its type.
const ROOT_TYPE_FIELDS: [&str; 2] = ["apiVersion", "kind"];

/// Deserializes `T` from `value`, recording unknown fields in `unknown`.
pub(crate) fn from_value<T: de::DeserializeOwned>(
    value: &Value,
    unknown: &Unknown,
) -> Result<T, DeError> {
    T::deserialize(ValueDe {
        value,
        path: Path::Root,
        unknown,
    })
}

struct ValueDe<'a, 'p> {
    value: &'a Value,
    path: Path<'p>,
    unknown: &'p Unknown,
}

impl<'de, 'p> ValueDe<'de, 'p> {
    fn visit_any<V: Visitor<'de>>(&self, visitor: V) -> Result<V::Value, DeError> {
        match self.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    visitor.visit_u64(u)
                } else if let Some(i) = n.as_i64() {
                    visitor.visit_i64(i)
                } else {
                    visitor.visit_f64(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Array(items) => visitor.visit_seq(Seq {
                items: items.iter().enumerate(),
                path: self.path,
                unknown: self.unknown,
            }),
            Value::Object(map) => visitor.visit_map(Map {
                entries: map.iter(),
                pending: None,
                path: self.path,
                unknown: self.unknown,
                known: None,
            }),
        }
    }

    fn empty_map<V: Visitor<'de>>(&self, visitor: V) -> Result<V::Value, DeError> {
        static EMPTY: std::sync::OnceLock<serde_json::Map<String, Value>> =
            std::sync::OnceLock::new();
        visitor.visit_map(Map {
            entries: EMPTY.get_or_init(serde_json::Map::new).iter(),
            pending: None,
            path: self.path,
            unknown: self.unknown,
            known: None,
        })
    }
}

impl<'de, 'p> Deserializer<'de> for ValueDe<'de, 'p> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.visit_any(visitor)
            .map_err(|e| e.at(self.path, self.value))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let (path, value) = (self.path, self.value);
        match value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
        .map_err(|e| e.at(path, value))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match self.value {
            Value::Object(map) => visitor.visit_map(Map {
                entries: map.iter(),
                pending: None,
                path: self.path,
                unknown: self.unknown,
                known: Some(fields),
            }),
            Value::Null => self.empty_map(visitor),
            _ => self.visit_any(visitor),
        }
        .map_err(|e| e.at(self.path, self.value))
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.value {
            Value::Null => self.empty_map(visitor),
            _ => self.visit_any(visitor),
        }
        .map_err(|e| e.at(self.path, self.value))
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.value {
            Value::Null => visitor.visit_seq(Seq {
                items: [].iter().enumerate(),
                path: self.path,
                unknown: self.unknown,
            }),
            _ => self.visit_any(visitor),
        }
        .map_err(|e| e.at(self.path, self.value))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match self.value {
            Value::String(s) => {
                visitor.visit_enum(IntoDeserializer::<DeError>::into_deserializer(s.as_str()))
            }
            other => Err(de::Error::invalid_type(unexpected(other), &"a string")),
        }
        .map_err(|e| e.at(self.path, self.value))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let (path, value) = (self.path, self.value);
        visitor
            .visit_newtype_struct(self)
            .map_err(|e| e.at(path, value))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct tuple tuple_struct identifier
    }
}

fn unexpected(v: &Value) -> Unexpected<'_> {
    match v {
        Value::Null => Unexpected::Unit,
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Unexpected::Unsigned(u),
            (_, Some(i)) => Unexpected::Signed(i),
            _ => Unexpected::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Unexpected::Str(s),
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
    }
}

struct Seq<'a, 'p, I: Iterator<Item = (usize, &'a Value)>> {
    items: I,
    path: Path<'p>,
    unknown: &'p Unknown,
}

impl<'de, 'p, I: Iterator<Item = (usize, &'de Value)>> SeqAccess<'de> for Seq<'de, 'p, I> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        let Some((i, value)) = self.items.next() else {
            return Ok(None);
        };
        let path = Path::Index(&self.path, i);
        seed.deserialize(ValueDe {
            value,
            path,
            unknown: self.unknown,
        })
        .map(Some)
        .map_err(|e| e.at(path, value))
    }
}

struct Map<'a, 'p> {
    entries: serde_json::map::Iter<'a>,
    pending: Option<(&'a String, &'a Value)>,
    path: Path<'p>,
    unknown: &'p Unknown,
    /// The struct's fields when deserialising a struct; other keys are unknown.
    known: Option<&'static [&'static str]>,
}

impl<'de, 'p> MapAccess<'de> for Map<'de, 'p> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        for (key, value) in self.entries.by_ref() {
            if let Some(fields) = self.known {
                if !fields.contains(&key.as_str()) {
                    let expected_at_root =
                        self.path.is_root() && ROOT_TYPE_FIELDS.contains(&key.as_str());
                    if !expected_at_root {
                        self.unknown
                            .paths
                            .borrow_mut()
                            .push(Path::Field(&self.path, key).to_field_path());
                    }
                    continue;
                }
            }
            self.pending = Some((key, value));
            return seed
                .deserialize(IntoDeserializer::<DeError>::into_deserializer(key.as_str()))
                .map(Some);
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let Some((key, value)) = self.pending.take() else {
            return Err(de::Error::custom("value requested before key"));
        };
        let path = if self.known.is_some() {
            Path::Field(&self.path, key)
        } else {
            Path::Key(&self.path, key)
        };
        seed.deserialize(ValueDe {
            value,
            path,
            unknown: self.unknown,
        })
        .map_err(|e| e.at(path, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Deployment, Pod};
    use serde_json::json;

    fn decode<T: de::DeserializeOwned>(v: Value) -> (Result<T, String>, Vec<String>) {
        let unknown = Unknown::default();
        let r = from_value::<T>(&v, &unknown).map_err(|e| e.into_field_error().to_string());
        let paths = unknown
            .paths
            .into_inner()
            .iter()
            .map(|p| p.to_string())
            .collect();
        (r, paths)
    }

    #[test]
    fn unknown_fields_are_recorded_with_their_full_path() {
        let (r, unknown) = decode::<Deployment>(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labelz": {}},
            "spec": {"template": {"spec": {
                "containers": [{"name": "a", "image": "x", "imagePullPolcy": "Always"}],
                "affinity": {},
            }}},
            "extra": 1,
        }));
        assert!(r.is_ok());
        assert_eq!(
            unknown,
            vec![
                "extra",
                "metadata.labelz",
                "spec.template.spec.affinity",
                "spec.template.spec.containers[0].imagePullPolcy",
            ]
        );
    }

    #[test]
    fn type_errors_name_the_field_path() {
        let (r, _) = decode::<Pod>(json!({"spec": {"containers": [{"name": "a", "image": 5}]}}));
        assert_eq!(
            r.unwrap_err(),
            "spec.containers[0].image: Invalid value: integer `5`: expected a string"
        );
        let (r, _) = decode::<Pod>(json!({"spec": {"restartPolicy": "Sometimes"}}));
        assert_eq!(
            r.unwrap_err(),
            "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\""
        );
        let (r, _) = decode::<Pod>(json!({"spec": {"containers": [{"image": "x"}]}}));
        assert_eq!(r.unwrap_err(), "spec.containers[0].name: Required value");
        let (r, _) = decode::<Pod>(json!({"spec": {"containers": [{"name": "Web"}]}}));
        assert!(r.unwrap_err().starts_with(
            "spec.containers[0].name: Invalid value: \"Web\": invalid container name"
        ));
        let (r, _) = decode::<Pod>(
            json!({"spec": {"containers": [{"name": "a", "resources": {"limits": {"cpu": "lots"}}}]}}),
        );
        assert!(r.unwrap_err().starts_with(
            "spec.containers[0].resources.limits[cpu]: Invalid value: \"lots\": quantity"
        ));
    }

    #[test]
    fn nulls_read_as_empty_like_kubernetes() {
        let (r, unknown) = decode::<Pod>(json!({
            "metadata": {"name": "p", "labels": null, "creationTimestamp": null},
            "spec": {"containers": [{"name": "a", "image": "x", "env": null, "resources": null}], "volumes": null},
        }));
        let pod = r.unwrap();
        assert!(unknown.is_empty());
        assert!(pod.metadata.labels.is_empty());
        assert!(pod.spec.containers[0].env.is_empty());
    }
}
