//! Namespaces as the API server enforces them: `default` always exists and cannot be deleted,
//! objects go only into namespaces that exist and are not being deleted.
use serde_json::json;

use super::error::ApiError;
use super::field_selector::field_value;
use crate::api::Kind;
use crate::store::{Object, ObjectKey, Store, StoreError};

/// The namespace objects go to when they name none.
pub const DEFAULT_NAMESPACE: &str = "default";

/// Namespaces that exist from the first start on and cannot be deleted.
pub const PERMANENT: [&str; 1] = [DEFAULT_NAMESPACE];

/// The store key of namespace `name`.
pub fn key(name: &str) -> ObjectKey {
    ObjectKey {
        kind: Kind::Namespace,
        namespace: None,
        name: name.to_string(),
    }
}

/// A Namespace object.
pub fn object(name: &str) -> Object {
    json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    })
}

/// Creates the permanent namespaces that are missing. Writes only when one is missing, so a
/// restart of an existing master writes nothing. Blocking.
pub fn ensure_permanent(store: &Store) -> Result<(), StoreError> {
    for name in PERMANENT {
        match store.get(&key(name)) {
            Ok(_) => {}
            Err(StoreError::NotFound(_)) => match store.create(&key(name), object(name)) {
                Ok(_) | Err(StoreError::AlreadyExists(_)) => {}
                Err(e) => return Err(e),
            },
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Whether new objects may go into a namespace, given its object (`None`: it does not exist).
pub fn check_accepts(namespace: &str, object: Option<&Object>) -> Result<(), ApiError> {
    match object {
        None => Err(ApiError::NamespaceNotFound {
            namespace: namespace.to_string(),
        }),
        Some(object) if field_value(object, "status.phase") == "Terminating" => {
            Err(ApiError::NamespaceTerminating {
                namespace: namespace.to_string(),
            })
        }
        Some(_) => Ok(()),
    }
}

/// Whether a namespace may be deleted.
pub fn check_deletable(name: &str) -> Result<(), ApiError> {
    if PERMANENT.contains(&name) {
        return Err(ApiError::NamespaceUndeletable {
            namespace: name.to_string(),
        });
    }
    Ok(())
}

/// Checks that `namespace` exists and accepts new objects. Blocking.
pub fn accepts(store: &Store, namespace: &str) -> Result<(), ApiError> {
    match store.get(&key(namespace)) {
        Ok(object) => check_accepts(namespace, Some(&object)),
        Err(StoreError::NotFound(_)) => check_accepts(namespace, None),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_terminating_namespaces_refuse_objects() {
        let error = check_accepts("prod", None).unwrap_err();
        assert_eq!(error.to_string(), "namespaces \"prod\" not found");
        assert_eq!(error.to_status().code, 404);
        let mut terminating = object("prod");
        terminating["status"]["phase"] = "Terminating".into();
        assert_eq!(
            check_accepts("prod", Some(&terminating))
                .unwrap_err()
                .to_status()
                .code,
            403
        );
        assert!(check_accepts("prod", Some(&object("prod"))).is_ok());
    }

    #[test]
    fn default_cannot_be_deleted() {
        assert_eq!(
            check_deletable("default").unwrap_err().to_status().code,
            403
        );
        assert!(check_deletable("prod").is_ok());
    }
}
