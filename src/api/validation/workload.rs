//! Deployment, ReplicaSet and DaemonSet rules: selector required and matching the template's
//! labels, template valid with `restartPolicy: Always`, strategy parameters in range.
use super::super::daemonset::{DaemonSet, DaemonSetUpdateStrategyType};
use super::super::deployment::{Deployment, DeploymentStrategyType};
use super::super::field_path::{FieldError, FieldPath};
use super::super::int_or_string::IntOrString;
use super::super::names::{label_value_errors, qualified_name_errors};
use super::super::pod::PodTemplateSpec;
use super::super::replicaset::ReplicaSet;
use super::super::selector::{LabelSelector, LabelSelectorOperator};
use super::meta::validate_labels;
use super::non_negative;
use super::pod::validate_pod_spec;

pub(super) fn validate_deployment(d: &Deployment, errs: &mut Vec<FieldError>) {
    let spec = &d.spec;
    let path = FieldPath::new("spec");
    if let Some(r) = spec.replicas {
        non_negative(i64::from(r), path.child("replicas"), errs);
    }
    validate_selector_and_template(
        spec.selector.as_ref(),
        &spec.template,
        "deployment",
        &path,
        errs,
    );
    if let Some(strategy) = &spec.strategy {
        let spath = path.child("strategy");
        match strategy.type_.unwrap_or_default() {
            DeploymentStrategyType::Recreate => {
                if strategy.rolling_update.is_some() {
                    errs.push(FieldError::forbidden(
                        spath.child("rollingUpdate"),
                        "may not be specified when strategy `type` is 'Recreate'",
                    ));
                }
            }
            DeploymentStrategyType::RollingUpdate => {
                if let Some(ru) = &strategy.rolling_update {
                    let rpath = spath.child("rollingUpdate");
                    let unavailable = ru.max_unavailable.as_ref();
                    let surge = ru.max_surge.as_ref();
                    if let Some(v) = unavailable {
                        positive_int_or_percent(v, rpath.child("maxUnavailable"), errs);
                        at_most_100_percent(v, rpath.child("maxUnavailable"), errs);
                    }
                    if let Some(v) = surge {
                        positive_int_or_percent(v, rpath.child("maxSurge"), errs);
                    }
                    if unavailable.is_some_and(is_zero) && surge.is_none_or(is_zero) {
                        errs.push(FieldError::invalid(
                            rpath.child("maxUnavailable"),
                            &unavailable.map(|v| v.to_string()).unwrap_or_default(),
                            "may not be 0 when `maxSurge` is 0",
                        ));
                    }
                }
            }
        }
    }
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    non_negative(i64::from(min_ready), path.child("minReadySeconds"), errs);
    if let Some(h) = spec.revision_history_limit {
        non_negative(i64::from(h), path.child("revisionHistoryLimit"), errs);
    }
    if let Some(p) = spec.progress_deadline_seconds {
        non_negative(i64::from(p), path.child("progressDeadlineSeconds"), errs);
        if p <= min_ready {
            errs.push(FieldError::invalid_number(
                path.child("progressDeadlineSeconds"),
                i64::from(p),
                "must be greater than minReadySeconds",
            ));
        }
    }
}

pub(super) fn validate_replica_set(r: &ReplicaSet, errs: &mut Vec<FieldError>) {
    let path = FieldPath::new("spec");
    if let Some(n) = r.spec.replicas {
        non_negative(i64::from(n), path.child("replicas"), errs);
    }
    if let Some(m) = r.spec.min_ready_seconds {
        non_negative(i64::from(m), path.child("minReadySeconds"), errs);
    }
    validate_selector_and_template(
        r.spec.selector.as_ref(),
        &r.spec.template,
        "replicaset",
        &path,
        errs,
    );
}

