//! Timestamps as Kubernetes writes them (RFC 3339, whole seconds, UTC: `2026-11-22T04:07:24Z`)
//! and kubectl's AGE column format.
use std::fmt;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A point in time, serialised like Kubernetes' `metav1.Time`: RFC 3339 in UTC with whole
/// seconds. Parsing accepts any RFC 3339 offset and fraction; both are normalised away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Time(OffsetDateTime);

impl Time {
    /// Wraps a point in time, dropping sub-second precision and converting to UTC, as
    /// Kubernetes does when it serialises.
    pub fn new(at: OffsetDateTime) -> Time {
        let utc = at.to_offset(time::UtcOffset::UTC);
        Time(utc.replace_nanosecond(0).unwrap_or(utc))
    }

    /// The time `secs` seconds after the Unix epoch.
    pub fn from_unix_seconds(secs: i64) -> Option<Time> {
        OffsetDateTime::from_unix_timestamp(secs).ok().map(Time)
    }

    pub fn unix_seconds(self) -> i64 {
        self.0.unix_timestamp()
    }

    pub fn as_offset_date_time(self) -> OffsetDateTime {
        self.0
    }

    /// Parses RFC 3339 (`2026-11-22T04:07:24Z`, `2026-11-22T05:07:24.5+01:00`).
    pub fn parse(s: &str) -> Result<Time, time::error::Parse> {
        OffsetDateTime::parse(s, &Rfc3339).map(Time::new)
    }

    /// kubectl's AGE of this timestamp as seen at `now`.
    pub fn age(self, now: Time) -> String {
        human_duration(now.unix_seconds() - self.unix_seconds())
    }
}

impl From<OffsetDateTime> for Time {
    fn from(at: OffsetDateTime) -> Time {
        Time::new(at)
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0;
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    }
}

impl std::str::FromStr for Time {
    type Err = time::error::Parse;
    fn from_str(s: &str) -> Result<Time, Self::Err> {
        Time::parse(s)
    }
}

impl serde::Serialize for Time {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Time {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Time, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Time;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 timestamp")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Time, E> {
                Time::parse(v).map_err(|e| E::custom(format!("invalid timestamp {v:?}: {e}")))
            }
        }
        d.deserialize_str(V)
    }
}

/// kubectl's duration format for AGE columns (`duration.HumanDuration`): about two to three
/// significant figures. `45s`, `3m12s`, `15m`, `5h3m`, `20h`, `2d3h`, `120d`, `3y45d`, `9y`.
/// Slightly negative ages (clock skew of up to a second) read `0s`; anything earlier is
/// `<invalid>`.
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".to_string();
    }
    if seconds < 0 {
        return "0s".to_string();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        if s == 0 {
            return format!("{minutes}m");
        }
        return format!("{minutes}m{s}s");
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        if m == 0 {
            return format!("{hours}h");
        }
        return format!("{hours}h{m}m");
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        if h == 0 {
            return format!("{}d", hours / 24);
        }
        return format!("{}d{}h", hours / 24, h);
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        if dy == 0 {
            return format!("{}y", hours / 24 / 365);
        }
        return format!("{}y{}d", hours / 24 / 365, dy);
    }
    format!("{}y", hours / 24 / 365)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_serialise_as_rfc3339_seconds_in_utc() {
        let t = Time::parse("2026-11-22T05:07:24.731+01:00").unwrap();
        assert_eq!(t.to_string(), "2026-11-22T04:07:24Z");
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            "\"2026-11-22T04:07:24Z\""
        );
        let back: Time = serde_json::from_str("\"2026-11-22T04:07:24Z\"").unwrap();
        assert_eq!(back, t);
        assert!(serde_json::from_str::<Time>("\"yesterday\"").is_err());
    }

    #[test]
    fn age_is_formatted_like_kubectl() {
        let table: &[(i64, &str)] = &[
            (-5, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (45, "45s"),
            (119, "119s"),
            (120, "2m"),
            (192, "3m12s"),
            (599, "9m59s"),
            (600, "10m"),
            (179 * 60 + 59, "179m"),
            (3 * 3600, "3h"),
            (5 * 3600 + 3 * 60, "5h3m"),
            (8 * 3600, "8h"),
            (47 * 3600 + 59 * 60, "47h"),
            (48 * 3600, "2d"),
            (2 * 86400 + 3 * 3600, "2d3h"),
            (7 * 86400 + 23 * 3600, "7d23h"),
            (8 * 86400, "8d"),
            (120 * 86400, "120d"),
            (729 * 86400, "729d"),
            (730 * 86400, "2y"),
            (3 * 365 * 86400 + 45 * 86400, "3y45d"),
            (9 * 365 * 86400, "9y"),
        ];
        for (secs, want) in table {
            assert_eq!(human_duration(*secs), *want, "{secs} seconds");
        }
    }

    #[test]
    fn age_of_a_timestamp_is_measured_from_now() {
        let created = Time::parse("2026-11-22T04:00:00Z").unwrap();
        let now = Time::parse("2026-11-22T04:03:12Z").unwrap();
        assert_eq!(created.age(now), "3m12s");
    }
}
