//! Pod spec rules (Kubernetes' `ValidatePodSpec` for the supported subset): containers,
//! ports, env, resources, probes, volumes and mounts, tolerations.
use std::collections::{BTreeSet, HashSet};

use super::super::field_path::{FieldError, FieldPath};
use super::super::names::{
    config_key_errors, dns1123_label_errors, env_var_name_errors, label_value_errors,
    port_name_errors, qualified_name_errors,
};
use super::super::node::TaintEffect;
use super::super::pod::{
    Container, EnvVar, KeyToPath, Lifecycle, Pod, PodSecurityContext, PodSpec, Probe,
    ResourceRequirements, RestartPolicy, SecurityContext, Toleration, TolerationOperator, Volume,
};
use super::meta::validate_labels;
use super::{non_negative, port_number, port_number_or_name, relative_path};

pub(super) fn validate_pod(pod: &Pod, errs: &mut Vec<FieldError>) {
    validate_pod_spec(&pod.spec, &FieldPath::new("spec"), false, errs);
}

/// Which probe a rule is about (some rules differ between them).
#[derive(Clone, Copy, PartialEq, Eq)]
enum ProbeKind {
    Liveness,
    Readiness,
    Startup,
}

/// Checks a pod spec at `path`. `in_template` holds workload templates to Kubernetes'
/// extra rule: their pods must restart `Always`.
pub fn validate_pod_spec(
    spec: &PodSpec,
    path: &FieldPath,
    in_template: bool,
    errs: &mut Vec<FieldError>,
) {
    let volumes = validate_volumes(&spec.volumes, &path.child("volumes"), errs);

    if spec.containers.is_empty() {
        errs.push(FieldError::required(path.child("containers"), ""));
    }
    let mut names = HashSet::new();
    let mut host_ports = HashSet::new();
    for (list, field) in [
        (&spec.init_containers, "initContainers"),
        (&spec.containers, "containers"),
    ] {
        for (i, c) in list.iter().enumerate() {
            let cpath = path.child(field).index(i);
            if !names.insert(c.name.as_str()) {
                errs.push(FieldError::duplicate(cpath.child("name"), &c.name));
            }
            validate_container(
                c,
                &cpath,
                &volumes,
                spec.host_network,
                field == "initContainers",
                errs,
            );
            for (j, p) in c.ports.iter().enumerate() {
                let host_port = p.host_port.unwrap_or(0);
                if host_port == 0 {
                    continue;
                }
                let key = (
                    host_port,
                    p.protocol.unwrap_or_default(),
                    p.host_ip.clone().unwrap_or_default(),
                );
                if !host_ports.insert(key) {
                    errs.push(FieldError::duplicate(
                        cpath.child("ports").index(j).child("hostPort"),
                        &format!("{}/{}", host_port, p.protocol.unwrap_or_default().as_str()),
                    ));
                }
            }
        }
    }

    if in_template {
        if let Some(policy) = spec.restart_policy {
            if policy != RestartPolicy::Always {
                errs.push(FieldError::not_supported(
                    path.child("restartPolicy"),
                    &format!("{policy:?}"),
                    &["Always"],
                ));
            }
        }
    }
    if let Some(g) = spec.termination_grace_period_seconds {
        non_negative(g, path.child("terminationGracePeriodSeconds"), errs);
    }
    validate_labels(&spec.node_selector, &path.child("nodeSelector"), errs);
    for (i, t) in spec.tolerations.iter().enumerate() {
        validate_toleration(t, &path.child("tolerations").index(i), errs);
    }
    if let Some(sc) = &spec.security_context {
        validate_pod_security_context(sc, &path.child("securityContext"), errs);
    }
}

