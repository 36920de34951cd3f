//! Service rules: DNS-1035 name, ports (numbers, names, node ports), type, cluster IP.
use std::collections::HashSet;

use super::super::field_path::{FieldError, FieldPath};
use super::super::names::port_name_errors;
use super::super::service::{Service, ServiceType};
use super::meta::validate_labels;
use super::{port_number, port_number_or_name, NODE_PORT_RANGE};

pub(super) fn validate_service(s: &Service, errs: &mut Vec<FieldError>) {
    let spec = &s.spec;
    let path = FieldPath::new("spec");
    let service_type = s.service_type();
    let headless = s.is_headless();

    if spec.ports.is_empty() && !headless {
        errs.push(FieldError::required(path.child("ports"), ""));
    }
    let mut names = HashSet::new();
    let mut port_keys = HashSet::new();
    let mut node_ports = HashSet::new();
    for (i, p) in spec.ports.iter().enumerate() {
        let ppath = path.child("ports").index(i);
        match p.name.as_deref() {
            None | Some("") if spec.ports.len() > 1 => {
                errs.push(FieldError::required(ppath.child("name"), ""));
            }
            None | Some("") => {}
            Some(name) => {
                for msg in port_name_errors(name) {
                    errs.push(FieldError::invalid(ppath.child("name"), name, msg));
                }
                if !names.insert(name) {
                    errs.push(FieldError::duplicate(ppath.child("name"), name));
                }
            }
        }
        port_number(p.port, ppath.child("port"), errs);
        if let Some(t) = &p.target_port {
            port_number_or_name(t, ppath.child("targetPort"), errs);
        }
        let protocol = p.protocol.unwrap_or_default();
        if !port_keys.insert((p.port, protocol)) {
            errs.push(FieldError::duplicate(
                ppath.clone(),
                &format!("{}/{}", p.port, protocol.as_str()),
            ));
        }
        if let Some(np) = p.node_port.filter(|&np| np != 0) {
            if service_type == ServiceType::ClusterIp {
                errs.push(FieldError::forbidden(
                    ppath.child("nodePort"),
                    "may not be used when `type` is 'ClusterIP'",
                ));
            } else if !NODE_PORT_RANGE.contains(&np) {
                errs.push(FieldError::invalid_number(
                    ppath.child("nodePort"),
                    i64::from(np),
                    format!(
                        "provided port is not in the valid range. The range of valid ports is {}-{}",
                        NODE_PORT_RANGE.start(),
                        NODE_PORT_RANGE.end()
                    ),
                ));
            }
            if !node_ports.insert((np, protocol)) {
                errs.push(FieldError::duplicate(
                    ppath.child("nodePort"),
                    &np.to_string(),
                ));
            }
        }
    }
    validate_labels(&spec.selector, &path.child("selector"), errs);
    if let Some(ip) = spec.cluster_ip.as_deref() {
        if headless {
            if service_type != ServiceType::ClusterIp {
                errs.push(FieldError::invalid(
                    path.child("clusterIP"),
                    ip,
                    format!(
                        "may not be set to 'None' for {} services",
                        service_type.as_str()
                    ),
                ));
            }
        } else if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() {
            errs.push(FieldError::invalid(
                path.child("clusterIP"),
                ip,
                "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
            ));
        }
    }
    if let (Some(first), Some(ip)) = (spec.cluster_ips.first(), spec.cluster_ip.as_deref()) {
        if first != ip && !ip.is_empty() {
            errs.push(FieldError::invalid(
                path.child("clusterIPs").index(0),
                first,
                "must match `spec.clusterIP`",
            ));
        }
    }
}
