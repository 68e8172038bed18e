//! The node's audit trail: every key operation, cluster init and audit read this node
//! serves is recorded, hash-chained and fsynced before the caller gets its answer. A
//! record that cannot be written fails the call (fail closed). One writer task batches
//! concurrent records into one fsync (group commit), so signing keeps its throughput.
//!
//! - `event`: what an event holds and the chain hash;
//! - `file`: the JSON-lines file, recovery of its tail, reads.
//!
//! Deciding what to record for each call is the API layer's (`api::audited`).

mod event;
mod file;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot};

pub use event::{Caller, Entry, StoredEvent, chain_hash};
use file::{AuditFile, Marks, read_events};

/// File name of the audit trail in the data directory.
pub const AUDIT_FILE: &str = "audit.jsonl";
/// Records waiting for the writer at most; one more waits for room.
const QUEUE: usize = 4096;
/// Records written by one fsync at most.
const BATCH: usize = 1024;

/// Why the audit trail could not be opened, written or read.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The file could not be read or written.
    #[error("audit file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What failed.
        source: std::io::Error,
    },
    /// A line of the file is not an event.
    #[error("audit file line {line}: {reason}")]
    Corrupt {
        /// Line number, from 1.
        line: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// The writer stopped after an earlier failure; the node records nothing more.
    #[error("the audit trail stopped after a write failure; restart the node")]
    Stopped,
}

/// A handle on the trail, cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    queue: mpsc::Sender<Pending>,
    /// The newest seq that is on disk.
    durable: Arc<AtomicU64>,
    /// Set for good when a write fails.
    stopped: Arc<AtomicBool>,
    /// Where to start reading for a seq.
    marks: Marks,
}

/// A record waiting for the writer, and who waits for its seq.
struct Pending {
    entry: Entry,
    done: oneshot::Sender<Result<u64, ()>>,
}

impl AuditLog {
    /// Opens `data_dir/audit.jsonl` for `node_id` and starts its writer on the current
    /// tokio runtime.
    pub fn open(data_dir: &Path, node_id: u64) -> Result<Self, AuditError> {
        let path = data_dir.join(AUDIT_FILE);
        let file = AuditFile::open(&path, node_id)?;
        let durable = Arc::new(AtomicU64::new(file.last_seq()));
        let marks = file.marks();
        let stopped = Arc::new(AtomicBool::new(false));
        let (queue, pending) = mpsc::channel(QUEUE);
        tokio::spawn(write_loop(file, pending, durable.clone(), stopped.clone()));
        tracing::info!(path = %path.display(), last_seq = durable.load(Ordering::Acquire), "audit trail open");
        Ok(AuditLog {
            inner: Arc::new(Inner {
                path,
                queue,
                durable,
                stopped,
                marks,
            }),
        })
    }

    /// True once a write has failed: the trail records nothing more until the node
    /// restarts, so callers must not act.
    pub fn is_stopped(&self) -> bool {
        self.inner.stopped.load(Ordering::Acquire)
    }

    /// Marks the trail stopped, as a failed write does (tests of the callers' rules).
    #[cfg(test)]
    pub(crate) fn stop_for_test(&self) {
        self.inner.stopped.store(true, Ordering::Release);
    }

    /// Records `entry` and returns its seq once it is on disk.
    pub async fn record(&self, entry: Entry) -> Result<u64, AuditError> {
        let (done, seq) = oneshot::channel();
        let pending = Pending { entry, done };
        self.inner
            .queue
            .send(pending)
            .await
            .map_err(|_| AuditError::Stopped)?;
        match seq.await {
            Ok(Ok(seq)) => Ok(seq),
            Ok(Err(())) | Err(_) => Err(AuditError::Stopped),
        }
    }

    /// Events from `from_seq` on, at most `limit`, and the newest seq on disk.
    pub async fn read(
        &self,
        from_seq: u64,
        limit: usize,
    ) -> Result<(Vec<StoredEvent>, u64), AuditError> {
        let path = self.inner.path.clone();
        let durable = self.inner.durable.load(Ordering::Acquire);
        let marks = self.inner.marks.clone();
        let read = move || read_events(&path, from_seq, limit, durable, &marks);
        let events = tokio::task::spawn_blocking(read)
            .await
            .map_err(|_| AuditError::Stopped)??;
        Ok((events, durable))
    }
}

/// Takes what is queued (up to a batch), writes it with one fsync on a blocking thread,
/// answers every waiter; stops for good at the first failure, failing every later record.
async fn write_loop(
    mut file: AuditFile,
    mut pending: mpsc::Receiver<Pending>,
    durable: Arc<AtomicU64>,
    stopped: Arc<AtomicBool>,
) {
    while let Some(first) = pending.recv().await {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match pending.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (entries, waiters): (Vec<Entry>, Vec<_>) =
            batch.into_iter().map(|p| (p.entry, p.done)).unzip();
        let written = tokio::task::spawn_blocking(move || {
            let result = file.append(&entries, unix_ms());
            (file, result)
        })
        .await;
        let (back, result) = match written {
            Ok((back, result)) => (Some(back), result),
            Err(_) => (None, Err(AuditError::Stopped)),
        };
        match result {
            Ok(seqs) => {
                if let Some(last) = seqs.last() {
                    durable.store(*last, Ordering::Release);
                }
                for (waiter, seq) in waiters.into_iter().zip(seqs) {
                    let _ = waiter.send(Ok(seq));
                }
            }
            Err(err) => {
                stopped.store(true, Ordering::Release);
                tracing::error!(cause = %err, "audit trail write failed; refusing every audited call");
                for waiter in waiters {
                    let _ = waiter.send(Err(()));
                }
                break;
            }
        }
        let Some(back) = back else {
            stopped.store(true, Ordering::Release);
            break;
        };
        file = back;
    }
    // Later records find the queue closed and fail.
    pending.close();
    while let Some(late) = pending.recv().await {
        let _ = late.done.send(Err(()));
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test fails by panicking
mod tests {
    use super::*;

    fn entry(key_id: &str) -> Entry {
        Entry {
            action: "Sign",
            key_id: key_id.into(),
            outcome: "OK",
            ..Entry::default()
        }
    }

    #[tokio::test]
    async fn concurrent_records_get_distinct_seqs_and_one_chain() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(dir.path(), 3).unwrap();
        let mut tasks = Vec::new();
        for n in 0..200 {
            let log = log.clone();
            tasks.push(tokio::spawn(async move {
                log.record(entry(&format!("k-{n}"))).await
            }));
        }
        let mut seqs = Vec::new();
        for task in tasks {
            seqs.push(task.await.unwrap().unwrap());
        }
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=200).collect::<Vec<u64>>());

        let (events, last) = log.read(1, 1000).await.unwrap();
        assert_eq!(last, 200);
        assert_eq!(events.len(), 200);
        let mut prev = "00".repeat(32);
        for event in &events {
            assert!(event.hash_holds(), "seq {}", event.seq);
            assert_eq!(event.prev_hash, prev, "seq {}", event.seq);
            prev = event.hash.clone();
        }
    }

    #[tokio::test]
    async fn a_trail_that_cannot_be_opened_names_its_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(AUDIT_FILE)).unwrap();
        let Err(err) = AuditLog::open(dir.path(), 1) else {
            panic!("a directory opened as the audit file");
        };
        assert!(err.to_string().contains(AUDIT_FILE), "{err}");
    }
}
