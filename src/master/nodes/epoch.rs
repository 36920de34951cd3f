//! The master's epoch with one master: a durable counter bumped at every start.
//!
//! It lives in its own small file in the master's data directory (`epoch`), not in the store:
//! the store holds desired state and is replicated by the election in HA, while the epoch is
//! the master's term, which in HA comes from the election's ballot instead. Either way it costs
//! one durable write per master start and none while running.
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::wire::Epoch;

/// The file name in the data directory.
pub const EPOCH_FILE: &str = "epoch";

#[derive(Debug, thiserror::Error)]
pub enum EpochError {
    #[error("cannot read the master epoch from {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} does not hold an epoch (a decimal number): {content:?}")]
    Corrupt { path: PathBuf, content: String },
    #[error("cannot write the master epoch to {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Reads the last epoch from `dir/epoch` (0 when absent), writes the next one durably
/// (temporary file, fsync, rename, fsync of the directory) and returns it.
pub fn bump_epoch(dir: &Path) -> Result<Epoch, EpochError> {
    let path = dir.join(EPOCH_FILE);
    let last = match fs::read_to_string(&path) {
        Ok(text) => Epoch(text.trim().parse().map_err(|_| EpochError::Corrupt {
            path: path.clone(),
            content: text.chars().take(40).collect(),
        })?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Epoch(0),
        Err(source) => return Err(EpochError::Read { path, source }),
    };
    let next = last.next();
    let write = |path: &Path| -> std::io::Result<()> {
        let tmp = path.with_extension("tmp");
        let mut file = fs::File::create(&tmp)?;
        writeln!(file, "{}", next.0)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        fs::File::open(dir)?.sync_all()
    };
    write(&path).map_err(|source| EpochError::Write {
        path: path.clone(),
        source,
    })?;
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_start_gets_a_higher_epoch() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(bump_epoch(dir.path()).unwrap(), Epoch(1));
        assert_eq!(bump_epoch(dir.path()).unwrap(), Epoch(2));
        assert_eq!(
            fs::read_to_string(dir.path().join(EPOCH_FILE)).unwrap(),
            "2\n"
        );
    }

    #[test]
    fn a_corrupt_epoch_file_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(EPOCH_FILE), "banana").unwrap();
        let err = bump_epoch(dir.path()).unwrap_err();
        assert!(err.to_string().contains("epoch"));
        assert!(err.to_string().contains("banana"));
    }
}
