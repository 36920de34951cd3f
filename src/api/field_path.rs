//! Field paths (`spec.template.spec.containers[0].image`) and field errors, written the way
//! Kubernetes writes them (`spec.replicas: Invalid value: -1: must be greater than or equal to
//! 0`).
use std::fmt;

/// One step into an object.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PathElement {
    /// `.name`
    Field(String),
    /// `[3]`
    Index(usize),
    /// `[key]`: an entry of a map (labels, data).
    Key(String),
}

/// A path from the root of an object to one of its fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldPath(Vec<PathElement>);

impl FieldPath {
    /// The object itself.
    pub fn root() -> FieldPath {
        FieldPath(Vec::new())
    }

    /// A path of one field (`FieldPath::new("metadata")`).
    pub fn new(field: &str) -> FieldPath {
        FieldPath(vec![PathElement::Field(field.to_string())])
    }

    pub fn child(&self, field: &str) -> FieldPath {
        self.with(PathElement::Field(field.to_string()))
    }

    pub fn index(&self, i: usize) -> FieldPath {
        self.with(PathElement::Index(i))
    }

    pub fn key(&self, key: &str) -> FieldPath {
        self.with(PathElement::Key(key.to_string()))
    }

    fn with(&self, element: PathElement) -> FieldPath {
        let mut v = self.0.clone();
        v.push(element);
        FieldPath(v)
    }

    pub fn elements(&self) -> &[PathElement] {
        &self.0
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The path without its last element (the root stays the root).
    pub fn parent(&self) -> FieldPath {
        let mut v = self.0.clone();
        v.pop();
        FieldPath(v)
    }

    /// `self` followed by `rest`.
    pub fn join(&self, rest: &FieldPath) -> FieldPath {
        let mut v = self.0.clone();
        v.extend(rest.0.iter().cloned());
        FieldPath(v)
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("<root>");
        }
        for (i, e) in self.0.iter().enumerate() {
            match e {
                PathElement::Field(name) if i == 0 => f.write_str(name)?,
                PathElement::Field(name) => write!(f, ".{name}")?,
                PathElement::Index(n) => write!(f, "[{n}]")?,
                PathElement::Key(k) => write!(f, "[{k}]")?,
            }
        }
        Ok(())
    }
}

/// What is wrong with a field, in Kubernetes' categories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldErrorKind {
    /// `Required value`
    Required,
    /// `Invalid value: <value>`; the value is already rendered (strings quoted).
    Invalid(String),
    /// `Unsupported value: <value>: supported values: …`
    NotSupported {
        value: String,
        supported: Vec<String>,
    },
    /// `Duplicate value: <value>`
    Duplicate(String),
    /// `Not found: <value>`
    NotFound(String),
    /// `Forbidden`
    Forbidden,
    /// `Too long: may not be more than <max> bytes`
    TooLong { max: usize },
    /// `Invalid value: <value>` where the type is wrong (a string where a number belongs).
    TypeInvalid(String),
    /// A field Flotilla does not know (`unknown field`).
    UnknownField,
}

/// One problem with one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub path: FieldPath,
    pub kind: FieldErrorKind,
    /// Why, in Kubernetes' words; may be empty.
    pub detail: String,
}

fn quote(s: &str) -> String {
    format!("{s:?}")
}

impl FieldError {
    pub fn required(path: FieldPath, detail: impl Into<String>) -> FieldError {
        FieldError {
            path,
            kind: FieldErrorKind::Required,
            detail: detail.into(),
        }
    }

    /// An invalid string value.
    pub fn invalid(path: FieldPath, value: &str, detail: impl Into<String>) -> FieldError {
        FieldError {
            path,
            kind: FieldErrorKind::Invalid(quote(value)),
            detail: detail.into(),
        }
    }

    /// An invalid number.
    pub fn invalid_number(path: FieldPath, value: i64, detail: impl Into<String>) -> FieldError {
        FieldError {
            path,
            kind: FieldErrorKind::Invalid(value.to_string()),
            detail: detail.into(),
        }
    }

    /// An invalid value rendered by the caller (maps, lists).
    pub fn invalid_rendered(
        path: FieldPath,
        rendered: impl Into<String>,
        detail: impl Into<String>,
    ) -> FieldError {
        FieldError {
            path,
            kind: FieldErrorKind::Invalid(rendered.into()),
            detail: detail.into(),
        }
    }

    pub fn not_supported(path: FieldPath, value: &str, supported: &[&str]) -> FieldError {
        FieldError {
            path,
            kind: FieldErrorKind::NotSupported {
                value: quote(value),
                supported: supported.iter().map(|s| quote(s)).collect(),
            },
            detail: String::new(),
        }
    }

