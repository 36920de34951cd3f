//! Kubernetes-shaped resource model: types, decoding, validation, quantities, label selectors.
//! Pure data, no I/O.
//!
//! Everything public is re-exported here, so callers write `api::Pod`, `api::Quantity`,
//! `api::decode_manifests`.
pub mod byte_string;
pub mod configmap;
pub mod daemonset;
pub mod decode;
pub mod defaults;
pub mod deployment;
pub mod event;
pub mod field_path;
pub mod field_selector;
pub mod int_or_string;
pub mod kind;
pub mod meta;
pub mod names;
pub mod namespace;
pub mod node;
mod omit;
pub mod pod;
pub mod quantity;
pub mod replicaset;
pub mod resource;
pub mod secret;
pub mod selector;
pub mod service;
pub mod template_hash;
pub mod time;
pub mod validation;

pub use byte_string::ByteString;
pub use configmap::ConfigMap;
pub use daemonset::{
    DaemonSet, DaemonSetCondition, DaemonSetSpec, DaemonSetStatus, DaemonSetUpdateStrategy,
    DaemonSetUpdateStrategyType, RollingUpdateDaemonSet,
};
pub use decode::{
    decode_manifests, decode_manifests_with, decode_value, DecodeError, DecodeOptions, Document,
    Location, ManifestError, Problem, Warning,
};
pub use defaults::apply_defaults;
pub use deployment::{
    Deployment, DeploymentCondition, DeploymentSpec, DeploymentStatus, DeploymentStrategy,
    DeploymentStrategyType, RollingUpdateDeployment,
};
pub use event::{Event, EventSource, EventType, ObjectReference};
pub use field_path::{FieldError, FieldErrorKind, FieldErrors, FieldPath, PathElement};
pub use field_selector::{FieldOperator, FieldSelector, FieldSelectorError, FieldTerm};
pub use int_or_string::{IntOrString, IntOrStringError};
pub use kind::Kind;
pub use meta::{
    condition_is_true, find_condition, Condition, ConditionStatus, ObjectMeta, OwnerReference,
    TypeMeta,
};
pub use names::{
    generated_name, ContainerName, NameError, NameRule, NamespaceName, NodeName, PodName,
};
pub use namespace::{Namespace, NamespacePhase, NamespaceSpec, NamespaceStatus};
pub use node::{
    Node, NodeAddress, NodeCondition, NodeSpec, NodeStatus, NodeSystemInfo, Taint, TaintEffect,
};
pub use pod::{
    Capabilities, ConfigMapVolumeSource, Container, ContainerPort, ContainerState,
    ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting, ContainerStatus,
    EmptyDirVolumeSource, EnvVar, EnvVarSource, ExecAction, HostPathType, HostPathVolumeSource,
    HttpGetAction, HttpHeader, ImagePullPolicy, KeySelector, KeyToPath, Lifecycle,
    LifecycleHandler, ObjectFieldSelector, Pod, PodCondition, PodIp, PodPhase, PodSecurityContext,
    PodSpec, PodStatus, PodTemplateSpec, Probe, Protocol, ResourceRequirements, RestartPolicy,
    SecretVolumeSource, SecurityContext, SleepAction, StorageMedium, TcpSocketAction, Toleration,
    TolerationOperator, UriScheme, Volume, VolumeMount,
};
pub use quantity::{Quantity, QuantityError, QuantityFormat};
pub use replicaset::{ReplicaSet, ReplicaSetCondition, ReplicaSetSpec, ReplicaSetStatus};
pub use resource::{kind_of_value, ApiObject, Resource, ResourceError};
pub use secret::Secret;
pub use selector::{
    LabelSelector, LabelSelectorOperator, LabelSelectorRequirement, Operator, Requirement,
    Selector, SelectorError, SelectorParseError,
};
pub use service::{
    LoadBalancerIngress, LoadBalancerStatus, Service, ServicePort, ServiceSpec, ServiceStatus,
    ServiceType,
};
pub use template_hash::{CONTROLLER_REVISION_HASH_LABEL, POD_TEMPLATE_HASH_LABEL};
pub use time::{human_duration, Time};
pub use validation::validate;
