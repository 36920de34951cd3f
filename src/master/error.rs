//! The API server's errors, and the one place they become Kubernetes `Status` objects and HTTP
//! status codes.
use hyper::StatusCode;

use super::route::Verb;
use super::status::{Status, StatusCause, StatusDetails};
use crate::api::Kind;
use crate::store::StoreError;

/// `pods`, `deployments.apps`: how Kubernetes names a resource in messages.
pub fn resource_label(kind: Kind) -> String {
    match kind.group() {
        "" => kind.plural().to_string(),
        group => format!("{}.{group}", kind.plural()),
    }
}

/// `Pod`, `Deployment.apps`: how Kubernetes names a kind in `Invalid` messages.
fn kind_label(kind: Kind) -> String {
    match kind.group() {
        "" => kind.name().to_string(),
        group => format!("{}.{group}", kind.name()),
    }
}

/// One invalid field of a request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field path (`spec.template.spec.containers[0].image`).
    pub field: String,
    /// Kubernetes' cause reason (`FieldValueRequired`, `FieldValueInvalid`, …).
    pub reason: &'static str,
    /// What is wrong, for people (`Required value`, `Invalid value: "Web": …`).
    pub detail: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.detail)
        } else {
            write!(f, "{}: {}", self.field, self.detail)
        }
    }
}

fn join_causes(causes: &[FieldError]) -> String {
    match causes {
        [one] => one.to_string(),
        many => {
            let parts: Vec<String> = many.iter().map(ToString::to_string).collect();
            format!("[{}]", parts.join(", "))
        }
    }
}

fn forbidden_target(kind: Kind, name: &Option<String>) -> String {
    match name {
        Some(name) => format!("{} \"{name}\"", resource_label(kind)),
        None => resource_label(kind),
    }
}

fn forbidden_scope(namespace: &Option<String>) -> String {
    match namespace {
        Some(ns) => format!(" in the namespace \"{ns}\""),
        None => " at the cluster scope".to_string(),
    }
}

