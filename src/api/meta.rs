//! Object metadata shared by every kind: `TypeMeta`, `ObjectMeta`, `OwnerReference`, and the
//! condition status used by pods, nodes and deployments.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::names::NamespaceName;
use super::omit::is_zero_i64;
use super::time::Time;

/// `apiVersion` and `kind`, read first to know which type a document is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TypeMeta {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
}

/// `metadata`: identity, labels, annotations and ownership of an object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    /// Unique within the kind and namespace; empty when `generate_name` is used.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// A prefix the server completes with random characters when `name` is empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub generate_name: String,
    /// `None` for cluster-scoped kinds, and for namespaced ones until the client or server
    /// fills in its default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<NamespaceName>,
    /// Set by the store at creation.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// Set by the store at every write; opaque to clients.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource_version: String,
    /// Bumped by the store when the spec changes.
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub generation: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_timestamp: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_grace_period_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owner_references: Vec<OwnerReference>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finalizers: Vec<String>,
}

impl ObjectMeta {
    /// Metadata with just a name (and a namespace for namespaced kinds).
    pub fn named(name: impl Into<String>, namespace: Option<NamespaceName>) -> ObjectMeta {
        ObjectMeta {
            name: name.into(),
            namespace,
            ..ObjectMeta::default()
        }
    }

    /// Nothing set (a pod template without labels).
    pub fn is_empty(&self) -> bool {
        *self == ObjectMeta::default()
    }

    /// The owner reference marked `controller: true`, if any (Kubernetes' `GetControllerOf`).
    pub fn controller_ref(&self) -> Option<&OwnerReference> {
        self.owner_references.iter().find(|r| r.is_controller())
    }

    /// Whether `uid` is among this object's owners.
    pub fn is_owned_by(&self, uid: &str) -> bool {
        self.owner_references.iter().any(|r| r.uid == uid)
    }

    /// The namespace, or `default` when none is set.
    pub fn namespace_or_default(&self) -> NamespaceName {
        self.namespace
            .clone()
            .unwrap_or_else(NamespaceName::default_namespace)
    }
}

/// A link from a dependent object to its owner; garbage collection follows these.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnerReference {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub uid: String,
    /// The owner that manages this object (at most one per object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_owner_deletion: Option<bool>,
}

impl OwnerReference {
    /// A controller reference to `owner` (`controller: true`, `blockOwnerDeletion: true`), as
    /// a controller sets on the objects it creates.
    pub fn controller_of(kind: super::Kind, owner: &ObjectMeta) -> OwnerReference {
        OwnerReference {
            api_version: kind.api_version().to_string(),
            kind: kind.name().to_string(),
            name: owner.name.clone(),
            uid: owner.uid.clone(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }
    }

    pub fn is_controller(&self) -> bool {
        self.controller == Some(true)
    }
}

/// `True`, `False` or `Unknown`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ConditionStatus {
    True,
    False,
    #[default]
    Unknown,
}

impl ConditionStatus {
    pub fn from_bool(b: bool) -> ConditionStatus {
        if b {
            ConditionStatus::True
        } else {
            ConditionStatus::False
        }
    }

    pub fn is_true(self) -> bool {
        self == ConditionStatus::True
    }
}

/// Conditions carried in a status list: anything with a `type` and a `status`.
pub trait Condition {
    fn condition_type(&self) -> &str;
    fn status(&self) -> ConditionStatus;
}

/// The condition of type `condition_type` in `conditions` (Kubernetes' `GetPodCondition` and
/// friends).
pub fn find_condition<'a, C: Condition>(
    conditions: &'a [C],
    condition_type: &str,
) -> Option<&'a C> {
    conditions
        .iter()
        .find(|c| c.condition_type() == condition_type)
}

/// Whether the condition of type `condition_type` is present and `True`.
pub fn condition_is_true<C: Condition>(conditions: &[C], condition_type: &str) -> bool {
    find_condition(conditions, condition_type).is_some_and(|c| c.status().is_true())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_metadata_fields_are_omitted_from_json() {
        let meta = ObjectMeta::named("web", Some(NamespaceName::default_namespace()));
        assert_eq!(
            serde_json::to_value(&meta).unwrap(),
            serde_json::json!({"name": "web", "namespace": "default"})
        );
    }

    #[test]
    fn controller_reference_is_found_among_owners() {
        let owner = ObjectMeta {
            name: "web".into(),
            uid: "u-1".into(),
            ..ObjectMeta::default()
        };
        let mut pod = ObjectMeta::named("web-1", None);
        pod.owner_references.push(OwnerReference {
            api_version: "v1".into(),
            kind: "Thing".into(),
            name: "other".into(),
            uid: "u-0".into(),
            controller: None,
            block_owner_deletion: None,
        });
        pod.owner_references.push(OwnerReference::controller_of(
            super::super::Kind::ReplicaSet,
            &owner,
        ));
        let c = pod.controller_ref().unwrap();
        assert_eq!((c.kind.as_str(), c.name.as_str()), ("ReplicaSet", "web"));
        assert_eq!(c.api_version, "apps/v1");
        assert!(pod.is_owned_by("u-0") && pod.is_owned_by("u-1"));
    }
}
