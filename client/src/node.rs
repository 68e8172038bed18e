//! One cluster node as the client sees it: its lazily connected HTTP/2 channel, what
//! discovery said about it, how many calls it has in flight, and its ejection state.
//! Choosing between nodes is left to `pool`, retrying to `call`.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tonic::transport::{Channel, Endpoint};

use crate::config::{ClientConfig, EjectionPolicy};
use crate::connector::NodeConnector;
use crate::error::{ConfigError, Origin};

/// HTTP/2 keep-alive pings detect a dead connection while calls are in flight.
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(10);
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Builds one channel per node, all with the same TLS identity and timeouts, on the
/// client's runtime (a channel's connection task lives on the runtime that made it).
#[derive(Clone)]
pub(crate) struct ChannelFactory {
    connector: NodeConnector,
    connect_timeout: Duration,
    runtime: Handle,
}

impl ChannelFactory {
    // LIMITATION: rustls keeps the parsed client key for the client's lifetime and does not
    // wipe it on drop. Our own copy in ClientConfig is wiped.
    pub(crate) fn new(config: &ClientConfig, runtime: Handle) -> Result<Self, ConfigError> {
        let connector = NodeConnector::new(
            &config.ca_pem,
            &config.cert_pem,
            config.key_pem.as_slice(),
            config.server_name(),
        )?;
        Ok(ChannelFactory {
            connector,
            connect_timeout: config.connect_timeout,
            runtime,
        })
    }

    /// A channel that connects on first use. `endpoint` must be normalized (`https://`).
    pub(crate) fn channel(&self, endpoint: &str) -> Result<Channel, ConfigError> {
        let invalid = |reason: String| ConfigError::InvalidEndpoint {
            endpoint: endpoint.to_owned(),
            reason,
        };
        // TLS is the connector's, so tonic must not add its own: it sees plain `http`.
        let plain = match endpoint.strip_prefix("https://") {
            Some(rest) => format!("http://{rest}"),
            None => return Err(invalid("must start with https://".into())),
        };
        let builder = Endpoint::from_shared(plain)
            .map_err(|err| invalid(err.to_string()))?
            .connect_timeout(self.connect_timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(KEEP_ALIVE_INTERVAL)
            .keep_alive_timeout(KEEP_ALIVE_TIMEOUT);
        let _runtime = self.runtime.enter();
        Ok(builder.connect_with_connector_lazy(self.connector.clone()))
    }
}

/// What discovery reported about a node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct NodeMeta {
    pub(crate) id: Option<u64>,
    pub(crate) availability_zone: Option<String>,
    pub(crate) sealed: bool,
}

/// A node and its channel.
pub(crate) struct Node {
    pub(crate) endpoint: String,
    pub(crate) channel: Channel,
    meta: Mutex<NodeMeta>,
    health: Mutex<Health>,
    outstanding: AtomicUsize,
}

/// A node's place in the rotation, for `pool` to rank.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Standing {
    InRotation,
    Ejected,
}

/// What a failure did to the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ejection {
    /// The node stays in rotation (or was already out).
    None,
    /// The node just left rotation; probe it after `backoff`. `epoch` names this ejection.
    Started { epoch: u64, backoff: Duration },
}

/// Ejection state. A node in probation came back after an ejection and has not served a
/// real request since: one failure sends it out again for twice as long.
#[derive(Debug, Default)]
struct Health {
    consecutive_failures: u32,
    ejections: u32,
    ejected_until: Option<Instant>,
    epoch: u64,
}

impl Node {
    pub(crate) fn new(endpoint: String, channel: Channel) -> Self {
        Node {
            endpoint,
            channel,
            meta: Mutex::new(NodeMeta::default()),
            health: Mutex::new(Health::default()),
            outstanding: AtomicUsize::new(0),
        }
    }

    pub(crate) fn meta(&self) -> NodeMeta {
        lock(&self.meta).clone()
    }

    pub(crate) fn set_meta(&self, meta: NodeMeta) {
        *lock(&self.meta) = meta;
    }

    /// The node said it is sealed; avoid it until discovery reports otherwise.
    pub(crate) fn mark_sealed(&self) {
        lock(&self.meta).sealed = true;
    }

    pub(crate) fn origin(&self) -> Origin {
        Origin {
            endpoint: self.endpoint.clone(),
            node_id: lock(&self.meta).id,
        }
    }

    pub(crate) fn outstanding(&self) -> usize {
        self.outstanding.load(Ordering::Relaxed)
    }

