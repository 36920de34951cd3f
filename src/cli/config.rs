//! Where `edgectl` finds its credential: `--config FILE`, else `$EDGECONFIG`, else
//! `~/.config/flotilla/config`, else `/etc/flotilla/admin.conf`.
use std::path::{Path, PathBuf};

use crate::pki::{Credential, PkiError};

/// The environment variable naming a credential file.
pub const ENV_VAR: &str = "EDGECONFIG";
/// The per-user credential, under `$HOME`.
pub const USER_CONFIG: &str = ".config/flotilla/config";
/// The credential a master writes on a default install.
pub const SYSTEM_CONFIG: &str = "/etc/flotilla/admin.conf";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// an explicitly named file does not exist
    #[error("credential file {} (from {origin}) does not exist", path.display())]
    Missing { path: PathBuf, origin: &'static str },
    /// no credential anywhere
    #[error("no credential found: tried {}; pass --config FILE or set EDGECONFIG", tried.join(", "))]
    NotFound { tried: Vec<String> },
    /// the file is not a usable credential
    #[error("{0}")]
    Unusable(#[from] PkiError),
}

/// The places looked at, in order, with the origin of each.
pub fn candidates(
    explicit: Option<&Path>,
    env: Option<&std::ffi::OsStr>,
    home: Option<&std::ffi::OsStr>,
) -> Vec<(PathBuf, &'static str, bool)> {
    let mut places = Vec::new();
    if let Some(path) = explicit {
        places.push((path.to_path_buf(), "--config", true));
    }
    if let Some(env) = env.filter(|e| !e.is_empty()) {
        places.push((PathBuf::from(env), "EDGECONFIG", true));
    }
    if let Some(home) = home.filter(|h| !h.is_empty()) {
        places.push((Path::new(home).join(USER_CONFIG), "home", false));
    }
    places.push((PathBuf::from(SYSTEM_CONFIG), "system", false));
    places
}

/// The credential file to use. The first explicit place (`--config`, `EDGECONFIG`) wins and
/// must exist; otherwise the first default place that exists.
pub fn locate(explicit: Option<&Path>) -> Result<PathBuf, ConfigError> {
    let env = std::env::var_os(ENV_VAR);
    let home = std::env::var_os("HOME");
    let places = candidates(explicit, env.as_deref(), home.as_deref());
    for (path, origin, required) in &places {
        if path.exists() {
            return Ok(path.clone());
        }
        if *required {
            return Err(ConfigError::Missing {
                path: path.clone(),
                origin,
            });
        }
    }
    Err(ConfigError::NotFound {
        tried: places
            .iter()
            .map(|(p, _, _)| p.display().to_string())
            .collect(),
    })
}

/// Locates and loads the credential.
pub fn load(explicit: Option<&Path>) -> Result<Credential, ConfigError> {
    Ok(Credential::load(&locate(explicit)?)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn explicit_beats_environment_beats_home_beats_system() {
        let places = candidates(
            Some(Path::new("/a")),
            Some(OsStr::new("/b")),
            Some(OsStr::new("/home/u")),
        );
        let paths: Vec<_> = places
            .iter()
            .map(|(p, _, _)| p.display().to_string())
            .collect();
        assert_eq!(
            paths,
            [
                "/a",
                "/b",
                "/home/u/.config/flotilla/config",
                "/etc/flotilla/admin.conf"
            ]
        );
        assert!(places[0].2 && places[1].2 && !places[2].2);
    }

    #[test]
    fn an_empty_environment_variable_is_ignored() {
        let places = candidates(None, Some(OsStr::new("")), None);
        assert_eq!(places.len(), 1);
    }
}
