//! `GET …?watch=true`: a stream of `{"type": "ADDED|MODIFIED|DELETED|ERROR", "object": …}`
//! events, one JSON document per line (or one postcard envelope per event). Without a
//! resourceVersion the stream starts with the current objects as ADDED; with one it resumes
//! after that revision, or answers 410 Gone when the history is no longer kept (in-stream, as an
//! ERROR event carrying the Status, when the watcher falls behind later).
use std::collections::HashSet;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use tokio::sync::mpsc;

use super::filter::Filter;
use super::{Call, ResponseBody};
use crate::api::FieldSelector;
use crate::master::codec::Format;
use crate::master::error::ApiError;
use crate::master::nodes::{NodesService, StoreBackend};
use crate::master::object::meta_str;
use crate::store::{EventType, Object, Watch};

/// Encoded events buffered per watch before the stream waits for the client.
pub const WATCH_BUFFER_EVENTS: usize = 64;

/// The response body of a watch: encoded events as the watch task produces them.
pub struct EventStream(mpsc::Receiver<Bytes>);

impl Body for EventStream {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|event| event.map(|b| Ok(Frame::data(b))))
    }
}

/// A watch event as sent: `{"type": …, "object": …}`, type first as Kubernetes writes it.
#[derive(serde::Serialize)]
struct WireEvent<'a> {
    #[serde(rename = "type")]
    event_type: &'a str,
    object: &'a serde_json::Value,
}

/// One event as sent on the wire.
pub fn encode_event(format: Format, event_type: &str, object: &serde_json::Value) -> Bytes {
    let event = WireEvent { event_type, object };
    match format {
        Format::Json => {
            let mut line = BytesMut::from(&Format::Json.encode(&event)[..]);
            line.extend_from_slice(b"\n");
            line.freeze()
        }
        Format::Postcard => Format::Postcard.encode(&event),
    }
}

pub async fn watch(
    call: &Call<'_>,
    fields: Option<FieldSelector>,
) -> Result<Response<ResponseBody>, ApiError> {
    let filter = Filter::new(call.query, fields, call.bound_to.clone())?;
    let permit = call
        .state
        .watch_permits
        .clone()
        .try_acquire_owned()
        .map_err(|_| ApiError::TooManyWatches {
            limit: super::WATCHES_MAX,
        })?;
    let kind = call.path.kind;
    let namespace = call.path.namespace.clone();
    let from = call.query.resource_version;
    let (current, watch) = call
        .state
        .store_op(move |store| {
            let ns = namespace.as_deref();
            match from {
                Some(revision) => Ok((Vec::new(), store.watch(Some(kind), ns, revision)?)),
                None => {
                    let (items, revision) = store.list(kind, ns)?;
                    Ok((items, store.watch(Some(kind), ns, revision)?))
                }
            }
        })
        .await?;

    let stream = Stream {
        filter,
        format: call.format,
        matching: HashSet::new(),
        known: from.is_none(),
        nodes: call.state.nodes.clone(),
    };
    let (tx, rx) = mpsc::channel(WATCH_BUFFER_EVENTS);
    let shutdown = call.state.shutdown.clone();
    let guard = call.state.metrics.watch_started();
    let timeout = call.query.timeout_s.map(Duration::from_secs);
    tokio::spawn(async move {
        let _held = (permit, guard);
        stream.run(current, watch, tx, shutdown, timeout).await;
    });

    let mut response = Response::new(EventStream(rx).boxed());
    *response.status_mut() = StatusCode::OK;
    let content_type = match call.format {
        Format::Json => HeaderValue::from_static("application/json;stream=watch"),
        Format::Postcard => call.format.content_type(),
    };
    response.headers_mut().insert(CONTENT_TYPE, content_type);
    Ok(response)
}

/// The state of one watch: which matching objects the client holds, so that an object that
/// stops matching the selector is reported DELETED and one that starts matching ADDED.
struct Stream {
    filter: Filter,
    format: Format,
    /// Objects sent to the client and still matching.
    matching: HashSet<(String, String)>,
    /// Whether `matching` is all the client holds: true when the stream began with the current
    /// objects; false when it resumed from a resourceVersion, since what matched then is not
    /// known here (a change to such an object is sent as MODIFIED).
    known: bool,
    /// Live pod and node status to show in the objects sent.
    nodes: Option<Arc<NodesService<StoreBackend>>>,
}

fn identity(object: &Object) -> (String, String) {
    (
        meta_str(object, "namespace").to_string(),
        meta_str(object, "name").to_string(),
    )
}

