//! Authorisation by the role in the client certificate. Admins and masters may do everything;
//! a node (`node:<name>`) may read and write its own Node (and its status), read the pods bound
//! to it and write their status, read ConfigMaps and Secrets, and create Events — nothing else.
//! Pure: the decision needs the request, and for single pods the pod's `spec.nodeName`, which
//! the caller checks when told to.
use super::error::ApiError;
use super::route::{ResourcePath, Verb};
use crate::api::Kind;
use crate::pki::Role;

/// The user name Kubernetes-style messages show for a role.
pub fn user_name(role: &Role) -> String {
    match role {
        Role::Admin => "admin".to_string(),
        Role::Node(name) => format!("node:{name}"),
        Role::Master(id) => format!("master:{id}"),
    }
}

/// What a request is, for authorisation.
#[derive(Debug, Clone, Copy)]
pub struct Attributes<'a> {
    pub verb: Verb,
    pub path: &'a ResourcePath,
    /// The `spec.nodeName` a list or watch is restricted to by its field selector.
    pub node_selector: Option<&'a str>,
}

/// The outcome of authorising a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Allowed only if the pod addressed is bound to this node.
    AllowIfPodBoundTo(String),
    Deny,
}

/// Decides whether `role` may make the request.
pub fn decide(role: &Role, request: Attributes<'_>) -> Decision {
    let node = match role {
        Role::Admin | Role::Master(_) => return Decision::Allow,
        Role::Node(node) => node,
    };
    let Attributes {
        verb,
        path,
        node_selector,
    } = request;
    let reads = matches!(verb, Verb::Get | Verb::List | Verb::Watch);
    let allowed = match path.kind {
        Kind::Node => match verb {
            Verb::Get | Verb::Update | Verb::Patch => path.name.as_deref() == Some(node),
            Verb::Create => !path.status,
            Verb::List | Verb::Watch => false,
            Verb::Delete => false,
        },
        Kind::Pod => match verb {
            Verb::Get => return Decision::AllowIfPodBoundTo(node.clone()),
            Verb::Update | Verb::Patch if path.status => {
                return Decision::AllowIfPodBoundTo(node.clone())
            }
            Verb::List | Verb::Watch => node_selector == Some(node.as_str()),
            _ => false,
        },
        Kind::ConfigMap | Kind::Secret => reads,
        Kind::Event => verb == Verb::Create,
        _ => false,
    };
    if allowed {
        Decision::Allow
    } else {
        Decision::Deny
    }
}

/// Whether a node may create the Node object in `body`: only its own.
pub fn may_create_node(role: &Role, name: &str) -> bool {
    match role {
        Role::Node(node) => node == name,
        _ => true,
    }
}

/// The 403 for a denied request.
pub fn forbidden(role: &Role, verb: Verb, path: &ResourcePath) -> ApiError {
    ApiError::Forbidden {
        user: user_name(role),
        verb,
        kind: path.kind,
        namespace: path.namespace.clone(),
        name: path.name.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(kind: Kind, ns: Option<&str>, name: Option<&str>, status: bool) -> ResourcePath {
        ResourcePath {
            kind,
            namespace: ns.map(str::to_string),
            name: name.map(str::to_string),
            status,
        }
    }

    fn check(verb: Verb, p: ResourcePath, selector: Option<&str>, expected: Decision) {
        let role = Role::Node("pi-1".into());
        let got = decide(
            &role,
            Attributes {
                verb,
                path: &p,
                node_selector: selector,
            },
        );
        assert_eq!(got, expected, "{verb} {p:?} {selector:?}");
    }

    #[test]
    fn a_node_manages_its_own_node_object_only() {
        check(
            Verb::Get,
            path(Kind::Node, None, Some("pi-1"), false),
            None,
            Decision::Allow,
        );
        check(
            Verb::Update,
            path(Kind::Node, None, Some("pi-1"), true),
            None,
            Decision::Allow,
        );
        check(
            Verb::Patch,
            path(Kind::Node, None, Some("pi-1"), true),
            None,
            Decision::Allow,
        );
        check(
            Verb::Get,
            path(Kind::Node, None, Some("pi-2"), false),
            None,
            Decision::Deny,
        );
        check(
            Verb::Update,
            path(Kind::Node, None, Some("pi-2"), true),
            None,
            Decision::Deny,
        );
        check(
            Verb::Delete,
            path(Kind::Node, None, Some("pi-1"), false),
            None,
            Decision::Deny,
        );
        check(
            Verb::List,
            path(Kind::Node, None, None, false),
            None,
            Decision::Deny,
        );
    }

    #[test]
    fn a_node_reads_only_pods_bound_to_it_and_writes_only_their_status() {
        let bound = Decision::AllowIfPodBoundTo("pi-1".into());
        let pods = path(Kind::Pod, Some("default"), None, false);
        check(
            Verb::Get,
            path(Kind::Pod, Some("default"), Some("a"), false),
            None,
            bound.clone(),
        );
        check(
            Verb::Update,
            path(Kind::Pod, Some("default"), Some("a"), true),
            None,
            bound,
        );
        check(
            Verb::Update,
            path(Kind::Pod, Some("default"), Some("a"), false),
            None,
            Decision::Deny,
        );
        check(
            Verb::Delete,
            path(Kind::Pod, Some("default"), Some("a"), false),
            None,
            Decision::Deny,
        );
        check(
            Verb::Watch,
            path(Kind::Pod, None, None, false),
            Some("pi-1"),
            Decision::Allow,
        );
        check(Verb::List, pods.clone(), Some("pi-2"), Decision::Deny);
        check(Verb::List, pods.clone(), None, Decision::Deny);
        check(Verb::Create, pods, None, Decision::Deny);
    }

    #[test]
    fn a_node_reads_config_and_creates_events_but_nothing_else() {
        check(
            Verb::Get,
            path(Kind::Secret, Some("default"), Some("s"), false),
            None,
            Decision::Allow,
        );
        check(
            Verb::Watch,
            path(Kind::ConfigMap, None, None, false),
            None,
            Decision::Allow,
        );
        check(
            Verb::Update,
            path(Kind::ConfigMap, Some("default"), Some("c"), false),
            None,
            Decision::Deny,
        );
        check(
            Verb::Create,
            path(Kind::Event, Some("default"), None, false),
            None,
            Decision::Allow,
        );
        check(
            Verb::List,
            path(Kind::Event, Some("default"), None, false),
            None,
            Decision::Deny,
        );
        check(
            Verb::List,
            path(Kind::Deployment, None, None, false),
            None,
            Decision::Deny,
        );
        check(
            Verb::Get,
            path(Kind::Namespace, None, Some("default"), false),
            None,
            Decision::Deny,
        );
    }

    #[test]
    fn admins_and_masters_may_do_everything() {
        let p = path(Kind::Deployment, Some("default"), Some("web"), false);
        for role in [Role::Admin, Role::Master("m1".into())] {
            let attributes = Attributes {
                verb: Verb::Delete,
                path: &p,
                node_selector: None,
            };
            assert_eq!(decide(&role, attributes), Decision::Allow);
        }
    }
}
