//! The epoch fence: the highest master epoch this agent has seen, persisted when it rises (once
//! per master start, never per message). Anything from an older epoch is refused: a deposed
//! master can never move a pod.
use std::path::{Path, PathBuf};

use tokio::sync::watch;

use crate::wire::Epoch;

use super::files::{read_optional, write_atomic, FileError};

pub const EPOCH_FILE: &str = "epoch";

#[derive(Debug, thiserror::Error)]
pub enum FenceError {
    /// a message from a master older than one already seen
    #[error("refusing a message from master epoch {got}: epoch {highest} was already seen (a deposed master?)")]
    Stale { got: Epoch, highest: Epoch },
    #[error(transparent)]
    File(#[from] FileError),
    #[error("{path} does not hold an epoch: {content:?}")]
    Corrupt { path: PathBuf, content: String },
}

/// The highest epoch seen, and where it is kept.
#[derive(Debug)]
pub struct EpochFence {
    path: PathBuf,
    highest: Epoch,
    /// Told the highest epoch whenever it rises (the tunnel's requests loop reads it).
    published: Option<watch::Sender<Epoch>>,
}

impl EpochFence {
    pub fn load(dir: &Path) -> Result<EpochFence, FenceError> {
        let path = dir.join(EPOCH_FILE);
        let highest = match read_optional(&path)? {
            None => Epoch(0),
            Some(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                Epoch(text.trim().parse().map_err(|_| FenceError::Corrupt {
                    path: path.clone(),
                    content: text.chars().take(40).collect(),
                })?)
            }
        };
        Ok(EpochFence {
            path,
            highest,
            published: None,
        })
    }

    /// Publishes the highest epoch to `to`, now and whenever it rises.
    pub fn publish_to(&mut self, to: watch::Sender<Epoch>) {
        to.send_replace(self.highest);
        self.published = Some(to);
    }

    pub fn highest(&self) -> Epoch {
        self.highest
    }

    /// Admits a message stamped `epoch`: refused if older than the highest seen; persisted
    /// first if newer (so a crash right after acting on it cannot forget it).
    pub fn admit(&mut self, epoch: Epoch) -> Result<(), FenceError> {
        if epoch < self.highest {
            return Err(FenceError::Stale {
                got: epoch,
                highest: self.highest,
            });
        }
        if epoch > self.highest {
            write_atomic(&self.path, format!("{}\n", epoch.0).as_bytes())?;
            self.highest = epoch;
            if let Some(to) = &self.published {
                to.send_replace(epoch);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newer_epoch_is_admitted_and_remembered_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let mut fence = EpochFence::load(dir.path()).unwrap();
        fence.admit(Epoch(3)).unwrap();
        assert_eq!(EpochFence::load(dir.path()).unwrap().highest(), Epoch(3));
    }

    #[test]
    fn an_older_epoch_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut fence = EpochFence::load(dir.path()).unwrap();
        fence.admit(Epoch(3)).unwrap();
        let err = fence.admit(Epoch(2)).unwrap_err();
        assert!(err.to_string().contains("epoch 2"));
        let mut reloaded = EpochFence::load(dir.path()).unwrap();
        assert!(reloaded.admit(Epoch(2)).is_err());
    }

    #[test]
    fn the_same_epoch_again_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut fence = EpochFence::load(dir.path()).unwrap();
        fence.admit(Epoch(3)).unwrap();
        let path = dir.path().join(EPOCH_FILE);
        let before = std::fs::metadata(&path).unwrap().modified().unwrap();
        std::fs::remove_file(&path).unwrap();
        fence.admit(Epoch(3)).unwrap();
        assert!(
            !path.exists(),
            "rewrote the fence for an epoch it already had"
        );
        let _ = before;
    }

    #[test]
    fn the_published_epoch_follows_the_fence() {
        let dir = tempfile::tempdir().unwrap();
        let mut fence = EpochFence::load(dir.path()).unwrap();
        fence.admit(Epoch(2)).unwrap();
        let (to, seen) = watch::channel(Epoch(0));
        fence.publish_to(to);
        assert_eq!(*seen.borrow(), Epoch(2));
        fence.admit(Epoch(5)).unwrap();
        assert_eq!(*seen.borrow(), Epoch(5));
        assert!(fence.admit(Epoch(4)).is_err());
        assert_eq!(*seen.borrow(), Epoch(5));
    }
}
