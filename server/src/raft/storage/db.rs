//! The redb database file, its tables, and JSON helpers shared by both stores.

use std::io;
use std::path::Path;
use std::sync::Arc;

use redb::{Database, ReadableTable, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Log entries by index (JSON of openraft's `Entry`).
pub(super) const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");
/// Small named values: vote, committed, last purged, snapshot.
pub(super) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file could not be opened or created.
    #[error("cannot open raft database {path}: {source}")]
    Open {
        /// The file.
        path: String,
        /// redb's error.
        source: Box<redb::DatabaseError>,
    },
    /// A read or write failed.
    #[error("raft database: {0}")]
    Io(#[from] io::Error),
}

/// Opens (or creates) the database and its tables.
pub fn open_database(path: &Path) -> Result<Arc<Database>, StoreError> {
    let db = Database::create(path).map_err(|e| StoreError::Open {
        path: path.display().to_string(),
        source: Box::new(e),
    })?;
    let txn = db.begin_write().map_err(other)?;
    {
        txn.open_table(LOG).map_err(other)?;
        txn.open_table(META).map_err(other)?;
    }
    txn.commit().map_err(other)?;
    Ok(Arc::new(db))
}

/// Any storage error as an `io::Error` (what openraft's traits return).
pub(super) fn other<E: std::fmt::Display>(err: E) -> io::Error {
    io::Error::other(err.to_string())
}

pub(super) fn to_json<T: Serialize>(value: &T) -> io::Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

pub(super) fn from_json<T: DeserializeOwned>(bytes: &[u8]) -> io::Result<T> {
    serde_json::from_slice(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Reads a META value.
pub(super) fn read_meta<T: DeserializeOwned>(db: &Database, key: &str) -> io::Result<Option<T>> {
    let txn = db.begin_read().map_err(other)?;
    let table = txn.open_table(META).map_err(other)?;
    let Some(value) = table.get(key).map_err(other)? else {
        return Ok(None);
    };
    from_json(value.value()).map(Some)
}

/// Reads a META value as stored (no JSON).
pub(super) fn read_meta_raw(db: &Database, key: &str) -> io::Result<Option<Vec<u8>>> {
    let txn = db.begin_read().map_err(other)?;
    let table = txn.open_table(META).map_err(other)?;
    let value = table.get(key).map_err(other)?;
    Ok(value.map(|v| v.value().to_vec()))
}

/// Writes META values in one durable transaction.
pub(super) fn write_meta(db: &Database, values: &[(&str, Vec<u8>)]) -> io::Result<()> {
    let txn = db.begin_write().map_err(other)?;
    {
        let mut table = txn.open_table(META).map_err(other)?;
        for (key, value) in values {
            table.insert(*key, value.as_slice()).map_err(other)?;
        }
    }
    txn.commit().map_err(other)
}

/// The last entry in the log, if any.
pub(super) fn last_log_bytes(db: &Database) -> io::Result<Option<Vec<u8>>> {
    let txn = db.begin_read().map_err(other)?;
    let table = txn.open_table(LOG).map_err(other)?;
    let last = table.last().map_err(other)?;
    Ok(last.map(|(_, v)| v.value().to_vec()))
}
