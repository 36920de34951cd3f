//! The registry of resource kinds Flotilla serves: API group and version, plural path segment,
//! kubectl short names and whether a kind lives in a namespace.

/// A resource kind Flotilla knows. The one list every layer (store keys, REST paths, `edgectl`
/// kind names) agrees on.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Kind {
    Namespace,
    Node,
    Pod,
    Service,
    ConfigMap,
    Secret,
    Event,
    Deployment,
    ReplicaSet,
    DaemonSet,
}

impl Kind {
    /// Every kind, in the order `edgectl get all` and listings use.
    pub const ALL: [Kind; 10] = [
        Kind::Namespace,
        Kind::Node,
        Kind::Pod,
        Kind::Service,
        Kind::ConfigMap,
        Kind::Secret,
        Kind::Event,
        Kind::Deployment,
        Kind::ReplicaSet,
        Kind::DaemonSet,
    ];

    /// The `kind:` field value.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Namespace => "Namespace",
            Kind::Node => "Node",
            Kind::Pod => "Pod",
            Kind::Service => "Service",
            Kind::ConfigMap => "ConfigMap",
            Kind::Secret => "Secret",
            Kind::Event => "Event",
            Kind::Deployment => "Deployment",
            Kind::ReplicaSet => "ReplicaSet",
            Kind::DaemonSet => "DaemonSet",
        }
    }

    /// API group: `""` for the core group, `"apps"` for workloads.
    pub fn group(self) -> &'static str {
        match self {
            Kind::Deployment | Kind::ReplicaSet | Kind::DaemonSet => "apps",
            _ => "",
        }
    }

    /// The `apiVersion:` field value (`v1` or `apps/v1`).
    pub fn api_version(self) -> &'static str {
        match self.group() {
            "" => "v1",
            _ => "apps/v1",
        }
    }

    /// Lower-case plural used in REST paths (`pods`, `deployments`).
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Namespace => "namespaces",
            Kind::Node => "nodes",
            Kind::Pod => "pods",
            Kind::Service => "services",
            Kind::ConfigMap => "configmaps",
            Kind::Secret => "secrets",
            Kind::Event => "events",
            Kind::Deployment => "deployments",
            Kind::ReplicaSet => "replicasets",
            Kind::DaemonSet => "daemonsets",
        }
    }

    /// kubectl's short names (`po`, `deploy`, …).
    pub fn short_names(self) -> &'static [&'static str] {
        match self {
            Kind::Namespace => &["ns"],
            Kind::Node => &["no"],
            Kind::Pod => &["po"],
            Kind::Service => &["svc"],
            Kind::ConfigMap => &["cm"],
            Kind::Secret => &[],
            Kind::Event => &["ev"],
            Kind::Deployment => &["deploy"],
            Kind::ReplicaSet => &["rs"],
            Kind::DaemonSet => &["ds"],
        }
    }

    /// Whether objects of this kind live in a namespace.
    pub fn namespaced(self) -> bool {
        !matches!(self, Kind::Namespace | Kind::Node)
    }

    /// The resource name kubectl prints (`deployment.apps`, `pod`).
    pub fn resource_name(self) -> String {
        let singular = self.name().to_ascii_lowercase();
        match self.group() {
            "" => singular,
            group => format!("{singular}.{group}"),
        }
    }

    /// Looks a kind up from a `kind:` value and an `apiVersion:`.
    pub fn from_type(api_version: &str, kind: &str) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| k.name() == kind && k.api_version() == api_version)
    }

    /// Looks a kind up the way kubectl does on its command line: singular, plural, short name
    /// or `kind.group`, case-insensitively.
    pub fn from_cli(word: &str) -> Option<Kind> {
        let word = word.to_ascii_lowercase();
        let (word, group) = match word.split_once('.') {
            Some((w, g)) => (w.to_string(), Some(g.to_string())),
            None => (word, None),
        };
        Kind::ALL.into_iter().find(|k| {
            let matches_name = k.name().eq_ignore_ascii_case(&word)
                || k.plural() == word
                || k.short_names().contains(&word.as_str());
            let matches_group = group.as_deref().is_none_or(|g| g == k.group());
            matches_name && matches_group
        })
    }

    /// Looks a kind up from its REST path: group (`""` for core) and plural.
    pub fn from_path(group: &str, plural: &str) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| k.group() == group && k.plural() == plural)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_names_resolve_like_kubectl() {
        assert_eq!(Kind::from_cli("po"), Some(Kind::Pod));
        assert_eq!(Kind::from_cli("deployments.apps"), Some(Kind::Deployment));
        assert_eq!(Kind::from_cli("Deploy"), Some(Kind::Deployment));
        assert_eq!(Kind::from_cli("ns"), Some(Kind::Namespace));
        assert_eq!(Kind::from_cli("widgets"), None);
    }

    #[test]
    fn paths_and_types_round_trip() {
        for kind in Kind::ALL {
            assert_eq!(Kind::from_path(kind.group(), kind.plural()), Some(kind));
            assert_eq!(Kind::from_type(kind.api_version(), kind.name()), Some(kind));
        }
        assert_eq!(Kind::Deployment.resource_name(), "deployment.apps");
    }
}