fn validate_container(
    c: &Container,
    path: &FieldPath,
    volumes: &BTreeSet<String>,
    host_network: bool,
    is_init: bool,
    errs: &mut Vec<FieldError>,
) {
    match c.image.as_deref() {
        None | Some("") => errs.push(FieldError::required(path.child("image"), "")),
        Some(image) if image.trim() != image => errs.push(FieldError::invalid(
            path.child("image"),
            image,
            "must not have leading or trailing whitespace",
        )),
        Some(_) => {}
    }

    let mut port_names = HashSet::new();
    for (i, p) in c.ports.iter().enumerate() {
        let ppath = path.child("ports").index(i);
        if let Some(name) = &p.name {
            for msg in port_name_errors(name) {
                errs.push(FieldError::invalid(ppath.child("name"), name, msg));
            }
            if !port_names.insert(name.as_str()) {
                errs.push(FieldError::duplicate(ppath.child("name"), name));
            }
        }
        port_number(p.container_port, ppath.child("containerPort"), errs);
        if let Some(hp) = p.host_port.filter(|&hp| hp != 0) {
            port_number(hp, ppath.child("hostPort"), errs);
            if host_network && hp != p.container_port {
                errs.push(FieldError::invalid_number(
                    ppath.child("containerPort"),
                    i64::from(p.container_port),
                    "must match `hostPort` when `hostNetwork` is true",
                ));
            }
        }
        if let Some(ip) = &p.host_ip {
            if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() {
                errs.push(FieldError::invalid(
                    ppath.child("hostIP"),
                    ip,
                    "must be a valid IP address",
                ));
            }
        }
    }

    for (i, e) in c.env.iter().enumerate() {
        validate_env(e, &path.child("env").index(i), errs);
    }
    validate_resources(&c.resources, &path.child("resources"), errs);

    let mut mount_paths = HashSet::new();
    for (i, m) in c.volume_mounts.iter().enumerate() {
        let mpath = path.child("volumeMounts").index(i);
        if m.name.is_empty() {
            errs.push(FieldError::required(mpath.child("name"), ""));
        } else if !volumes.contains(&m.name) {
            errs.push(FieldError::not_found(mpath.child("name"), &m.name));
        }
        if m.mount_path.is_empty() {
            errs.push(FieldError::required(mpath.child("mountPath"), ""));
        } else if !mount_paths.insert(m.mount_path.as_str()) {
            errs.push(FieldError::invalid(
                mpath.child("mountPath"),
                &m.mount_path,
                "must be unique",
            ));
        }
        if let Some(sub) = &m.sub_path {
            relative_path(sub, mpath.child("subPath"), errs);
        }
    }

    for (probe, field, kind) in [
        (&c.liveness_probe, "livenessProbe", ProbeKind::Liveness),
        (&c.readiness_probe, "readinessProbe", ProbeKind::Readiness),
        (&c.startup_probe, "startupProbe", ProbeKind::Startup),
    ] {
        let Some(probe) = probe else { continue };
        if is_init {
            errs.push(FieldError::forbidden(
                path.child(field),
                "may not be set for init containers",
            ));
            continue;
        }
        validate_probe(probe, kind, &path.child(field), errs);
    }
    if let Some(l) = &c.lifecycle {
        validate_lifecycle(l, &path.child("lifecycle"), errs);
    }
    if let Some(sc) = &c.security_context {
        validate_security_context(sc, &path.child("securityContext"), errs);
    }
}

/// Pod fields an environment variable may read (`fieldRef.fieldPath`).
const ENV_FIELD_PATHS: [&str; 11] = [
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "metadata.labels",
    "metadata.annotations",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];

