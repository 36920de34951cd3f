//! Defaults exactly as Kubernetes' API server sets them (`SetDefaults_*`), applied before
//! validation and before an object is stored.
use super::configmap::ConfigMap;
use super::daemonset::{
    DaemonSet, DaemonSetUpdateStrategy, DaemonSetUpdateStrategyType, RollingUpdateDaemonSet,
};
use super::deployment::{
    Deployment, DeploymentStrategy, DeploymentStrategyType, RollingUpdateDeployment,
};
use super::int_or_string::IntOrString;
use super::namespace::{Namespace, NamespacePhase, NamespaceStatus};
use super::node::Node;
use super::pod::{
    Container, EmptyDirVolumeSource, ImagePullPolicy, Pod, PodSpec, Probe, Protocol, RestartPolicy,
    UriScheme,
};
use super::replicaset::ReplicaSet;
use super::resource::Resource;
use super::secret::{secret_type, Secret};
use super::service::{Service, ServiceType};

pub const DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS: i64 = 30;
pub const DEFAULT_PROBE_TIMEOUT_SECONDS: i32 = 1;
pub const DEFAULT_PROBE_PERIOD_SECONDS: i32 = 10;
pub const DEFAULT_PROBE_SUCCESS_THRESHOLD: i32 = 1;
pub const DEFAULT_PROBE_FAILURE_THRESHOLD: i32 = 3;
pub const DEFAULT_REVISION_HISTORY_LIMIT: i32 = 10;
pub const DEFAULT_PROGRESS_DEADLINE_SECONDS: i32 = 600;
/// `0644`, the mode of files projected from ConfigMaps and Secrets.
pub const DEFAULT_VOLUME_FILE_MODE: i32 = 0o644;

/// Fills in every field Kubernetes defaults. Idempotent.
pub fn apply_defaults(resource: &mut Resource) {
    match resource {
        Resource::Pod(p) => default_pod(p),
        Resource::Deployment(d) => default_deployment(d),
        Resource::ReplicaSet(r) => default_replica_set(r),
        Resource::DaemonSet(d) => default_daemon_set(d),
        Resource::Service(s) => default_service(s),
        Resource::Secret(s) => default_secret(s),
        Resource::Namespace(n) => default_namespace(n),
        Resource::Node(n) => default_node(n),
        Resource::ConfigMap(c) => default_config_map(c),
        Resource::Event(_) => {}
    }
}

/// `Always` for `:latest` or an image without tag and digest, else `IfNotPresent`.
pub fn default_image_pull_policy(image: &str) -> ImagePullPolicy {
    match image_tag(image) {
        Some("latest") => ImagePullPolicy::Always,
        Some(_) => ImagePullPolicy::IfNotPresent,
        // Without a tag Kubernetes assumes `latest`, unless a digest pins the image.
        None if image.contains('@') => ImagePullPolicy::IfNotPresent,
        None => ImagePullPolicy::Always,
    }
}

/// The tag of an image reference: after the last `:` that follows the last `/` (a `:` before
/// it belongs to a registry port), and before any `@digest`.
fn image_tag(image: &str) -> Option<&str> {
    let name = image.split('@').next().unwrap_or(image);
    let last_segment = name.rsplit('/').next().unwrap_or(name);
    last_segment.rsplit_once(':').map(|(_, tag)| tag)
}

fn default_pod(pod: &mut Pod) {
    default_pod_spec(&mut pod.spec);
    // Only for pods, not templates: limits without requests request the limits.
    for c in pod
        .spec
        .containers
        .iter_mut()
        .chain(pod.spec.init_containers.iter_mut())
    {
        for (name, limit) in &c.resources.limits {
            c.resources.requests.entry(name.clone()).or_insert(*limit);
        }
    }
}

/// Defaults of a pod spec, also applied to workload templates.
pub fn default_pod_spec(spec: &mut PodSpec) {
    spec.restart_policy.get_or_insert(RestartPolicy::Always);
    spec.termination_grace_period_seconds
        .get_or_insert(DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS);
    let host_network = spec.host_network;
    for c in spec
        .containers
        .iter_mut()
        .chain(spec.init_containers.iter_mut())
    {
        default_container(c, host_network);
    }
    for v in &mut spec.volumes {
        if v.source_count() == 0 {
            v.empty_dir = Some(EmptyDirVolumeSource::default());
        }
        if let Some(cm) = &mut v.config_map {
            cm.default_mode.get_or_insert(DEFAULT_VOLUME_FILE_MODE);
        }
        if let Some(s) = &mut v.secret {
            s.default_mode.get_or_insert(DEFAULT_VOLUME_FILE_MODE);
        }
    }
}

fn default_container(c: &mut Container, host_network: bool) {
    if c.image_pull_policy.is_none() {
        c.image_pull_policy = Some(default_image_pull_policy(c.image.as_deref().unwrap_or("")));
    }
    for p in &mut c.ports {
        p.protocol.get_or_insert(Protocol::Tcp);
        if host_network && p.host_port.unwrap_or(0) == 0 {
            p.host_port = Some(p.container_port);
        }
    }
    for e in &mut c.env {
        if let Some(f) = e.value_from.as_mut().and_then(|v| v.field_ref.as_mut()) {
            f.api_version.get_or_insert_with(|| "v1".to_string());
        }
    }
    for probe in [
        &mut c.liveness_probe,
        &mut c.readiness_probe,
        &mut c.startup_probe,
    ]
    .into_iter()
    .flatten()
    {
        default_probe(probe);
    }
}