pub(super) fn validate_daemon_set(d: &DaemonSet, errs: &mut Vec<FieldError>) {
    let spec = &d.spec;
    let path = FieldPath::new("spec");
    validate_selector_and_template(
        spec.selector.as_ref(),
        &spec.template,
        "daemonset",
        &path,
        errs,
    );
    if let Some(strategy) = &spec.update_strategy {
        let spath = path.child("updateStrategy");
        match strategy.type_.unwrap_or_default() {
            DaemonSetUpdateStrategyType::OnDelete => {
                if strategy.rolling_update.is_some() {
                    errs.push(FieldError::forbidden(
                        spath.child("rollingUpdate"),
                        "may not be specified when strategy `type` is 'OnDelete'",
                    ));
                }
            }
            DaemonSetUpdateStrategyType::RollingUpdate => {
                if let Some(ru) = &strategy.rolling_update {
                    let rpath = spath.child("rollingUpdate");
                    let unavailable = ru.max_unavailable.as_ref();
                    let surge = ru.max_surge.as_ref();
                    for (v, field) in [(unavailable, "maxUnavailable"), (surge, "maxSurge")] {
                        if let Some(v) = v {
                            positive_int_or_percent(v, rpath.child(field), errs);
                            at_most_100_percent(v, rpath.child(field), errs);
                        }
                    }
                    let unavailable_zero = unavailable.is_none_or(is_zero);
                    let surge_zero = surge.is_none_or(is_zero);
                    if unavailable_zero && surge_zero {
                        errs.push(FieldError::invalid(
                            rpath.child("maxUnavailable"),
                            &unavailable.map(|v| v.to_string()).unwrap_or_default(),
                            "may not be 0 when `maxSurge` is 0",
                        ));
                    }
                    if !unavailable_zero && !surge_zero {
                        errs.push(FieldError::invalid(
                            rpath.child("maxSurge"),
                            &surge.map(|v| v.to_string()).unwrap_or_default(),
                            "may not be set when maxUnavailable is non-zero",
                        ));
                    }
                }
            }
        }
    }
    if let Some(m) = spec.min_ready_seconds {
        non_negative(i64::from(m), path.child("minReadySeconds"), errs);
    }
    if let Some(h) = spec.revision_history_limit {
        non_negative(i64::from(h), path.child("revisionHistoryLimit"), errs);
    }
}

/// The selector is required, valid, not empty, and matches the template's labels; the
/// template is a valid pod template.
fn validate_selector_and_template(
    selector: Option<&LabelSelector>,
    template: &PodTemplateSpec,
    kind_word: &str,
    path: &FieldPath,
    errs: &mut Vec<FieldError>,
) {
    let spath = path.child("selector");
    let tpath = path.child("template");
    match selector {
        None => errs.push(FieldError::required(spath, "")),
        Some(s) if s.is_empty() => errs.push(FieldError::invalid_rendered(
            spath,
            "{}",
            format!("empty selector is invalid for {kind_word}"),
        )),
        Some(s) => {
            let before = errs.len();
            validate_label_selector(s, &spath, errs);
            if errs.len() == before {
                if let Ok(compiled) = s.to_selector() {
                    if !compiled.matches(&template.metadata.labels) {
                        errs.push(FieldError::invalid_rendered(
                            tpath.child("metadata").child("labels"),
                            serde_json::to_string(&template.metadata.labels).unwrap_or_default(),
                            "`selector` does not match template `labels`",
                        ));
                    }
                }
            }
        }
    }
    validate_labels(
        &template.metadata.labels,
        &tpath.child("metadata").child("labels"),
        errs,
    );
    validate_pod_spec(&template.spec, &tpath.child("spec"), true, errs);
}

/// Kubernetes' `ValidateLabelSelector`.
fn validate_label_selector(s: &LabelSelector, path: &FieldPath, errs: &mut Vec<FieldError>) {
    validate_labels(&s.match_labels, &path.child("matchLabels"), errs);
    for (i, e) in s.match_expressions.iter().enumerate() {
        let epath = path.child("matchExpressions").index(i);
        for msg in qualified_name_errors(&e.key) {
            errs.push(FieldError::invalid(epath.child("key"), &e.key, msg));
        }
        match e.operator {
            LabelSelectorOperator::In | LabelSelectorOperator::NotIn => {
                if e.values.is_empty() {
                    errs.push(FieldError::required(
                        epath.child("values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    ));
                }
            }
            LabelSelectorOperator::Exists | LabelSelectorOperator::DoesNotExist => {
                if !e.values.is_empty() {
                    errs.push(FieldError::forbidden(
                        epath.child("values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
            }
        }
        for (j, v) in e.values.iter().enumerate() {
            for msg in label_value_errors(v) {
                errs.push(FieldError::invalid(epath.child("values").index(j), v, msg));
            }
        }
    }
}

fn is_zero(v: &IntOrString) -> bool {
    match v {
        IntOrString::Int(n) => *n == 0,
        IntOrString::String(_) => v.as_percent() == Some(0),
    }
}

/// A non-negative number or a `N%` string.
fn positive_int_or_percent(v: &IntOrString, path: FieldPath, errs: &mut Vec<FieldError>) {
    match v {
        IntOrString::Int(n) => non_negative(i64::from(*n), path, errs),
        IntOrString::String(s) => {
            let digits = s.strip_suffix('%');
            if !digits.is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())) {
                errs.push(FieldError::invalid(
                    path,
                    s,
                    "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
                ));
            }
        }
    }
}

fn at_most_100_percent(v: &IntOrString, path: FieldPath, errs: &mut Vec<FieldError>) {
    if let Some(p) = v.as_percent() {
        if p > 100 {
            errs.push(FieldError::invalid(
                path,
                &v.to_string(),
                "must not be greater than 100%",
            ));
        }
    }
}
