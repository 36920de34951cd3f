//! ConfigMap and Secret rules: keys, total size, keys a Secret type requires.
use std::collections::BTreeSet;

use super::super::configmap::ConfigMap;
use super::super::field_path::{FieldError, FieldPath};
use super::super::names::config_key_errors;
use super::super::secret::{secret_type, Secret};
use super::CONFIG_DATA_SIZE_MAX_BYTES;

fn check_keys<'a>(
    keys: impl Iterator<Item = &'a String>,
    path: &FieldPath,
    errs: &mut Vec<FieldError>,
) {
    for k in keys {
        for msg in config_key_errors(k) {
            errs.push(FieldError::invalid(path.clone(), k, msg));
        }
    }
}

pub(super) fn validate_config_map(c: &ConfigMap, errs: &mut Vec<FieldError>) {
    check_keys(c.data.keys(), &FieldPath::new("data"), errs);
    check_keys(c.binary_data.keys(), &FieldPath::new("binaryData"), errs);
    for k in c.binary_data.keys() {
        if c.data.contains_key(k) {
            errs.push(FieldError::invalid(
                FieldPath::new("binaryData"),
                k,
                "duplicate of key present in data",
            ));
        }
    }
    let size: usize = c.data.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>()
        + c.binary_data
            .iter()
            .map(|(k, v)| k.len() + v.as_bytes().len())
            .sum::<usize>();
    if size > CONFIG_DATA_SIZE_MAX_BYTES {
        errs.push(FieldError::too_long(
            FieldPath::new("data"),
            CONFIG_DATA_SIZE_MAX_BYTES,
        ));
    }
}

pub(super) fn validate_secret(s: &Secret, errs: &mut Vec<FieldError>) {
    check_keys(s.data.keys(), &FieldPath::new("data"), errs);
    check_keys(s.string_data.keys(), &FieldPath::new("stringData"), errs);
    let size: usize = s
        .data
        .iter()
        .map(|(k, v)| k.len() + v.as_bytes().len())
        .sum::<usize>()
        + s.string_data
            .iter()
            .map(|(k, v)| k.len() + v.len())
            .sum::<usize>();
    if size > CONFIG_DATA_SIZE_MAX_BYTES {
        errs.push(FieldError::too_long(
            FieldPath::new("data"),
            CONFIG_DATA_SIZE_MAX_BYTES,
        ));
    }
    let keys: BTreeSet<&str> = s
        .data
        .keys()
        .chain(s.string_data.keys())
        .map(String::as_str)
        .collect();
    let require = |key: &str, errs: &mut Vec<FieldError>| {
        if !keys.contains(key) {
            errs.push(FieldError::required(FieldPath::new("data").key(key), ""));
        }
    };
    match s.type_.as_deref().unwrap_or(secret_type::OPAQUE) {
        secret_type::TLS => {
            require("tls.crt", errs);
            require("tls.key", errs);
        }
        secret_type::DOCKER_CONFIG_JSON => require(".dockerconfigjson", errs),
        secret_type::SSH_AUTH => require("ssh-privatekey", errs),
        secret_type::BASIC_AUTH if !keys.contains("username") && !keys.contains("password") => {
            errs.push(FieldError::required(
                FieldPath::new("data").key("username"),
                "",
            ));
        }
        _ => {}
    }
}