    /// Counts a call in flight until the returned guard drops.
    pub(crate) fn begin(&self) -> InFlight<'_> {
        self.outstanding.fetch_add(1, Ordering::Relaxed);
        InFlight { node: self }
    }

    pub(crate) fn standing(&self) -> Standing {
        match lock(&self.health).ejected_until {
            Some(_) => Standing::Ejected,
            None => Standing::InRotation,
        }
    }

    /// A real request succeeded: the node is fully healthy again.
    pub(crate) fn record_success(&self) {
        let mut health = lock(&self.health);
        if health.ejected_until.is_some() {
            health.epoch += 1;
        }
        *health = Health {
            epoch: health.epoch,
            ..Health::default()
        };
    }

    /// A request failed in a way that blames the node.
    pub(crate) fn record_failure(&self, policy: &EjectionPolicy) -> Ejection {
        let mut health = lock(&self.health);
        health.consecutive_failures = health.consecutive_failures.saturating_add(1);
        if health.ejected_until.is_some() {
            return Ejection::None;
        }
        let threshold = if health.ejections > 0 {
            1
        } else {
            policy.consecutive_failures.max(1)
        };
        if health.consecutive_failures < threshold {
            return Ejection::None;
        }
        health.epoch += 1;
        let backoff = health.eject(policy);
        Ejection::Started {
            epoch: health.epoch,
            backoff,
        }
    }

    /// Whether ejection `epoch` is still the current one, so its probe should run.
    pub(crate) fn is_ejection_current(&self, epoch: u64) -> bool {
        let health = lock(&self.health);
        health.epoch == epoch && health.ejected_until.is_some()
    }

    /// The probe answered: back into rotation, on probation.
    pub(crate) fn probe_succeeded(&self) {
        let mut health = lock(&self.health);
        health.consecutive_failures = 0;
        health.ejected_until = None;
    }

    /// The probe failed: stay out for longer. Returns the new backoff.
    pub(crate) fn probe_failed(&self, policy: &EjectionPolicy) -> Duration {
        lock(&self.health).eject(policy)
    }
}

impl Health {
    fn eject(&mut self, policy: &EjectionPolicy) -> Duration {
        self.ejections = self.ejections.saturating_add(1);
        let doublings = self.ejections.saturating_sub(1).min(16);
        let backoff = policy
            .base_backoff
            .saturating_mul(1 << doublings)
            .min(policy.max_backoff);
        self.ejected_until = Some(Instant::now() + backoff);
        backoff
    }
}

/// A call in flight on a node; dropping it ends the count.
pub(crate) struct InFlight<'a> {
    node: &'a Node,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.node.outstanding.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Locks a mutex whose data stays consistent even if a holder panicked (every critical
/// section here is a few plain assignments).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> EjectionPolicy {
        EjectionPolicy {
            consecutive_failures: 3,
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(300),
        }
    }

    fn node() -> Node {
        let endpoint = Endpoint::from_static("https://127.0.0.1:1");
        Node::new("https://127.0.0.1:1".into(), endpoint.connect_lazy())
    }

    #[tokio::test]
    async fn a_node_is_ejected_after_consecutive_failures_only() {
        let node = node();
        assert_eq!(node.record_failure(&policy()), Ejection::None);
        node.record_success();
        assert_eq!(node.record_failure(&policy()), Ejection::None);
        assert_eq!(node.record_failure(&policy()), Ejection::None);
        assert_eq!(node.standing(), Standing::InRotation);

        let ejection = node.record_failure(&policy());
        let Ejection::Started { epoch, backoff } = ejection else {
            panic!("{ejection:?}")
        };
        assert_eq!(backoff, Duration::from_millis(100));
        assert_eq!(node.standing(), Standing::Ejected);
        assert!(node.is_ejection_current(epoch));
        assert_eq!(
            node.record_failure(&policy()),
            Ejection::None,
            "already out"
        );
    }

    #[tokio::test]
    async fn failed_probes_double_the_backoff_up_to_the_maximum() {
        let node = node();
        for _ in 0..3 {
            node.record_failure(&policy());
        }
        assert_eq!(node.probe_failed(&policy()), Duration::from_millis(200));
        assert_eq!(node.probe_failed(&policy()), Duration::from_millis(300));
        assert_eq!(node.probe_failed(&policy()), Duration::from_millis(300));
    }

    #[tokio::test]
    async fn a_node_on_probation_is_ejected_by_one_failure() {
        let node = node();
        for _ in 0..3 {
            node.record_failure(&policy());
        }
        node.probe_succeeded();
        assert_eq!(node.standing(), Standing::InRotation);

        let ejection = node.record_failure(&policy());
        let Ejection::Started { backoff, .. } = ejection else {
            panic!("{ejection:?}")
        };
        assert_eq!(backoff, Duration::from_millis(200));
    }

    #[tokio::test]
    async fn a_real_success_ends_the_ejection_and_its_probe() {
        let node = node();
        for _ in 0..2 {
            node.record_failure(&policy());
        }
        let Ejection::Started { epoch, .. } = node.record_failure(&policy()) else {
            panic!()
        };
        node.record_success();
        assert_eq!(node.standing(), Standing::InRotation);
        assert!(!node.is_ejection_current(epoch));
        assert_eq!(
            node.record_failure(&policy()),
            Ejection::None,
            "probation is over"
        );
    }

    #[tokio::test]
    async fn in_flight_guards_count_outstanding_calls() {
        let node = node();
        let first = node.begin();
        let second = node.begin();
        assert_eq!(node.outstanding(), 2);
        drop(first);
        drop(second);
        assert_eq!(node.outstanding(), 0);
    }
}