fn validate_env(e: &EnvVar, path: &FieldPath, errs: &mut Vec<FieldError>) {
    if e.name.is_empty() {
        errs.push(FieldError::required(path.child("name"), ""));
    } else {
        for msg in env_var_name_errors(&e.name) {
            errs.push(FieldError::invalid(path.child("name"), &e.name, msg));
        }
    }
    let Some(from) = &e.value_from else { return };
    let fpath = path.child("valueFrom");
    if e.value.as_deref().is_some_and(|v| !v.is_empty()) {
        errs.push(FieldError::invalid(
            fpath.clone(),
            "",
            "may not be specified when `value` is not empty",
        ));
    }
    let sources = usize::from(from.config_map_key_ref.is_some())
        + usize::from(from.secret_key_ref.is_some())
        + usize::from(from.field_ref.is_some());
    match sources {
        0 => errs.push(FieldError::invalid(
            fpath.clone(),
            "",
            "must specify one of: `fieldRef`, `configMapKeyRef` or `secretKeyRef`",
        )),
        1 => {}
        _ => errs.push(FieldError::invalid(
            fpath.clone(),
            "",
            "may not have more than one field specified at a time",
        )),
    }
    for (sel, field) in [
        (&from.config_map_key_ref, "configMapKeyRef"),
        (&from.secret_key_ref, "secretKeyRef"),
    ] {
        let Some(sel) = sel else { continue };
        let spath = fpath.child(field);
        if sel.name.is_empty() {
            errs.push(FieldError::required(spath.child("name"), ""));
        }
        if sel.key.is_empty() {
            errs.push(FieldError::required(spath.child("key"), ""));
        } else {
            for msg in config_key_errors(&sel.key) {
                errs.push(FieldError::invalid(spath.child("key"), &sel.key, msg));
            }
        }
    }
    if let Some(f) = &from.field_ref {
        let p = fpath.child("fieldRef").child("fieldPath");
        if f.field_path.is_empty() {
            errs.push(FieldError::required(p, ""));
        } else if !field_path_supported(&f.field_path) {
            errs.push(FieldError::not_supported(
                p,
                &f.field_path,
                &ENV_FIELD_PATHS,
            ));
        }
    }
}

/// `metadata.labels['app']` and `metadata.annotations['x']` select one entry.
fn field_path_supported(field_path: &str) -> bool {
    if ENV_FIELD_PATHS.contains(&field_path) {
        return true;
    }
    for prefix in ["metadata.labels['", "metadata.annotations['"] {
        if let Some(key) = field_path
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix("']"))
        {
            return qualified_name_errors(key).is_empty();
        }
    }
    false
}

fn resource_name_ok(name: &str) -> bool {
    matches!(name, "cpu" | "memory" | "ephemeral-storage")
        || name.starts_with("hugepages-")
        || (name.contains('/') && qualified_name_errors(name).is_empty())
}

fn validate_resources(r: &ResourceRequirements, path: &FieldPath, errs: &mut Vec<FieldError>) {
    for (map, field) in [(&r.limits, "limits"), (&r.requests, "requests")] {
        for (name, q) in map {
            let p = path.child(field).key(name);
            if !resource_name_ok(name) {
                errs.push(FieldError::invalid(
                    p.clone(),
                    name,
                    "must be a standard resource type or fully qualified",
                ));
            }
            if q.signum() < 0 {
                errs.push(FieldError::invalid(
                    p,
                    &q.to_string(),
                    "must be greater than or equal to 0",
                ));
            }
        }
    }
    for (name, request) in &r.requests {
        if let Some(limit) = r.limits.get(name) {
            if request > limit {
                errs.push(FieldError::invalid(
                    path.child("requests").key(name),
                    &request.to_string(),
                    format!("must be less than or equal to {name} limit of {limit}"),
                ));
            }
        }
    }
}

fn validate_probe(p: &Probe, kind: ProbeKind, path: &FieldPath, errs: &mut Vec<FieldError>) {
    let handlers = usize::from(p.exec.is_some())
        + usize::from(p.http_get.is_some())
        + usize::from(p.tcp_socket.is_some());
    match handlers {
        0 => errs.push(FieldError::required(
            path.clone(),
            "must specify a handler type",
        )),
        1 => {}
        _ => errs.push(FieldError::forbidden(
            path.clone(),
            "may not specify more than 1 handler type",
        )),
    }
    if let Some(exec) = &p.exec {
        if exec.command.is_empty() {
            errs.push(FieldError::required(
                path.child("exec").child("command"),
                "",
            ));
        }
    }
    if let Some(h) = &p.http_get {
        let hpath = path.child("httpGet");
        port_number_or_name(&h.port, hpath.child("port"), errs);
        for (i, header) in h.http_headers.iter().enumerate() {
            let ok = !header.name.is_empty()
                && header
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            if !ok {
                errs.push(FieldError::invalid(
                    hpath.child("httpHeaders").index(i).child("name"),
                    &header.name,
                    "a valid HTTP header must consist of alphanumeric characters or '-'",
                ));
            }
        }
    }
    if let Some(t) = &p.tcp_socket {
        port_number_or_name(&t.port, path.child("tcpSocket").child("port"), errs);
    }
    for (value, field) in [
        (p.initial_delay_seconds, "initialDelaySeconds"),
        (p.timeout_seconds, "timeoutSeconds"),
        (p.period_seconds, "periodSeconds"),
        (p.success_threshold, "successThreshold"),
        (p.failure_threshold, "failureThreshold"),
    ] {
        if let Some(v) = value {
            non_negative(i64::from(v), path.child(field), errs);
        }
    }
    if kind != ProbeKind::Readiness {
        if let Some(s) = p.success_threshold.filter(|&s| s != 1) {
            errs.push(FieldError::invalid_number(
                path.child("successThreshold"),
                i64::from(s),
                "must be 1",
            ));
        }
    }
    if let Some(g) = p.termination_grace_period_seconds {
        if kind == ProbeKind::Readiness {
            errs.push(FieldError::invalid_number(
                path.child("terminationGracePeriodSeconds"),
                g,
                "must not be set for readinessProbes",
            ));
        } else if g <= 0 {
            errs.push(FieldError::invalid_number(
                path.child("terminationGracePeriodSeconds"),
                g,
                "must be greater than 0",
            ));
        }
    }
}

