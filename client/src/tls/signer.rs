//! [`TlsSigner`]: a cluster [`Client`] on a tokio runtime of its own, and the synchronous
//! signature that rustls asks for in the middle of a handshake. Choosing a TLS scheme is
//! left to `key`; the server-side accept pattern to `accept`.
//!
//! Why a runtime of its own: rustls calls `Signer::sign` synchronously, from whatever
//! thread drives the handshake, usually a worker of the web server's runtime. If the
//! client lived on that runtime, a current-thread server would wait on a task that only
//! it can run (a deadlock), and a multi-thread one could starve it. Here the RPC always
//! runs on the signer's runtime, and the calling thread only waits on a channel, bounded
//! by the deadline.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, sync_channel};
use std::time::Duration;

use keyhold_proto::v1::{SignRequest, sign_request::Input};
use tokio::runtime::{Handle, Runtime, RuntimeFlavor};

use super::error::TlsKeyError;
use crate::{Client, ClientConfig};

/// Default bound on one signature, retries on other nodes included.
pub const DEFAULT_SIGN_DEADLINE: Duration = Duration::from_secs(2);
/// Default number of threads of the signer's runtime.
pub const DEFAULT_SIGNER_THREADS: usize = 2;
/// Default bound on signatures waited for at once.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 256;

/// Extra time the waiting thread gives the signer's runtime after the deadline, so that
/// the cluster client's own, more precise, deadline error normally arrives first.
const GRACE: Duration = Duration::from_millis(200);

/// How a [`TlsSigner`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignerOptions {
    /// Bound on one signature, retries on other nodes included. A handshake whose
    /// signature is not back by then fails. Replaces the client's
    /// [`ClientConfig::call_timeout`], so every call of the signer's client has it, and
    /// caps [`ClientConfig::attempt_timeout`] at a third of it (see
    /// [`SignerOptions::attempt_bound`]).
    pub deadline: Duration,
    /// Threads of the signer's runtime. They only do gRPC I/O; two are plenty.
    pub worker_threads: usize,
    /// Signatures waited for at once; one more fails at once with
    /// [`TlsKeyError::Overloaded`]. Each waiting handshake holds a thread (see the
    /// module documentation), so this also bounds threads during a cluster outage.
    pub max_in_flight: usize,
}

impl Default for SignerOptions {
    fn default() -> Self {
        SignerOptions {
            deadline: DEFAULT_SIGN_DEADLINE,
            worker_threads: DEFAULT_SIGNER_THREADS,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
        }
    }
}

impl SignerOptions {
    /// The bound on one attempt on one node that the signer's client uses, given the
    /// configured one: at most a third of the deadline, so that a node which stops
    /// answering without closing its connection (frozen, cut off by a firewall) leaves
    /// time to ask two others before the handshake's deadline.
    pub fn attempt_bound(&self, configured: Duration) -> Duration {
        configured.min(self.deadline / 3)
    }
}

/// A cluster client on its own runtime, shared by every [`ClusterSigningKey`] of a
/// server. Cheap to clone; the runtime stops when the last clone drops.
///
/// [`ClusterSigningKey`]: super::ClusterSigningKey
#[derive(Clone)]
pub struct TlsSigner {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    runtime: OwnedRuntime,
    options: SignerOptions,
    in_flight: AtomicUsize,
    peak: AtomicUsize,
}

impl TlsSigner {
    /// Starts the signer's runtime and connects its client there. Call from async code
    /// (any runtime); from synchronous code use [`TlsSigner::connect_blocking`].
    pub async fn connect(
        config: ClientConfig,
        options: SignerOptions,
    ) -> Result<Self, TlsKeyError> {
        let runtime = OwnedRuntime::start(&options)?;
        let config = with_deadline(config, &options);
        let (tx, rx) = tokio::sync::oneshot::channel();
        runtime.handle().spawn(async move {
            let _ = tx.send(Client::connect(config).await);
        });
        let client = rx
            .await
            .map_err(|_| stopped())?
            .map_err(TlsKeyError::Client)?;
        Ok(TlsSigner::assemble(client, runtime, options))
    }

    /// Like [`TlsSigner::connect`], for a caller outside any tokio runtime (for example
    /// `main` before the server's runtime starts).
    pub fn connect_blocking(
        config: ClientConfig,
        options: SignerOptions,
    ) -> Result<Self, TlsKeyError> {
        if Handle::try_current().is_ok() {
            return Err(TlsKeyError::Runtime {
                reason: "connect_blocking called inside a tokio runtime; use connect".into(),
            });
        }
        let runtime = OwnedRuntime::start(&options)?;
        let config = with_deadline(config, &options);
        let client = runtime
            .block_on(Client::connect(config))
            .map_err(TlsKeyError::Client)?;
        Ok(TlsSigner::assemble(client, runtime, options))
    }

    /// The signer's cluster client (its calls may be awaited from any runtime; its
    /// connections and background work stay on the signer's runtime).
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// The options the signer runs with.
    pub fn options(&self) -> SignerOptions {
        self.inner.options
    }

    /// Signatures being waited for right now.
    pub fn in_flight(&self) -> usize {
        self.inner.in_flight.load(Ordering::Relaxed)
    }

    /// The most signatures waited for at once since the signer started: 1 means every
    /// handshake was signed alone, higher shows handshakes waiting side by side (and how
    /// close [`SignerOptions::max_in_flight`] came).
    pub fn peak_in_flight(&self) -> usize {
        self.inner.peak.load(Ordering::Relaxed)
    }