    pub fn duplicate(path: FieldPath, value: &str) -> FieldError {
        FieldError {
            path,
            kind: FieldErrorKind::Duplicate(quote(value)),
            detail: String::new(),
        }
    }

    pub fn not_found(path: FieldPath, value: &str) -> FieldError {
        FieldError {
            path,
            kind: FieldErrorKind::NotFound(quote(value)),
            detail: String::new(),
        }
    }

    pub fn forbidden(path: FieldPath, detail: impl Into<String>) -> FieldError {
        FieldError {
            path,
            kind: FieldErrorKind::Forbidden,
            detail: detail.into(),
        }
    }

    pub fn too_long(path: FieldPath, max: usize) -> FieldError {
        FieldError {
            path,
            kind: FieldErrorKind::TooLong { max },
            detail: String::new(),
        }
    }

    pub fn unknown_field(path: FieldPath) -> FieldError {
        FieldError {
            path,
            kind: FieldErrorKind::UnknownField,
            detail: String::new(),
        }
    }

    /// Kubernetes' reason for a `Status` cause (`FieldValueRequired`, `FieldValueInvalid`, …).
    pub fn reason(&self) -> &'static str {
        match self.kind {
            FieldErrorKind::Required => "FieldValueRequired",
            FieldErrorKind::Invalid(_) => "FieldValueInvalid",
            FieldErrorKind::NotSupported { .. } => "FieldValueNotSupported",
            FieldErrorKind::Duplicate(_) => "FieldValueDuplicate",
            FieldErrorKind::NotFound(_) => "FieldValueNotFound",
            FieldErrorKind::Forbidden => "FieldValueForbidden",
            FieldErrorKind::TooLong { .. } => "FieldValueTooLong",
            FieldErrorKind::TypeInvalid(_) => "FieldValueTypeInvalid",
            FieldErrorKind::UnknownField => "FieldValueUnknown",
        }
    }

    /// The message without the path (Kubernetes' `ErrorBody`).
    pub fn body(&self) -> String {
        let mut s = match &self.kind {
            FieldErrorKind::Required => "Required value".to_string(),
            FieldErrorKind::Invalid(v) => format!("Invalid value: {v}"),
            FieldErrorKind::NotSupported { value, supported } => {
                format!(
                    "Unsupported value: {value}: supported values: {}",
                    supported.join(", ")
                )
            }
            FieldErrorKind::Duplicate(v) => format!("Duplicate value: {v}"),
            FieldErrorKind::NotFound(v) => format!("Not found: {v}"),
            FieldErrorKind::Forbidden => "Forbidden".to_string(),
            FieldErrorKind::TooLong { max } => {
                format!("Too long: may not be more than {max} bytes")
            }
            FieldErrorKind::TypeInvalid(v) => format!("Invalid value: {v}"),
            FieldErrorKind::UnknownField => "unknown field".to_string(),
        };
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }

    /// The same error under a prefix (an item of a `List`, a template inside a workload).
    pub fn under(self, prefix: &FieldPath) -> FieldError {
        FieldError {
            path: prefix.join(&self.path),
            ..self
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_root() {
            f.write_str(&self.body())
        } else {
            write!(f, "{}: {}", self.path, self.body())
        }
    }
}

impl std::error::Error for FieldError {}

/// A list of field errors, displayed one per line (`validate` returns all of them at once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldErrors(pub Vec<FieldError>);

impl fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for FieldErrors {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_print_like_kubernetes() {
        let p = FieldPath::new("spec")
            .child("template")
            .child("spec")
            .child("containers")
            .index(0)
            .child("image");
        assert_eq!(p.to_string(), "spec.template.spec.containers[0].image");
        assert_eq!(
            FieldPath::new("metadata")
                .child("labels")
                .key("app")
                .to_string(),
            "metadata.labels[app]"
        );
        assert_eq!(p.parent().to_string(), "spec.template.spec.containers[0]");
    }

    #[test]
    fn field_errors_print_like_kubernetes() {
        let e = FieldError::required(FieldPath::new("metadata").child("name"), "");
        assert_eq!(e.to_string(), "metadata.name: Required value");
        let e = FieldError::invalid_number(
            FieldPath::new("spec").child("replicas"),
            -1,
            "must be greater than or equal to 0",
        );
        assert_eq!(
            e.to_string(),
            "spec.replicas: Invalid value: -1: must be greater than or equal to 0"
        );
        let e = FieldError::not_supported(
            FieldPath::new("spec").child("restartPolicy"),
            "Never",
            &["Always"],
        );
        assert_eq!(
            e.to_string(),
            "spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\""
        );
    }
}
