//! The master's desired-state store: one redb file holding objects by kind / namespace / name,
//! a global revision, per-object `resourceVersion` and `generation`, join tokens (hashed), and
//! an in-memory watch history. Objects are kept as JSON values so the store does not depend on
//! the typed model.
//!
//! Every write is one durable redb commit (`Durability::Immediate`) before it returns, so an
//! acknowledged write survives `kill -9`; several changes that belong together go through
//! [`Store::batch`] to share one commit. Nothing runs in the background: an idle store writes
//! nothing. Writes block on an fsync (a few milliseconds on an SD card), so async callers run
//! them on a blocking thread.
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, TableDefinition, TableHandle,
    WriteTransaction,
};
use ring::rand::SystemRandom;

use crate::api::Kind;

mod error;
mod key;
mod metadata;
pub mod timestamp;
mod tokens;
mod watch;

pub use error::StoreError;
pub use tokens::{TokenError, TokenRecord};
pub use watch::Watch;

use metadata::UpdateOutcome;
use watch::{History, HistoryEvent};

/// An object as stored and served: a JSON document with `apiVersion`, `kind`, `metadata`, …
pub type Object = serde_json::Value;

/// Where an object lives. `namespace` is `None` for cluster-scoped kinds (Node, Namespace).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    pub kind: Kind,
    pub namespace: Option<String>,
    pub name: String,
}

/// What happened to an object in a watch stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

/// One change, as seen by a watcher. `object` carries its new `resourceVersion` (for deletes:
/// the revision of the delete).
#[derive(Debug, Clone)]
pub struct WatchEvent {
    pub event_type: EventType,
    pub object: Object,
    pub revision: u64,
}

/// One change in a [`Store::batch`].
#[derive(Debug, Clone)]
pub enum Op {
    /// Create, as [`Store::create`].
    Create(ObjectKey, Object),
    /// Replace, as [`Store::update`] (an update that changes nothing uses no revision).
    Update(ObjectKey, Object),
    /// Delete, optionally only at a resource version, as [`Store::delete`].
    Delete(ObjectKey, Option<u64>),
}

/// Limits of a store; [`StoreOptions::default`] suits a Raspberry Pi master.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// Changes kept in memory for watches to resume from.
    pub history_events_max: usize,
    /// Bytes of object JSON kept in that history; whichever limit is reached first applies.
    pub history_bytes_max: usize,
    /// Live events buffered per watcher before it must catch up from history.
    pub live_events_max: usize,
    /// redb's page cache.
    pub cache_bytes: usize,
}

/// Changes kept for watches to resume from.
pub const HISTORY_EVENTS_MAX: usize = 10_000;
/// Bytes of JSON kept in watch history (about 4,000 pods' worth).
pub const HISTORY_BYTES_MAX: usize = 8 * 1024 * 1024;
/// Live events buffered for a slow watcher before it falls back to history.
pub const LIVE_EVENTS_MAX: usize = 1024;
/// redb's page cache; its default (1 GiB) is the whole RAM of many boards.
pub const CACHE_BYTES: usize = 16 * 1024 * 1024;

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            history_events_max: HISTORY_EVENTS_MAX,
            history_bytes_max: HISTORY_BYTES_MAX,
            live_events_max: LIVE_EVENTS_MAX,
            cache_bytes: CACHE_BYTES,
        }
    }
}

/// Objects by encoded key (see `key.rs`), as JSON.
const OBJECTS: TableDefinition<&str, &[u8]> = TableDefinition::new("objects");
/// Store-wide counters.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// The key in [`META`] of the global revision.
const REVISION: &str = "revision";

/// Handle to the store; cheap to clone, shared by the API server and controllers.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    /// Held from the start of a write transaction until its events are published, so that
    /// revisions are assigned, committed and published in one order.
    writer: Mutex<()>,
    /// The newest committed revision.
    revision: AtomicU64,
    history: Arc<Mutex<History>>,
    rng: SystemRandom,
}

