//! Typed names (`NodeName`, `PodName`, `NamespaceName`, `ContainerName`) and Kubernetes' name
//! rules (DNS-1123 label and subdomain, DNS-1035 label, qualified names, label values).
//!
//! A typed name is validated once, when it is built from a string at the boundary (manifest
//! decode, wire decode); after that the type is the proof. The rule checks return Kubernetes'
//! own messages so that errors read the same as a real API server's.
use std::fmt;

/// Longest DNS-1123 label (and DNS-1035 label, label value, qualified-name name part).
pub const DNS1123_LABEL_MAX_LEN: usize = 63;
/// Longest DNS-1123 subdomain.
pub const DNS1123_SUBDOMAIN_MAX_LEN: usize = 253;
/// Longest label value.
pub const LABEL_VALUE_MAX_LEN: usize = 63;
/// Longest name part of a qualified name (label key, annotation key).
pub const QUALIFIED_NAME_MAX_LEN: usize = 63;

const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const DNS1035_LABEL_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const QUALIFIED_NAME_MSG: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

fn max_len_msg(max: usize) -> String {
    format!("must be no more than {max} characters")
}

fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?` without the length rule.
fn matches_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && is_lower_alnum(b[0])
        && is_lower_alnum(b[b.len() - 1])
        && b.iter().all(|&c| is_lower_alnum(c) || c == b'-')
}

/// Problems with `s` as a DNS-1123 label (namespace names, container names, …); empty when
/// valid.
pub fn dns1123_label_errors(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > DNS1123_LABEL_MAX_LEN {
        errs.push(max_len_msg(DNS1123_LABEL_MAX_LEN));
    }
    if !matches_dns1123_label(s) {
        errs.push(DNS1123_LABEL_MSG.to_string());
    }
    errs
}

/// Problems with `s` as a DNS-1123 subdomain (pod, node, deployment names, …); empty when
/// valid.
pub fn dns1123_subdomain_errors(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > DNS1123_SUBDOMAIN_MAX_LEN {
        errs.push(max_len_msg(DNS1123_SUBDOMAIN_MAX_LEN));
    }
    if !s.split('.').all(matches_dns1123_label) {
        errs.push(DNS1123_SUBDOMAIN_MSG.to_string());
    }
    errs
}

/// Problems with `s` as a DNS-1035 label (service names); empty when valid.
pub fn dns1035_label_errors(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > DNS1123_LABEL_MAX_LEN {
        errs.push(max_len_msg(DNS1123_LABEL_MAX_LEN));
    }
    let b = s.as_bytes();
    let ok = !b.is_empty()
        && b[0].is_ascii_lowercase()
        && is_lower_alnum(b[b.len() - 1])
        && b.iter().all(|&c| is_lower_alnum(c) || c == b'-');
    if !ok {
        errs.push(DNS1035_LABEL_MSG.to_string());
    }
    errs
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`: the name part of label keys and the label value
/// charset.
fn matches_qualified_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.')
}

/// Problems with `s` as a qualified name (label and annotation keys: an optional DNS subdomain
/// prefix and `/`, then a name of at most 63 characters); empty when valid.
pub fn qualified_name_errors(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = s.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_string());
            } else {
                for msg in dns1123_subdomain_errors(prefix) {
                    errs.push(format!("prefix part {msg}"));
                }
            }
            *name
        }
        _ => {
            errs.push(format!(
                "a qualified name {QUALIFIED_NAME_MSG} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
            ));
            return errs;
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else if name.len() > QUALIFIED_NAME_MAX_LEN {
        errs.push(format!("name part {}", max_len_msg(QUALIFIED_NAME_MAX_LEN)));
    }
    if !name.is_empty() && !matches_qualified_name_part(name) {
        errs.push(format!("name part {QUALIFIED_NAME_MSG}"));
    }
    errs
}

/// Problems with `s` as a label value (at most 63 characters, may be empty); empty when valid.
pub fn label_value_errors(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > LABEL_VALUE_MAX_LEN {
        errs.push(max_len_msg(LABEL_VALUE_MAX_LEN));
    }
    if !s.is_empty() && !matches_qualified_name_part(s) {
        errs.push(LABEL_VALUE_MSG.to_string());
    }
    errs
}

/// Longest port name (an IANA service name).
pub const PORT_NAME_MAX_LEN: usize = 15;

/// Problems with `s` as a port name (IANA_SVC_NAME: `http`, `metrics-1`); empty when valid.
pub fn port_name_errors(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > PORT_NAME_MAX_LEN {
        errs.push(max_len_msg(PORT_NAME_MAX_LEN));
    }
    let b = s.as_bytes();
    if b.is_empty() || !b.iter().all(|&c| is_lower_alnum(c) || c == b'-') {
        errs.push("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".into());
    } else if !b.iter().any(|c| c.is_ascii_lowercase()) {
        errs.push("must contain at least one letter (a-z)".into());
    }
    if s.contains("--") {
        errs.push("must not contain consecutive hyphens".into());
    }
    if b.first() == Some(&b'-') || b.last() == Some(&b'-') {
        errs.push("must not begin or end with a hyphen".into());
    }
    errs
}

