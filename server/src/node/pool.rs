//! Runs CPU-bound crypto off the async workers, at most one job per core at a time, so
//! that gRPC I/O and Raft heartbeats keep their threads under a saturating sign load.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::error::Error;

/// A bounded gate in front of tokio's blocking threads.
#[derive(Clone, Debug)]
pub struct CryptoPool {
    permits: Arc<Semaphore>,
}

impl CryptoPool {
    /// `threads` concurrent jobs; 0 means one per available core.
    pub fn new(threads: usize) -> Self {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let threads = if threads == 0 { cores } else { threads };
        CryptoPool {
            permits: Arc::new(Semaphore::new(threads)),
        }
    }

    /// Runs `job` on a blocking thread once a slot is free.
    pub async fn run<T, F>(&self, job: F) -> Result<T, Error>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| Error::Internal("crypto pool closed".into()))?;
        tokio::task::spawn_blocking(job)
            .await
            .map_err(|e| Error::Internal(format!("crypto job failed: {e}")))
    }
}
