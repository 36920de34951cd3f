//! Byte-addressed storage under the image editors: an image file, a block device, or memory.
//!
//! The MBR and FAT32 code read and write through this trait at absolute byte offsets, so the
//! same code edits a disk image, an SD card (`/dev/sdX`) or a `Vec<u8>` in unit tests.

use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::FileExt;

/// Random-access storage addressed in bytes.
pub trait Storage {
    /// Fills `buf` from `offset_bytes`; reading past the end is an error.
    fn read_at(&self, offset_bytes: u64, buf: &mut [u8]) -> io::Result<()>;
    /// Writes all of `buf` at `offset_bytes`.
    fn write_at(&mut self, offset_bytes: u64, buf: &[u8]) -> io::Result<()>;
    /// The size in bytes (of the file, or of the whole block device).
    fn len_bytes(&self) -> io::Result<u64>;
    /// Makes the writes durable.
    fn sync(&mut self) -> io::Result<()>;
}

impl Storage for File {
    fn read_at(&self, offset_bytes: u64, buf: &mut [u8]) -> io::Result<()> {
        self.read_exact_at(buf, offset_bytes)
    }

    fn write_at(&mut self, offset_bytes: u64, buf: &[u8]) -> io::Result<()> {
        self.write_all_at(buf, offset_bytes)
    }

    fn len_bytes(&self) -> io::Result<u64> {
        // `metadata().len()` is 0 for a block device; seeking to the end works for both.
        let mut handle: &File = self;
        handle.seek(SeekFrom::End(0))
    }

    fn sync(&mut self) -> io::Result<()> {
        self.sync_all()
    }
}

impl Storage for Vec<u8> {
    fn read_at(&self, offset_bytes: u64, buf: &mut [u8]) -> io::Result<()> {
        let range = byte_range(offset_bytes, buf.len(), self.len())?;
        buf.copy_from_slice(&self[range]);
        Ok(())
    }

    fn write_at(&mut self, offset_bytes: u64, buf: &[u8]) -> io::Result<()> {
        let range = byte_range(offset_bytes, buf.len(), self.len())?;
        self[range].copy_from_slice(buf);
        Ok(())
    }

    fn len_bytes(&self) -> io::Result<u64> {
        Ok(self.len() as u64)
    }

    fn sync(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A memory image does not grow: an access past its end is the same error a file gives.
fn byte_range(offset_bytes: u64, len: usize, total: usize) -> io::Result<std::ops::Range<usize>> {
    let start = usize::try_from(offset_bytes).map_err(|_| past_end())?;
    let end = start.checked_add(len).ok_or_else(past_end)?;
    if end > total {
        return Err(past_end());
    }
    Ok(start..end)
}

fn past_end() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "access past the end of the image",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_storage_refuses_access_past_its_end() {
        let mut mem = vec![0u8; 16];
        assert!(mem.write_at(12, &[1, 2, 3, 4]).is_ok());
        assert!(mem.write_at(13, &[1, 2, 3, 4]).is_err());
        let mut buf = [0u8; 4];
        mem.read_at(12, &mut buf).unwrap();
        assert_eq!(buf, [1, 2, 3, 4]);
        assert!(mem.read_at(u64::MAX, &mut buf).is_err());
    }
}
