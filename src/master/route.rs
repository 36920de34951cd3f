//! Request paths and methods, parsed once into what the request is about: Kubernetes-shaped
//! resource paths for every kind, the Flotilla endpoints (`apply`, `tokens`) and the system
//! endpoints. Pure: no I/O.
use hyper::Method;

use crate::api::Kind;

/// The API group of Flotilla's own endpoints (`/apis/flotilla.dev/v1/…`).
pub const FLOTILLA_GROUP: &str = "flotilla.dev";

/// What a request path addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/healthz`: the process serves requests.
    Healthz,
    /// `/readyz`: the store is open and answers.
    Readyz,
    /// `/version`: build information.
    Version,
    /// `/metrics`: Prometheus text.
    Metrics,
    /// A Kubernetes resource path.
    Resource(ResourcePath),
    /// `/apis/flotilla.dev/v1/apply`: create-or-update a batch of objects.
    Apply,
    /// `/apis/flotilla.dev/v1/tokens[/{id}]`: join tokens.
    Tokens { id: Option<String> },
    /// `/api/v1/namespaces/{ns}/pods/{name}/log`: a container's log, from its node.
    PodLog { namespace: String, name: String },
    /// `/api/v1/namespaces/{ns}/pods/{name}/exec`: a command run in a container.
    PodExec { namespace: String, name: String },
    /// `/apis/metrics.k8s.io/v1beta1/nodes[/{name}]`: CPU and memory of nodes.
    NodeMetrics { name: Option<String> },
    /// `/apis/metrics.k8s.io/v1beta1/[namespaces/{ns}/]pods[/{name}]`: CPU and memory of pods.
    PodMetrics {
        namespace: Option<String>,
        name: Option<String>,
    },
}

/// The API group and version of resource metrics (what metrics-server serves to `kubectl top`).
pub const METRICS_GROUP_VERSION: &str = "metrics.k8s.io/v1beta1";

/// A Kubernetes resource path: a collection or one object, maybe its status subresource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourcePath {
    pub kind: Kind,
    /// The namespace in the path; `None` for cluster-scoped kinds and for lists across all
    /// namespaces.
    pub namespace: Option<String>,
    /// The object's name; `None` for the collection.
    pub name: Option<String>,
    /// Whether the path ends in `/status`.
    pub status: bool,
}

/// What a request does, in Kubernetes' authorization vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    List,
    Watch,
    Create,
    Update,
    Patch,
    Delete,
}

impl std::fmt::Display for Verb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
        })
    }
}

/// Parses a request path (without query). `None` when nothing lives there.
pub fn parse(path: &str) -> Option<Route> {
    let path = path.strip_suffix('/').unwrap_or(path);
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    match segments.as_slice() {
        ["healthz"] => Some(Route::Healthz),
        ["readyz"] => Some(Route::Readyz),
        ["version"] => Some(Route::Version),
        ["metrics"] => Some(Route::Metrics),
        ["apis", FLOTILLA_GROUP, "v1", "apply"] => Some(Route::Apply),
        ["apis", FLOTILLA_GROUP, "v1", "tokens"] => Some(Route::Tokens { id: None }),
        ["apis", FLOTILLA_GROUP, "v1", "tokens", id] if valid_segment(id) => Some(Route::Tokens {
            id: Some(id.to_string()),
        }),
        ["api", "v1", "namespaces", ns, "pods", name, sub @ ("log" | "exec")]
            if valid_segment(ns) && valid_segment(name) =>
        {
            let (namespace, name) = (ns.to_string(), name.to_string());
            Some(match *sub {
                "log" => Route::PodLog { namespace, name },
                _ => Route::PodExec { namespace, name },
            })
        }
        ["apis", "metrics.k8s.io", "v1beta1", rest @ ..] => metrics(rest),
        ["api", "v1", rest @ ..] => resource("", rest).map(Route::Resource),
        ["apis", group, "v1", rest @ ..] => resource(group, rest).map(Route::Resource),
        _ => None,
    }
}

