//! Field selectors (`fieldSelector=spec.nodeName=pi-1,status.phase!=Running`) applied to the
//! JSON objects the store holds. Parsing and the fields each kind supports are the resource
//! model's ([`crate::api::FieldSelector`]); this reads the values out of stored objects without
//! typing them.
use crate::api::{FieldOperator, FieldSelector, FieldSelectorError, Kind};
use crate::store::Object;

/// The longest selector accepted, in bytes.
pub const FIELD_SELECTOR_LEN_MAX: usize = 4096;

/// Parses a selector and checks that `kind` supports every field in it.
pub fn parse(text: &str, kind: Kind) -> Result<FieldSelector, FieldSelectorError> {
    if text.len() > FIELD_SELECTOR_LEN_MAX {
        return Err(FieldSelectorError::Malformed {
            selector: format!("{}…", &text[..64.min(text.len())]),
            term: format!("longer than {FIELD_SELECTOR_LEN_MAX} bytes"),
        });
    }
    let selector = FieldSelector::parse(text)?;
    selector.check_supported(kind)?;
    Ok(selector)
}

/// Whether `object` satisfies every term. A missing field reads as `""`, as in Kubernetes (so
/// `spec.nodeName=` selects unscheduled pods).
pub fn matches(selector: &FieldSelector, object: &Object) -> bool {
    selector.matches_with(|field| Some(field_text(object, field)))
}

/// The value `selector` pins `field` to with `=`, if any.
pub fn pinned<'a>(selector: &'a FieldSelector, field: &str) -> Option<&'a str> {
    selector
        .terms()
        .iter()
        .find(|t| t.operator == FieldOperator::Equals && t.field == field)
        .map(|t| t.value.as_str())
}

/// The string value at a dotted path (`""` when absent or not a string).
pub fn field_value<'a>(object: &'a Object, path: &str) -> &'a str {
    path.split('.')
        .try_fold(object, |value, key| value.get(key))
        .and_then(|v| v.as_str())
        .unwrap_or("")
}

/// A field as selectors compare it: strings as they are, booleans and numbers in their JSON
/// spelling, anything else empty.
fn field_text(object: &Object, path: &str) -> String {
    match path
        .split('.')
        .try_fold(object, |value, key| value.get(key))
    {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Bool(b)) => b.to_string(),
        Some(serde_json::Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn node_name_selector_matches_bound_pods_only() {
        let selector = parse("spec.nodeName=pi-1", Kind::Pod).unwrap();
        assert!(matches(&selector, &json!({"spec": {"nodeName": "pi-1"}})));
        assert!(!matches(&selector, &json!({"spec": {"nodeName": "pi-2"}})));
        assert!(!matches(&selector, &json!({"spec": {}})));
        assert_eq!(pinned(&selector, "spec.nodeName"), Some("pi-1"));
    }

    #[test]
    fn empty_value_selects_missing_fields_and_booleans_compare_as_text() {
        let selector = parse("spec.nodeName=,status.phase!=Running", Kind::Pod).unwrap();
        assert!(matches(&selector, &json!({"status": {"phase": "Pending"}})));
        assert!(!matches(
            &selector,
            &json!({"status": {"phase": "Running"}})
        ));
        let cordoned = parse("spec.unschedulable=true", Kind::Node).unwrap();
        assert!(matches(
            &cordoned,
            &json!({"spec": {"unschedulable": true}})
        ));
    }

    #[test]
    fn unsupported_fields_and_syntax_are_errors() {
        assert_eq!(
            parse("spec.image=x", Kind::Pod),
            Err(FieldSelectorError::UnsupportedField {
                field: "spec.image".into()
            })
        );
        assert!(parse("spec.nodeName=x", Kind::Deployment).is_err());
        assert!(parse("metadata.name", Kind::Pod).is_err());
        assert!(parse("", Kind::Pod).unwrap().is_empty());
    }
}
