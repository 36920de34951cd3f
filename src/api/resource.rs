//! `Resource`: one enum over every kind, and its conversion to and from the JSON values the
//! store and the API server keep.
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::configmap::ConfigMap;
use super::daemonset::DaemonSet;
use super::deployment::Deployment;
use super::event::Event;
use super::kind::Kind;
use super::meta::ObjectMeta;
use super::namespace::Namespace;
use super::node::Node;
use super::pod::Pod;
use super::replicaset::ReplicaSet;
use super::secret::Secret;
use super::service::Service;

/// A typed object of any kind Flotilla serves.
#[derive(Debug, Clone, PartialEq)]
pub enum Resource {
    Namespace(Namespace),
    Node(Node),
    Pod(Pod),
    Service(Service),
    ConfigMap(ConfigMap),
    Secret(Secret),
    Event(Event),
    Deployment(Deployment),
    ReplicaSet(ReplicaSet),
    DaemonSet(DaemonSet),
}

/// A JSON value that is not an object of a known kind.
#[derive(Debug, thiserror::Error)]
pub enum ResourceError {
    /// the value has no `apiVersion` or `kind`
    #[error("object has no apiVersion or kind")]
    MissingType,
    /// the `apiVersion` / `kind` pair is not one Flotilla serves
    #[error("no kind {kind:?} is registered for version {api_version:?}")]
    UnknownKind { api_version: String, kind: String },
    /// the value does not have the shape of its kind
    #[error("{kind}: {source}")]
    Shape {
        kind: Kind,
        #[source]
        source: serde_json::Error,
    },
}

/// What every top-level type has in common; lets controllers be generic over kinds.
pub trait ApiObject:
    Serialize + DeserializeOwned + Clone + std::fmt::Debug + PartialEq + Into<Resource>
{
    const KIND: Kind;
    fn meta(&self) -> &ObjectMeta;
    fn meta_mut(&mut self) -> &mut ObjectMeta;
    /// The object if `resource` is of this kind.
    fn from_resource(resource: Resource) -> Option<Self>;
    fn from_resource_ref(resource: &Resource) -> Option<&Self>;

    /// The object as a JSON value with `apiVersion` and `kind`.
    fn to_value(&self) -> serde_json::Value {
        typed_value(Self::KIND, self)
    }
}

/// Serialises `object` and puts `apiVersion` and `kind` in front of its fields.
fn typed_value<T: Serialize>(kind: Kind, object: &T) -> serde_json::Value {
    let mut value = serde_json::to_value(object).unwrap_or_else(|e| {
        // Our types serialise to JSON by construction (string keys, finite numbers).
        unreachable!("{kind} does not serialise to JSON: {e}")
    });
    if let serde_json::Value::Object(fields) = &mut value {
        // A fresh map so that `apiVersion` and `kind` come first even if serde_json's
        // `preserve_order` gets enabled somewhere in the build.
        let mut map = serde_json::Map::new();
        map.insert(
            "apiVersion".into(),
            serde_json::Value::String(kind.api_version().into()),
        );
        map.insert("kind".into(), serde_json::Value::String(kind.name().into()));
        map.append(fields);
        return serde_json::Value::Object(map);
    }
    value
}

macro_rules! resource_kinds {
    ($($variant:ident),* $(,)?) => {
        $(
            impl ApiObject for $variant {
                const KIND: Kind = Kind::$variant;
                fn meta(&self) -> &ObjectMeta {
                    &self.metadata
                }
                fn meta_mut(&mut self) -> &mut ObjectMeta {
                    &mut self.metadata
                }
                fn from_resource(resource: Resource) -> Option<Self> {
                    match resource {
                        Resource::$variant(o) => Some(o),
                        _ => None,
                    }
                }
                fn from_resource_ref(resource: &Resource) -> Option<&Self> {
                    match resource {
                        Resource::$variant(o) => Some(o),
                        _ => None,
                    }
                }
            }

            impl From<$variant> for Resource {
                fn from(o: $variant) -> Resource {
                    Resource::$variant(o)
                }
            }
        )*

        impl Resource {
            pub fn kind(&self) -> Kind {
                match self {
                    $(Resource::$variant(_) => Kind::$variant,)*
                }
            }

            pub fn meta(&self) -> &ObjectMeta {
                match self {
                    $(Resource::$variant(o) => &o.metadata,)*
                }
            }

            pub fn meta_mut(&mut self) -> &mut ObjectMeta {
                match self {
                    $(Resource::$variant(o) => &mut o.metadata,)*
                }
            }

            /// The object as a JSON value with `apiVersion` and `kind`, fields in
            /// alphabetical order and empty fields omitted (what `-o json` prints).
            pub fn to_value(&self) -> serde_json::Value {
                match self {
                    $(Resource::$variant(o) => typed_value(Kind::$variant, o),)*
                }
            }

            /// Types a JSON value of kind `kind`. Unknown fields are ignored: use
            /// `decode::decode_value` for input that needs warnings and field paths.
            pub fn from_value_of_kind(
                kind: Kind,
                value: serde_json::Value,
            ) -> Result<Resource, ResourceError> {
                let shape = |source| ResourceError::Shape { kind, source };
                Ok(match kind {
                    $(Kind::$variant => Resource::$variant(serde_json::from_value(value).map_err(shape)?),)*
                })
            }
        }
    };
}