fn validate_lifecycle(l: &Lifecycle, path: &FieldPath, errs: &mut Vec<FieldError>) {
    let Some(h) = &l.pre_stop else { return };
    let hpath = path.child("preStop");
    let handlers = usize::from(h.exec.is_some()) + usize::from(h.sleep.is_some());
    match handlers {
        0 => errs.push(FieldError::required(
            hpath.clone(),
            "must specify a handler type",
        )),
        1 => {}
        _ => errs.push(FieldError::forbidden(
            hpath.clone(),
            "may not specify more than 1 handler type",
        )),
    }
    if let Some(exec) = &h.exec {
        if exec.command.is_empty() {
            errs.push(FieldError::required(
                hpath.child("exec").child("command"),
                "",
            ));
        }
    }
    if let Some(s) = &h.sleep {
        non_negative(s.seconds, hpath.child("sleep").child("seconds"), errs);
    }
}

fn id_in_range(value: Option<i64>, path: FieldPath, errs: &mut Vec<FieldError>) {
    if let Some(v) = value {
        if !(0..=i64::from(i32::MAX)).contains(&v) {
            errs.push(FieldError::invalid_number(
                path,
                v,
                "must be between 0 and 2147483647, inclusive",
            ));
        }
    }
}

fn validate_security_context(sc: &SecurityContext, path: &FieldPath, errs: &mut Vec<FieldError>) {
    id_in_range(sc.run_as_user, path.child("runAsUser"), errs);
    id_in_range(sc.run_as_group, path.child("runAsGroup"), errs);
    if sc.privileged == Some(true) && sc.allow_privilege_escalation == Some(false) {
        errs.push(FieldError::invalid_rendered(
            path.clone(),
            "privileged: true, allowPrivilegeEscalation: false",
            "cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
        ));
    }
}

fn validate_pod_security_context(
    sc: &PodSecurityContext,
    path: &FieldPath,
    errs: &mut Vec<FieldError>,
) {
    id_in_range(sc.run_as_user, path.child("runAsUser"), errs);
    id_in_range(sc.run_as_group, path.child("runAsGroup"), errs);
    id_in_range(sc.fs_group, path.child("fsGroup"), errs);
    for (i, g) in sc.supplemental_groups.iter().enumerate() {
        id_in_range(Some(*g), path.child("supplementalGroups").index(i), errs);
    }
}

