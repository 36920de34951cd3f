//! Kubernetes-shaped resource model: types, decoding, validation, quantities, label selectors.
//! Pure data, no I/O.
//!
//! Everything public is re-exported here, so callers write `api::Pod`, `api::Quantity`,
//! `api::decode_manifests`.
pub mod byte_string;
pub mod configmap;
pub mod daemonset;
pub mod deployment;
pub mod event;
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
pub mod time;

pub use byte_string::ByteString;
pub use configmap::ConfigMap;
pub use daemonset::{
    DaemonSet, DaemonSetCondition, DaemonSetSpec, DaemonSetStatus, DaemonSetUpdateStrategy,
    DaemonSetUpdateStrategyType, RollingUpdateDaemonSet,
};
pub use deployment::{
    Deployment, DeploymentCondition, DeploymentSpec, DeploymentStatus, DeploymentStrategy,
    DeploymentStrategyType, RollingUpdateDeployment,
};
pub use event::{Event, EventSource, EventType, ObjectReference};
pub use int_or_string::{IntOrString, IntOrStringError};
pub use kind::Kind;
pub use meta::{
    condition_is_true, find_condition, Condition, ConditionStatus, ObjectMeta, OwnerReference,
    TypeMeta,
};
pub use names::{ContainerName, NameError, NamespaceName, NodeName, PodName};
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
pub use selector::{LabelSelector, LabelSelectorOperator, LabelSelectorRequirement};
pub use service::{
    LoadBalancerIngress, LoadBalancerStatus, Service, ServicePort, ServiceSpec, ServiceStatus,
    ServiceType,
};
pub use time::{human_duration, Time};