resource_kinds!(
    Namespace, Node, Pod, Service, ConfigMap, Secret, Event, Deployment, ReplicaSet, DaemonSet,
);

impl Resource {
    /// Types a JSON value by its `apiVersion` and `kind` (trusted input, such as the store's
    /// own objects; unknown fields are ignored).
    pub fn from_value(value: serde_json::Value) -> Result<Resource, ResourceError> {
        let kind = kind_of_value(&value)?;
        Resource::from_value_of_kind(kind, value)
    }

    /// `metadata.name`.
    pub fn name(&self) -> &str {
        &self.meta().name
    }

    /// `metadata.namespace` as a string, if set.
    pub fn namespace(&self) -> Option<&str> {
        self.meta().namespace.as_ref().map(|n| n.as_str())
    }

    /// `kind/name` as kubectl prints it (`deployment.apps/web`).
    pub fn display_name(&self) -> String {
        format!("{}/{}", self.kind().resource_name(), self.name())
    }

    /// The object if it is of type `T`.
    pub fn downcast<T: ApiObject>(self) -> Option<T> {
        T::from_resource(self)
    }

    pub fn downcast_ref<T: ApiObject>(&self) -> Option<&T> {
        T::from_resource_ref(self)
    }
}

/// The kind named by a JSON object's `apiVersion` and `kind`.
pub fn kind_of_value(value: &serde_json::Value) -> Result<Kind, ResourceError> {
    let api_version = value.get("apiVersion").and_then(|v| v.as_str());
    let kind = value.get("kind").and_then(|v| v.as_str());
    match (api_version, kind) {
        (Some(api_version), Some(kind)) => {
            Kind::from_type(api_version, kind).ok_or_else(|| ResourceError::UnknownKind {
                api_version: api_version.to_string(),
                kind: kind.to_string(),
            })
        }
        _ => Err(ResourceError::MissingType),
    }
}

impl Serialize for Resource {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Resource {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Resource, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        Resource::from_value(value).map_err(serde::de::Error::custom)
    }
}

impl TryFrom<serde_json::Value> for Resource {
    type Error = ResourceError;
    fn try_from(value: serde_json::Value) -> Result<Resource, ResourceError> {
        Resource::from_value(value)
    }
}

impl From<&Resource> for serde_json::Value {
    fn from(r: &Resource) -> serde_json::Value {
        r.to_value()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resources_carry_their_type_in_json() {
        let value = json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}}}
        });
        let r = Resource::from_value(value.clone()).unwrap();
        assert_eq!(r.kind(), Kind::Deployment);
        assert_eq!(r.name(), "web");
        assert_eq!(r.namespace(), Some("default"));
        assert_eq!(r.display_name(), "deployment.apps/web");
        assert_eq!(r.to_value(), value);
        let d: Deployment = r.downcast().unwrap();
        assert_eq!(d.replicas(), 2);
    }

    #[test]
    fn unknown_kinds_and_missing_types_are_errors() {
        assert!(matches!(
            Resource::from_value(json!({"metadata": {}})),
            Err(ResourceError::MissingType)
        ));
        assert!(matches!(
            Resource::from_value(json!({"apiVersion": "v1", "kind": "Widget"})),
            Err(ResourceError::UnknownKind { .. })
        ));
        assert!(matches!(
            Resource::from_value(json!({"apiVersion": "apps/v1", "kind": "Pod"})),
            Err(ResourceError::UnknownKind { .. })
        ));
    }
}
