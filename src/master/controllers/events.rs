//! Events as `v1/Event` objects, folded like Kubernetes' event correlator: the same event
//! again (same object, type, reason, message and source) bumps `count` and `lastTimestamp` of
//! the existing object instead of creating another. The object's name is derived from that
//! identity, so finding the one to fold into needs no index and survives a restart.
use crate::api::{Event, EventSource, NamespaceName, ObjectMeta, Time};

use super::action::{Action, EventRecord};

/// How long an event is kept after it last happened (Kubernetes' API server default, 1 h).
pub const EVENT_TTL_SECONDS: i64 = 3600;

/// The namespace of events about cluster-scoped objects (nodes), as in Kubernetes.
pub const CLUSTER_EVENTS_NAMESPACE: &str = "default";

/// The namespace an event about `record.involved` lives in.
pub fn event_namespace(record: &EventRecord) -> String {
    record
        .involved
        .namespace
        .clone()
        .unwrap_or_else(|| CLUSTER_EVENTS_NAMESPACE.to_string())
}

/// The event's object name: `<involved name>.<16 hex digits of the event's identity>` (the
/// shape of Kubernetes' `<name>.<hex timestamp>` names).
pub fn event_name(record: &EventRecord) -> String {
    let involved = &record.involved;
    let identity = [
        involved.kind.as_str(),
        involved.namespace.as_deref().unwrap_or(""),
        involved.name.as_str(),
        involved.uid.as_str(),
        match record.event_type {
            crate::api::EventType::Normal => "Normal",
            crate::api::EventType::Warning => "Warning",
        },
        record.reason.as_str(),
        record.message.as_str(),
        record.component,
    ];
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in identity {
        for byte in part.bytes().chain(std::iter::once(0)) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{}.{hash:016x}", involved.name)
}

/// The Event object to write for `record` at `now`: a new one (count 1), or `existing` with
/// its count bumped.
pub fn fold(existing: Option<&Event>, record: &EventRecord, now: Time) -> Event {
    match existing {
        Some(event) => {
            let mut event = event.clone();
            event.count = Some(event.count.unwrap_or(1) + 1);
            event.last_timestamp = Some(now);
            event
        }
        None => {
            let namespace = NamespaceName::new(event_namespace(record)).ok();
            Event {
                metadata: ObjectMeta::named(event_name(record), namespace),
                involved_object: record.involved.clone(),
                reason: Some(record.reason.clone()),
                message: Some(record.message.clone()),
                type_: Some(record.event_type),
                count: Some(1),
                first_timestamp: Some(now),
                last_timestamp: Some(now),
                source: Some(EventSource {
                    component: record.component.to_string(),
                    host: String::new(),
                }),
                reporting_component: Some(record.component.to_string()),
                reporting_instance: None,
            }
        }
    }
}

/// Deletions of the events among `events` that last happened more than `ttl_seconds` before
/// `now`, so that the event log does not grow without bound on a small disk.
pub fn expired<'a>(
    events: impl IntoIterator<Item = &'a Event>,
    now: Time,
    ttl_seconds: i64,
) -> Vec<Action> {
    events
        .into_iter()
        .filter(|event| {
            let last = event
                .last_timestamp
                .or(event.first_timestamp)
                .or(event.metadata.creation_timestamp);
            last.is_some_and(|t| t.unix_seconds() + ttl_seconds < now.unix_seconds())
        })
        .map(Action::delete)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{EventType, ObjectReference};

    fn record(message: &str) -> EventRecord {
        EventRecord {
            involved: ObjectReference {
                api_version: "v1".into(),
                kind: "Pod".into(),
                namespace: Some("default".into()),
                name: "web-1".into(),
                uid: "u1".into(),
                ..ObjectReference::default()
            },
            event_type: EventType::Warning,
            reason: "FailedScheduling".into(),
            message: message.into(),
            component: "default-scheduler",
        }
    }

    fn at(secs: i64) -> Time {
        Time::from_unix_seconds(secs).unwrap()
    }

    #[test]
    fn a_new_event_counts_once_and_is_named_after_its_object() {
        let event = fold(None, &record("0/1 nodes are available"), at(100));
        assert_eq!(event.count, Some(1));
        assert!(event.metadata.name.starts_with("web-1."));
        assert_eq!(event.metadata.namespace.as_deref(), Some("default"));
        assert_eq!(event.first_timestamp, Some(at(100)));
    }

    #[test]
    fn the_same_event_again_is_folded_into_the_first() {
        let first = fold(None, &record("m"), at(100));
        let again = fold(Some(&first), &record("m"), at(160));
        assert_eq!(again.metadata.name, first.metadata.name);
        assert_eq!(again.count, Some(2));
        assert_eq!(again.first_timestamp, Some(at(100)));
        assert_eq!(again.last_timestamp, Some(at(160)));
    }

    #[test]
    fn events_older_than_their_time_to_live_are_deleted() {
        let old = fold(None, &record("old"), at(100));
        let fresh = fold(None, &record("fresh"), at(4000));
        let deleted = expired([&old, &fresh], at(4000), EVENT_TTL_SECONDS);
        assert_eq!(deleted.len(), 1);
        assert_eq!(deleted[0].target().unwrap().name, old.metadata.name);
    }

    #[test]
    fn a_different_message_is_a_different_event() {
        assert_ne!(event_name(&record("a")), event_name(&record("b")));
    }
}
