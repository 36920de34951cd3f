//! Node and Event rules: taints, pod CIDRs, capacity; an event's namespace matches its
//! object's.
use std::collections::HashSet;

use super::super::event::Event;
use super::super::field_path::{FieldError, FieldPath};
use super::super::names::{label_value_errors, qualified_name_errors};
use super::super::node::Node;

pub(super) fn validate_node(n: &Node, errs: &mut Vec<FieldError>) {
    let path = FieldPath::new("spec");
    let mut seen = HashSet::new();
    for (i, t) in n.spec.taints.iter().enumerate() {
        let tpath = path.child("taints").index(i);
        if t.key.is_empty() {
            errs.push(FieldError::required(tpath.child("key"), ""));
        } else {
            for msg in qualified_name_errors(&t.key) {
                errs.push(FieldError::invalid(tpath.child("key"), &t.key, msg));
            }
        }
        if let Some(v) = &t.value {
            for msg in label_value_errors(v) {
                errs.push(FieldError::invalid(tpath.child("value"), v, msg));
            }
        }
        if !seen.insert((t.key.as_str(), t.effect)) {
            errs.push(FieldError::duplicate(
                tpath,
                &format!("{}:{:?}", t.key, t.effect),
            ));
        }
    }
    for (cidr, p) in n
        .spec
        .pod_cidr
        .iter()
        .map(|c| (c, path.child("podCIDR")))
        .chain(
            n.spec
                .pod_cidrs
                .iter()
                .enumerate()
                .map(|(i, c)| (c, path.child("podCIDRs").index(i))),
        )
    {
        if !is_cidr(cidr) {
            errs.push(FieldError::invalid(p, cidr, "must be a valid CIDR"));
        }
    }
    if let Some(status) = &n.status {
        let spath = FieldPath::new("status");
        for (map, field) in [
            (&status.capacity, "capacity"),
            (&status.allocatable, "allocatable"),
        ] {
            for (name, q) in map {
                if q.signum() < 0 {
                    errs.push(FieldError::invalid(
                        spath.child(field).key(name),
                        &q.to_string(),
                        "must be greater than or equal to 0",
                    ));
                }
            }
        }
    }
}

fn is_cidr(s: &str) -> bool {
    let Some((ip, bits)) = s.split_once('/') else {
        return false;
    };
    let Ok(bits) = bits.parse::<u8>() else {
        return false;
    };
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => bits <= 32,
        Ok(std::net::IpAddr::V6(_)) => bits <= 128,
        Err(_) => false,
    }
}

pub(super) fn validate_event(e: &Event, errs: &mut Vec<FieldError>) {
    let object_ns = e.involved_object.namespace.as_deref().unwrap_or("");
    let event_ns = e.metadata.namespace.as_ref().map_or("", |n| n.as_str());
    if !object_ns.is_empty() && !event_ns.is_empty() && object_ns != event_ns {
        errs.push(FieldError::invalid(
            FieldPath::new("involvedObject").child("namespace"),
            object_ns,
            "does not match event.namespace",
        ));
    }
    if let Some(c) = e.count {
        super::non_negative(i64::from(c), FieldPath::new("count"), errs);
    }
}