/// `.`, `..` and `..x` would escape the directory a key is projected into.
fn chdir_prefix_errors(s: &str) -> Vec<String> {
    match s {
        "." => vec!["must not be '.'".into()],
        ".." => vec!["must not be '..'".into()],
        _ if s.starts_with("..") => vec!["must not start with '..'".into()],
        _ => Vec::new(),
    }
}

/// Problems with `s` as a ConfigMap or Secret key; empty when valid.
pub fn config_key_errors(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > DNS1123_SUBDOMAIN_MAX_LEN {
        errs.push(max_len_msg(DNS1123_SUBDOMAIN_MAX_LEN));
    }
    let ok = !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.');
    if !ok {
        errs.push("a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')".into());
    }
    errs.extend(chdir_prefix_errors(s));
    errs
}

/// Problems with `s` as an environment variable name; empty when valid.
pub fn env_var_name_errors(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let b = s.as_bytes();
    let ok = !b.is_empty()
        && !b[0].is_ascii_digit()
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.');
    if !ok {
        errs.push("a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or 'MyEnvName1', regex used for validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')".into());
    }
    errs.extend(chdir_prefix_errors(s));
    errs
}

/// Kubernetes' alphabet for generated name suffixes and hashes: no vowels (no words), no
/// look-alike characters (`0`/`o`, `1`/`l`).
pub const SAFE_ALPHABET: &[u8; 27] = b"bcdfghjklmnpqrstvwxz2456789";

/// Length of the random suffix `generateName` gets.
pub const GENERATED_SUFFIX_LEN: usize = 5;

/// `metadata.generateName` completed like Kubernetes' `SimpleNameGenerator`: the prefix cut
/// to 58 characters, then five characters from `SAFE_ALPHABET` drawn from `random` (the
/// caller's randomness; cores take it as an input).
pub fn generated_name(prefix: &str, random: u64) -> String {
    let keep = DNS1123_LABEL_MAX_LEN - GENERATED_SUFFIX_LEN;
    let mut name: String = prefix.chars().take(keep).collect();
    let mut r = random;
    for _ in 0..GENERATED_SUFFIX_LEN {
        name.push(SAFE_ALPHABET[(r % SAFE_ALPHABET.len() as u64) as usize] as char);
        r /= SAFE_ALPHABET.len() as u64;
    }
    name
}

/// Which naming rule a kind's `metadata.name` follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// DNS-1123 subdomain: lower-case alphanumerics, `-` and `.`, at most 253 characters.
    Dns1123Subdomain,
    /// DNS-1123 label: lower-case alphanumerics and `-`, at most 63 characters.
    Dns1123Label,
    /// DNS-1035 label: a DNS-1123 label that starts with a letter.
    Dns1035Label,
}

impl NameRule {
    /// Problems with `s` under this rule; empty when valid.
    pub fn errors(self, s: &str) -> Vec<String> {
        match self {
            NameRule::Dns1123Subdomain => dns1123_subdomain_errors(s),
            NameRule::Dns1123Label => dns1123_label_errors(s),
            NameRule::Dns1035Label => dns1035_label_errors(s),
        }
    }
}

/// A string that is not a valid name of the kind it was meant to be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {value:?}: {}", .reasons.join("; "))]
pub struct NameError {
    /// What the name was for (`node name`, `container name`, …).
    pub what: &'static str,
    /// The rejected string.
    pub value: String,
    /// Kubernetes' messages for each broken rule.
    pub reasons: Vec<String>,
}

