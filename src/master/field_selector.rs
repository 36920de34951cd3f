//! Field selectors (`fieldSelector=spec.nodeName=pi-1,status.phase!=Running`): parsing and
//! matching against JSON objects. Only the fields Kubernetes indexes are supported.
use crate::store::Object;

/// Fields a selector may name: the ones Kubernetes supports for the kinds Flotilla serves.
pub const SUPPORTED_FIELDS: [&str; 10] = [
    "metadata.name",
    "metadata.namespace",
    "spec.nodeName",
    "status.phase",
    "involvedObject.kind",
    "involvedObject.name",
    "involvedObject.namespace",
    "involvedObject.uid",
    "reason",
    "type",
];

/// The longest selector accepted, in bytes.
pub const FIELD_SELECTOR_LEN_MAX: usize = 4096;

/// One `field=value` or `field!=value` term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRequirement {
    pub field: &'static str,
    pub value: String,
    pub equal: bool,
}

/// A parsed field selector: every requirement must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    pub requirements: Vec<FieldRequirement>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldSelectorError {
    /// a term is not `field=value` or `field!=value`
    #[error("invalid selector term {term:?}: expected field=value or field!=value")]
    Syntax { term: String },
    /// the field is not one that can be selected on
    #[error("field label not supported: {field}")]
    Unsupported { field: String },
    /// the selector is longer than the limit
    #[error("selector longer than {FIELD_SELECTOR_LEN_MAX} bytes")]
    TooLong,
}

impl FieldSelector {
    pub fn parse(text: &str) -> Result<FieldSelector, FieldSelectorError> {
        if text.len() > FIELD_SELECTOR_LEN_MAX {
            return Err(FieldSelectorError::TooLong);
        }
        let mut requirements = Vec::new();
        for term in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let (field, value, equal) = if let Some((f, v)) = term.split_once("!=") {
                (f, v, false)
            } else if let Some((f, v)) = term.split_once("==") {
                (f, v, true)
            } else if let Some((f, v)) = term.split_once('=') {
                (f, v, true)
            } else {
                return Err(FieldSelectorError::Syntax {
                    term: term.to_string(),
                });
            };
            let field = field.trim();
            let field = SUPPORTED_FIELDS
                .into_iter()
                .find(|f| *f == field)
                .ok_or_else(|| FieldSelectorError::Unsupported {
                    field: field.to_string(),
                })?;
            requirements.push(FieldRequirement {
                field,
                value: value.trim().to_string(),
                equal,
            });
        }
        Ok(FieldSelector { requirements })
    }

    /// Whether `object` satisfies every requirement. A missing field reads as `""`, as in
    /// Kubernetes (so `spec.nodeName=` selects unscheduled pods).
    pub fn matches(&self, object: &Object) -> bool {
        self.requirements.iter().all(|r| {
            let actual = field_value(object, r.field);
            (actual == r.value) == r.equal
        })
    }

    /// The value this selector pins `field` to with `=`, if any.
    pub fn pinned(&self, field: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|r| r.equal && r.field == field)
            .map(|r| r.value.as_str())
    }
}

/// The string value at a dotted path (`""` when absent or not a string).
pub fn field_value<'a>(object: &'a Object, path: &str) -> &'a str {
    path.split('.')
        .try_fold(object, |value, key| value.get(key))
        .and_then(|v| v.as_str())
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn node_name_selector_matches_bound_pods_only() {
        let selector = FieldSelector::parse("spec.nodeName=pi-1").unwrap();
        assert!(selector.matches(&json!({"spec": {"nodeName": "pi-1"}})));
        assert!(!selector.matches(&json!({"spec": {"nodeName": "pi-2"}})));
        assert!(!selector.matches(&json!({"spec": {}})));
        assert_eq!(selector.pinned("spec.nodeName"), Some("pi-1"));
    }

    #[test]
    fn empty_value_selects_missing_fields() {
        let selector = FieldSelector::parse("spec.nodeName=,status.phase!=Running").unwrap();
        assert!(selector.matches(&json!({"status": {"phase": "Pending"}})));
        assert!(!selector.matches(&json!({"status": {"phase": "Running"}})));
    }

    #[test]
    fn unsupported_fields_and_syntax_are_errors() {
        assert_eq!(
            FieldSelector::parse("spec.image=x"),
            Err(FieldSelectorError::Unsupported {
                field: "spec.image".into()
            })
        );
        assert!(matches!(
            FieldSelector::parse("metadata.name"),
            Err(FieldSelectorError::Syntax { .. })
        ));
        assert_eq!(FieldSelector::parse("").unwrap(), FieldSelector::default());
    }
}
