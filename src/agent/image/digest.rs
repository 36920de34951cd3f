//! Content digests (`sha256:<64 hex>`), and readers/writers that hash what passes through them so
//! that a blob is verified while it streams, never after being held whole in memory.
use std::fmt;
use std::io::{self, Read, Write};
use std::str::FromStr;

/// A sha256 content digest, validated at construction: `sha256:` followed by 64 lower-case hex
/// digits. It is also safe to use as a file name (the hex part only).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    hex: String,
}

/// Why a string is not a digest Flotilla accepts.
#[derive(Debug, thiserror::Error)]
#[error("invalid digest {value:?}: expected sha256:<64 lower-case hex digits>")]
pub struct InvalidDigest {
    value: String,
}

impl Digest {
    /// The hex part, used as the blob's file name.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// Digest of a byte slice.
    pub fn of(bytes: &[u8]) -> Digest {
        let mut hasher = Hasher::new();
        hasher.update(bytes);
        hasher.finish()
    }

    /// Builds a digest from its hex part (a blob's file name).
    pub fn from_hex(hex: &str) -> Result<Digest, InvalidDigest> {
        format!("sha256:{hex}").parse()
    }

    /// A short form for people: the first 12 hex digits.
    pub fn short(&self) -> &str {
        &self.hex[..12]
    }
}

impl FromStr for Digest {
    type Err = InvalidDigest;

    fn from_str(value: &str) -> Result<Digest, InvalidDigest> {
        let invalid = || InvalidDigest {
            value: value.to_string(),
        };
        let hex = value.strip_prefix("sha256:").ok_or_else(invalid)?;
        if hex.len() != 64
            || !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(invalid());
        }
        Ok(Digest {
            hex: hex.to_string(),
        })
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Digest, D::Error> {
        let value = String::deserialize(deserializer)?;
        value.parse().map_err(serde::de::Error::custom)
    }
}

/// An incremental sha256.
pub struct Hasher {
    context: ring::digest::Context,
    bytes: u64,
}

impl Default for Hasher {
    fn default() -> Self {
        Hasher::new()
    }
}

impl Hasher {
    pub fn new() -> Hasher {
        Hasher {
            context: ring::digest::Context::new(&ring::digest::SHA256),
            bytes: 0,
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        self.context.update(data);
        self.bytes += data.len() as u64;
    }

    /// Bytes hashed so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn finish(self) -> Digest {
        let digest = self.context.finish();
        let mut hex = String::with_capacity(64);
        for byte in digest.as_ref() {
            use fmt::Write as _;
            let _ = write!(hex, "{byte:02x}");
        }
        Digest { hex }
    }
}

/// A reader that hashes everything read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Hasher,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> HashingReader<R> {
        HashingReader {
            inner,
            hasher: Hasher::new(),
        }
    }

    /// Reads the rest of the stream (so trailing bytes count) and returns the digest and size.
    pub fn finish(mut self) -> io::Result<(Digest, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        let bytes = self.hasher.bytes();
        Ok((self.hasher.finish(), bytes))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// A writer that hashes everything written through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Hasher,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> HashingWriter<W> {
        HashingWriter {
            inner,
            hasher: Hasher::new(),
        }
    }

    pub fn finish(self) -> (W, Digest, u64) {
        let bytes = self.hasher.bytes();
        (self.inner, self.hasher.finish(), bytes)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_of_empty_input_is_the_well_known_one() {
        assert_eq!(
            Digest::of(b"").to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn malformed_digests_are_refused() {
        for bad in [
            "sha256:abc",
            "md5:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "sha256:../../../../etc/passwd0000000000000000000000000000000000000000000",
        ] {
            assert!(bad.parse::<Digest>().is_err(), "{bad}");
        }
    }

    #[test]
    fn hashing_reader_and_writer_agree_with_one_shot_digest() {
        let data = vec![7u8; 100_000];
        let (digest, size) = HashingReader::new(&data[..]).finish().unwrap();
        assert_eq!(digest, Digest::of(&data));
        assert_eq!(size, 100_000);
        let mut writer = HashingWriter::new(Vec::new());
        writer.write_all(&data).unwrap();
        let (_, digest, _) = writer.finish();
        assert_eq!(digest, Digest::of(&data));
    }
}