impl Stream {
    /// The event to send for a store event, if any.
    fn translate(&mut self, event_type: EventType, object: &Object) -> Option<&'static str> {
        let id = identity(object);
        let matches = self.filter.matches(object);
        let held = self.matching.contains(&id);
        match (event_type, matches, held) {
            (EventType::Deleted, _, true) | (EventType::Deleted, true, false) => {
                self.matching.remove(&id);
                Some("DELETED")
            }
            (EventType::Deleted, false, false) => None,
            (_, true, true) => Some("MODIFIED"),
            (EventType::Modified, true, false) if !self.known => {
                self.matching.insert(id);
                Some("MODIFIED")
            }
            (_, true, false) => {
                self.matching.insert(id);
                Some("ADDED")
            }
            (_, false, true) => {
                self.matching.remove(&id);
                Some("DELETED")
            }
            (_, false, false) => None,
        }
    }

    async fn run(
        mut self,
        current: Vec<Object>,
        mut watch: Watch,
        tx: mpsc::Sender<Bytes>,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
        timeout: Option<Duration>,
    ) {
        let deadline = async {
            match timeout {
                Some(t) => tokio::time::sleep(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(deadline);
        for mut object in current.into_iter().filter(|o| self.filter.matches(o)) {
            self.matching.insert(identity(&object));
            super::overlay(self.nodes.as_deref(), &mut object);
            let bytes = encode_event(self.format, "ADDED", &object);
            if tx.send(bytes).await.is_err() {
                return;
            }
        }
        loop {
            let event = tokio::select! {
                event = watch.next() => event,
                _ = shutdown.changed() => return,
                _ = &mut deadline => return,
                _ = tx.closed() => return,
            };
            let bytes = match event {
                None => return,
                Some(Ok(mut event)) => match self.translate(event.event_type, &event.object) {
                    Some(event_type) => {
                        super::overlay(self.nodes.as_deref(), &mut event.object);
                        encode_event(self.format, event_type, &event.object)
                    }
                    None => continue,
                },
                Some(Err(error)) => {
                    let error = ApiError::from(error);
                    let status = serde_json::to_value(error.to_status()).unwrap_or_default();
                    let _ = tx.send(encode_event(self.format, "ERROR", &status)).await;
                    return;
                }
            };
            tokio::select! {
                sent = tx.send(bytes) => if sent.is_err() { return },
                _ = shutdown.changed() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::master::query::Query;
    use serde_json::json;

    fn stream(selector: &str) -> Stream {
        let query = Query {
            label_selector: Some(selector.into()),
            ..Query::default()
        };
        Stream {
            filter: Filter::new(&query, None, None).unwrap(),
            format: Format::Json,
            matching: HashSet::new(),
            known: true,
            nodes: None,
        }
    }

    fn pod(app: &str) -> Object {
        json!({"metadata": {"name": "p", "namespace": "default", "labels": {"app": app}}})
    }

    #[test]
    fn objects_entering_and_leaving_a_selector_are_added_and_deleted() {
        let mut s = stream("app=web");
        assert_eq!(s.translate(EventType::Added, &pod("db")), None);
        assert_eq!(s.translate(EventType::Modified, &pod("web")), Some("ADDED"));
        assert_eq!(
            s.translate(EventType::Modified, &pod("web")),
            Some("MODIFIED")
        );
        assert_eq!(
            s.translate(EventType::Modified, &pod("db")),
            Some("DELETED")
        );
        assert_eq!(s.translate(EventType::Deleted, &pod("db")), None);
        assert_eq!(s.translate(EventType::Added, &pod("web")), Some("ADDED"));
        assert_eq!(
            s.translate(EventType::Deleted, &pod("web")),
            Some("DELETED")
        );
    }

    #[test]
    fn a_resumed_watch_reports_changes_to_unseen_objects_as_modified() {
        let mut s = Stream {
            known: false,
            ..stream("app=web")
        };
        assert_eq!(
            s.translate(EventType::Modified, &pod("web")),
            Some("MODIFIED")
        );
        assert_eq!(
            s.translate(EventType::Modified, &pod("db")),
            Some("DELETED")
        );
        assert_eq!(s.translate(EventType::Added, &pod("web")), Some("ADDED"));
    }

    #[test]
    fn json_events_are_lines() {
        let bytes = encode_event(Format::Json, "ADDED", &json!({"kind": "Pod"}));
        assert_eq!(
            &bytes[..],
            b"{\"type\":\"ADDED\",\"object\":{\"kind\":\"Pod\"}}\n"
        );
    }
}