/// Everything a request can fail with. Messages follow Kubernetes' wording so that people and
/// tools recognise them.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// the object does not exist
    #[error("{} \"{name}\" not found", resource_label(*kind))]
    NotFound { kind: Kind, name: String },
    /// the object's namespace does not exist
    #[error("namespaces \"{namespace}\" not found")]
    NamespaceNotFound { namespace: String },
    /// the namespace is being deleted
    #[error(
        "unable to create new content in namespace {namespace} because it is being terminated"
    )]
    NamespaceTerminating { namespace: String },
    /// `default` is permanent
    #[error("namespaces \"{namespace}\" is forbidden: this namespace may not be deleted")]
    NamespaceUndeletable { namespace: String },
    /// an object of that name exists already
    #[error("{} \"{name}\" already exists", resource_label(*kind))]
    AlreadyExists { kind: Kind, name: String },
    /// the request carried a stale resourceVersion
    #[error("Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again", resource_label(*kind))]
    Conflict { kind: Kind, name: String },
    /// the object failed validation
    #[error("{} \"{name}\" is invalid: {}", kind_label(*kind), join_causes(causes))]
    Invalid {
        kind: Kind,
        name: String,
        causes: Vec<FieldError>,
    },
    /// strict field validation found fields Flotilla does not support
    #[error("strict decoding error: {}", warnings.join(", "))]
    Strict { warnings: Vec<String> },
    /// the certificate's role may not do this
    #[error("{} is forbidden: User \"{user}\" cannot {verb} resource \"{}\" in API group \"{}\"{}", forbidden_target(*kind, name), kind.plural(), kind.group(), forbidden_scope(namespace))]
    Forbidden {
        user: String,
        verb: Verb,
        kind: Kind,
        namespace: Option<String>,
        name: Option<String>,
    },
    /// the certificate's role may not use this endpoint
    #[error("forbidden: User \"{user}\" cannot {method} path \"{path}\"")]
    ForbiddenPath {
        user: String,
        method: String,
        path: String,
    },
    /// a watch asked for history that is no longer kept
    #[error("too old resource version: {requested} ({oldest})")]
    Gone { requested: u64, oldest: u64 },
    /// the request body is larger than the server accepts
    #[error("request entity too large: limit is {limit_bytes} bytes")]
    TooLarge { limit_bytes: usize },
    /// no such endpoint
    #[error("the server could not find the requested resource")]
    UnknownPath,
    /// the endpoint exists but not with this method
    #[error("the server does not allow this method on the requested resource")]
    MethodNotAllowed,
    /// the body's content type is not one the server reads
    #[error("unsupported media type {content_type:?}: send application/json, application/merge-patch+json (for PATCH) or application/x-postcard")]
    UnsupportedMediaType { content_type: String },
    /// a query parameter could not be understood
    #[error("invalid {param} {value:?}: {problem}")]
    BadQuery {
        param: &'static str,
        value: String,
        problem: String,
    },
    /// the body could not be decoded
    #[error("the request body could not be decoded: {problem}")]
    BadBody { problem: String },
    /// the body names a different object than the path
    #[error("the {field} of the provided object ({found:?}) does not match the {field} sent on the request ({expected:?})")]
    Mismatch {
        field: &'static str,
        found: String,
        expected: String,
    },
    /// one object of an apply batch failed; nothing was applied
    #[error("{resource}/{name} (object {index} of the request): {source}")]
    InApply {
        index: usize,
        resource: String,
        name: String,
        source: Box<ApiError>,
    },
    /// the server runs as many watches as it allows
    #[error("too many watches (limit {limit}); try again later")]
    TooManyWatches { limit: usize },
    /// no join token has that id
    #[error("tokens \"{id}\" not found")]
    TokenNotFound { id: String },
    /// the store failed
    #[error("internal error: {0}")]
    Store(#[source] StoreError),
    /// a join token could not be made or kept
    #[error("internal error: {0}")]
    Token(#[source] crate::store::TokenError),
    /// logs, exec or statistics of a pod that no node runs yet
    #[error("pod \"{name}\" is not bound to a node yet: it has no containers to read from")]
    PodNotBound { name: String },
    /// the container named is not one of the pod's
    #[error("container {container} is not valid for pod {pod}; choose one of: [{}]", choices.join(" "))]
    ContainerNotValid {
        container: String,
        pod: String,
        choices: Vec<String>,
    },
    /// the pod has several containers and none was named
    #[error("a container name must be specified for pod {pod}, choose one of: [{}]", choices.join(" "))]
    ContainerRequired { pod: String, choices: Vec<String> },
    /// no statistics for that node or pod (not running, or its node is unreachable)
    #[error("{resource}.metrics.k8s.io \"{name}\" not found")]
    MetricsNotFound {
        resource: &'static str,
        name: String,
    },
    /// logs, exec and statistics need the node service, which `--api-only` leaves out
    #[error("this master runs with --api-only: it has no connection to any node")]
    NoNodeService,
    /// the request could not reach the node's agent, or its answer broke off
    #[error("{0}")]
    Tunnel(#[from] crate::master::tunnel::TunnelError),
    /// the node's agent could not serve the request
    #[error("{message}")]
    OnNode {
        node: String,
        reason: crate::wire::FailureReason,
        message: String,
    },
}

impl ApiError {
    /// HTTP status code and Kubernetes reason.
    pub fn code_and_reason(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::NotFound { .. }
            | ApiError::NamespaceNotFound { .. }
            | ApiError::UnknownPath
            | ApiError::TokenNotFound { .. }
            | ApiError::MetricsNotFound { .. } => (StatusCode::NOT_FOUND, "NotFound"),
            ApiError::NamespaceTerminating { .. }
            | ApiError::NamespaceUndeletable { .. }
            | ApiError::Forbidden { .. }
            | ApiError::ForbiddenPath { .. } => (StatusCode::FORBIDDEN, "Forbidden"),
            ApiError::AlreadyExists { .. } => (StatusCode::CONFLICT, "AlreadyExists"),
            ApiError::Conflict { .. } => (StatusCode::CONFLICT, "Conflict"),
            ApiError::Invalid { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "Invalid"),
            ApiError::Strict { .. }
            | ApiError::BadQuery { .. }
            | ApiError::BadBody { .. }
            | ApiError::Mismatch { .. } => (StatusCode::BAD_REQUEST, "BadRequest"),
            ApiError::Gone { .. } => (StatusCode::GONE, "Gone"),
            ApiError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLarge"),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed"),
            ApiError::UnsupportedMediaType { .. } => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "UnsupportedMediaType")
            }
            ApiError::InApply { source, .. } => source.code_and_reason(),
            ApiError::TooManyWatches { .. } => (StatusCode::TOO_MANY_REQUESTS, "TooManyRequests"),
            ApiError::Store(_) | ApiError::Token(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "InternalError")
            }
            ApiError::PodNotBound { .. }
            | ApiError::ContainerNotValid { .. }
            | ApiError::ContainerRequired { .. } => (StatusCode::BAD_REQUEST, "BadRequest"),
            ApiError::NoNodeService => (StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable"),
            ApiError::Tunnel(error) => {
                use crate::master::tunnel::TunnelError;
                match error {
                    TunnelError::NotConnected { .. } | TunnelError::NodeGone { .. } => {
                        (StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable")
                    }
                    TunnelError::Busy { .. } => (StatusCode::TOO_MANY_REQUESTS, "TooManyRequests"),
                    TunnelError::NoAnswer { .. } => (StatusCode::GATEWAY_TIMEOUT, "Timeout"),
                    TunnelError::Broken { .. } => {
                        (StatusCode::INTERNAL_SERVER_ERROR, "InternalError")
                    }
                }
            }
            ApiError::OnNode { reason, .. } => {
                use crate::wire::FailureReason;
                match reason {
                    FailureReason::NotFound => (StatusCode::NOT_FOUND, "NotFound"),
                    FailureReason::BadRequest => (StatusCode::BAD_REQUEST, "BadRequest"),
                    FailureReason::Unavailable => {
                        (StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable")
                    }
                }
            }
        }
    }

    fn details(&self) -> Option<StatusDetails> {
        let about = |kind: Kind, name: &str| StatusDetails {
            name: Some(name.to_string()),
            group: Some(kind.group().to_string()).filter(|g| !g.is_empty()),
            kind: Some(kind.plural().to_string()),
            causes: Vec::new(),
        };
        match self {
            ApiError::NotFound { kind, name }
            | ApiError::AlreadyExists { kind, name }
            | ApiError::Conflict { kind, name } => Some(about(*kind, name)),
            ApiError::NamespaceNotFound { namespace }
            | ApiError::NamespaceUndeletable { namespace }
            | ApiError::NamespaceTerminating { namespace } => {
                Some(about(Kind::Namespace, namespace))
            }
            ApiError::Invalid { kind, name, causes } => Some(StatusDetails {
                causes: causes
                    .iter()
                    .map(|c| StatusCause {
                        reason: c.reason.to_string(),
                        message: c.to_string(),
                        field: c.field.clone(),
                    })
                    .collect(),
                kind: Some(kind.name().to_string()),
                ..about(*kind, name)
            }),
            ApiError::Forbidden {
                kind,
                name: Some(name),
                ..
            } => Some(about(*kind, name)),
            ApiError::Strict { warnings } => Some(StatusDetails {
                causes: warnings
                    .iter()
                    .map(|w| StatusCause {
                        reason: "FieldValueNotSupported".to_string(),
                        message: w.clone(),
                        field: String::new(),
                    })
                    .collect(),
                ..StatusDetails::default()
            }),
            ApiError::InApply { source, .. } => source.details(),
            _ => None,
        }
    }

    /// The `Status` object sent to the client.
    pub fn to_status(&self) -> Status {
        let (code, reason) = self.code_and_reason();
        Status::failure(code.as_u16(), reason, self.to_string(), self.details())
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        match error {
            StoreError::NotFound(key) => ApiError::NotFound {
                kind: key.kind,
                name: key.name,
            },
            StoreError::AlreadyExists(key) => ApiError::AlreadyExists {
                kind: key.kind,
                name: key.name,
            },
            StoreError::Conflict { key, .. } => ApiError::Conflict {
                kind: key.kind,
                name: key.name,
            },
            StoreError::Gone { requested, oldest } => ApiError::Gone { requested, oldest },
            other => ApiError::Store(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_reads_like_kubernetes() {
        let status = ApiError::NotFound {
            kind: Kind::Deployment,
            name: "web".into(),
        }
        .to_status();
        assert_eq!(status.code, 404);
        assert_eq!(status.reason, "NotFound");
        assert_eq!(status.message, "deployments.apps \"web\" not found");
        let details = status.details.unwrap();
        assert_eq!(details.kind.as_deref(), Some("deployments"));
        assert_eq!(details.group.as_deref(), Some("apps"));
    }

    #[test]
    fn invalid_lists_every_field() {
        let error = ApiError::Invalid {
            kind: Kind::Deployment,
            name: "web".into(),
            causes: vec![
                FieldError {
                    field: "metadata.name".into(),
                    reason: "FieldValueRequired",
                    detail: "Required value".into(),
                },
                FieldError {
                    field: "spec.template".into(),
                    reason: "FieldValueRequired",
                    detail: "Required value".into(),
                },
            ],
        };
        assert_eq!(
            error.to_string(),
            "Deployment.apps \"web\" is invalid: [metadata.name: Required value, spec.template: Required value]"
        );
        assert_eq!(error.to_status().code, 422);
        assert_eq!(error.to_status().details.unwrap().causes.len(), 2);
    }

    #[test]
    fn forbidden_names_user_verb_and_namespace() {
        let error = ApiError::Forbidden {
            user: "node:pi-2".into(),
            verb: Verb::Get,
            kind: Kind::Pod,
            namespace: Some("default".into()),
            name: Some("web-1".into()),
        };
        assert_eq!(
            error.to_string(),
            "pods \"web-1\" is forbidden: User \"node:pi-2\" cannot get resource \"pods\" in API group \"\" in the namespace \"default\""
        );
        assert_eq!(error.to_status().code, 403);
    }

    #[test]
    fn store_conflict_becomes_409_conflict() {
        let key = crate::store::ObjectKey {
            kind: Kind::Pod,
            namespace: Some("default".into()),
            name: "a".into(),
        };
        let error = ApiError::from(StoreError::Conflict {
            key,
            given: 1,
            current: 2,
        });
        let status = error.to_status();
        assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"));
    }
}
