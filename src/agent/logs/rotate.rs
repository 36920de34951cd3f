//! A size-capped log file: `<name>.log` rotated to `<name>.log.1`, `.2` … when it would exceed
//! its limit, the oldest dropped.
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::LogLimits;

pub struct RotatingFile {
    path: PathBuf,
    file: File,
    bytes: u64,
    limits: LogLimits,
}

impl RotatingFile {
    /// Opens (appending to) the log file at `path`, creating its directory.
    pub fn open(path: &Path, limits: LogLimits) -> io::Result<RotatingFile> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let bytes = file.metadata()?.len();
        Ok(RotatingFile {
            path: path.to_path_buf(),
            file,
            bytes,
            limits,
        })
    }

    /// The name of the `n`-th rotated file.
    pub fn rotated(path: &Path, n: u32) -> PathBuf {
        let mut name = path.as_os_str().to_owned();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    /// Appends whole lines; rotates first if they would not fit.
    pub fn write_lines(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.bytes > 0 && self.bytes + bytes.len() as u64 > self.limits.file_bytes_max {
            self.rotate()?;
        }
        self.file.write_all(bytes)?;
        self.bytes += bytes.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        let keep = self.limits.files_max.max(1);
        let _ = fs::remove_file(Self::rotated(&self.path, keep - 1));
        for n in (1..keep.saturating_sub(1)).rev() {
            let _ = fs::rename(
                Self::rotated(&self.path, n),
                Self::rotated(&self.path, n + 1),
            );
        }
        if keep > 1 {
            fs::rename(&self.path, Self::rotated(&self.path, 1))?;
        } else {
            fs::remove_file(&self.path)?;
        }
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.bytes = 0;
        Ok(())
    }
}

/// The files of one log, oldest first (rotated ones, then the current).
pub fn files_oldest_first(path: &Path, limits: LogLimits) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = (1..limits.files_max.max(1))
        .rev()
        .map(|n| RotatingFile::rotated(path, n))
        .filter(|p| p.exists())
        .collect();
    if path.exists() {
        files.push(path.to_path_buf());
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_rotate_at_the_size_limit_and_the_oldest_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        let limits = LogLimits {
            file_bytes_max: 10,
            files_max: 3,
        };
        let mut file = RotatingFile::open(&path, limits).unwrap();
        for line in ["aaaaaaaa\n", "bbbbbbbb\n", "cccccccc\n", "dddddddd\n"] {
            file.write_lines(line.as_bytes()).unwrap();
        }
        assert_eq!(fs::read_to_string(&path).unwrap(), "dddddddd\n");
        assert_eq!(
            fs::read_to_string(RotatingFile::rotated(&path, 1)).unwrap(),
            "cccccccc\n"
        );
        assert_eq!(
            fs::read_to_string(RotatingFile::rotated(&path, 2)).unwrap(),
            "bbbbbbbb\n"
        );
        assert!(!RotatingFile::rotated(&path, 3).exists());
        assert_eq!(files_oldest_first(&path, limits).len(), 3);
    }
}
