//! Binary values (`Secret.data`, `ConfigMap.binaryData`), serialised as standard base64 with
//! padding the way Go encodes `[]byte`.
use std::fmt;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Bytes that travel as base64 text.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ByteString(pub Vec<u8>);

/// Text that is not standard padded base64.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("illegal base64 data at input byte {offset}")]
pub struct Base64Error {
    pub offset: usize,
}

impl ByteString {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn to_base64(&self) -> String {
        encode(&self.0)
    }

    pub fn from_base64(text: &str) -> Result<ByteString, Base64Error> {
        decode(text).map(ByteString)
    }
}

impl From<Vec<u8>> for ByteString {
    fn from(v: Vec<u8>) -> ByteString {
        ByteString(v)
    }
}

impl From<&str> for ByteString {
    fn from(v: &str) -> ByteString {
        ByteString(v.as_bytes().to_vec())
    }
}

/// Secrets are not printed by `{:?}`.
impl fmt::Debug for ByteString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ByteString({} bytes)", self.0.len())
    }
}

/// Standard base64 with padding.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn sextet(c: u8) -> Option<u32> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    } as u32)
}

/// Decodes standard padded base64. Like Go's decoder, line breaks are ignored.
pub fn decode(text: &str) -> Result<Vec<u8>, Base64Error> {
    let chars: Vec<(usize, u8)> = text
        .bytes()
        .enumerate()
        .filter(|(_, c)| *c != b'\n' && *c != b'\r')
        .collect();
    if let Some(&(offset, _)) = chars
        .iter()
        .find(|(_, c)| *c != b'=' && sextet(*c).is_none())
    {
        return Err(Base64Error { offset });
    }
    if chars.len() % 4 != 0 {
        return Err(Base64Error {
            offset: chars.last().map_or(0, |(i, _)| *i),
        });
    }
    let mut out = Vec::with_capacity(chars.len() / 4 * 3);
    let groups = chars.len() / 4;
    for (g, quad) in chars.chunks(4).enumerate() {
        let last = g + 1 == groups;
        let mut n = 0u32;
        let mut pad = 0;
        for (j, &(offset, c)) in quad.iter().enumerate() {
            if c == b'=' {
                // Padding only at the end of the last group, in its last two positions.
                if !last || j < 2 {
                    return Err(Base64Error { offset });
                }
                pad += 1;
                n <<= 6;
                continue;
            }
            if pad > 0 {
                return Err(Base64Error { offset });
            }
            n = (n << 6) | sextet(c).ok_or(Base64Error { offset })?;
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Ok(out)
}

impl serde::Serialize for ByteString {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&encode(&self.0))
    }
}

impl<'de> serde::Deserialize<'de> for ByteString {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ByteString, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = ByteString;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("base64 text")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ByteString, E> {
                decode(v).map(ByteString).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_every_length() {
        let table = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in table {
            assert_eq!(encode(plain.as_bytes()), encoded);
            assert_eq!(decode(encoded).unwrap(), plain.as_bytes());
        }
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(decode(&encode(&all)).unwrap(), all);
    }

    #[test]
    fn malformed_base64_is_rejected_with_its_offset() {
        assert_eq!(decode("Zm9v!mFy"), Err(Base64Error { offset: 4 }));
        assert!(decode("Zm9").is_err());
        assert!(decode("Zg==Zg==").is_err());
        assert!(decode("Z===").is_err());
        assert_eq!(decode("Zm9v\nYmFy").unwrap(), b"foobar");
    }
}
