//! The CRI log line format the kubelet writes and `kubectl logs` reads:
//! `2016-10-06T00:17:09.669794202Z stdout F message`. `P` marks a fragment of a line longer
//! than the pump's buffer; the line ends with the next `F`.

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// One parsed log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine<'a> {
    pub timestamp: &'a str,
    pub stream: Stream,
    pub partial: bool,
    pub content: &'a [u8],
}

/// RFC 3339 with nanoseconds in UTC, as the kubelet writes it.
pub fn timestamp(unix_nanos: i128) -> String {
    let time = time::OffsetDateTime::from_unix_timestamp_nanos(unix_nanos)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z",
        time.year(),
        time.month() as u8,
        time.day(),
        time.hour(),
        time.minute(),
        time.second(),
        time.nanosecond()
    )
}

/// Appends one formatted line (`content` without its newline) to `out`.
pub fn format_line(
    out: &mut Vec<u8>,
    timestamp: &str,
    stream: Stream,
    partial: bool,
    content: &[u8],
) {
    out.extend_from_slice(timestamp.as_bytes());
    out.push(b' ');
    out.extend_from_slice(stream.as_str().as_bytes());
    out.extend_from_slice(if partial { b" P " } else { b" F " });
    out.extend_from_slice(content);
    out.push(b'\n');
}

/// Parses one line (without its newline); `None` if it is not in CRI format.
pub fn parse_line(line: &[u8]) -> Option<LogLine<'_>> {
    let mut parts = line.splitn(4, |b| *b == b' ');
    let timestamp = std::str::from_utf8(parts.next()?).ok()?;
    let stream = match parts.next()? {
        b"stdout" => Stream::Stdout,
        b"stderr" => Stream::Stderr,
        _ => return None,
    };
    let partial = match parts.next()? {
        b"P" => true,
        b"F" => false,
        _ => return None,
    };
    Some(LogLine {
        timestamp,
        stream,
        partial,
        content: parts.next().unwrap_or(b""),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_through_the_cri_format() {
        let mut out = Vec::new();
        format_line(
            &mut out,
            &timestamp(1_475_712_629_669_794_202),
            Stream::Stderr,
            false,
            b"hello world",
        );
        assert_eq!(
            out,
            b"2016-10-06T00:10:29.669794202Z stderr F hello world\n"
        );
        let line = parse_line(&out[..out.len() - 1]).unwrap();
        assert_eq!(line.stream, Stream::Stderr);
        assert!(!line.partial);
        assert_eq!(line.content, b"hello world");
        assert_eq!(line.timestamp, "2016-10-06T00:10:29.669794202Z");
    }

    #[test]
    fn an_empty_line_keeps_its_separator() {
        let mut out = Vec::new();
        format_line(&mut out, "t", Stream::Stdout, true, b"");
        assert_eq!(parse_line(&out[..out.len() - 1]).unwrap().content, b"");
    }
}