    /// Runs `future` on the signer's runtime and awaits its output from any runtime.
    pub(crate) async fn run<F, T>(&self, future: F) -> Result<T, TlsKeyError>
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.inner.runtime.handle().spawn(async move {
            let _ = tx.send(future.await);
        });
        rx.await.map_err(|_| stopped())
    }

    /// Signs `message` with `scheme` (Keyhold's name) on a node that has applied
    /// `min_index`, blocking the calling thread at most the deadline plus a short grace.
    /// See the module documentation for which threads may call this.
    pub(crate) fn sign_blocking(
        &self,
        key_id: &str,
        scheme: &'static str,
        message: &[u8],
        min_index: u64,
    ) -> Result<Vec<u8>, TlsKeyError> {
        let _slot = self.inner.reserve(key_id)?;
        let deadline = self.inner.options.deadline;
        let request = SignRequest {
            key_id: key_id.to_owned(),
            scheme: scheme.to_owned(),
            input: Some(Input::Message(message.to_vec())),
            min_index,
        };

        let (tx, rx) = sync_channel(1);
        let client = self.inner.client.clone();
        self.inner.runtime.handle().spawn(async move {
            let answer = tokio::time::timeout(deadline + GRACE, client.sign(request)).await;
            let _ = tx.send(answer);
        });

        let cluster = |source| TlsKeyError::Cluster {
            key_id: key_id.to_owned(),
            source,
        };
        let late = || TlsKeyError::DeadlineExceeded {
            key_id: key_id.to_owned(),
            deadline,
        };
        match wait(&rx, deadline + 2 * GRACE) {
            Ok(Ok(Ok(response))) => Ok(response.signature),
            Ok(Ok(Err(source))) => Err(cluster(source)),
            Ok(Err(_)) | Err(RecvTimeoutError::Timeout) => Err(late()),
            Err(RecvTimeoutError::Disconnected) => Err(stopped()),
        }
    }

    fn assemble(client: Client, runtime: OwnedRuntime, options: SignerOptions) -> Self {
        TlsSigner {
            inner: Arc::new(Inner {
                client,
                runtime,
                options,
                in_flight: AtomicUsize::new(0),
                peak: AtomicUsize::new(0),
            }),
        }
    }
}

impl std::fmt::Debug for TlsSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSigner")
            .field("client", &self.inner.client)
            .field("options", &self.inner.options)
            .field("in_flight", &self.in_flight())
            .field("peak_in_flight", &self.peak_in_flight())
            .finish()
    }
}

impl Inner {
    /// Takes one of the `max_in_flight` slots, or refuses.
    fn reserve(&self, key_id: &str) -> Result<Slot<'_>, TlsKeyError> {
        let limit = self.options.max_in_flight;
        let taken = self.in_flight.fetch_add(1, Ordering::AcqRel);
        let slot = Slot(&self.in_flight);
        if taken >= limit {
            return Err(TlsKeyError::Overloaded {
                key_id: key_id.to_owned(),
                limit,
            });
        }
        self.peak.fetch_max(taken + 1, Ordering::AcqRel);
        Ok(slot)
    }
}

/// One signature in flight; gives its slot back when dropped.
struct Slot<'a>(&'a AtomicUsize);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Waits for the signer's answer without deadlocking the caller's runtime.
///
/// On a worker of a multi-thread runtime, `block_in_place` first hands the worker's other
/// tasks to another thread, so the server keeps serving and other handshakes wait at the
/// same time. A current-thread runtime has no other thread: `block_in_place` would panic
/// there, so the thread simply blocks (and its runtime with it) for one round trip. On a
/// thread outside any runtime (`spawn_blocking`, a plain thread) blocking is free.
fn wait<T>(rx: &Receiver<T>, limit: Duration) -> Result<T, RecvTimeoutError> {
    match Handle::try_current().map(|handle| handle.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(|| rx.recv_timeout(limit)),
        _ => rx.recv_timeout(limit),
    }
}

fn with_deadline(mut config: ClientConfig, options: &SignerOptions) -> ClientConfig {
    config.call_timeout = options.deadline;
    config.attempt_timeout = options.attempt_bound(config.attempt_timeout);
    config
}

fn stopped() -> TlsKeyError {
    TlsKeyError::Runtime {
        reason: "the signer's runtime has stopped".into(),
    }
}

/// The signer's runtime. Dropping a runtime from async code panics, so it is shut down
/// in the background instead.
struct OwnedRuntime {
    runtime: Option<Runtime>,
    handle: Handle,
}

impl OwnedRuntime {
    fn start(options: &SignerOptions) -> Result<Self, TlsKeyError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(options.worker_threads.max(1))
            .thread_name("keyhold-signer")
            .enable_all()
            .build()
            .map_err(|err| TlsKeyError::Runtime {
                reason: format!("cannot start: {err}"),
            })?;
        let handle = runtime.handle().clone();
        Ok(OwnedRuntime {
            runtime: Some(runtime),
            handle,
        })
    }

    fn handle(&self) -> &Handle {
        &self.handle
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.handle.block_on(future)
    }
}

impl Drop for OwnedRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_attempt_leaves_room_for_two_other_nodes_within_the_deadline() {
        let options = SignerOptions::default();
        let endpoints = vec!["https://127.0.0.1:1".to_owned()];
        let config = ClientConfig::new(endpoints, Vec::new(), Vec::new(), Vec::new());
        assert_eq!(config.attempt_timeout, crate::DEFAULT_ATTEMPT_TIMEOUT);

        let config = with_deadline(config, &options);
        assert_eq!(config.call_timeout, DEFAULT_SIGN_DEADLINE);
        assert_eq!(config.attempt_timeout, DEFAULT_SIGN_DEADLINE / 3);
    }

    #[test]
    fn a_shorter_configured_attempt_is_kept() {
        let options = SignerOptions::default();
        let short = Duration::from_millis(100);
        assert_eq!(options.attempt_bound(short), short);
    }
}
