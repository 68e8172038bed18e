//! The state every `Client` clone shares, and the one loop that sends a call: pick a node,
//! send with the remaining deadline, classify the outcome, and retry on another node when
//! the retry rule allows.
//!
//! The retry rule:
//! - idempotent calls (reads, sign, decrypt, cluster status) are retried on another node
//!   after any retryable failure ([`Error::is_retryable`]: the node or the network
//!   failed, or the node is sealed) until the call's deadline;
//! - writes (generate, import, destroy, init) are retried only after [`Error::Connect`]:
//!   the connection failed before the request was sent, so no server can have seen it.
//!   After any other failure the write may have been applied, so the error goes back to
//!   the caller, who can check (for example with `list_keys`) before writing again.
//!
//! A call addressed to one node (`call_node`, for the audit trail) is sent once, to that
//! node only.

use std::future::Future;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tonic::Status;
use tonic::transport::Channel;

use crate::config::EjectionPolicy;
use crate::error::{ConfigError, Error, Origin};
use crate::node::{Ejection, Node};
use crate::pool::Pool;

/// Pause before the second round over the nodes; doubles each round.
const FIRST_PAUSE: Duration = Duration::from_millis(20);
/// Longest pause between rounds.
const MAX_PAUSE: Duration = Duration::from_millis(500);

/// Whether a call may be sent again after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Sending it twice has the same effect as once.
    Idempotent,
    /// A write: sent again only when it provably was not made (it never left the client,
    /// or the node refused it before it entered the log).
    Write,
}

impl Retry {
    fn allows(self, err: &Error) -> bool {
        match self {
            Retry::Idempotent => err.is_retryable(),
            Retry::Write => matches!(err, Error::Connect { .. } | Error::NotWritten { .. }),
        }
    }
}

/// What every clone of a `Client` shares.
pub(crate) struct Shared {
    pub(crate) pool: Pool,
    pub(crate) call_timeout: Duration,
    pub(crate) attempt_timeout: Duration,
    pub(crate) ejection: EjectionPolicy,
    /// Highest write index this client has seen; reads wait for it.
    pub(crate) written: AtomicU64,
    /// The runtime `connect` ran on; background work (discovery, probes) lives there.
    pub(crate) runtime: Handle,
    /// Background tasks to stop when the last clone drops.
    pub(crate) tasks: Mutex<Vec<AbortHandle>>,
}

