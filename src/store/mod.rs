//! The master's desired-state store: one redb file holding objects by kind / namespace / name,
//! a global revision, per-object `resourceVersion` and `generation`, and an in-memory watch
//! history. Objects are kept as JSON values so the store does not depend on the typed model.
//!
//! CONTRACT (skeleton, to be implemented): signatures below are what the API server codes
//! against. Implementations may add methods; changing these needs a note to the integrator.
use std::path::Path;

use crate::api::Kind;

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

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// the object does not exist
    #[error("{} {:?} not found", .0.kind, .0.name)]
    NotFound(ObjectKey),
    /// an object of that name exists already
    #[error("{} {:?} already exists", .0.kind, .0.name)]
    AlreadyExists(ObjectKey),
    /// the update carried a stale resourceVersion
    #[error("the object has been modified (resourceVersion {given}, current {current}); please apply your changes to the latest version and try again")]
    Conflict {
        key: ObjectKey,
        given: u64,
        current: u64,
    },
    /// a watch asked for history that is no longer kept
    #[error("too old resource version: {requested} (oldest kept: {oldest})")]
    Gone { requested: u64, oldest: u64 },
    /// the object is not a JSON object with metadata
    #[error("invalid object: {0}")]
    Invalid(String),
    /// the database failed
    #[error("store: {0}")]
    Database(String),
}

/// Handle to the store; cheap to clone, shared by the API server and controllers.
#[derive(Clone)]
pub struct Store {}

/// A live watch: yields events after the revision it started from, in revision order.
pub struct Watch {}

impl Store {
    /// Opens (or creates) the store file at `path`.
    pub fn open(_path: &Path) -> Result<Store, StoreError> {
        todo!()
    }
    /// The newest revision committed.
    pub fn revision(&self) -> u64 {
        todo!()
    }
    pub fn get(&self, _key: &ObjectKey) -> Result<Object, StoreError> {
        todo!()
    }
    /// Objects of `kind` (in `namespace`, or all namespaces when `None`), sorted by namespace
    /// and name, with the revision the listing reflects.
    pub fn list(
        &self,
        _kind: Kind,
        _namespace: Option<&str>,
    ) -> Result<(Vec<Object>, u64), StoreError> {
        todo!()
    }
    /// Creates an object: sets `metadata.uid`, `resourceVersion`, `generation` (1) and
    /// `creationTimestamp`; durable before it returns.
    pub fn create(&self, _key: &ObjectKey, _object: Object) -> Result<Object, StoreError> {
        todo!()
    }
    /// Replaces an object. A non-empty `metadata.resourceVersion` that is not the current one
    /// is a `Conflict`. `generation` is bumped only when `spec` changed; `uid` and
    /// `creationTimestamp` are kept. Durable before it returns.
    pub fn update(&self, _key: &ObjectKey, _object: Object) -> Result<Object, StoreError> {
        todo!()
    }
    /// Deletes an object, optionally only at `resource_version`. Returns the deleted object.
    pub fn delete(
        &self,
        _key: &ObjectKey,
        _resource_version: Option<u64>,
    ) -> Result<Object, StoreError> {
        todo!()
    }
    /// Watches `kind` (all kinds when `None`) in `namespace` (all when `None`) for changes
    /// after revision `after`. `Gone` when that history is no longer kept.
    pub fn watch(
        &self,
        _kind: Option<Kind>,
        _namespace: Option<&str>,
        _after: u64,
    ) -> Result<Watch, StoreError> {
        todo!()
    }
}

impl Watch {
    /// The next event; `None` when the store shut down, `Err(Gone)` when this watcher fell too
    /// far behind and must re-list.
    pub async fn next(&mut self) -> Option<Result<WatchEvent, StoreError>> {
        todo!()
    }
}
