//! The state machine: the key store in memory, applied from the log, with snapshots
//! persisted in redb so a restart replays only the entries after the last snapshot.

use std::io;
use std::sync::{Arc, RwLock};

use futures::{Stream, TryStreamExt};
use openraft::entry::RaftEntry;
use openraft::storage::{EntryResponder, RaftStateMachine};
use openraft::{EntryPayload, OptionalSend, RaftSnapshotBuilder};
use redb::Database;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::db::{from_json, read_meta, read_meta_raw, to_json, write_meta};
use crate::keys::{Command, KeyStoreState, Outcome};
use crate::raft::types::{
    LogId, Snapshot, SnapshotData, SnapshotMeta, StoredMembership, TypeConfig,
};

const SNAPSHOT_META: &str = "snapshot_meta";
const SNAPSHOT_DATA: &str = "snapshot_data";

/// Told about state changes that matter to caches of parsed keys.
pub trait ApplyObserver: Send + Sync + 'static {
    /// A key was destroyed.
    fn key_removed(&self, id: &str);
    /// The whole state was replaced by a snapshot.
    fn state_replaced(&self);
}

/// Everything the state machine holds; also the snapshot format.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Applied {
    state: KeyStoreState,
    last_applied: Option<LogId>,
    last_membership: StoredMembership,
}

struct Inner {
    db: Arc<Database>,
    applied: RwLock<Applied>,
    applied_index: watch::Sender<u64>,
    observer: Arc<dyn ApplyObserver>,
}

/// The state machine store; cheap to clone.
#[derive(Clone)]
pub struct StateMachineStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for StateMachineStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateMachineStore")
    }
}

impl StateMachineStore {
    /// Opens the store, restoring the key store from the last persisted snapshot.
    pub fn open(
        db: Arc<Database>,
        observer: Arc<dyn ApplyObserver>,
    ) -> Result<Self, super::StoreError> {
        let applied = match read_meta_raw(&db, SNAPSHOT_DATA)? {
            Some(data) => from_json::<Applied>(&data)?,
            None => Applied::default(),
        };
        let index = applied
            .last_applied
            .as_ref()
            .map(|l| l.index())
            .unwrap_or(0);
        let (applied_index, _) = watch::channel(index);
        let inner = Inner {
            db,
            applied: RwLock::new(applied),
            applied_index,
            observer,
        };
        Ok(StateMachineStore {
            inner: Arc::new(inner),
        })
    }

    /// Runs `f` on the applied key store (short read lock; never held across an apply).
    pub fn read<R>(&self, f: impl FnOnce(&KeyStoreState) -> R) -> R {
        match self.inner.applied.read() {
            Ok(applied) => f(&applied.state),
            Err(poisoned) => f(&poisoned.into_inner().state),
        }
    }

    /// Highest applied log index, as a watch to wait on.
    pub fn applied(&self) -> watch::Receiver<u64> {
        self.inner.applied_index.subscribe()
    }

    fn write(&self) -> io::Result<std::sync::RwLockWriteGuard<'_, Applied>> {
        self.inner
            .applied
            .write()
            .map_err(|_| io::Error::other("state machine lock poisoned"))
    }

    fn snapshot_of(&self) -> io::Result<Snapshot> {
        let applied = self
            .inner
            .applied
            .read()
            .map_err(|_| io::Error::other("lock poisoned"))?
            .clone();
        let meta = SnapshotMeta {
            last_log_id: applied.last_applied,
            last_membership: applied.last_membership.clone(),
        };
        Ok(Snapshot {
            meta,
            snapshot: to_json(&applied)?,
        })
    }

    fn persist(&self, snapshot: &Snapshot) -> io::Result<()> {
        write_meta(
            &self.inner.db,
            &[
                (SNAPSHOT_META, to_json(&snapshot.meta)?),
                (SNAPSHOT_DATA, snapshot.snapshot.clone()),
            ],
        )
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachineStore {
    type SnapshotData = SnapshotData;

    async fn build_snapshot(&mut self) -> Result<Snapshot, io::Error> {
        let snapshot = self.snapshot_of()?;
        // Persisted before openraft may purge the log entries it covers.
        self.persist(&snapshot)?;
        tracing::info!(last = ?snapshot.meta.last_log_id.as_ref().map(|l| l.index()), "snapshot built");
        Ok(snapshot)
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotData = SnapshotData;
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), io::Error> {
        let applied = self
            .inner
            .applied
            .read()
            .map_err(|_| io::Error::other("lock poisoned"))?;
        Ok((applied.last_applied, applied.last_membership.clone()))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>> + Unpin + OptionalSend,
    {
        let mut last = None;
        while let Some((entry, responder)) = entries.try_next().await? {
            let log_id = entry.log_id();
            let (outcome, removed) = {
                let mut applied = self.write()?;
                let outcome = match entry.payload {
                    EntryPayload::Normal(command) => {
                        let id = match &command {
                            Command::DestroyKey { id } => Some(id.clone()),
                            _ => None,
                        };
                        let outcome = applied.state.apply(log_id.index(), command);
                        let removed = if outcome == Outcome::KeyDestroyed {
                            id
                        } else {
                            None
                        };
                        (outcome, removed)
                    }
                    EntryPayload::Membership(membership) => {
                        applied.last_membership = StoredMembership::new(Some(log_id), membership);
                        (Outcome::Nothing, None)
                    }
                    EntryPayload::Blank => (Outcome::Nothing, None),
                };
                applied.last_applied = Some(log_id);
                outcome
            };
            if let Some(id) = removed {
                self.inner.observer.key_removed(&id);
            }
            if let Some(responder) = responder {
                responder.send(outcome);
            }
            last = Some(log_id.index());
        }
        if let Some(index) = last {
            self.inner.applied_index.send_replace(index);
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: SnapshotData,
    ) -> Result<(), io::Error> {
        let incoming: Applied = from_json(&snapshot)?;
        let stored = Snapshot {
            meta: meta.clone(),
            snapshot,
        };
        self.persist(&stored)?;
        let index = incoming
            .last_applied
            .as_ref()
            .map(|l| l.index())
            .unwrap_or(0);
        *self.write()? = incoming;
        self.inner.observer.state_replaced();
        self.inner.applied_index.send_replace(index);
        tracing::info!(index, "snapshot installed");
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, io::Error> {
        let meta: Option<SnapshotMeta> = read_meta(&self.inner.db, SNAPSHOT_META)?;
        let data = read_meta_raw(&self.inner.db, SNAPSHOT_DATA)?;
        Ok(meta
            .zip(data)
            .map(|(meta, snapshot)| Snapshot { meta, snapshot }))
    }
}
