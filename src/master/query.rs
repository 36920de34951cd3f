//! Query parameters of API requests (`watch`, `resourceVersion`, `labelSelector`,
//! `fieldSelector`, `propagationPolicy`, `fieldValidation`/`strict`, `timeoutSeconds`), parsed
//! once with typed errors.
use super::error::ApiError;
use super::gc::Propagation;

/// The longest watch a client may ask for with `timeoutSeconds`.
pub const WATCH_TIMEOUT_MAX_S: u64 = 24 * 3600;

/// The query parameters the API server understands. Unknown parameters are ignored, as
/// Kubernetes does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// `watch=true|1`.
    pub watch: bool,
    /// `resourceVersion=N`; `0` and absent mean "from the current state".
    pub resource_version: Option<u64>,
    /// `labelSelector=…` in the `-l` string form.
    pub label_selector: Option<String>,
    /// `fieldSelector=…` (`metadata.name=x,spec.nodeName=pi-1`).
    pub field_selector: Option<String>,
    /// `propagationPolicy=Background|Foreground|Orphan`.
    pub propagation_policy: Option<Propagation>,
    /// `fieldValidation=Strict` or `strict=true`: unsupported fields are errors.
    pub strict: bool,
    /// `timeoutSeconds=N`: end a watch after N seconds.
    pub timeout_s: Option<u64>,
    /// `namespace=…` on `apply`: where objects without a namespace go.
    pub namespace: Option<String>,
}

fn flag(param: &'static str, value: &str) -> Result<bool, ApiError> {
    match value {
        "true" | "1" | "" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(ApiError::BadQuery {
            param,
            value: value.to_string(),
            problem: "expected true or false".to_string(),
        }),
    }
}

fn number(param: &'static str, value: &str) -> Result<u64, ApiError> {
    value.parse().map_err(|_| ApiError::BadQuery {
        param,
        value: value.to_string(),
        problem: "expected a non-negative integer".to_string(),
    })
}

impl Query {
    /// Parses the query string of a request URI (`None` when there is none).
    pub fn parse(query: Option<&str>) -> Result<Query, ApiError> {
        let mut parsed = Query::default();
        let Some(query) = query else {
            return Ok(parsed);
        };
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            match key.as_ref() {
                "watch" => parsed.watch = flag("watch", &value)?,
                "resourceVersion" if value.is_empty() => parsed.resource_version = None,
                "resourceVersion" => {
                    let revision = number("resourceVersion", &value)?;
                    parsed.resource_version = Some(revision).filter(|r| *r > 0);
                }
                "labelSelector" => parsed.label_selector = Some(value.into_owned()),
                "fieldSelector" => parsed.field_selector = Some(value.into_owned()),
                "propagationPolicy" => {
                    parsed.propagation_policy = Some(Propagation::parse(&value).ok_or_else(
                        || ApiError::BadQuery {
                            param: "propagationPolicy",
                            value: value.to_string(),
                            problem: "expected Background, Foreground or Orphan".to_string(),
                        },
                    )?)
                }
                "strict" => parsed.strict = flag("strict", &value)?,
                "fieldValidation" => {
                    parsed.strict = match value.as_ref() {
                        "Strict" => true,
                        "Warn" | "Ignore" | "" => false,
                        _ => {
                            return Err(ApiError::BadQuery {
                                param: "fieldValidation",
                                value: value.to_string(),
                                problem: "expected Strict, Warn or Ignore".to_string(),
                            })
                        }
                    }
                }
                "timeoutSeconds" => {
                    parsed.timeout_s =
                        Some(number("timeoutSeconds", &value)?.min(WATCH_TIMEOUT_MAX_S))
                }
                "namespace" => parsed.namespace = Some(value.into_owned()),
                _ => {}
            }
        }
        Ok(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_query_parses() {
        let q = Query::parse(Some(
            "watch=true&resourceVersion=42&labelSelector=app%3Dweb%2Ctier%21%3Dfront&timeoutSeconds=5",
        ))
        .unwrap();
        assert!(q.watch);
        assert_eq!(q.resource_version, Some(42));
        assert_eq!(q.label_selector.as_deref(), Some("app=web,tier!=front"));
        assert_eq!(q.timeout_s, Some(5));
    }

    #[test]
    fn zero_resource_version_means_current_state() {
        assert_eq!(
            Query::parse(Some("resourceVersion=0"))
                .unwrap()
                .resource_version,
            None
        );
    }

    #[test]
    fn bad_values_are_bad_requests() {
        let error = Query::parse(Some("resourceVersion=abc")).unwrap_err();
        assert_eq!(error.to_status().code, 400);
        assert!(Query::parse(Some("propagationPolicy=Sometimes")).is_err());
        assert!(Query::parse(Some("fieldValidation=Strict")).unwrap().strict);
    }
}