macro_rules! typed_name {
    ($(#[$doc:meta])* $name:ident, $what:literal, $rule:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The rule this name follows.
            pub const RULE: NameRule = $rule;

            /// Validates `value` and wraps it.
            pub fn new(value: impl Into<String>) -> Result<Self, NameError> {
                let value = value.into();
                let reasons = Self::RULE.errors(&value);
                if reasons.is_empty() {
                    Ok(Self(value))
                } else {
                    Err(NameError { what: $what, value, reasons })
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = NameError;
            fn try_from(value: String) -> Result<Self, NameError> {
                Self::new(value)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = NameError;
            fn try_from(value: &str) -> Result<Self, NameError> {
                Self::new(value)
            }
        }

        impl std::str::FromStr for $name {
            type Err = NameError;
            fn from_str(value: &str) -> Result<Self, NameError> {
                Self::new(value)
            }
        }

        impl From<$name> for String {
            fn from(name: $name) -> String {
                name.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

typed_name!(
    /// A node's name: a DNS-1123 subdomain (`pi-2`, `rock5.lan`).
    NodeName,
    "node name",
    NameRule::Dns1123Subdomain
);
typed_name!(
    /// A pod's name: a DNS-1123 subdomain (`web-7d4b9c-x2x9z`).
    PodName,
    "pod name",
    NameRule::Dns1123Subdomain
);
typed_name!(
    /// A namespace's name: a DNS-1123 label (`default`, `kube-system`).
    NamespaceName,
    "namespace name",
    NameRule::Dns1123Label
);
typed_name!(
    /// A container's name within its pod: a DNS-1123 label (`nginx`, `init-db`).
    ContainerName,
    "container name",
    NameRule::Dns1123Label
);

impl NamespaceName {
    /// The namespace objects land in when none is given; it always exists.
    pub fn default_namespace() -> NamespaceName {
        NamespaceName("default".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns1123_labels_follow_kubernetes_rules() {
        for ok in ["a", "abc", "a-b", "0", "123-abc", &"a".repeat(63)] {
            assert!(dns1123_label_errors(ok).is_empty(), "{ok}");
        }
        for bad in ["", "A", "-a", "a-", "a.b", "a_b", &"a".repeat(64)] {
            assert!(!dns1123_label_errors(bad).is_empty(), "{bad}");
        }
    }

    #[test]
    fn dns1123_subdomains_allow_dots_and_253_characters() {
        for ok in ["example.com", "a.b.c", "pi-2", "web-7d4b9c-x2x9z"] {
            assert!(dns1123_subdomain_errors(ok).is_empty(), "{ok}");
        }
        let long = [
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(61),
        ]
        .join(".");
        assert_eq!(long.len(), 253);
        assert!(dns1123_subdomain_errors(&long).is_empty());
        for bad in ["", ".a", "a.", "a..b", "A.b", "a_b", &format!("{long}x")] {
            assert!(!dns1123_subdomain_errors(bad).is_empty(), "{bad}");
        }
    }

    #[test]
    fn dns1035_labels_must_start_with_a_letter() {
        assert!(dns1035_label_errors("my-svc").is_empty());
        assert!(!dns1035_label_errors("1svc").is_empty());
        assert!(!dns1035_label_errors("svc-").is_empty());
    }

    #[test]
    fn qualified_names_accept_an_optional_subdomain_prefix() {
        for ok in [
            "app",
            "App_1.x",
            "example.com/MyName",
            "kubernetes.io/arch",
            "a/b",
        ] {
            assert!(qualified_name_errors(ok).is_empty(), "{ok}");
        }
        assert_eq!(
            qualified_name_errors("/a"),
            vec!["prefix part must be non-empty"]
        );
        assert_eq!(
            qualified_name_errors("a/"),
            vec!["name part must be non-empty"]
        );
        assert!(!qualified_name_errors("a/b/c").is_empty());
        assert!(!qualified_name_errors("Example.com/a").is_empty());
        assert!(!qualified_name_errors("-a").is_empty());
        assert!(!qualified_name_errors(&"a".repeat(64)).is_empty());
    }

    #[test]
    fn label_values_may_be_empty_but_not_malformed() {
        for ok in ["", "v1", "my_value", "1.2.3", &"x".repeat(63)] {
            assert!(label_value_errors(ok).is_empty(), "{ok}");
        }
        for bad in ["-v", "v-", "a b", "a/b", &"x".repeat(64)] {
            assert!(!label_value_errors(bad).is_empty(), "{bad}");
        }
    }

    #[test]
    fn port_names_follow_the_iana_service_name_rules() {
        assert!(port_name_errors("http").is_empty());
        assert!(port_name_errors("metrics-1").is_empty());
        assert!(!port_name_errors("8080").is_empty());
        assert!(!port_name_errors("HTTP").is_empty());
        assert!(!port_name_errors("a--b").is_empty());
        assert!(!port_name_errors("-a").is_empty());
        assert!(!port_name_errors("abcdefghijklmnop").is_empty());
    }

    #[test]
    fn config_keys_and_env_names_follow_kubernetes_rules() {
        assert!(config_key_errors("app.properties").is_empty());
        assert!(config_key_errors("KEY_NAME-1").is_empty());
        assert!(!config_key_errors("a/b").is_empty());
        assert!(!config_key_errors("..data").is_empty());
        assert!(env_var_name_errors("MY_ENV.NAME").is_empty());
        assert!(!env_var_name_errors("1X").is_empty());
        assert!(!env_var_name_errors("A=B").is_empty());
    }

    #[test]
    fn generated_names_append_five_safe_characters_to_a_cut_prefix() {
        let n = generated_name("web-", 0);
        assert_eq!(n, "web-bbbbb");
        let long = generated_name(&"x".repeat(70), 12345);
        assert_eq!(long.len(), 63);
        assert!(dns1123_subdomain_errors(&long).is_empty());
        assert_ne!(generated_name("web-", 1), generated_name("web-", 2));
    }

    #[test]
    fn typed_names_are_validated_on_construction_and_on_deserialisation() {
        assert_eq!(NodeName::new("pi-2").unwrap().as_str(), "pi-2");
        let err = ContainerName::new("Web").unwrap_err();
        assert_eq!(err.what, "container name");
        assert!(err
            .to_string()
            .starts_with("invalid container name \"Web\": "));
        let ns: NamespaceName = serde_json::from_str("\"kube-system\"").unwrap();
        assert_eq!(ns, "kube-system");
        assert!(serde_json::from_str::<NamespaceName>("\"a.b\"").is_err());
        assert_eq!(serde_json::to_string(&ns).unwrap(), "\"kube-system\"");
    }
}
