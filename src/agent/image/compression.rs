//! Transparent decompression of layers and archives: plain, gzip or zstd, told apart by their
//! first bytes rather than by media types (which `docker save` and some registries get wrong).
use std::io::{self, BufRead, BufReader, Read};

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
/// zstd windows above this are refused: a crafted frame must not make the agent allocate more.
const ZSTD_WINDOW_BYTES_MAX: u64 = 128 * 1024 * 1024;

/// The compression of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// Looks at the first bytes of `reader` without consuming them.
pub fn detect<R: BufRead>(reader: &mut R) -> io::Result<Compression> {
    let head = reader.fill_buf()?;
    Ok(if head.starts_with(&GZIP_MAGIC) {
        Compression::Gzip
    } else if head.starts_with(&ZSTD_MAGIC) {
        Compression::Zstd
    } else {
        Compression::None
    })
}

/// Wraps `reader` in the decompressor its first bytes call for.
pub fn decompress<'a, R: Read + 'a>(reader: R) -> io::Result<Box<dyn Read + 'a>> {
    let mut reader = BufReader::with_capacity(64 * 1024, reader);
    Ok(match detect(&mut reader)? {
        Compression::None => Box::new(reader),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(reader)),
        Compression::Zstd => Box::new(ZstdReader::new(reader)),
    })
}

/// A zstd decoder over all the frames of a stream (ruzstd's decodes one frame).
struct ZstdReader<R: BufRead> {
    source: Option<R>,
    frame: Option<ruzstd::decoding::StreamingDecoder<R, ruzstd::decoding::FrameDecoder>>,
}

impl<R: BufRead> ZstdReader<R> {
    fn new(source: R) -> ZstdReader<R> {
        ZstdReader {
            source: Some(source),
            frame: None,
        }
    }
}

impl<R: BufRead> Read for ZstdReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(frame) = &mut self.frame {
                let n = frame.read(buf)?;
                if n > 0 || buf.is_empty() {
                    return Ok(n);
                }
                let frame = self.frame.take().expect("frame present");
                self.source = Some(frame.into_inner());
            }
            let Some(mut source) = self.source.take() else {
                return Ok(0);
            };
            if source.fill_buf()?.is_empty() {
                return Ok(0);
            }
            let decoder = ruzstd::decoding::StreamingDecoder::new_with_max_window_size(
                source,
                ZSTD_WINDOW_BYTES_MAX,
            )
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("zstd: {e}")))?;
            self.frame = Some(decoder);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn roundtrip(compressed: Vec<u8>, expected: &[u8]) {
        let mut out = Vec::new();
        decompress(&compressed[..])
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, expected);
    }

    #[test]
    fn plain_gzip_and_zstd_streams_all_decode_to_the_same_bytes() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        roundtrip(data.clone(), &data);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        roundtrip(gz.finish().unwrap(), &data);
        let zst = ruzstd::encoding::compress_to_vec(
            &data[..],
            ruzstd::encoding::CompressionLevel::Fastest,
        );
        roundtrip(zst, &data);
    }

    #[test]
    fn concatenated_zstd_frames_decode_as_one_stream() {
        let mut zst = ruzstd::encoding::compress_to_vec(
            &b"hello "[..],
            ruzstd::encoding::CompressionLevel::Fastest,
        );
        zst.extend(ruzstd::encoding::compress_to_vec(
            &b"world"[..],
            ruzstd::encoding::CompressionLevel::Fastest,
        ));
        roundtrip(zst, b"hello world");
    }
}
