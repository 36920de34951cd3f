//! The agent's local copy of its assignments: what it runs when no master answers, including
//! right after a reboot. Written only when the set of objects changes (atomically, fsynced),
//! never for a mere new generation or epoch with the same content.
use std::path::{Path, PathBuf};

use crate::wire::{self, limits, Assignments, Epoch, Generation, Message};

use super::files::{read_optional, write_atomic, FileError};
use super::runtime::DesiredPods;

pub const ASSIGNMENTS_FILE: &str = "assignments.bin";

#[derive(Debug, thiserror::Error)]
pub enum LocalCopyError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("{path} cannot be read as an assignment set ({source}); it will be replaced by the master's next answer")]
    Corrupt {
        path: PathBuf,
        source: wire::WireError,
    },
}

/// The local copy and what it holds.
#[derive(Debug)]
pub struct LocalCopy {
    path: PathBuf,
    held: Option<Assignments>,
}

impl LocalCopy {
    /// Opens the copy in `dir`, reading what it holds.
    pub fn open(dir: &Path) -> Result<LocalCopy, LocalCopyError> {
        let path = dir.join(ASSIGNMENTS_FILE);
        let held = match read_optional(&path)? {
            None => None,
            Some(bytes) => Some(
                wire::decode_as::<Assignments>(&bytes, limits::ASSIGNMENTS_BYTES_MAX).map_err(
                    |source| LocalCopyError::Corrupt {
                        path: path.clone(),
                        source,
                    },
                )?,
            ),
        };
        Ok(LocalCopy { path, held })
    }

    /// What the copy holds, as desired pods.
    pub fn desired(&self) -> Option<DesiredPods> {
        self.held.as_ref().map(desired_of)
    }

    /// The fence of the held set (epoch 0 when empty).
    pub fn fence(&self) -> (Epoch, Generation) {
        self.held
            .as_ref()
            .map_or((Epoch(0), Generation(0)), |a| (a.epoch, a.generation))
    }

    /// Keeps `set`; writes the file only if its objects differ from what is held. Returns
    /// whether it wrote.
    pub fn keep(&mut self, set: &Assignments) -> Result<bool, LocalCopyError> {
        let same = self.held.as_ref().is_some_and(|held| {
            held.pods == set.pods
                && held.config_maps == set.config_maps
                && held.secrets == set.secrets
        });
        if same {
            if let Some(held) = &mut self.held {
                held.epoch = set.epoch;
                held.generation = set.generation;
            }
            return Ok(false);
        }
        let bytes = wire::encode(&Message::Assignments(set.clone())).map_err(|source| {
            LocalCopyError::Corrupt {
                path: self.path.clone(),
                source,
            }
        })?;
        write_atomic(&self.path, &bytes)?;
        self.held = Some(set.clone());
        Ok(true)
    }
}

/// The desired pods of an assignment set.
pub fn desired_of(set: &Assignments) -> DesiredPods {
    DesiredPods {
        pods: set.pods.clone(),
        config_maps: set.config_maps.clone(),
        secrets: set.secrets.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ObjectJson;

    fn set(epoch: u64, generation: u64, pods: &[&str]) -> Assignments {
        Assignments {
            epoch: Epoch(epoch),
            generation: Generation(generation),
            pods: pods
                .iter()
                .map(|n| {
                    ObjectJson::from_value(&serde_json::json!({"metadata": {"name": n}})).unwrap()
                })
                .collect(),
            config_maps: vec![],
            secrets: vec![],
        }
    }

    #[test]
    fn a_kept_set_is_there_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let mut copy = LocalCopy::open(dir.path()).unwrap();
        assert!(copy.desired().is_none());
        assert!(copy.keep(&set(1, 1, &["a", "b"])).unwrap());
        let reopened = LocalCopy::open(dir.path()).unwrap();
        assert_eq!(reopened.desired().unwrap().pods.len(), 2);
        assert_eq!(reopened.fence(), (Epoch(1), Generation(1)));
    }

    #[test]
    fn the_same_objects_under_a_new_generation_or_epoch_are_not_written_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut copy = LocalCopy::open(dir.path()).unwrap();
        copy.keep(&set(1, 1, &["a"])).unwrap();
        assert!(!copy.keep(&set(1, 2, &["a"])).unwrap());
        assert!(!copy.keep(&set(2, 1, &["a"])).unwrap());
        assert!(copy.keep(&set(2, 2, &["a", "b"])).unwrap());
    }

    #[test]
    fn a_corrupt_copy_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(ASSIGNMENTS_FILE), b"\x01garbage").unwrap();
        let err = LocalCopy::open(dir.path()).unwrap_err();
        assert!(err.to_string().contains(ASSIGNMENTS_FILE));
    }
}
