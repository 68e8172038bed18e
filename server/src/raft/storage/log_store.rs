//! The Raft log, vote, committed id and purge point in redb.

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use openraft::entry::RaftEntry;
use openraft::storage::RaftLogStorage;
use openraft::{OptionalSend, RaftLogReader};
use redb::Database;

use super::db::{LOG, from_json, last_log_bytes, other, read_meta, to_json, write_meta};
use crate::raft::types::{Entry, IoFlushed, LogId, LogState, TypeConfig, Vote};

const VOTE: &str = "vote";
const COMMITTED: &str = "committed";
const PURGED: &str = "last_purged";

/// The log store; cheap to clone (shares the database).
#[derive(Clone)]
pub struct LogStore {
    db: Arc<Database>,
}

impl Debug for LogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogStore")
    }
}

impl LogStore {
    /// A log store over `db` (tables made by `open_database`).
    pub fn open(db: Arc<Database>) -> Result<Self, super::StoreError> {
        Ok(LogStore { db })
    }

    fn remove_range(&self, from: u64, to_inclusive: u64) -> io::Result<()> {
        let txn = self.db.begin_write().map_err(other)?;
        {
            let mut table = txn.open_table(LOG).map_err(other)?;
            table
                .retain_in(from..=to_inclusive, |_, _| false)
                .map_err(other)?;
        }
        txn.commit().map_err(other)
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        let start = match range.start_bound() {
            Bound::Included(i) => *i,
            Bound::Excluded(i) => i.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let txn = self.db.begin_read().map_err(other)?;
        let table = txn.open_table(LOG).map_err(other)?;
        let mut entries = Vec::new();
        for item in table.range(start..).map_err(other)? {
            let (index, bytes) = item.map_err(other)?;
            if !range.contains(&index.value()) {
                break;
            }
            entries.push(from_json::<Entry>(bytes.value())?);
        }
        Ok(entries)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        read_meta(&self.db, VOTE)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState, io::Error> {
        let last_purged_log_id: Option<LogId> = read_meta(&self.db, PURGED)?;
        let last = match last_log_bytes(&self.db)? {
            Some(bytes) => Some(from_json::<Entry>(&bytes)?.log_id()),
            None => last_purged_log_id,
        };
        Ok(LogState {
            last_purged_log_id,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        // Durable before returning: a vote forgotten in a crash could elect two leaders.
        write_meta(&self.db, &[(VOTE, to_json(vote)?)])
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        write_meta(&self.db, &[(COMMITTED, to_json(&committed)?)])
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        Ok(read_meta::<Option<LogId>>(&self.db, COMMITTED)?.flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: IoFlushed) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
    {
        let txn = self.db.begin_write().map_err(other)?;
        {
            let mut table = txn.open_table(LOG).map_err(other)?;
            for entry in entries {
                let bytes = to_json(&entry)?;
                table
                    .insert(entry.index(), bytes.as_slice())
                    .map_err(other)?;
            }
        }
        // The commit fsyncs; only then is the append acknowledged, or an acknowledged
        // entry could vanish in a crash.
        let result = txn.commit().map_err(other);
        let failed = result
            .as_ref()
            .err()
            .map(|e| io::Error::other(e.to_string()));
        callback.io_completed(result);
        match failed {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        let from = last_log_id.map(|l| l.index() + 1).unwrap_or(0);
        self.remove_range(from, u64::MAX)
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        // Record the purge point first: entries at or before it are ignored afterwards,
        // so a crash between the two steps leaves a consistent log.
        write_meta(&self.db, &[(PURGED, to_json(&log_id)?)])?;
        self.remove_range(0, log_id.index())
    }
}