impl Shared {
    /// Sends a call, retrying by `retry`'s rule, within `call_timeout` overall.
    /// `send` makes one attempt on a channel with the time left.
    pub(crate) async fn call<T, F, Fut>(
        self: &Arc<Self>,
        op: &'static str,
        retry: Retry,
        mut send: F,
    ) -> Result<T, Error>
    where
        F: FnMut(Channel, Duration) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let deadline = Instant::now() + self.call_timeout;
        let mut tried: Vec<Arc<Node>> = Vec::new();
        let mut pause = FIRST_PAUSE;
        let mut last: Option<Error> = None;
        loop {
            let node = self.pool.pick(&tried).ok_or(ConfigError::NoEndpoints)?;
            if tried.iter().any(|t| Arc::ptr_eq(t, &node)) {
                // LIMITATION: a round in which every node refused the TLS handshake on its
                // certificate (unknown CA, not a node certificate) is retried like any
                // other until the deadline, so a misconfigured client learns why only then.
                // Every node failed this call once: pause so a round of failures does not
                // become a busy loop, then start a new round.
                tokio::time::sleep_until((Instant::now() + pause).min(deadline)).await;
                pause = (pause * 2).min(MAX_PAUSE);
                tried.clear();
            }
            if Instant::now() >= deadline {
                return Err(self.deadline_exceeded(None, last));
            }
            tried.push(Arc::clone(&node));

            // An idempotent call gives each node a bounded share of the deadline, so a
            // frozen node costs one attempt, not the call.
            let attempt_deadline = match retry {
                Retry::Idempotent => (Instant::now() + self.attempt_timeout).min(deadline),
                Retry::Write => deadline,
            };
            let err = match self.attempt(op, &node, attempt_deadline, &mut send).await {
                Ok(value) => return Ok(value),
                Err(err) => err,
            };
            if let Error::DeadlineExceeded { origin, .. } = err {
                if Instant::now() >= deadline || matches!(retry, Retry::Write) {
                    return Err(self.deadline_exceeded(origin, last));
                }
                tracing::debug!(op, endpoint = %node.endpoint, "attempt timed out; trying elsewhere");
                last = Some(Error::DeadlineExceeded {
                    origin,
                    timeout: self.attempt_timeout,
                    last_error: None,
                });
                continue;
            }
            if err.is_cancelled() && Instant::now() >= deadline {
                return Err(self.deadline_exceeded(err.origin().cloned(), Some(err)));
            }
            if !retry.allows(&err) {
                tracing::debug!(op, endpoint = %node.endpoint, error = %err, "call failed");
                return Err(err);
            }
            tracing::debug!(op, endpoint = %node.endpoint, error = %err, "retrying elsewhere");
            last = Some(err);
        }
    }

    /// Sends a call to `node` only, once, within `call_timeout`: for calls whose answer
    /// belongs to one node (its audit trail), where no other node may stand in.
    pub(crate) async fn call_node<T, F, Fut>(
        self: &Arc<Self>,
        op: &'static str,
        node: &Arc<Node>,
        mut send: F,
    ) -> Result<T, Error>
    where
        F: FnMut(Channel, Duration) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let deadline = Instant::now() + self.call_timeout;
        let err = match self.attempt(op, node, deadline, &mut send).await {
            Ok(value) => return Ok(value),
            Err(err) => err,
        };
        if err.is_cancelled() && Instant::now() >= deadline {
            return Err(self.deadline_exceeded(err.origin().cloned(), Some(err)));
        }
        tracing::debug!(op, endpoint = %node.endpoint, error = %err, "call failed");
        Err(err)
    }

    /// One attempt on one node, bounded by the call's deadline.
    async fn attempt<T, F, Fut>(
        self: &Arc<Self>,
        op: &'static str,
        node: &Arc<Node>,
        deadline: Instant,
        send: &mut F,
    ) -> Result<T, Error>
    where
        F: FnMut(Channel, Duration) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let origin = node.origin();
        let _in_flight = node.begin();
        tracing::debug!(op, endpoint = %node.endpoint, ?remaining, "sending");

        let sent = send(node.channel.clone(), remaining);
        let err = match tokio::time::timeout_at(deadline, sent).await {
            Ok(Ok(value)) => {
                node.record_success();
                return Ok(value);
            }
            Ok(Err(status)) => Error::from_status(status, origin, self.call_timeout),
            Err(_elapsed) => self.deadline_exceeded(Some(origin), None),
        };
        if err.blames_node() {
            self.node_failed(node);
        } else {
            node.record_success();
        }
        if err.is_sealed() {
            node.mark_sealed();
        }
        Err(err)
    }

    fn node_failed(self: &Arc<Self>, node: &Arc<Node>) {
        let Ejection::Started { epoch, backoff } = node.record_failure(&self.ejection) else {
            return;
        };
        tracing::warn!(endpoint = %node.endpoint, ?backoff, "node ejected after failures");
        let task = self.runtime.spawn(crate::discovery::probe_until_back(
            Arc::downgrade(self),
            Arc::clone(node),
            epoch,
            backoff,
        ));
        drop(task);
    }

    fn deadline_exceeded(&self, origin: Option<Origin>, last: Option<Error>) -> Error {
        Error::DeadlineExceeded {
            origin,
            timeout: self.call_timeout,
            last_error: last.map(Box::new),
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let tasks = match self.tasks.get_mut() {
            Ok(tasks) => tasks,
            Err(poisoned) => poisoned.into_inner(),
        };
        for task in tasks.drain(..) {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    fn origin() -> Origin {
        Origin {
            endpoint: "https://127.0.0.1:1".into(),
            node_id: None,
        }
    }

    #[test]
    fn writes_are_retried_only_when_the_request_was_never_sent() {
        let connect = Error::Connect {
            origin: origin(),
            message: "refused".into(),
        };
        let transport = Error::Transport {
            origin: origin(),
            message: "reset".into(),
        };
        let unavailable = Error::Unavailable {
            origin: origin(),
            leader_hint: None,
            message: "x".into(),
        };
        assert!(Retry::Write.allows(&connect));
        assert!(!Retry::Write.allows(&transport));
        assert!(!Retry::Write.allows(&unavailable));
        assert!(Retry::Idempotent.allows(&transport));
        assert!(Retry::Idempotent.allows(&unavailable));
    }

    #[test]
    fn idempotent_calls_are_not_retried_after_request_errors() {
        let not_found = Error::NotFound {
            origin: origin(),
            message: "k".into(),
        };
        let other = Error::Other {
            origin: origin(),
            code: Code::Aborted,
            message: "a".into(),
        };
        assert!(!Retry::Idempotent.allows(&not_found));
        assert!(!Retry::Idempotent.allows(&other));
    }
}