impl Store {
    /// Opens (or creates) the store file at `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_with(path, StoreOptions::default())
    }

    /// Opens (or creates) the store file at `path` with explicit limits.
    pub fn open_with(path: &Path, options: StoreOptions) -> Result<Store, StoreError> {
        let in_file = |error: StoreError| match error {
            StoreError::Database(message) => {
                StoreError::Database(format!("{}: {message}", path.display()))
            }
            other => other,
        };
        let db = Database::builder()
            .set_cache_size(options.cache_bytes)
            .create(path)
            .map_err(StoreError::from)
            .map_err(in_file)?;
        create_missing_tables(&db).map_err(in_file)?;
        let revision = {
            let read = db.begin_read().map_err(StoreError::from).map_err(in_file)?;
            let meta = read
                .open_table(META)
                .map_err(StoreError::from)
                .map_err(in_file)?;
            let revision = meta.get(REVISION).map_err(StoreError::from)?;
            revision.map_or(0, |r| r.value())
        };
        let history = History::new(
            revision,
            options.history_events_max,
            options.history_bytes_max,
            options.live_events_max,
        );
        Ok(Store {
            inner: Arc::new(Inner {
                db,
                writer: Mutex::new(()),
                revision: AtomicU64::new(revision),
                history: Arc::new(Mutex::new(history)),
                rng: SystemRandom::new(),
            }),
        })
    }

    /// The newest revision committed.
    pub fn revision(&self) -> u64 {
        self.inner.revision.load(Ordering::Acquire)
    }

    pub fn get(&self, key: &ObjectKey) -> Result<Object, StoreError> {
        key::validate(key)?;
        let read = self.inner.db.begin_read()?;
        let objects = read.open_table(OBJECTS)?;
        let stored = objects
            .get(key::encode(key).as_str())?
            .ok_or_else(|| StoreError::NotFound(key.clone()))?;
        decode(key, stored.value())
    }

    /// Objects of `kind` (in `namespace`, or all namespaces when `None`), sorted by namespace
    /// and name, with the revision the listing reflects.
    pub fn list(
        &self,
        kind: Kind,
        namespace: Option<&str>,
    ) -> Result<(Vec<Object>, u64), StoreError> {
        let read = self.inner.db.begin_read()?;
        let revision = read
            .open_table(META)?
            .get(REVISION)?
            .map_or(0, |r| r.value());
        let objects = read.open_table(OBJECTS)?;
        let (start, end) = key::prefix_range(kind, namespace);
        let mut listed = Vec::new();
        for entry in objects.range::<&str>(start.as_str()..end.as_str())? {
            let (stored_key, value) = entry?;
            let object = serde_json::from_slice(value.value()).map_err(|error| {
                StoreError::Database(format!(
                    "object {:?} is not JSON: {error}",
                    stored_key.value()
                ))
            })?;
            listed.push(object);
        }
        Ok((listed, revision))
    }

    /// Creates an object: sets `metadata.uid`, `resourceVersion`, `generation` (1) and
    /// `creationTimestamp`; durable before it returns.
    pub fn create(&self, key: &ObjectKey, object: Object) -> Result<Object, StoreError> {
        self.write_one(Op::Create(key.clone(), object))
    }

    /// Replaces an object. A non-empty `metadata.resourceVersion` that is not the current one
    /// is a `Conflict`. `generation` is bumped only when `spec` changed; `uid` and
    /// `creationTimestamp` are kept. Durable before it returns. An update that changes nothing
    /// writes nothing and returns the stored object as it was.
    pub fn update(&self, key: &ObjectKey, object: Object) -> Result<Object, StoreError> {
        self.write_one(Op::Update(key.clone(), object))
    }

    /// Deletes an object, optionally only at `resource_version`. Returns the deleted object
    /// (its `resourceVersion` is the revision of the delete).
    pub fn delete(
        &self,
        key: &ObjectKey,
        resource_version: Option<u64>,
    ) -> Result<Object, StoreError> {
        self.write_one(Op::Delete(key.clone(), resource_version))
    }

    /// Applies `ops` in order, atomically, in one durable commit: either all of them succeed
    /// (with consecutive revisions, one per change) or the first failure is returned and
    /// nothing is applied. Later operations see the effect of earlier ones. Returns the result
    /// of each operation, as the single-object methods would.
    pub fn batch(&self, ops: Vec<Op>) -> Result<Vec<Object>, StoreError> {
        let _writer = self
            .inner
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut txn = self.inner.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        let base = self.revision();
        let (results, events) = match self.apply_all(&txn, base, ops) {
            Ok(applied) => applied,
            Err(error) => {
                // The operation's error is the one to report; should the abort fail too,
                // nothing was committed either way.
                let _ = txn.abort();
                return Err(error);
            }
        };
        if events.is_empty() {
            // Only no-op updates: leave the file untouched.
            txn.abort()?;
            return Ok(results);
        }
        txn.commit()?;
        let revision = base + events.len() as u64;
        self.inner.revision.store(revision, Ordering::Release);
        watch::lock(&self.inner.history).publish(events);
        Ok(results)
    }

    /// Watches `kind` (all kinds when `None`) in `namespace` (all when `None`) for changes
    /// after revision `after`. `Gone` when that history is no longer kept — always the case,
    /// after a restart, for revisions older than the one the store opened at.
    pub fn watch(
        &self,
        kind: Option<Kind>,
        namespace: Option<&str>,
        after: u64,
    ) -> Result<Watch, StoreError> {
        Watch::start(&self.inner.history, kind, namespace, after)
    }

    fn write_one(&self, op: Op) -> Result<Object, StoreError> {
        let mut results = self.batch(vec![op])?;
        results
            .pop()
            .ok_or_else(|| StoreError::Database("a write returned no result".into()))
    }

    /// Applies `ops` inside `txn`, returning each op's result and the events of the changes.
    fn apply_all(
        &self,
        txn: &WriteTransaction,
        base: u64,
        ops: Vec<Op>,
    ) -> Result<(Vec<Object>, Vec<Arc<HistoryEvent>>), StoreError> {
        let now = SystemTime::now();
        let mut objects = txn.open_table(OBJECTS)?;
        let mut results = Vec::with_capacity(ops.len());
        let mut events = Vec::with_capacity(ops.len());
        for op in ops {
            let revision = base + events.len() as u64 + 1;
            let (result, event) = match op {
                Op::Create(key, object) => {
                    key::validate(&key)?;
                    let encoded = key::encode(&key);
                    if objects.get(encoded.as_str())?.is_some() {
                        return Err(StoreError::AlreadyExists(key));
                    }
                    let uid = new_uid(&self.inner.rng)?;
                    let object = metadata::stamp_create(&key, object, revision, uid, now)?;
                    let json = encode(&object)?;
                    objects.insert(encoded.as_str(), json.as_slice())?;
                    (object, Some((EventType::Added, key, json)))
                }
                Op::Update(key, object) => {
                    key::validate(&key)?;
                    let encoded = key::encode(&key);
                    let current = match objects.get(encoded.as_str())? {
                        Some(stored) => decode(&key, stored.value())?,
                        None => return Err(StoreError::NotFound(key)),
                    };
                    match metadata::stamp_update(&key, &current, object, revision)? {
                        UpdateOutcome::Unchanged => (current, None),
                        UpdateOutcome::Changed(object) => {
                            let json = encode(&object)?;
                            objects.insert(encoded.as_str(), json.as_slice())?;
                            (object, Some((EventType::Modified, key, json)))
                        }
                    }
                }
                Op::Delete(key, resource_version) => {
                    key::validate(&key)?;
                    let encoded = key::encode(&key);
                    let current = match objects.get(encoded.as_str())? {
                        Some(stored) => decode(&key, stored.value())?,
                        None => return Err(StoreError::NotFound(key)),
                    };
                    if let Some(given) = resource_version {
                        let current_version =
                            metadata::resource_version(&key, &current)?.unwrap_or(0);
                        if given != current_version {
                            return Err(StoreError::Conflict {
                                key,
                                given,
                                current: current_version,
                            });
                        }
                    }
                    objects.remove(encoded.as_str())?;
                    let object = metadata::stamp_delete(current, revision);
                    let json = encode(&object)?;
                    (object, Some((EventType::Deleted, key, json)))
                }
            };
            results.push(result);
            if let Some((event_type, key, json)) = event {
                events.push(Arc::new(HistoryEvent {
                    event_type,
                    revision,
                    kind: key.kind,
                    namespace: key.namespace.map(String::into_boxed_str),
                    json: json.into_boxed_slice(),
                }));
            }
        }
        if !events.is_empty() {
            let mut meta = txn.open_table(META)?;
            meta.insert(REVISION, base + events.len() as u64)?;
        }
        Ok((results, events))
    }
}

