//! What a list or watch returns: objects matching the label selector, the field selector and,
//! for a node's requests, bound to that node.
use std::collections::BTreeMap;

use super::super::error::ApiError;
use super::super::field_selector::{self, field_value};
use super::super::object::labels;
use super::super::query::Query;
use crate::api::{FieldSelector, Selector};
use crate::store::Object;

/// The filter of one list or watch.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    labels: Option<Selector>,
    fields: Option<FieldSelector>,
    /// Only pods bound to this node.
    node: Option<String>,
}

impl Filter {
    pub fn new(
        query: &Query,
        fields: Option<FieldSelector>,
        node: Option<String>,
    ) -> Result<Filter, ApiError> {
        let labels = query
            .label_selector
            .as_deref()
            .map(|text| {
                Selector::parse(text).map_err(|e| ApiError::BadQuery {
                    param: "labelSelector",
                    value: text.to_string(),
                    problem: e.to_string(),
                })
            })
            .transpose()?;
        Ok(Filter {
            labels,
            fields,
            node,
        })
    }

    pub fn matches(&self, object: &Object) -> bool {
        self.node
            .as_deref()
            .is_none_or(|node| field_value(object, "spec.nodeName") == node)
            && self
                .fields
                .as_ref()
                .is_none_or(|f| field_selector::matches(f, object))
            && self.labels.as_ref().is_none_or(|selector| {
                let labels: BTreeMap<String, String> = labels(object)
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                selector.matches(&labels)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Kind;
    use serde_json::json;

    #[test]
    fn label_field_and_node_filters_combine() {
        let query = Query {
            label_selector: Some("app=web,tier in (front,back),!legacy".into()),
            ..Query::default()
        };
        let fields = field_selector::parse("status.phase=Running", Kind::Pod).ok();
        let filter = Filter::new(&query, fields, Some("pi-1".into())).unwrap();
        let pod = |labels: serde_json::Value, node: &str| json!({"metadata": {"labels": labels}, "spec": {"nodeName": node}, "status": {"phase": "Running"}});
        assert!(filter.matches(&pod(json!({"app": "web", "tier": "front"}), "pi-1")));
        assert!(!filter.matches(&pod(json!({"app": "web", "tier": "front"}), "pi-2")));
        assert!(!filter.matches(&pod(json!({"app": "web", "tier": "db"}), "pi-1")));
        assert!(!filter.matches(&pod(
            json!({"app": "web", "tier": "front", "legacy": "y"}),
            "pi-1"
        )));
    }

    #[test]
    fn a_malformed_label_selector_is_a_bad_request() {
        let query = Query {
            label_selector: Some("app in (web".into()),
            ..Query::default()
        };
        let error = Filter::new(&query, None, None).unwrap_err();
        assert_eq!(error.to_status().code, 400);
    }
}
