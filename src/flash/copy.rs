//! Copying a disk image to an output file or a device. To a file the copy stays sparse: holes
//! in the source (found with `SEEK_DATA`/`SEEK_HOLE`) and all-zero blocks are not written. To a
//! device every byte is written, since whatever the card held before must not show through.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;

/// Bytes read and written per step.
pub const CHUNK_BYTES: usize = 1024 * 1024;
/// A device is flushed every this many bytes, so that progress tracks the card, not the page
/// cache, and a board with little memory is not flooded with dirty pages.
const DEVICE_SYNC_BYTES: u64 = 64 * 1024 * 1024;

/// Where the copy goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// A new regular file: holes and zero blocks are skipped.
    SparseFile,
    /// A block device: everything is written.
    Device,
}

/// What a copy did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CopyStats {
    /// Size of the image.
    pub total_bytes: u64,
    /// Bytes actually written.
    pub written_bytes: u64,
}

/// Copies all of `source` to `dest`, calling `progress(done_bytes, total_bytes)` after each chunk.
pub fn copy_image(
    source: &File,
    dest: &File,
    destination: Destination,
    progress: &mut dyn FnMut(u64, u64),
) -> io::Result<CopyStats> {
    let total_bytes = source.metadata()?.len();
    let mut stats = CopyStats {
        total_bytes,
        written_bytes: 0,
    };
    let segments = match destination {
        Destination::SparseFile => data_segments(source, total_bytes)?,
        Destination::Device => vec![(0, total_bytes)],
    };
    let mut buf = vec![0u8; CHUNK_BYTES];
    let mut since_sync = 0u64;
    for (start, end) in segments {
        let mut at = start;
        while at < end {
            let len = (end - at).min(CHUNK_BYTES as u64) as usize;
            let chunk = &mut buf[..len];
            source.read_exact_at(chunk, at)?;
            let skip = destination == Destination::SparseFile && chunk.iter().all(|&b| b == 0);
            if !skip {
                dest.write_all_at(chunk, at)?;
                stats.written_bytes += len as u64;
                since_sync += len as u64;
            }
            if destination == Destination::Device && since_sync >= DEVICE_SYNC_BYTES {
                dest.sync_data()?;
                since_sync = 0;
            }
            at += len as u64;
            progress(at, total_bytes);
        }
    }
    if destination == Destination::SparseFile {
        dest.set_len(total_bytes)?;
    }
    dest.sync_all()?;
    progress(total_bytes, total_bytes);
    Ok(stats)
}

// 64-bit offsets everywhere: on 32-bit glibc (armv7) plain `lseek` takes a 32-bit `off_t` and
// would fail on images over 2 GiB; musl's `off_t` is always 64-bit.
#[cfg(not(target_env = "gnu"))]
use libc::{lseek as seek, off_t as SeekOffset};
#[cfg(target_env = "gnu")]
use libc::{lseek64 as seek, off64_t as SeekOffset};

/// The `(start, end)` byte ranges of `file` that hold data; all of it when the file system
/// cannot tell.
fn data_segments(file: &File, len: u64) -> io::Result<Vec<(u64, u64)>> {
    let fd = file.as_raw_fd();
    let mut segments = Vec::new();
    let mut at = 0u64;
    while at < len {
        // SAFETY: lseek on a file descriptor we own; it only moves the file offset, which no
        // other code uses (all reads are positioned).
        let data = unsafe { seek(fd, at as SeekOffset, libc::SEEK_DATA) };
        if data < 0 {
            let err = io::Error::last_os_error();
            return match err.raw_os_error() {
                // No data after `at`: the rest is a hole.
                Some(libc::ENXIO) => Ok(segments),
                // The file system does not support hole detection: treat everything as data.
                Some(libc::EINVAL) | Some(libc::EOPNOTSUPP) => Ok(vec![(0, len)]),
                _ => Err(err),
            };
        }
        // SAFETY: as above.
        let hole = unsafe { seek(fd, data, libc::SEEK_HOLE) };
        if hole < 0 {
            return Err(io::Error::last_os_error());
        }
        let (start, end) = (data as u64, (hole as u64).min(len));
        if end > start {
            segments.push((start, end));
        }
        at = end.max(start + 1);
    }
    Ok(segments)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn sparse_copy_is_identical_and_skips_holes_and_zero_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let src_path = dir.path().join("base.img");
        let mut src = File::create(&src_path).unwrap();
        src.write_all(&[1u8; 4096]).unwrap();
        // A hole of 8 MiB, then a zero-filled MiB, then data.
        src.write_all_at(&[2u8; 100], 8 * 1024 * 1024).unwrap();
        src.write_all_at(&vec![0u8; CHUNK_BYTES], 9 * 1024 * 1024)
            .unwrap();
        src.write_all_at(&[3u8; 10], 11 * 1024 * 1024).unwrap();
        drop(src);
        let src = File::open(&src_path).unwrap();
        let dst_path = dir.path().join("out.img");
        let dst = File::create(&dst_path).unwrap();
        let mut calls = 0;
        let stats =
            copy_image(&src, &dst, Destination::SparseFile, &mut |_, _| calls += 1).unwrap();
        assert!(calls > 0);
        assert_eq!(stats.total_bytes, 11 * 1024 * 1024 + 10);
        assert!(stats.written_bytes < 4 * CHUNK_BYTES as u64, "{stats:?}");
        assert_eq!(
            std::fs::read(&src_path).unwrap(),
            std::fs::read(&dst_path).unwrap()
        );
    }
}
