//! What a node must run: every pod bound to it, with the config maps and secrets they
//! reference, stamped with the master's epoch and the node's assignment generation.
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::names::{Epoch, Generation, NodeName};

/// One API object as JSON bytes, exactly as the API serves it. Agents decode it into the typed
/// model with `serde_json`: they never need YAML, and the wire does not have to mirror every
/// field of the resource model.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ObjectJson(Vec<u8>);

impl ObjectJson {
    /// Serialises an object. Fails only for values that are not JSON objects.
    pub fn from_value(value: &serde_json::Value) -> Result<ObjectJson, serde_json::Error> {
        if !value.is_object() {
            return Err(serde::de::Error::custom(
                "an API object must be a JSON object",
            ));
        }
        serde_json::to_vec(value).map(ObjectJson)
    }

    /// The object as a JSON value.
    pub fn to_value(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_slice(&self.0)
    }

    /// Decodes the object into a typed model value (`api::Pod`, `api::ConfigMap`, …).
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.0)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for ObjectJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets travel in these: print their size, never their content.
        write!(f, "ObjectJson({} bytes)", self.0.len())
    }
}

impl Serialize for ObjectJson {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for ObjectJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<ObjectJson, D::Error> {
        struct Bytes;
        impl<'de> serde::de::Visitor<'de> for Bytes {
            type Value = ObjectJson;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("JSON bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, bytes: &[u8]) -> Result<ObjectJson, E> {
                Ok(ObjectJson(bytes.to_vec()))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, bytes: Vec<u8>) -> Result<ObjectJson, E> {
                Ok(ObjectJson(bytes))
            }
        }
        deserializer.deserialize_byte_buf(Bytes)
    }
}

/// "Tell me when my assignments change after `after`": a long-poll.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignmentsRequest {
    pub node: NodeName,
    /// The generation the agent holds; the master answers at once if its own differs.
    pub after: Generation,
    /// The highest epoch the agent has seen. A new epoch always gets a full answer.
    pub epoch_seen: Epoch,
}

/// The whole set of what a node must run. Not a delta: the agent replaces its copy with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignments {
    pub epoch: Epoch,
    pub generation: Generation,
    /// Pods bound to the node, as the API serves them.
    pub pods: Vec<ObjectJson>,
    /// Config maps the pods reference (volumes, `envFrom`, `configMapKeyRef`).
    pub config_maps: Vec<ObjectJson>,
    /// Secrets the pods reference.
    pub secrets: Vec<ObjectJson>,
}

/// The answer to a long-poll that timed out with nothing new: still the current fence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignmentsUnchanged {
    pub epoch: Epoch,
    pub generation: Generation,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_json_travels_as_length_prefixed_bytes() {
        let object = ObjectJson::from_value(&serde_json::json!({"kind": "Pod"})).unwrap();
        let bytes = postcard::to_stdvec(&object).unwrap();
        assert_eq!(bytes.len(), 1 + object.as_bytes().len());
        let back: ObjectJson = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back.to_value().unwrap()["kind"], "Pod");
    }

    #[test]
    fn only_json_objects_are_api_objects() {
        assert!(ObjectJson::from_value(&serde_json::json!([1, 2])).is_err());
    }

    #[test]
    fn object_json_does_not_print_its_content() {
        let secret =
            ObjectJson::from_value(&serde_json::json!({"data": {"password": "aHVudGVyMg=="}}))
                .unwrap();
        assert!(!format!("{secret:?}").contains("aHVudGVy"));
    }
}
