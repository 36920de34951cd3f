//! What a list or watch returns: objects matching the label selector, the field selector and,
//! for a node's requests, bound to that node.
use super::super::error::ApiError;
use super::super::field_selector::{field_value, FieldSelector};
use super::super::object::labels;
use super::super::query::Query;
use crate::store::Object;

/// The filter of one list or watch.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    labels: Option<placeholder::LabelSelector>,
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
                placeholder::LabelSelector::parse(text).map_err(|problem| ApiError::BadQuery {
                    param: "labelSelector",
                    value: text.to_string(),
                    problem,
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
            && self.fields.as_ref().is_none_or(|f| f.matches(object))
            && self
                .labels
                .as_ref()
                .is_none_or(|l| l.matches(&labels(object)))
    }
}

/// Label selectors in the `-l` string form, pending `crate::api`'s selector.
mod placeholder {
    #[derive(Debug, Clone)]
    enum Term {
        Equals(String, String),
        NotEquals(String, String),
        In(String, Vec<String>),
        NotIn(String, Vec<String>),
        Exists(String),
        NotExists(String),
    }

    #[derive(Debug, Clone)]
    pub struct LabelSelector(Vec<Term>);

    fn split_terms(text: &str) -> Vec<&str> {
        let mut terms = Vec::new();
        let (mut depth, mut start) = (0i32, 0);
        for (i, c) in text.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                ',' if depth == 0 => {
                    terms.push(&text[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        terms.push(&text[start..]);
        terms
            .into_iter()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .collect()
    }

    fn set(values: &str) -> Result<Vec<String>, String> {
        let inner = values
            .trim()
            .strip_prefix('(')
            .and_then(|v| v.strip_suffix(')'))
            .ok_or_else(|| format!("expected (values) in {values:?}"))?;
        Ok(inner.split(',').map(|v| v.trim().to_string()).collect())
    }

    impl LabelSelector {
        pub fn parse(text: &str) -> Result<LabelSelector, String> {
            let mut terms = Vec::new();
            for term in split_terms(text) {
                let parsed = if let Some((k, v)) = term.split_once("!=") {
                    Term::NotEquals(k.trim().into(), v.trim().into())
                } else if let Some((k, v)) = term.split_once("==") {
                    Term::Equals(k.trim().into(), v.trim().into())
                } else if let Some((k, v)) = term.split_once('=') {
                    Term::Equals(k.trim().into(), v.trim().into())
                } else if let Some((k, v)) = term.split_once(" notin ") {
                    Term::NotIn(k.trim().into(), set(v)?)
                } else if let Some((k, v)) = term.split_once(" in ") {
                    Term::In(k.trim().into(), set(v)?)
                } else if let Some(k) = term.strip_prefix('!') {
                    Term::NotExists(k.trim().into())
                } else if term.contains(' ') || term.contains('(') {
                    return Err(format!("cannot parse selector term {term:?}"));
                } else {
                    Term::Exists(term.into())
                };
                terms.push(parsed);
            }
            Ok(LabelSelector(terms))
        }

        pub fn matches(&self, labels: &[(&str, &str)]) -> bool {
            let get = |key: &str| labels.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
            self.0.iter().all(|term| match term {
                Term::Equals(k, v) => get(k) == Some(v.as_str()),
                Term::NotEquals(k, v) => get(k) != Some(v.as_str()),
                Term::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
                Term::NotIn(k, vs) => get(k).is_none_or(|x| vs.iter().all(|v| v != x)),
                Term::Exists(k) => get(k).is_some(),
                Term::NotExists(k) => get(k).is_none(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_field_and_node_filters_combine() {
        let query = Query {
            label_selector: Some("app=web,tier in (front,back),!legacy".into()),
            ..Query::default()
        };
        let fields = FieldSelector::parse("status.phase=Running").ok();
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
}
