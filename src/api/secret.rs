//! `v1/Secret`: sensitive key/values. `data` is base64 on the wire; `stringData` is a
//! write-only convenience merged into `data` when defaults are applied.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::byte_string::ByteString;
use super::meta::ObjectMeta;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Secret {
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// `Opaque` unless given (`kubernetes.io/tls`, `kubernetes.io/dockerconfigjson`, …).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, ByteString>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub string_data: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
}

/// Secret types with required keys.
pub mod secret_type {
    pub const OPAQUE: &str = "Opaque";
    pub const TLS: &str = "kubernetes.io/tls";
    pub const DOCKER_CONFIG_JSON: &str = "kubernetes.io/dockerconfigjson";
    pub const BASIC_AUTH: &str = "kubernetes.io/basic-auth";
    pub const SSH_AUTH: &str = "kubernetes.io/ssh-auth";
}

impl Secret {
    /// Moves `stringData` into `data` (string values win), as the API server does on write.
    pub fn merge_string_data(&mut self) {
        for (k, v) in std::mem::take(&mut self.string_data) {
            self.data.insert(k, ByteString(v.into_bytes()));
        }
    }
}
