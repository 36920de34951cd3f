//! Errors of the store, with the conversions from redb's error types.
use super::ObjectKey;

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
    /// a watch asked for history that is no longer kept; `oldest` is the oldest revision a
    /// watch can still start after
    #[error("too old resource version: {requested} (oldest kept: {oldest})")]
    Gone { requested: u64, oldest: u64 },
    /// the object is not a JSON object with metadata
    #[error("invalid object: {0}")]
    Invalid(String),
    /// the database failed
    #[error("store: {0}")]
    Database(String),
}

macro_rules! database_errors {
    ($($error:ty),*) => {$(
        impl From<$error> for StoreError {
            fn from(error: $error) -> StoreError {
                StoreError::Database(error.to_string())
            }
        }
    )*};
}

database_errors!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);