fn validate_toleration(t: &Toleration, path: &FieldPath, errs: &mut Vec<FieldError>) {
    let key = t.key.as_deref().unwrap_or("");
    if !key.is_empty() {
        for msg in qualified_name_errors(key) {
            errs.push(FieldError::invalid(path.child("key"), key, msg));
        }
    }
    let value = t.value.as_deref().unwrap_or("");
    match t.operator.unwrap_or_default() {
        TolerationOperator::Exists => {
            if !value.is_empty() {
                errs.push(FieldError::invalid(
                    path.child("operator"),
                    value,
                    "value must be empty when `operator` is 'Exists'",
                ));
            }
        }
        TolerationOperator::Equal => {
            if key.is_empty() {
                errs.push(FieldError::invalid(
                    path.child("operator"),
                    "Equal",
                    "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
                ));
            }
            for msg in label_value_errors(value) {
                errs.push(FieldError::invalid(path.child("value"), value, msg));
            }
        }
    }
    if t.toleration_seconds.is_some() && t.effect != Some(TaintEffect::NoExecute) {
        errs.push(FieldError::invalid(
            path.child("effect"),
            &t.effect.map(|e| format!("{e:?}")).unwrap_or_default(),
            "effect must be 'NoExecute' when `tolerationSeconds` is set",
        ));
    }
}

/// Checks the volumes and returns their names (for mount lookups).
fn validate_volumes(
    volumes: &[Volume],
    path: &FieldPath,
    errs: &mut Vec<FieldError>,
) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (i, v) in volumes.iter().enumerate() {
        let vpath = path.index(i);
        if v.name.is_empty() {
            errs.push(FieldError::required(vpath.child("name"), ""));
        } else {
            for msg in dns1123_label_errors(&v.name) {
                errs.push(FieldError::invalid(vpath.child("name"), &v.name, msg));
            }
            if !names.insert(v.name.clone()) {
                errs.push(FieldError::duplicate(vpath.child("name"), &v.name));
            }
        }
        match v.source_count() {
            0 => errs.push(FieldError::required(
                vpath.clone(),
                "must specify a volume type",
            )),
            1 => {}
            _ => errs.push(FieldError::forbidden(
                vpath.clone(),
                "may not specify more than 1 volume type",
            )),
        }
        if let Some(e) = &v.empty_dir {
            if let Some(limit) = &e.size_limit {
                if limit.signum() < 0 {
                    errs.push(FieldError::invalid(
                        vpath.child("emptyDir").child("sizeLimit"),
                        &limit.to_string(),
                        "must be greater than or equal to 0",
                    ));
                }
            }
        }
        if let Some(h) = &v.host_path {
            let hpath = vpath.child("hostPath").child("path");
            if h.path.is_empty() {
                errs.push(FieldError::required(hpath, ""));
            } else if h.path.split('/').any(|s| s == "..") {
                errs.push(FieldError::invalid(hpath, &h.path, "must not contain '..'"));
            }
        }
        if let Some(cm) = &v.config_map {
            let cpath = vpath.child("configMap");
            if cm.name.is_empty() {
                errs.push(FieldError::required(cpath.child("name"), ""));
            }
            validate_items(&cm.items, &cpath, errs);
            validate_mode(cm.default_mode, cpath.child("defaultMode"), errs);
        }
        if let Some(s) = &v.secret {
            let spath = vpath.child("secret");
            if s.secret_name.is_empty() {
                errs.push(FieldError::required(spath.child("secretName"), ""));
            }
            validate_items(&s.items, &spath, errs);
            validate_mode(s.default_mode, spath.child("defaultMode"), errs);
        }
    }
    names
}

fn validate_items(items: &[KeyToPath], path: &FieldPath, errs: &mut Vec<FieldError>) {
    for (i, item) in items.iter().enumerate() {
        let ipath = path.child("items").index(i);
        if item.key.is_empty() {
            errs.push(FieldError::required(ipath.child("key"), ""));
        } else {
            for msg in config_key_errors(&item.key) {
                errs.push(FieldError::invalid(ipath.child("key"), &item.key, msg));
            }
        }
        if item.path.is_empty() {
            errs.push(FieldError::required(ipath.child("path"), ""));
        } else {
            relative_path(&item.path, ipath.child("path"), errs);
        }
        validate_mode(item.mode, ipath.child("mode"), errs);
    }
}

fn validate_mode(mode: Option<i32>, path: FieldPath, errs: &mut Vec<FieldError>) {
    if let Some(m) = mode {
        if !(0..=0o777).contains(&m) {
            errs.push(FieldError::invalid_number(
                path,
                i64::from(m),
                "must be a number between 0 and 0777 (octal), both inclusive",
            ));
        }
    }
}
