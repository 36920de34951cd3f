//! Field selectors (`metadata.name=web,spec.nodeName!=pi-2`), parsed like Kubernetes'
//! `fields.ParseSelector`, and the fields each kind can be selected by.
use std::fmt;

use super::kind::Kind;
use super::resource::Resource;

/// `=` / `==` or `!=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldOperator {
    Equals,
    NotEquals,
}

/// One `field=value` or `field!=value` term.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldTerm {
    pub field: String,
    pub operator: FieldOperator,
    pub value: String,
}

/// All terms must hold. Empty: matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FieldSelector {
    terms: Vec<FieldTerm>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldSelectorError {
    /// a term has no `=`, `==` or `!=`
    #[error("invalid selector: '{selector}'; can't understand '{term}'")]
    Malformed { selector: String, term: String },
    /// a backslash escapes something other than `\`, `,` or `=`
    #[error("invalid field selector value {value:?}: invalid escape sequence")]
    InvalidEscape { value: String },
    /// the kind cannot be selected by this field
    #[error("field label not supported: {field}")]
    UnsupportedField { field: String },
}

impl FieldSelector {
    /// Parses `a=b,c==d,e!=f`. Values may escape `\`, `,` and `=` with a backslash.
    pub fn parse(selector: &str) -> Result<FieldSelector, FieldSelectorError> {
        let mut parts = split_terms(selector);
        parts.sort();
        let mut terms = Vec::new();
        for part in parts {
            if part.is_empty() {
                continue;
            }
            let (field, operator, raw) =
                split_term(&part).ok_or_else(|| FieldSelectorError::Malformed {
                    selector: selector.to_string(),
                    term: part.clone(),
                })?;
            terms.push(FieldTerm {
                field: field.to_string(),
                operator,
                value: unescape(raw)?,
            });
        }
        Ok(FieldSelector { terms })
    }

    pub fn terms(&self) -> &[FieldTerm] {
        &self.terms
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Whether every term holds, reading field values with `get` (a missing field reads as
    /// the empty string, as in Kubernetes).
    pub fn matches_with(&self, get: impl Fn(&str) -> Option<String>) -> bool {
        self.terms.iter().all(|t| {
            let have = get(&t.field).unwrap_or_default();
            match t.operator {
                FieldOperator::Equals => have == t.value,
                FieldOperator::NotEquals => have != t.value,
            }
        })
    }

    /// Checks that `kind` can be selected by every field used.
    pub fn check_supported(&self, kind: Kind) -> Result<(), FieldSelectorError> {
        match self
            .terms
            .iter()
            .find(|t| !supported_fields(kind).contains(&t.field.as_str()))
        {
            Some(t) => Err(FieldSelectorError::UnsupportedField {
                field: t.field.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Whether `resource` matches; an unsupported field is an error.
    pub fn matches(&self, resource: &Resource) -> Result<bool, FieldSelectorError> {
        self.check_supported(resource.kind())?;
        Ok(self.matches_with(|f| field_value(resource, f)))
    }
}

impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, t) in self.terms.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            let op = match t.operator {
                FieldOperator::Equals => "=",
                FieldOperator::NotEquals => "!=",
            };
            write!(f, "{}{op}{}", t.field, escape(&t.value))?;
        }
        Ok(())
    }
}

impl std::str::FromStr for FieldSelector {
    type Err = FieldSelectorError;
    fn from_str(s: &str) -> Result<FieldSelector, FieldSelectorError> {
        FieldSelector::parse(s)
    }
}

/// Splits on commas that are not escaped.
fn split_terms(s: &str) -> Vec<String> {
    let mut terms = Vec::new();
    let mut current = String::new();
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            current.push(c);
            escaped = false;
        } else if c == '\\' {
            current.push(c);
            escaped = true;
        } else if c == ',' {
            terms.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    terms.push(current);
    terms
}

/// The first operator occurrence splits the term (field names cannot escape).
fn split_term(term: &str) -> Option<(&str, FieldOperator, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        for (op, operator) in [
            ("!=", FieldOperator::NotEquals),
            ("==", FieldOperator::Equals),
            ("=", FieldOperator::Equals),
        ] {
            if let Some(value) = rest.strip_prefix(op) {
                return Some((&term[..i], operator, value));
            }
        }
    }
    None
}

fn unescape(raw: &str) -> Result<String, FieldSelectorError> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(e @ ('\\' | ',' | '=')) => out.push(e),
                _ => {
                    return Err(FieldSelectorError::InvalidEscape {
                        value: raw.to_string(),
                    })
                }
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace(',', "\\,")
        .replace('=', "\\=")
}

/// Fields each kind can be selected by (all kinds: `metadata.name`, `metadata.namespace`).
pub fn supported_fields(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Pod => &[
            "metadata.name",
            "metadata.namespace",
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
        ],
        Kind::Node => &["metadata.name", "metadata.namespace", "spec.unschedulable"],
        Kind::Secret => &["metadata.name", "metadata.namespace", "type"],
        Kind::Namespace => &["metadata.name", "metadata.namespace", "status.phase"],
        Kind::ReplicaSet => &["metadata.name", "metadata.namespace", "status.replicas"],
        Kind::Event => &[
            "metadata.name",
            "metadata.namespace",
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        _ => &["metadata.name", "metadata.namespace"],
    }
}