fn default_probe(p: &mut Probe) {
    p.timeout_seconds
        .get_or_insert(DEFAULT_PROBE_TIMEOUT_SECONDS);
    p.period_seconds.get_or_insert(DEFAULT_PROBE_PERIOD_SECONDS);
    p.success_threshold
        .get_or_insert(DEFAULT_PROBE_SUCCESS_THRESHOLD);
    p.failure_threshold
        .get_or_insert(DEFAULT_PROBE_FAILURE_THRESHOLD);
    if let Some(h) = &mut p.http_get {
        h.path.get_or_insert_with(|| "/".to_string());
        h.scheme.get_or_insert(UriScheme::Http);
    }
}

fn default_deployment(d: &mut Deployment) {
    let spec = &mut d.spec;
    spec.replicas.get_or_insert(1);
    let strategy = spec
        .strategy
        .get_or_insert_with(DeploymentStrategy::default);
    let strategy_type = *strategy
        .type_
        .get_or_insert(DeploymentStrategyType::RollingUpdate);
    if strategy_type == DeploymentStrategyType::RollingUpdate {
        let ru = strategy
            .rolling_update
            .get_or_insert_with(RollingUpdateDeployment::default);
        ru.max_unavailable.get_or_insert(IntOrString::percent(25));
        ru.max_surge.get_or_insert(IntOrString::percent(25));
    }
    spec.revision_history_limit
        .get_or_insert(DEFAULT_REVISION_HISTORY_LIMIT);
    spec.progress_deadline_seconds
        .get_or_insert(DEFAULT_PROGRESS_DEADLINE_SECONDS);
    default_pod_spec(&mut spec.template.spec);
}

fn default_replica_set(r: &mut ReplicaSet) {
    r.spec.replicas.get_or_insert(1);
    default_pod_spec(&mut r.spec.template.spec);
}

fn default_daemon_set(d: &mut DaemonSet) {
    let spec = &mut d.spec;
    let strategy = spec
        .update_strategy
        .get_or_insert_with(DaemonSetUpdateStrategy::default);
    let strategy_type = *strategy
        .type_
        .get_or_insert(DaemonSetUpdateStrategyType::RollingUpdate);
    if strategy_type == DaemonSetUpdateStrategyType::RollingUpdate {
        let ru = strategy
            .rolling_update
            .get_or_insert_with(RollingUpdateDaemonSet::default);
        ru.max_unavailable.get_or_insert(IntOrString::Int(1));
        ru.max_surge.get_or_insert(IntOrString::Int(0));
    }
    spec.revision_history_limit
        .get_or_insert(DEFAULT_REVISION_HISTORY_LIMIT);
    default_pod_spec(&mut spec.template.spec);
}

fn default_service(s: &mut Service) {
    s.spec.type_.get_or_insert(ServiceType::ClusterIp);
    for p in &mut s.spec.ports {
        p.protocol.get_or_insert(Protocol::Tcp);
        if p.target_port.is_none() {
            p.target_port = Some(IntOrString::Int(p.port));
        }
    }
}

fn default_secret(s: &mut Secret) {
    s.type_
        .get_or_insert_with(|| secret_type::OPAQUE.to_string());
    s.merge_string_data();
}

fn default_namespace(n: &mut Namespace) {
    let status = n.status.get_or_insert_with(NamespaceStatus::default);
    status.phase.get_or_insert(NamespacePhase::Active);
}

fn default_node(n: &mut Node) {
    if let Some(status) = &mut n.status {
        if status.allocatable.is_empty() && !status.capacity.is_empty() {
            status.allocatable = status.capacity.clone();
        }
    }
}