fn valid_segment(segment: &str) -> bool {
    !segment.is_empty()
        && segment.len() <= 253
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

fn metrics(rest: &[&str]) -> Option<Route> {
    if rest.iter().any(|s| !valid_segment(s)) {
        return None;
    }
    let some = |s: &&str| Some(s.to_string());
    match rest {
        ["nodes"] => Some(Route::NodeMetrics { name: None }),
        ["nodes", name] => Some(Route::NodeMetrics { name: some(name) }),
        ["pods"] => Some(Route::PodMetrics {
            namespace: None,
            name: None,
        }),
        ["namespaces", ns, "pods"] => Some(Route::PodMetrics {
            namespace: some(ns),
            name: None,
        }),
        ["namespaces", ns, "pods", name] => Some(Route::PodMetrics {
            namespace: some(ns),
            name: some(name),
        }),
        _ => None,
    }
}

fn resource(group: &str, rest: &[&str]) -> Option<ResourcePath> {
    let path = |kind: Kind, namespace: Option<&str>, name: Option<&str>, status: bool| {
        Some(ResourcePath {
            kind,
            namespace: namespace.map(str::to_string),
            name: name.map(str::to_string),
            status,
        })
    };
    if rest.iter().any(|s| !valid_segment(s)) {
        return None;
    }
    match rest {
        // Namespaced kinds inside a namespace.
        ["namespaces", ns, plural, tail @ ..] if !tail.is_empty() || plural != &"status" => {
            let kind = Kind::from_path(group, plural).filter(|k| k.namespaced())?;
            match tail {
                [] => path(kind, Some(ns), None, false),
                [name] => path(kind, Some(ns), Some(name), false),
                [name, "status"] => path(kind, Some(ns), Some(name), true),
                _ => None,
            }
        }
        // Collections across namespaces, and cluster-scoped kinds.
        [plural, tail @ ..] => {
            let kind = Kind::from_path(group, plural)?;
            match (kind.namespaced(), tail) {
                (_, []) => path(kind, None, None, false),
                (false, [name]) => path(kind, None, Some(name), false),
                (false, [name, "status"]) => path(kind, None, Some(name), true),
                _ => None,
            }
        }
        [] => None,
    }
}

/// The verb of a request on a resource path. `None` when the method is not allowed there.
pub fn verb(method: &Method, path: &ResourcePath, watch: bool) -> Option<Verb> {
    let one = path.name.is_some();
    match (method.as_str(), one) {
        ("GET", true) if !watch => Some(Verb::Get),
        ("GET", false) if watch => Some(Verb::Watch),
        ("GET", false) => Some(Verb::List),
        ("POST", false) if !path.status && path.namespace.is_some() || !path.kind.namespaced() => {
            Some(Verb::Create)
        }
        ("PUT", true) => Some(Verb::Update),
        ("PATCH", true) => Some(Verb::Patch),
        ("DELETE", true) if !path.status => Some(Verb::Delete),
        _ => None,
    }
}

/// The REST path of a collection: of `namespace` for namespaced kinds (all namespaces when
/// `None`), or of a cluster-scoped kind (the namespace is ignored).
pub fn collection_path(kind: Kind, namespace: Option<&str>) -> String {
    let base = match kind.group() {
        "" => "/api/v1".to_string(),
        group => format!("/apis/{group}/v1"),
    };
    match namespace {
        Some(ns) if kind.namespaced() => format!("{base}/namespaces/{ns}/{}", kind.plural()),
        _ => format!("{base}/{}", kind.plural()),
    }
}

/// The REST path of one object.
pub fn object_path(kind: Kind, namespace: Option<&str>, name: &str) -> String {
    format!("{}/{name}", collection_path(kind, namespace))
}

/// The path of the apply endpoint.
pub const APPLY_PATH: &str = "/apis/flotilla.dev/v1/apply";
/// The path of the join-token collection.
pub const TOKENS_PATH: &str = "/apis/flotilla.dev/v1/tokens";

#[cfg(test)]
mod tests {
    use super::*;

    fn check(path: &str, expected: Option<(Kind, Option<&str>, Option<&str>, bool)>) {
        let got = match parse(path) {
            Some(Route::Resource(r)) => {
                Some((r.kind, r.namespace.clone(), r.name.clone(), r.status))
            }
            Some(other) => panic!("{path} parsed as {other:?}"),
            None => None,
        };
        let expected =
            expected.map(|(k, ns, n, s)| (k, ns.map(str::to_string), n.map(str::to_string), s));
        assert_eq!(got, expected, "{path}");
    }

    #[test]
    fn kubernetes_paths_parse_for_every_scope() {
        check(
            "/api/v1/namespaces/default/pods",
            Some((Kind::Pod, Some("default"), None, false)),
        );
        check(
            "/api/v1/namespaces/default/pods/web-1/status",
            Some((Kind::Pod, Some("default"), Some("web-1"), true)),
        );
        check(
            "/apis/apps/v1/namespaces/prod/deployments/web",
            Some((Kind::Deployment, Some("prod"), Some("web"), false)),
        );
        check(
            "/apis/apps/v1/deployments",
            Some((Kind::Deployment, None, None, false)),
        );
        check("/api/v1/pods", Some((Kind::Pod, None, None, false)));
        check(
            "/api/v1/nodes/pi-1",
            Some((Kind::Node, None, Some("pi-1"), false)),
        );
        check(
            "/api/v1/nodes/pi-1/status",
            Some((Kind::Node, None, Some("pi-1"), true)),
        );
        check(
            "/api/v1/namespaces",
            Some((Kind::Namespace, None, None, false)),
        );
        check(
            "/api/v1/namespaces/prod",
            Some((Kind::Namespace, None, Some("prod"), false)),
        );
        check(
            "/api/v1/namespaces/prod/status",
            Some((Kind::Namespace, None, Some("prod"), true)),
        );
    }

    #[test]
    fn wrong_groups_scopes_and_names_do_not_parse() {
        check("/api/v1/deployments", None);
        check("/apis/apps/v1/pods", None);
        check("/api/v1/pods/web-1", None);
        check("/api/v1/namespaces/default/nodes", None);
        check("/api/v1/namespaces/default/pods/a/b/c", None);
        assert_eq!(parse("/api/v1/namespaces/default/pods/a%2Fb"), None);
        assert_eq!(parse("/nothing"), None);
    }

    #[test]
    fn built_paths_parse_back() {
        for kind in Kind::ALL {
            let path = object_path(kind, Some("prod"), "x");
            let Some(Route::Resource(parsed)) = parse(&path) else {
                panic!("{path}")
            };
            assert_eq!(parsed.kind, kind);
            assert_eq!(parsed.name.as_deref(), Some("x"));
            assert_eq!(parsed.namespace.is_some(), kind.namespaced());
        }
        assert_eq!(
            collection_path(Kind::Deployment, Some("default")),
            "/apis/apps/v1/namespaces/default/deployments"
        );
        assert_eq!(collection_path(Kind::Pod, None), "/api/v1/pods");
        assert_eq!(parse(APPLY_PATH), Some(Route::Apply));
        assert_eq!(parse(TOKENS_PATH), Some(Route::Tokens { id: None }));
    }

    #[test]
    fn flotilla_and_system_endpoints_parse() {
        assert_eq!(parse("/healthz"), Some(Route::Healthz));
        assert_eq!(parse("/metrics"), Some(Route::Metrics));
        assert_eq!(parse("/apis/flotilla.dev/v1/apply"), Some(Route::Apply));
        assert_eq!(
            parse("/apis/flotilla.dev/v1/tokens/abc123"),
            Some(Route::Tokens {
                id: Some("abc123".into())
            })
        );
    }

    #[test]
    fn pod_log_exec_and_metrics_paths_parse() {
        assert_eq!(
            parse("/api/v1/namespaces/prod/pods/web-1/log"),
            Some(Route::PodLog {
                namespace: "prod".into(),
                name: "web-1".into()
            })
        );
        assert_eq!(
            parse("/api/v1/namespaces/prod/pods/web-1/exec"),
            Some(Route::PodExec {
                namespace: "prod".into(),
                name: "web-1".into()
            })
        );
        assert_eq!(parse("/api/v1/namespaces/prod/pods/web-1/attach"), None);
        assert_eq!(
            parse("/apis/metrics.k8s.io/v1beta1/nodes"),
            Some(Route::NodeMetrics { name: None })
        );
        assert_eq!(
            parse("/apis/metrics.k8s.io/v1beta1/nodes/pi-2"),
            Some(Route::NodeMetrics {
                name: Some("pi-2".into())
            })
        );
        assert_eq!(
            parse("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods"),
            Some(Route::PodMetrics {
                namespace: Some("default".into()),
                name: None
            })
        );
        assert_eq!(
            parse("/apis/metrics.k8s.io/v1beta1/pods"),
            Some(Route::PodMetrics {
                namespace: None,
                name: None
            })
        );
        assert_eq!(parse("/apis/metrics.k8s.io/v1beta1/deployments"), None);
    }

    #[test]
    fn verbs_follow_method_and_shape() {
        let Some(Route::Resource(collection)) = parse("/api/v1/namespaces/default/pods") else {
            unreachable!()
        };
        let Some(Route::Resource(all)) = parse("/api/v1/pods") else {
            unreachable!()
        };
        let Some(Route::Resource(one)) = parse("/api/v1/namespaces/default/pods/a") else {
            unreachable!()
        };
        assert_eq!(verb(&Method::GET, &collection, false), Some(Verb::List));
        assert_eq!(verb(&Method::GET, &collection, true), Some(Verb::Watch));
        assert_eq!(verb(&Method::POST, &collection, false), Some(Verb::Create));
        assert_eq!(verb(&Method::POST, &all, false), None);
        assert_eq!(verb(&Method::GET, &one, false), Some(Verb::Get));
        assert_eq!(verb(&Method::PUT, &one, false), Some(Verb::Update));
        assert_eq!(verb(&Method::PATCH, &one, false), Some(Verb::Patch));
        assert_eq!(verb(&Method::DELETE, &one, false), Some(Verb::Delete));
        assert_eq!(verb(&Method::DELETE, &collection, false), None);
    }
}
