//! Registry configuration in k3s's `registries.yaml` format (read from
//! `/etc/flotilla/registries.yaml`): `mirrors` (endpoints tried in order before the registry
//! itself; an `http://` endpoint is the way to allow plain HTTP for a registry) and `configs`
//! (per host: basic auth, a CA file, skipping TLS verification).
//!
//! ```yaml
//! mirrors:
//!   docker.io:
//!     endpoint: ["https://mirror.lan:5000"]
//!   "registry.lan:5000":
//!     endpoint: ["http://registry.lan:5000"]
//! configs:
//!   "mirror.lan:5000":
//!     auth: {username: pi, password: secret}
//!     tls: {ca_file: /etc/flotilla/mirror-ca.pem}
//! ```
//!
//! Read once at start-up (not on the hot path), so the agent's YAML use stays off its loops.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The default location.
pub const DEFAULT_PATH: &str = "/etc/flotilla/registries.yaml";
const FILE_BYTES_MAX: u64 = 1024 * 1024;

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistriesConfig {
    #[serde(default)]
    pub mirrors: BTreeMap<String, Mirror>,
    #[serde(default)]
    pub configs: BTreeMap<String, HostConfig>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mirror {
    #[serde(default)]
    pub endpoint: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    #[serde(default)]
    pub auth: Option<Auth>,
    #[serde(default)]
    pub tls: Option<Tls>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

/// Why the configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RegistriesError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: mirror {registry}: endpoint {endpoint:?} must be an http:// or https:// URL")]
    BadEndpoint {
        path: PathBuf,
        registry: String,
        endpoint: String,
    },
}

/// One place to pull a registry's images from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `host[:port]` as used in URLs.
    pub host: String,
    pub plain_http: bool,
}

impl RegistriesConfig {
    /// Reads `path`; a missing file is an empty configuration.
    pub fn load(path: &Path) -> Result<RegistriesConfig, RegistriesError> {
        let text = match std::fs::File::open(path) {
            Ok(file) => {
                use std::io::Read;
                let mut text = String::new();
                file.take(FILE_BYTES_MAX)
                    .read_to_string(&mut text)
                    .map_err(|source| RegistriesError::Io {
                        path: path.to_path_buf(),
                        source,
                    })?;
                text
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(RegistriesConfig::default())
            }
            Err(source) => {
                return Err(RegistriesError::Io {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        Self::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<RegistriesConfig, RegistriesError> {
        if text.trim().is_empty() {
            return Ok(RegistriesConfig::default());
        }
        let config: RegistriesConfig =
            serde_saphyr::from_str(text).map_err(|e| RegistriesError::Parse {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        for (registry, mirror) in &config.mirrors {
            for endpoint in &mirror.endpoint {
                if parse_endpoint(endpoint).is_none() {
                    return Err(RegistriesError::BadEndpoint {
                        path: path.to_path_buf(),
                        registry: registry.clone(),
                        endpoint: endpoint.clone(),
                    });
                }
            }
        }
        Ok(config)
    }

    /// Where to pull `registry`'s images from, in order: its mirrors (also `*`'s), then itself
    /// over HTTPS.
    pub fn endpoints(&self, registry: &str) -> Vec<Endpoint> {
        let mut endpoints: Vec<Endpoint> = self
            .mirrors
            .get(registry)
            .or_else(|| self.mirrors.get("*"))
            .map(|m| {
                m.endpoint
                    .iter()
                    .filter_map(|e| parse_endpoint(e))
                    .collect()
            })
            .unwrap_or_default();
        let default = Endpoint {
            host: registry_host(registry).to_string(),
            plain_http: false,
        };
        if !endpoints.iter().any(|e| e.host == default.host) {
            endpoints.push(default);
        }
        endpoints
    }

    /// Credentials and TLS settings for a host.
    pub fn host_config(&self, host: &str) -> HostConfig {
        self.configs.get(host).cloned().unwrap_or_default()
    }
}

/// Docker Hub's API lives on another host than its name.
pub fn registry_host(registry: &str) -> &str {
    if registry == super::reference::DOCKER_HUB {
        "registry-1.docker.io"
    } else {
        registry
    }
}

fn parse_endpoint(url: &str) -> Option<Endpoint> {
    let (plain_http, rest) = if let Some(rest) = url.strip_prefix("http://") {
        (true, rest)
    } else {
        (false, url.strip_prefix("https://")?)
    };
    let host = rest.split('/').next()?.to_string();
    (!host.is_empty()).then_some(Endpoint { host, plain_http })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrors_come_first_and_the_registry_itself_last() {
        let config = RegistriesConfig::parse(
            "mirrors:\n  docker.io:\n    endpoint: [\"https://mirror.lan:5000/v2\"]\n  \"127.0.0.1:5000\":\n    endpoint: [\"http://127.0.0.1:5000\"]\n",
            Path::new("r.yaml"),
        )
        .unwrap();
        assert_eq!(
            config.endpoints("docker.io"),
            vec![
                Endpoint {
                    host: "mirror.lan:5000".into(),
                    plain_http: false
                },
                Endpoint {
                    host: "registry-1.docker.io".into(),
                    plain_http: false
                }
            ]
        );
        assert_eq!(
            config.endpoints("127.0.0.1:5000"),
            vec![Endpoint {
                host: "127.0.0.1:5000".into(),
                plain_http: true
            }]
        );
        assert_eq!(
            config.endpoints("ghcr.io"),
            vec![Endpoint {
                host: "ghcr.io".into(),
                plain_http: false
            }]
        );
    }

    #[test]
    fn bad_files_are_refused_with_their_path() {
        let error = RegistriesConfig::parse(
            "mirrors:\n  x:\n    endpoint: [\"ftp://x\"]\n",
            Path::new("/etc/flotilla/registries.yaml"),
        )
        .unwrap_err();
        assert!(
            error.to_string().contains("/etc/flotilla/registries.yaml"),
            "{error}"
        );
        assert!(RegistriesConfig::parse("mirrorz: {}\n", Path::new("r.yaml")).is_err());
    }
}
