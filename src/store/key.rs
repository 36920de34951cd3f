//! How an [`ObjectKey`] becomes a redb key: `Kind \0 namespace \0 name`, so that a byte-wise
//! range scan lists one kind (optionally one namespace) sorted by namespace, then name.
//!
//! `\0` cannot occur in a kind, a namespace or a name (they are DNS labels and subdomains), and it
//! sorts below every character that can, which is what makes `a\0z` sort before `ab\0a`.
use crate::api::Kind;

use super::{ObjectKey, StoreError};

/// Separates the three parts of an encoded key.
const SEPARATOR: char = '\0';
/// The character right after [`SEPARATOR`]: the exclusive end of a prefix range.
const SEPARATOR_END: char = '\u{1}';

/// The longest name Kubernetes allows (a DNS-1123 subdomain).
const NAME_BYTES_MAX: usize = 253;

/// Checks that `key` is well formed for its kind: a namespace exactly when the kind is
/// namespaced, and names the encoding can hold.
pub fn validate(key: &ObjectKey) -> Result<(), StoreError> {
    match (&key.namespace, key.kind.namespaced()) {
        (None, true) => {
            return Err(StoreError::Invalid(format!(
                "{} {:?}: a namespace is required for this kind",
                key.kind, key.name
            )))
        }
        (Some(namespace), false) => {
            return Err(StoreError::Invalid(format!(
                "{} {:?}: this kind is cluster-scoped, but namespace {namespace:?} was given",
                key.kind, key.name
            )))
        }
        (Some(namespace), true) => check_part(key, "metadata.namespace", namespace)?,
        (None, false) => {}
    }
    check_part(key, "metadata.name", &key.name)
}

fn check_part(key: &ObjectKey, field: &str, value: &str) -> Result<(), StoreError> {
    if value.is_empty() {
        return Err(StoreError::Invalid(format!(
            "{} {:?}: {field} must not be empty",
            key.kind, key.name
        )));
    }
    if value.len() > NAME_BYTES_MAX || value.contains([SEPARATOR, SEPARATOR_END]) {
        return Err(StoreError::Invalid(format!(
            "{} {:?}: {field} must be at most {NAME_BYTES_MAX} bytes without control characters",
            key.kind, key.name
        )));
    }
    Ok(())
}

/// The redb key of one object.
pub fn encode(key: &ObjectKey) -> String {
    let namespace = key.namespace.as_deref().unwrap_or("");
    format!(
        "{}{SEPARATOR}{namespace}{SEPARATOR}{}",
        key.kind.name(),
        key.name
    )
}

/// The half-open range of redb keys holding `kind` objects, in `namespace` or in all of them.
pub fn prefix_range(kind: Kind, namespace: Option<&str>) -> (String, String) {
    match namespace {
        Some(namespace) => (
            format!("{}{SEPARATOR}{namespace}{SEPARATOR}", kind.name()),
            format!("{}{SEPARATOR}{namespace}{SEPARATOR_END}", kind.name()),
        ),
        None => (
            format!("{}{SEPARATOR}", kind.name()),
            format!("{}{SEPARATOR_END}", kind.name()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(namespace: &str, name: &str) -> ObjectKey {
        ObjectKey {
            kind: Kind::Pod,
            namespace: Some(namespace.to_string()),
            name: name.to_string(),
        }
    }

    #[test]
    fn encoded_keys_sort_by_namespace_then_name() {
        let mut keys = [pod("ab", "a"), pod("a", "z"), pod("a", "b")];
        keys.sort_by_key(encode);
        let names: Vec<_> = keys
            .iter()
            .map(|k| (k.namespace.clone().unwrap(), k.name.clone()))
            .collect();
        assert_eq!(
            names,
            [
                ("a".into(), "b".into()),
                ("a".into(), "z".into()),
                ("ab".into(), "a".into())
            ]
        );
    }

    #[test]
    fn a_namespace_range_excludes_namespaces_sharing_its_prefix() {
        let (start, end) = prefix_range(Kind::Pod, Some("a"));
        let inside = encode(&pod("a", "zzz"));
        let outside = encode(&pod("ab", "a"));
        assert!(start <= inside && inside < end);
        assert!(!(start <= outside && outside < end));
    }

    #[test]
    fn keys_must_match_the_scope_of_their_kind() {
        assert!(validate(&pod("default", "web")).is_ok());
        let node_in_namespace = ObjectKey {
            kind: Kind::Node,
            namespace: Some("default".into()),
            name: "pi-1".into(),
        };
        assert!(matches!(
            validate(&node_in_namespace),
            Err(StoreError::Invalid(_))
        ));
        let pod_without_namespace = ObjectKey {
            kind: Kind::Pod,
            namespace: None,
            name: "web".into(),
        };
        assert!(matches!(
            validate(&pod_without_namespace),
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            validate(&pod("default", "")),
            Err(StoreError::Invalid(_))
        ));
    }
}
