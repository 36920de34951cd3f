//! Kubernetes `Status` objects: the body of every error response, and the shape `edgectl` reads
//! back to print `Error from server (NotFound): …`.
use serde::{Deserialize, Serialize};

/// A Kubernetes `v1/Status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// Always `Status`.
    pub kind: String,
    /// Always `v1`.
    pub api_version: String,
    /// Kubernetes always sends an (empty) list metadata object.
    #[serde(default)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// `Success` or `Failure`.
    pub status: String,
    /// A sentence for people.
    #[serde(default)]
    pub message: String,
    /// A machine-readable word (`NotFound`, `Conflict`, …).
    #[serde(default)]
    pub reason: String,
    /// What the status is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<StatusDetails>,
    /// The HTTP status code.
    pub code: u16,
}

/// The object a `Status` refers to, and per-field causes for `Invalid`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The resource (plural) the status is about, as Kubernetes puts it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<StatusCause>,
}

/// One reason a request was invalid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusCause {
    /// `FieldValueRequired`, `FieldValueInvalid`, `FieldValueNotSupported`, …
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub message: String,
    /// The field path (`spec.template.spec.containers[0].image`).
    #[serde(default)]
    pub field: String,
}

impl Status {
    /// A failure status.
    pub fn failure(
        code: u16,
        reason: &str,
        message: String,
        details: Option<StatusDetails>,
    ) -> Status {
        Status {
            kind: "Status".to_string(),
            api_version: "v1".to_string(),
            metadata: serde_json::Map::new(),
            status: "Failure".to_string(),
            message,
            reason: reason.to_string(),
            details,
            code,
        }
    }
}