/// Creates the tables a new file lacks. Checked first with a read, so that reopening an
/// existing store writes nothing.
fn create_missing_tables(db: &Database) -> Result<(), StoreError> {
    let read = db.begin_read()?;
    let existing: Vec<String> = read
        .list_tables()?
        .map(|table| table.name().to_string())
        .collect();
    drop(read);
    let wanted = [OBJECTS.name(), META.name(), tokens::TOKENS.name()];
    if wanted.iter().all(|name| existing.iter().any(|e| e == name)) {
        return Ok(());
    }
    let txn = db.begin_write()?;
    txn.open_table(OBJECTS)?;
    txn.open_table(META)?;
    txn.open_table(tokens::TOKENS)?;
    txn.commit()?;
    Ok(())
}

fn encode(object: &Object) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(object)
        .map_err(|error| StoreError::Invalid(format!("cannot encode object: {error}")))
}

fn decode(key: &ObjectKey, json: &[u8]) -> Result<Object, StoreError> {
    serde_json::from_slice(json).map_err(|error| {
        StoreError::Database(format!(
            "stored {} {:?} is not JSON: {error}",
            key.kind, key.name
        ))
    })
}

/// A random (version 4) UUID, as Kubernetes uses for `metadata.uid`.
fn new_uid(rng: &SystemRandom) -> Result<String, StoreError> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    rng.fill(&mut bytes)
        .map_err(|_| StoreError::Database("the system random number generator failed".into()))?;
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = crate::pki::token::hex(&bytes);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

#[cfg(test)]
mod tests;
