//! Image references (`busybox`, `ghcr.io/org/app:1.2`, `localhost:5000/x@sha256:…`), parsed once
//! and normalised the way Docker and the kubelet do (`docker.io/library/busybox:latest`).
use std::fmt;
use std::str::FromStr;

use super::digest::Digest;

/// The registry Docker Hub images live on, as written in normalised references.
pub const DOCKER_HUB: &str = "docker.io";
const TAG_LEN_MAX: usize = 128;
const REFERENCE_LEN_MAX: usize = 512;

/// A normalised image reference: registry, repository, and a tag and/or a digest (at least one;
/// a reference with neither gets the tag `latest`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageRef {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// Why a string is not an image reference.
#[derive(Debug, thiserror::Error)]
#[error("invalid image reference {value:?}: {reason}")]
pub struct InvalidImageRef {
    value: String,
    reason: &'static str,
}

impl ImageRef {
    pub fn registry(&self) -> &str {
        &self.registry
    }

    pub fn repository(&self) -> &str {
        &self.repository
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// `registry/repository`, without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The same repository pinned to `digest` (tag dropped).
    pub fn with_digest(&self, digest: Digest) -> ImageRef {
        ImageRef {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            tag: None,
            digest: Some(digest),
        }
    }

    /// Kubernetes' default pull policy: `Always` for `:latest` (or no tag) without a digest,
    /// `IfNotPresent` otherwise.
    pub fn is_latest(&self) -> bool {
        self.digest.is_none() && self.tag.as_deref().is_none_or(|t| t == "latest")
    }
}

fn is_component(s: &str) -> bool {
    // Docker's path-component grammar: [a-z0-9]+ separated by one of `.`, `_`, `__`, `-`+.
    if s.is_empty() {
        return false;
    }
    let bytes = s.as_bytes();
    if !bytes[0].is_ascii_lowercase() && !bytes[0].is_ascii_digit() {
        return false;
    }
    let last = bytes[bytes.len() - 1];
    if !last.is_ascii_lowercase() && !last.is_ascii_digit() {
        return false;
    }
    s.bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
        && !s.contains("..")
        && !s.contains("___")
}

fn is_domain(s: &str) -> bool {
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    };
    let host_ok = !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    host_ok && port_ok
}

fn is_tag(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= TAG_LEN_MAX
        && (s.as_bytes()[0].is_ascii_alphanumeric() || s.as_bytes()[0] == b'_')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

impl FromStr for ImageRef {
    type Err = InvalidImageRef;

    fn from_str(value: &str) -> Result<ImageRef, InvalidImageRef> {
        let invalid = |reason| InvalidImageRef {
            value: value.to_string(),
            reason,
        };
        if value.is_empty() {
            return Err(invalid("empty"));
        }
        if value.len() > REFERENCE_LEN_MAX {
            return Err(invalid("longer than 512 characters"));
        }
        let (rest, digest) = match value.split_once('@') {
            Some((rest, digest)) => (
                rest,
                Some(
                    digest
                        .parse::<Digest>()
                        .map_err(|_| invalid("the digest is not sha256:<64 hex>"))?,
                ),
            ),
            None => (value, None),
        };
        // A tag follows the last `:` after the last `/` (a `:` before it is a registry port).
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(tag) = tag {
            if !is_tag(tag) {
                return Err(invalid("the tag is not [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"));
            }
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                if !is_domain(first) {
                    return Err(invalid(
                        "the registry is not a host name with an optional port",
                    ));
                }
                (first.to_string(), rest.to_string())
            }
            _ => (DOCKER_HUB.to_string(), name.to_string()),
        };
        let registry = if registry == "index.docker.io" {
            DOCKER_HUB.to_string()
        } else {
            registry
        };
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        if !repository.split('/').all(is_component) {
            return Err(invalid(
                "the repository must be lower-case path components ([a-z0-9] separated by . _ -)",
            ));
        }
        let tag = match (tag, &digest) {
            (Some(tag), _) => Some(tag.to_string()),
            (None, Some(_)) => None,
            (None, None) => Some("latest".to_string()),
        };
        Ok(ImageRef {
            registry,
            repository,
            tag,
            digest,
        })
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl serde::Serialize for ImageRef {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for ImageRef {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<ImageRef, D::Error> {
        let value = String::deserialize(deserializer)?;
        value.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: &str) {
        assert_eq!(
            input.parse::<ImageRef>().unwrap().to_string(),
            expected,
            "{input}"
        );
    }

    #[test]
    fn short_names_normalise_like_docker() {
        check("busybox", "docker.io/library/busybox:latest");
        check("busybox:1.36", "docker.io/library/busybox:1.36");
        check(
            "index.docker.io/library/busybox",
            "docker.io/library/busybox:latest",
        );
        check("bitnami/nginx:1", "docker.io/bitnami/nginx:1");
        check("localhost:5000/x/y:v1", "localhost:5000/x/y:v1");
        check("ghcr.io/org/app", "ghcr.io/org/app:latest");
        check("127.0.0.1:5000/busybox:t", "127.0.0.1:5000/busybox:t");
        let digest = format!("sha256:{}", "a".repeat(64));
        check(
            &format!("busybox@{digest}"),
            &format!("docker.io/library/busybox@{digest}"),
        );
        check(
            &format!("busybox:1@{digest}"),
            &format!("docker.io/library/busybox:1@{digest}"),
        );
    }

    #[test]
    fn latest_is_the_default_and_drives_the_pull_policy() {
        assert!("busybox".parse::<ImageRef>().unwrap().is_latest());
        assert!("busybox:latest".parse::<ImageRef>().unwrap().is_latest());
        assert!(!"busybox:1".parse::<ImageRef>().unwrap().is_latest());
    }

    #[test]
    fn malformed_references_are_refused() {
        for bad in [
            "",
            "Busybox",
            "busybox:",
            "a//b",
            "busybox@sha256:xyz",
            "x:5000:1/y",
            "busybox:-x",
        ] {
            assert!(bad.parse::<ImageRef>().is_err(), "{bad:?}");
        }
    }
}