fn default_config_map(_c: &mut ConfigMap) {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ContainerName, ContainerPort, HttpGetAction, Quantity};

    #[test]
    fn image_pull_policy_defaults_follow_the_tag() {
        let table = [
            ("nginx", ImagePullPolicy::Always),
            ("nginx:latest", ImagePullPolicy::Always),
            ("nginx:1.27", ImagePullPolicy::IfNotPresent),
            ("localhost:5000/nginx", ImagePullPolicy::Always),
            ("localhost:5000/nginx:1.27", ImagePullPolicy::IfNotPresent),
            ("nginx@sha256:abcd", ImagePullPolicy::IfNotPresent),
            ("nginx:1.27@sha256:abcd", ImagePullPolicy::IfNotPresent),
            ("registry.lan/team/app:latest", ImagePullPolicy::Always),
        ];
        for (image, want) in table {
            assert_eq!(default_image_pull_policy(image), want, "{image}");
        }
    }

    #[test]
    fn pods_get_kubernetes_defaults() {
        let mut c = Container::new(ContainerName::new("web").unwrap(), "nginx:1.27");
        c.ports.push(ContainerPort {
            name: None,
            container_port: 80,
            host_port: None,
            protocol: None,
            host_ip: None,
        });
        c.liveness_probe = Some(Probe {
            http_get: Some(HttpGetAction {
                path: None,
                port: IntOrString::Int(80),
                host: None,
                scheme: None,
                http_headers: vec![],
            }),
            ..Probe::default()
        });
        c.resources
            .limits
            .insert("memory".into(), Quantity::parse("128Mi").unwrap());
        let mut pod = Pod::default();
        pod.spec.containers.push(c);
        let mut r = Resource::Pod(pod);
        apply_defaults(&mut r);
        let once = r.clone();
        apply_defaults(&mut r);
        assert_eq!(r, once, "defaults are idempotent");
        let Resource::Pod(pod) = r else {
            unreachable!()
        };
        assert_eq!(pod.spec.restart_policy, Some(RestartPolicy::Always));
        assert_eq!(pod.spec.termination_grace_period_seconds, Some(30));
        let c = &pod.spec.containers[0];
        assert_eq!(c.image_pull_policy, Some(ImagePullPolicy::IfNotPresent));
        assert_eq!(c.ports[0].protocol, Some(Protocol::Tcp));
        let probe = c.liveness_probe.as_ref().unwrap();
        assert_eq!(
            (
                probe.period_seconds,
                probe.timeout_seconds,
                probe.success_threshold,
                probe.failure_threshold
            ),
            (Some(10), Some(1), Some(1), Some(3))
        );
        let get = probe.http_get.as_ref().unwrap();
        assert_eq!(get.path.as_deref(), Some("/"));
        assert_eq!(get.scheme, Some(UriScheme::Http));
        assert_eq!(
            c.resources.requests.get("memory"),
            Some(&Quantity::parse("128Mi").unwrap())
        );
    }

    #[test]
    fn deployments_get_rolling_update_25_percent_defaults() {
        let mut r = Resource::Deployment(Deployment::default());
        apply_defaults(&mut r);
        let Resource::Deployment(d) = r else {
            unreachable!()
        };
        assert_eq!(d.spec.replicas, Some(1));
        let s = d.spec.strategy.unwrap();
        assert_eq!(s.type_, Some(DeploymentStrategyType::RollingUpdate));
        let ru = s.rolling_update.unwrap();
        assert_eq!(ru.max_surge, Some(IntOrString::percent(25)));
        assert_eq!(ru.max_unavailable, Some(IntOrString::percent(25)));
        assert_eq!(d.spec.revision_history_limit, Some(10));
        assert_eq!(d.spec.progress_deadline_seconds, Some(600));
        assert_eq!(
            d.spec.template.spec.restart_policy,
            Some(RestartPolicy::Always)
        );
    }

    #[test]
    fn recreate_deployments_get_no_rolling_update_parameters() {
        let mut d = Deployment::default();
        d.spec.strategy = Some(DeploymentStrategy {
            type_: Some(DeploymentStrategyType::Recreate),
            rolling_update: None,
        });
        let mut r = Resource::Deployment(d);
        apply_defaults(&mut r);
        let Resource::Deployment(d) = r else {
            unreachable!()
        };
        assert_eq!(d.spec.strategy.unwrap().rolling_update, None);
    }

    #[test]
    fn daemon_sets_default_to_one_unavailable() {
        let mut r = Resource::DaemonSet(DaemonSet::default());
        apply_defaults(&mut r);
        let Resource::DaemonSet(d) = r else {
            unreachable!()
        };
        let ru = d.spec.update_strategy.unwrap().rolling_update.unwrap();
        assert_eq!(ru.max_unavailable, Some(IntOrString::Int(1)));
        assert_eq!(ru.max_surge, Some(IntOrString::Int(0)));
    }

    #[test]
    fn services_default_to_cluster_ip_tcp_and_target_port_equal_to_port() {
        let mut s = Service::default();
        s.spec.ports.push(crate::api::ServicePort {
            port: 80,
            ..Default::default()
        });
        let mut r = Resource::Service(s);
        apply_defaults(&mut r);
        let Resource::Service(s) = r else {
            unreachable!()
        };
        assert_eq!(s.spec.type_, Some(ServiceType::ClusterIp));
        assert_eq!(s.spec.ports[0].protocol, Some(Protocol::Tcp));
        assert_eq!(s.spec.ports[0].target_port, Some(IntOrString::Int(80)));
    }

    #[test]
    fn secret_string_data_is_merged_into_data() {
        let mut s = Secret::default();
        s.data.insert("a".into(), "old".into());
        s.string_data.insert("a".into(), "new".into());
        s.string_data.insert("b".into(), "two".into());
        let mut r = Resource::Secret(s);
        apply_defaults(&mut r);
        let Resource::Secret(s) = r else {
            unreachable!()
        };
        assert!(s.string_data.is_empty());
        assert_eq!(s.data["a"].as_bytes(), b"new");
        assert_eq!(s.data["b"].as_bytes(), b"two");
        assert_eq!(s.type_.as_deref(), Some("Opaque"));
    }
}
