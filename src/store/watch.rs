//! Watching the store: a bounded in-memory history of recent changes, replayed to a new
//! watcher, followed by live events from a bounded broadcast channel.
//!
//! History is memory only: after a restart it is empty, so a watch from the current revision
//! works and an older one is `Gone` (the client re-lists, as with Kubernetes' 410).
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use tokio::sync::broadcast;

use super::{EventType, StoreError, WatchEvent};
use crate::api::Kind;

/// One committed change as kept in history: the object as compact JSON, so that history costs
/// about what the store file does and not the several-fold size of a parsed `serde_json::Value`.
#[derive(Debug)]
pub(super) struct HistoryEvent {
    pub event_type: EventType,
    pub revision: u64,
    pub kind: Kind,
    pub namespace: Option<Box<str>>,
    pub json: Box<[u8]>,
}

impl HistoryEvent {
    /// What this event costs in memory, for the history's byte limit.
    fn size_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.json.len()
            + self.namespace.as_ref().map_or(0, |ns| ns.len())
    }
}

/// The recent past and the channel to the present. Writers publish under its lock, in
/// revision order; watchers subscribe under it, so none sees a gap or a duplicate.
pub(super) struct History {
    events: VecDeque<Arc<HistoryEvent>>,
    bytes: usize,
    events_max: usize,
    bytes_max: usize,
    /// Every change with a revision at or above this one is in `events` or still to come.
    first_kept: u64,
    live: broadcast::Sender<Arc<HistoryEvent>>,
}

impl History {
    /// An empty history for a store at `revision`.
    pub fn new(revision: u64, events_max: usize, bytes_max: usize, live_events_max: usize) -> Self {
        History {
            events: VecDeque::new(),
            bytes: 0,
            events_max,
            bytes_max,
            first_kept: revision + 1,
            live: broadcast::channel(live_events_max.max(1)).0,
        }
    }

    /// Records committed changes (consecutive revisions) and sends them to live watchers.
    pub fn publish(&mut self, events: Vec<Arc<HistoryEvent>>) {
        for event in events {
            debug_assert_eq!(
                event.revision,
                self.events
                    .back()
                    .map_or(self.first_kept, |last| last.revision + 1),
                "history revisions are consecutive"
            );
            self.bytes += event.size_bytes();
            self.events.push_back(event.clone());
            // No receivers is not an error: nobody is watching.
            let _ = self.live.send(event);
        }
        while self.events.len() > self.events_max || self.bytes > self.bytes_max {
            let Some(oldest) = self.events.pop_front() else {
                break;
            };
            self.bytes -= oldest.size_bytes();
            self.first_kept = oldest.revision + 1;
        }
    }

    /// The kept events after `after` and a receiver for everything later.
    fn follow(&self, after: u64) -> Result<Followed, StoreError> {
        if after + 1 < self.first_kept {
            return Err(StoreError::Gone {
                requested: after,
                oldest: self.first_kept - 1,
            });
        }
        let skip = self.events.partition_point(|event| event.revision <= after);
        let replay = self.events.iter().skip(skip).cloned().collect();
        Ok((replay, self.live.subscribe()))
    }
}

/// Events to replay, and the receiver of everything after them.
type Followed = (
    VecDeque<Arc<HistoryEvent>>,
    broadcast::Receiver<Arc<HistoryEvent>>,
);

/// Locks `history`, carrying on after a panic elsewhere: every update of it is completed
/// before anything that could panic.
pub(super) fn lock(history: &Mutex<History>) -> std::sync::MutexGuard<'_, History> {
    history.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A live watch: yields events after the revision it started from, in revision order.
pub struct Watch {
    kind: Option<Kind>,
    namespace: Option<String>,
    /// The revision of the last event delivered or filtered out.
    last_seen: u64,
    pending: VecDeque<Arc<HistoryEvent>>,
    live: broadcast::Receiver<Arc<HistoryEvent>>,
    /// Weak, so that an open watch does not keep a dropped store's channel open.
    history: Weak<Mutex<History>>,
    finished: bool,
}

impl Watch {
    pub(super) fn start(
        history: &Arc<Mutex<History>>,
        kind: Option<Kind>,
        namespace: Option<&str>,
        after: u64,
    ) -> Result<Watch, StoreError> {
        let (pending, live) = lock(history).follow(after)?;
        Ok(Watch {
            kind,
            namespace: namespace.map(str::to_string),
            last_seen: after,
            pending,
            live,
            history: Arc::downgrade(history),
            finished: false,
        })
    }

    /// The next event; `None` when the store shut down, `Err(Gone)` when this watcher fell too
    /// far behind and must re-list.
    ///
    /// Cancel-safe: dropping the future loses no event. A watcher that lags behind the live
    /// channel catches up from history; only when history no longer reaches back far enough does
    /// it get `Gone`, after which the watch is over.
    pub async fn next(&mut self) -> Option<Result<WatchEvent, StoreError>> {
        loop {
            if self.finished {
                return None;
            }
            while let Some(event) = self.pending.pop_front() {
                if event.revision <= self.last_seen {
                    continue;
                }
                self.last_seen = event.revision;
                if self.wants(&event) {
                    return Some(decode(&event));
                }
            }
            match self.live.recv().await {
                Ok(event) => self.pending.push_back(event),
                Err(broadcast::error::RecvError::Closed) => return None,
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let history = self.history.upgrade()?;
                    let caught_up = lock(&history).follow(self.last_seen);
                    match caught_up {
                        Ok((pending, live)) => {
                            self.pending = pending;
                            self.live = live;
                        }
                        Err(gone) => {
                            self.finished = true;
                            return Some(Err(gone));
                        }
                    }
                }
            }
        }
    }

    fn wants(&self, event: &HistoryEvent) -> bool {
        self.kind.is_none_or(|kind| kind == event.kind)
            && self
                .namespace
                .as_deref()
                .is_none_or(|namespace| event.namespace.as_deref() == Some(namespace))
    }
}

fn decode(event: &HistoryEvent) -> Result<WatchEvent, StoreError> {
    let object = serde_json::from_slice(&event.json).map_err(|error| {
        StoreError::Database(format!(
            "history event at revision {} is not JSON: {error}",
            event.revision
        ))
    })?;
    Ok(WatchEvent {
        event_type: event.event_type,
        object,
        revision: event.revision,
    })
}
