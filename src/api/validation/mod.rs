//! Validation with Kubernetes' rules: names, labels, annotations, selectors, required fields
//! and value ranges. Every problem is reported at once, each with its field path.
mod config;
mod meta;
mod node;
mod pod;
mod service;
mod workload;

use super::field_path::FieldError;
use super::resource::Resource;

pub use meta::{name_rule, validate_labels, validate_object_meta};
pub use pod::validate_pod_spec;

/// Largest total size of an object's annotations (keys and values), in bytes.
pub const ANNOTATIONS_SIZE_MAX_BYTES: usize = 256 * 1024;
/// Largest total size of a ConfigMap's or Secret's data, in bytes.
pub const CONFIG_DATA_SIZE_MAX_BYTES: usize = 1024 * 1024;
/// NodePorts are allocated from this range (Kubernetes' default).
pub const NODE_PORT_RANGE: std::ops::RangeInclusive<i32> = 30000..=32767;

/// Checks `resource` against Kubernetes' rules and returns every problem found. Meant for
/// objects after `apply_defaults`, but unset optional fields are read as their defaults.
pub fn validate(resource: &Resource) -> Result<(), Vec<FieldError>> {
    let mut errs = Vec::new();
    meta::validate_object_meta(resource.meta(), resource.kind(), &mut errs);
    match resource {
        Resource::Pod(p) => pod::validate_pod(p, &mut errs),
        Resource::Deployment(d) => workload::validate_deployment(d, &mut errs),
        Resource::ReplicaSet(r) => workload::validate_replica_set(r, &mut errs),
        Resource::DaemonSet(d) => workload::validate_daemon_set(d, &mut errs),
        Resource::Service(s) => service::validate_service(s, &mut errs),
        Resource::ConfigMap(c) => config::validate_config_map(c, &mut errs),
        Resource::Secret(s) => config::validate_secret(s, &mut errs),
        Resource::Node(n) => node::validate_node(n, &mut errs),
        Resource::Namespace(_) => {}
        Resource::Event(e) => node::validate_event(e, &mut errs),
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs)
    }
}

/// `value` must be ≥ 0.
fn non_negative(value: i64, path: super::FieldPath, errs: &mut Vec<FieldError>) {
    if value < 0 {
        errs.push(FieldError::invalid_number(
            path,
            value,
            "must be greater than or equal to 0",
        ));
    }
}

/// `port` must be a valid port number.
fn port_number(port: i32, path: super::FieldPath, errs: &mut Vec<FieldError>) {
    if !(1..=65535).contains(&port) {
        errs.push(FieldError::invalid_number(
            path,
            i64::from(port),
            "must be between 1 and 65535, inclusive",
        ));
    }
}

/// A port given as a number or as the name of a container port.
fn port_number_or_name(
    port: &super::IntOrString,
    path: super::FieldPath,
    errs: &mut Vec<FieldError>,
) {
    match port {
        super::IntOrString::Int(n) => port_number(*n, path, errs),
        super::IntOrString::String(name) => {
            for msg in super::names::port_name_errors(name) {
                errs.push(FieldError::invalid(path.clone(), name, msg));
            }
        }
    }
}

/// A relative path that stays inside its directory (volume items, subPath).
fn relative_path(p: &str, path: super::FieldPath, errs: &mut Vec<FieldError>) {
    if p.starts_with('/') {
        errs.push(FieldError::invalid(
            path.clone(),
            p,
            "must be a relative path",
        ));
    }
    if p.split('/').any(|segment| segment == "..") {
        errs.push(FieldError::invalid(path, p, "must not contain '..'"));
    }
}

#[cfg(test)]
mod tests;
