//! Objects for controller tests, shaped like the manifests people write.
use std::collections::BTreeMap;

use crate::api::node::node_condition;
use crate::api::ConditionStatus;
use crate::api::{
    Container, ContainerName, DaemonSet, DaemonSetSpec, Deployment, DeploymentSpec,
    DeploymentStrategy, DeploymentStrategyType, IntOrString, LabelSelector, NamespaceName, Node,
    NodeCondition, NodeSpec, NodeStatus, ObjectMeta, Pod, PodSpec, PodTemplateSpec, Quantity,
    ReplicaSet, ReplicaSetSpec, RollingUpdateDeployment,
};

pub fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub fn meta(name: &str) -> ObjectMeta {
    ObjectMeta::named(name, Some(NamespaceName::default_namespace()))
}

pub fn template(app: &str, image: &str) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: ObjectMeta {
            labels: labels(&[("app", app)]),
            ..ObjectMeta::default()
        },
        spec: PodSpec {
            containers: vec![Container::new(
                ContainerName::new("main").expect("a valid name"),
                image,
            )],
            ..PodSpec::default()
        },
    }
}

/// A Deployment of `replicas` pods of `image`, RollingUpdate with the given fenceposts.
pub fn deployment(
    name: &str,
    replicas: i32,
    image: &str,
    surge: &str,
    unavailable: &str,
) -> Deployment {
    let fencepost = |v: &str| match v.parse::<i32>() {
        Ok(n) => IntOrString::Int(n),
        Err(_) => IntOrString::from(v),
    };
    Deployment {
        metadata: meta(name),
        spec: DeploymentSpec {
            replicas: Some(replicas),
            selector: Some(LabelSelector::from_labels(labels(&[("app", name)]))),
            template: template(name, image),
            strategy: Some(DeploymentStrategy {
                type_: Some(DeploymentStrategyType::RollingUpdate),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(fencepost(surge)),
                    max_unavailable: Some(fencepost(unavailable)),
                }),
            }),
            ..DeploymentSpec::default()
        },
        status: None,
    }
}

pub fn replica_set(name: &str, app: &str, replicas: i32) -> ReplicaSet {
    ReplicaSet {
        metadata: meta(name),
        spec: ReplicaSetSpec {
            replicas: Some(replicas),
            selector: Some(LabelSelector::from_labels(labels(&[("app", app)]))),
            template: template(app, "nginx:1.27"),
            min_ready_seconds: None,
        },
        status: None,
    }
}

pub fn daemon_set(name: &str, app: &str) -> DaemonSet {
    DaemonSet {
        metadata: meta(name),
        spec: DaemonSetSpec {
            selector: Some(LabelSelector::from_labels(labels(&[("app", app)]))),
            template: template(app, "fluent-bit:3"),
            ..DaemonSetSpec::default()
        },
        status: None,
    }
}

pub fn pod(name: &str, app: &str) -> Pod {
    Pod {
        metadata: ObjectMeta {
            labels: labels(&[("app", app)]),
            ..meta(name)
        },
        spec: template(app, "nginx:1.27").spec,
        status: None,
    }
}

/// A ready node with a Raspberry Pi 4's allocatable resources.
pub fn node(name: &str) -> Node {
    let quantity = |s: &str| Quantity::parse(s).expect("a valid quantity");
    let resources: BTreeMap<String, Quantity> = [
        ("cpu".to_string(), quantity("4")),
        ("memory".to_string(), quantity("4Gi")),
        ("pods".to_string(), quantity("110")),
    ]
    .into_iter()
    .collect();
    Node {
        metadata: ObjectMeta {
            labels: labels(&[
                ("kubernetes.io/arch", "arm64"),
                ("kubernetes.io/hostname", name),
            ]),
            ..ObjectMeta::named(name, None)
        },
        spec: NodeSpec::default(),
        status: Some(NodeStatus {
            capacity: resources.clone(),
            allocatable: resources,
            conditions: vec![NodeCondition {
                type_: node_condition::READY.to_string(),
                status: ConditionStatus::True,
                ..NodeCondition::default()
            }],
            ..NodeStatus::default()
        }),
    }
}
