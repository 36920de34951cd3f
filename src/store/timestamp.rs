//! Timestamps as Kubernetes writes them: RFC 3339 in UTC with whole seconds
//! (`2026-11-22T04:07:24Z`), used for `creationTimestamp` and join token records.
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

/// The one layout Kubernetes uses for `metav1.Time`.
const RFC3339_SECONDS: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");

/// Formats `at` in UTC, dropping sub-second precision (Kubernetes keeps whole seconds).
pub fn format_rfc3339(at: SystemTime) -> String {
    let at = OffsetDateTime::from(truncate_to_seconds(at));
    // Formatting a valid date with a fixed, known-good layout cannot fail; the year of a
    // `SystemTime` derived date always has four digits for any clock a board can have.
    at.format(RFC3339_SECONDS)
        .unwrap_or_else(|_| String::from("1970-01-01T00:00:00Z"))
}

/// Parses the form written by [`format_rfc3339`]; `None` for anything else.
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let at = PrimitiveDateTime::parse(text, RFC3339_SECONDS).ok()?;
    Some(SystemTime::from(at.assume_utc()))
}

/// `at` with the fractional second removed, so stored and reported times agree.
pub fn truncate_to_seconds(at: SystemTime) -> SystemTime {
    match at.duration_since(UNIX_EPOCH) {
        Ok(since) => UNIX_EPOCH + Duration::from_secs(since.as_secs()),
        Err(_) => UNIX_EPOCH,
    }
}

/// Serde adapter writing a `SystemTime` as an RFC 3339 string (for JSON and YAML output).
pub mod serde_rfc3339 {
    use std::time::SystemTime;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(at: &SystemTime, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::format_rfc3339(*at))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SystemTime, D::Error> {
        let text = String::deserialize(deserializer)?;
        super::parse_rfc3339(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "invalid timestamp {text:?}: expected RFC 3339 UTC like 2026-11-22T04:07:24Z"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_whole_seconds() {
        let at = UNIX_EPOCH + Duration::from_millis(1_795_320_444_750);
        assert_eq!(format_rfc3339(at), "2026-11-22T04:07:24Z");
    }

    #[test]
    fn formatted_timestamps_parse_back() {
        let at = UNIX_EPOCH + Duration::from_secs(1_795_320_444);
        assert_eq!(parse_rfc3339(&format_rfc3339(at)), Some(at));
        assert_eq!(parse_rfc3339("2026-11-22 04:07:24"), None);
    }
}
