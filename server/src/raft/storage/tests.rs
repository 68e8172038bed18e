//! Storage tests: openraft's conformance suite against the redb stores, and Keyhold's
//! own durability and observer checks.

use std::sync::{Arc, Mutex};

use openraft::storage::{RaftLogStorage, RaftStateMachine};
use openraft::testing::log::{StoreBuilder, Suite};
use openraft::{RaftLogReader, RaftSnapshotBuilder};

use super::*;
use crate::raft::types::TypeConfig;

#[derive(Default)]
struct Recorder {
    removed: Mutex<Vec<String>>,
    replaced: Mutex<u32>,
}

impl ApplyObserver for Recorder {
    fn key_removed(&self, id: &str) {
        self.removed.lock().unwrap().push(id.to_owned());
    }

    fn state_replaced(&self) {
        *self.replaced.lock().unwrap() += 1;
    }
}

struct Builder;

impl StoreBuilder<TypeConfig, LogStore, StateMachineStore, tempfile::TempDir> for Builder {
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, LogStore, StateMachineStore), openraft::StorageError<TypeConfig>>
    {
        let dir = tempfile::tempdir().unwrap();
        let db = open_database(&dir.path().join("raft.redb")).unwrap();
        let log = LogStore::open(db.clone()).unwrap();
        let sm = StateMachineStore::open(db, Arc::new(Recorder::default())).unwrap();
        Ok((dir, log, sm))
    }
}

#[tokio::test]
async fn redb_store_passes_the_openraft_conformance_suite() {
    Suite::test_all(Builder).await.unwrap();
}

fn record(id: &str) -> crate::keys::KeyRecord {
    crate::keys::KeyRecord {
        id: id.into(),
        label: "t".into(),
        algorithm: crate::keys::Algorithm::EcP256,
        usage: crate::keys::Usage::Sign,
        version: 1,
        public_key_der: vec![1, 2, 3],
        wrapped: crate::keys::WrappedKey {
            nonce: vec![0; 12],
            ciphertext: vec![5; 40],
        },
        created_at: 1,
        created_index: 0,
        imported: false,
    }
}

fn entry(index: u64, command: crate::keys::Command) -> crate::raft::types::Entry {
    let log_id = openraft::testing::log_id::<TypeConfig>(1, 1, index);
    openraft::Entry {
        log_id,
        payload: openraft::EntryPayload::Normal(command),
    }
}

async fn apply_all(sm: &mut StateMachineStore, entries: Vec<crate::raft::types::Entry>) {
    let stream = futures::stream::iter(entries.into_iter().map(|e| Ok((e, None))));
    sm.apply(stream).await.unwrap();
}

fn open(dir: &std::path::Path, observer: Arc<Recorder>) -> (LogStore, StateMachineStore) {
    let db = open_database(&dir.join("raft.redb")).unwrap();
    (
        LogStore::open(db.clone()).unwrap(),
        StateMachineStore::open(db, observer).unwrap(),
    )
}

#[tokio::test]
async fn log_vote_and_committed_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let put = |i: u64| entry(i, crate::keys::Command::PutKey(record(&format!("k-{i}"))));
    {
        let (mut log, _) = open(dir.path(), Arc::default());
        // The callback is invoked inside `append`, after the durable commit.
        log.append((1..=5).map(put), openraft::storage::IOFlushed::noop())
            .await
            .unwrap();
        log.save_vote(&openraft::Vote::new_committed(3, 2))
            .await
            .unwrap();
        log.save_committed(Some(openraft::testing::log_id::<TypeConfig>(1, 1, 4)))
            .await
            .unwrap();
        log.purge(openraft::testing::log_id::<TypeConfig>(1, 1, 2))
            .await
            .unwrap();
    }
    let (mut log, _) = open(dir.path(), Arc::default());
    let state = log.get_log_state().await.unwrap();
    assert_eq!(state.last_log_id.unwrap().index(), 5);
    assert_eq!(state.last_purged_log_id.unwrap().index(), 2);
    let entries = log.try_get_log_entries(0..10).await.unwrap();
    assert_eq!(
        entries.iter().map(|e| e.log_id.index()).collect::<Vec<_>>(),
        [3, 4, 5]
    );
    assert_eq!(
        log.read_vote().await.unwrap(),
        Some(openraft::Vote::new_committed(3, 2))
    );
    assert_eq!(log.read_committed().await.unwrap().unwrap().index(), 4);
}

#[tokio::test]
async fn a_persisted_snapshot_restores_the_key_store_after_reopening() {
    use crate::keys::Command;
    let dir = tempfile::tempdir().unwrap();
    let expected = {
        let (_, mut sm) = open(dir.path(), Arc::default());
        apply_all(
            &mut sm,
            vec![
                entry(1, Command::PutKey(record("k-1"))),
                entry(2, Command::PutKey(record("k-2"))),
            ],
        )
        .await;
        sm.build_snapshot().await.unwrap();
        sm.read(|s| s.clone())
    };
    let (_, mut sm) = open(dir.path(), Arc::default());
    assert_eq!(sm.read(|s| s.clone()), expected);
    assert_eq!(expected.keys["k-2"].created_index, 2);
    assert_eq!(*sm.applied().borrow(), 2);
    let (applied, _) = sm.applied_state().await.unwrap();
    assert_eq!(applied.unwrap().index(), 2);
    let current = sm.get_current_snapshot().await.unwrap().unwrap();
    assert_eq!(current.meta.last_log_id.unwrap().index(), 2);
}

#[tokio::test]
async fn destroy_notifies_the_observer_and_advances_the_applied_index() {
    use crate::keys::Command;
    let dir = tempfile::tempdir().unwrap();
    let observer = Arc::new(Recorder::default());
    let (_, mut sm) = open(dir.path(), observer.clone());
    let applied = sm.applied();
    apply_all(
        &mut sm,
        vec![
            entry(1, Command::PutKey(record("k-1"))),
            entry(2, Command::DestroyKey { id: "k-1".into() }),
            entry(3, Command::DestroyKey { id: "k-9".into() }),
        ],
    )
    .await;
    assert_eq!(*observer.removed.lock().unwrap(), ["k-1"]);
    assert_eq!(*applied.borrow(), 3);
    assert!(sm.read(|s| s.keys.is_empty()));
}

#[tokio::test]
async fn installing_a_snapshot_replaces_state_and_tells_the_observer() {
    use crate::keys::Command;
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (_, mut source) = open(a.path(), Arc::default());
    apply_all(&mut source, vec![entry(1, Command::PutKey(record("k-1")))]).await;
    let snapshot = source.build_snapshot().await.unwrap();
    let observer = Arc::new(Recorder::default());
    let (_, mut target) = open(b.path(), observer.clone());
    apply_all(
        &mut target,
        vec![entry(1, Command::PutKey(record("k-other")))],
    )
    .await;
    target
        .install_snapshot(&snapshot.meta, snapshot.snapshot.clone())
        .await
        .unwrap();
    assert!(target.read(|s| s.keys.contains_key("k-1") && !s.keys.contains_key("k-other")));
    assert_eq!(*observer.replaced.lock().unwrap(), 1);
}
