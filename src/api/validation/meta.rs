//! `metadata` rules (Kubernetes' `ValidateObjectMeta`): names per kind, labels, annotations,
//! owner references.
use std::collections::BTreeMap;

use super::super::field_path::{FieldError, FieldPath};
use super::super::kind::Kind;
use super::super::meta::ObjectMeta;
use super::super::names::{label_value_errors, qualified_name_errors, NameRule};
use super::ANNOTATIONS_SIZE_MAX_BYTES;

/// The rule `metadata.name` follows for each kind.
pub fn name_rule(kind: Kind) -> NameRule {
    match kind {
        Kind::Namespace => NameRule::Dns1123Label,
        Kind::Service => NameRule::Dns1035Label,
        _ => NameRule::Dns1123Subdomain,
    }
}

/// Checks `metadata` of an object of `kind`.
pub fn validate_object_meta(meta: &ObjectMeta, kind: Kind, errs: &mut Vec<FieldError>) {
    let path = FieldPath::new("metadata");
    let rule = name_rule(kind);
    if meta.name.is_empty() {
        if meta.generate_name.is_empty() {
            errs.push(FieldError::required(
                path.child("name"),
                "name or generateName is required",
            ));
        }
    } else {
        for msg in rule.errors(&meta.name) {
            errs.push(FieldError::invalid(path.child("name"), &meta.name, msg));
        }
    }
    if !meta.generate_name.is_empty() {
        // A generated name gets a suffix, so a trailing dash is fine in the prefix.
        let prefix = meta
            .generate_name
            .strip_suffix('-')
            .unwrap_or(&meta.generate_name);
        for msg in rule.errors(prefix) {
            errs.push(FieldError::invalid(
                path.child("generateName"),
                &meta.generate_name,
                msg,
            ));
        }
    }
    if !kind.namespaced() && meta.namespace.is_some() {
        errs.push(FieldError::forbidden(
            path.child("namespace"),
            "not allowed on this type",
        ));
    }
    if meta.generation < 0 {
        errs.push(FieldError::invalid_number(
            path.child("generation"),
            meta.generation,
            "must be greater than or equal to 0",
        ));
    }
    validate_labels(&meta.labels, &path.child("labels"), errs);
    validate_annotations(&meta.annotations, &path.child("annotations"), errs);
    validate_owner_references(meta, &path.child("ownerReferences"), errs);
    for (i, f) in meta.finalizers.iter().enumerate() {
        for msg in qualified_name_errors(f) {
            errs.push(FieldError::invalid(
                path.child("finalizers").index(i),
                f,
                msg,
            ));
        }
    }
}

/// Label keys are qualified names, values label values.
pub fn validate_labels(
    labels: &BTreeMap<String, String>,
    path: &FieldPath,
    errs: &mut Vec<FieldError>,
) {
    for (k, v) in labels {
        for msg in qualified_name_errors(k) {
            errs.push(FieldError::invalid(path.clone(), k, msg));
        }
        for msg in label_value_errors(v) {
            errs.push(FieldError::invalid(path.key(k), v, msg));
        }
    }
}

fn validate_annotations(
    annotations: &BTreeMap<String, String>,
    path: &FieldPath,
    errs: &mut Vec<FieldError>,
) {
    let mut total = 0;
    for (k, v) in annotations {
        for msg in qualified_name_errors(&k.to_ascii_lowercase()) {
            errs.push(FieldError::invalid(path.clone(), k, msg));
        }
        total += k.len() + v.len();
    }
    if total > ANNOTATIONS_SIZE_MAX_BYTES {
        errs.push(FieldError::too_long(
            path.clone(),
            ANNOTATIONS_SIZE_MAX_BYTES,
        ));
    }
}

fn validate_owner_references(meta: &ObjectMeta, path: &FieldPath, errs: &mut Vec<FieldError>) {
    let mut controllers = 0;
    for (i, r) in meta.owner_references.iter().enumerate() {
        let p = path.index(i);
        for (field, value) in [
            ("apiVersion", &r.api_version),
            ("kind", &r.kind),
            ("name", &r.name),
            ("uid", &r.uid),
        ] {
            if value.is_empty() {
                errs.push(FieldError::invalid(
                    p.child(field),
                    value,
                    format!("{field} must not be empty"),
                ));
            }
        }
        if r.is_controller() {
            controllers += 1;
        }
    }
    if controllers > 1 {
        errs.push(FieldError::invalid_rendered(
            path.clone(),
            format!("{controllers} controllers"),
            "Only one reference can have Controller set to true",
        ));
    }
}