/// The value of a selectable field of `resource`, `None` when the kind has no such field.
pub fn field_value(resource: &Resource, field: &str) -> Option<String> {
    let meta = resource.meta();
    match field {
        "metadata.name" => return Some(meta.name.clone()),
        "metadata.namespace" => {
            return Some(
                meta.namespace
                    .as_ref()
                    .map(|n| n.to_string())
                    .unwrap_or_default(),
            )
        }
        _ => {}
    }
    match resource {
        Resource::Pod(p) => match field {
            "spec.nodeName" => Some(
                p.spec
                    .node_name
                    .as_ref()
                    .map(|n| n.to_string())
                    .unwrap_or_default(),
            ),
            "spec.restartPolicy" => Some(
                p.spec
                    .restart_policy
                    .map(|r| format!("{r:?}"))
                    .unwrap_or_default(),
            ),
            "spec.hostNetwork" => Some(p.spec.host_network.to_string()),
            "status.phase" => Some(
                p.status
                    .as_ref()
                    .and_then(|s| s.phase)
                    .map(|ph| ph.as_str().to_string())
                    .unwrap_or_default(),
            ),
            "status.podIP" => Some(
                p.status
                    .as_ref()
                    .and_then(|s| s.pod_ip.clone())
                    .unwrap_or_default(),
            ),
            _ => None,
        },
        Resource::Node(n) if field == "spec.unschedulable" => {
            Some(n.spec.unschedulable.to_string())
        }
        Resource::Secret(s) if field == "type" => Some(s.type_.clone().unwrap_or_default()),
        Resource::Namespace(n) if field == "status.phase" => Some(
            n.status
                .as_ref()
                .and_then(|s| s.phase)
                .map(|p| format!("{p:?}"))
                .unwrap_or_default(),
        ),
        Resource::ReplicaSet(r) if field == "status.replicas" => {
            Some(r.status.as_ref().map_or(0, |s| s.replicas).to_string())
        }
        Resource::Event(e) => {
            let o = &e.involved_object;
            Some(match field {
                "involvedObject.kind" => o.kind.clone(),
                "involvedObject.namespace" => o.namespace.clone().unwrap_or_default(),
                "involvedObject.name" => o.name.clone(),
                "involvedObject.uid" => o.uid.clone(),
                "involvedObject.apiVersion" => o.api_version.clone(),
                "involvedObject.resourceVersion" => o.resource_version.clone(),
                "involvedObject.fieldPath" => o.field_path.clone(),
                "reason" => e.reason.clone().unwrap_or_default(),
                "reportingComponent" => e.reporting_component.clone().unwrap_or_default(),
                "source" => e
                    .source
                    .as_ref()
                    .map(|s| s.component.clone())
                    .unwrap_or_default(),
                "type" => e.type_.map(|t| format!("{t:?}")).unwrap_or_default(),
                _ => return None,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{NodeName, ObjectMeta, Pod};

    fn pod(name: &str, node: &str) -> Resource {
        let mut p = Pod {
            metadata: ObjectMeta::named(name, None),
            ..Pod::default()
        };
        p.spec.node_name = Some(NodeName::new(node).unwrap());
        Resource::Pod(p)
    }

    #[test]
    fn field_selectors_parse_and_print() {
        let table: &[(&str, &str)] = &[
            ("", ""),
            ("metadata.name=web", "metadata.name=web"),
            ("metadata.name==web", "metadata.name=web"),
            ("spec.nodeName!=pi-2", "spec.nodeName!=pi-2"),
            (
                "spec.nodeName=pi-2,metadata.name=x",
                "metadata.name=x,spec.nodeName=pi-2",
            ),
            ("metadata.name=a\\,b", "metadata.name=a\\,b"),
            ("metadata.name=", "metadata.name="),
            (",metadata.name=x,", "metadata.name=x"),
        ];
        for (input, want) in table {
            let s = FieldSelector::parse(input).unwrap();
            assert_eq!(s.to_string(), *want, "{input}");
            assert_eq!(FieldSelector::parse(&s.to_string()).unwrap(), s);
        }
        assert_eq!(
            FieldSelector::parse("metadata.name=a\\,b").unwrap().terms()[0].value,
            "a,b"
        );
    }

    #[test]
    fn malformed_field_selectors_are_errors() {
        assert!(matches!(
            FieldSelector::parse("metadata.name"),
            Err(FieldSelectorError::Malformed { .. })
        ));
        assert!(matches!(
            FieldSelector::parse("metadata.name=a\\b"),
            Err(FieldSelectorError::InvalidEscape { .. })
        ));
    }

    #[test]
    fn field_selectors_match_pods_by_name_and_node() {
        let p = pod("web-1", "pi-2");
        let yes = FieldSelector::parse("metadata.name=web-1,spec.nodeName=pi-2").unwrap();
        let no = FieldSelector::parse("spec.nodeName!=pi-2").unwrap();
        assert!(yes.matches(&p).unwrap());
        assert!(!no.matches(&p).unwrap());
        let unsupported = FieldSelector::parse("spec.nodeName=pi-2").unwrap();
        let svc = Resource::Service(crate::api::Service::default());
        assert_eq!(
            unsupported.matches(&svc),
            Err(FieldSelectorError::UnsupportedField {
                field: "spec.nodeName".into()
            })
        );
    }
}
