//! Watching the cluster from outside the proxies, as an operator with a console in every
//! zone would: a watcher that samples each node's own view (role, term, leader, applied
//! index) several times a second, and bounded waits that return errors instead of
//! panicking. Each node is asked directly, so a cut or frozen node only delays its own
//! samples.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keyhold_proto::v1::cluster_service_client::ClusterServiceClient;
use keyhold_proto::v1::{ClusterStatusRequest, ClusterStatusResponse, NodeStatus};
use serde::Serialize;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tonic::transport::Channel;

use super::{Clock, DrillError};
use crate::Cluster;

/// Time between two samples of one node.
const SAMPLE_EVERY: Duration = Duration::from_millis(200);
/// Bound on one status call.
const STATUS_TIMEOUT: Duration = Duration::from_millis(1500);
/// Time between two checks of a bounded wait.
const POLL_EVERY: Duration = Duration::from_millis(100);

/// One node's view of itself at one moment.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Sample {
    /// When, in ms since the drill started.
    pub(crate) at_ms: f64,
    /// The node that answered.
    pub(crate) node: u64,
    /// Its role (leader, follower, candidate, ...).
    pub(crate) role: String,
    /// Its term.
    pub(crate) term: u64,
    /// The leader it knows, 0 for none.
    pub(crate) leader: u64,
}

/// Samples every node until stopped.
pub(crate) struct Watcher {
    samples: Arc<Mutex<Vec<Sample>>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Watcher {
    /// Starts one sampling task per node.
    pub(crate) fn start(cluster: &Cluster, clock: Clock) -> Watcher {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let tasks = cluster
            .nodes
            .iter()
            .map(|node| {
                let client = cluster.cluster_client(node.id);
                tokio::spawn(sample_node(node.id, client, clock, samples.clone()))
            })
            .collect();
        Watcher { samples, tasks }
    }

    /// Stops sampling and returns the samples in time order.
    pub(crate) fn stop(self) -> Vec<Sample> {
        for task in &self.tasks {
            task.abort();
        }
        let mut samples = std::mem::take(&mut *lock(&self.samples));
        samples.sort_by(|a, b| a.at_ms.total_cmp(&b.at_ms));
        samples
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

async fn sample_node(
    id: u64,
    mut client: ClusterServiceClient<Channel>,
    clock: Clock,
    samples: Arc<Mutex<Vec<Sample>>>,
) {
    let mut ticker = tokio::time::interval(SAMPLE_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let at_ms = clock.now_ms();
        let Some(status) = ask(&mut client).await else {
            continue;
        };
        let Some(me) = own_entry(&status) else {
            continue;
        };
        lock(&samples).push(Sample {
            at_ms,
            node: id,
            role: me.role.clone(),
            term: me.term,
            leader: status.leader_id,
        });
    }
}

async fn ask(client: &mut ClusterServiceClient<Channel>) -> Option<ClusterStatusResponse> {
    let call = client.cluster_status(ClusterStatusRequest {});
    let reply = tokio::time::timeout(STATUS_TIMEOUT, call)
        .await
        .ok()?
        .ok()?;
    Some(reply.into_inner())
}

/// The answering node's entry about itself.
fn own_entry(status: &ClusterStatusResponse) -> Option<&NodeStatus> {
    status.nodes.iter().find(|n| n.id == status.node_id)
}

/// Node `id`'s status, or `None` when it does not answer in time.
pub(crate) async fn status(cluster: &Cluster, id: u64) -> Option<ClusterStatusResponse> {
    ask(&mut cluster.cluster_client(id)).await
}

/// The node that says it leads with the highest term, among those that answer.
pub(crate) async fn current_leader(cluster: &Cluster) -> Option<(u64, u64)> {
    let mut best: Option<(u64, u64)> = None;
    for node in &cluster.nodes {
        let Some(status) = status(cluster, node.id).await else {
            continue;
        };
        let Some(me) = own_entry(&status) else {
            continue;
        };
        if me.role == "leader" && best.is_none_or(|(_, term)| me.term > term) {
            best = Some((me.id, me.term));
        }
    }
    best
}

/// Waits for a leader; returns its id and term.
pub(crate) async fn leader(cluster: &Cluster, limit: Duration) -> Result<(u64, u64), DrillError> {
    poll("a leader", limit, || current_leader(cluster)).await
}

/// Waits until node `id` answers status calls.
pub(crate) async fn answering(
    cluster: &Cluster,
    id: u64,
    limit: Duration,
) -> Result<(), DrillError> {
    let what = format!("node {id} to answer");
    poll(&what, limit, || async {
        status(cluster, id).await.map(|_| ())
    })
    .await
}

/// Waits until the cluster is whole again: a leader, every node answering, reachable from
/// every other and unsealed, and every node applied up to what the leader had committed
/// when the wait started.
pub(crate) async fn wait_recovered(cluster: &Cluster, limit: Duration) -> Result<(), DrillError> {
    let deadline = Instant::now() + limit;
    let (leader, _) = self::leader(cluster, limit).await?;
    let target = poll("the leader's commit index", remaining(deadline), || async {
        let status = status(cluster, leader).await?;
        own_entry(&status).map(|me| me.commit_index)
    })
    .await?;
    let whole = || async {
        for node in &cluster.nodes {
            let status = status(cluster, node.id).await?;
            let healthy = status.nodes.iter().all(|n| n.reachable && !n.sealed);
            let caught_up = own_entry(&status).is_some_and(|me| me.applied_index >= target);
            let complete = status.nodes.len() == cluster.nodes.len();
            if status.leader_id == 0 || !healthy || !caught_up || !complete {
                return None;
            }
        }
        Some(())
    };
    poll(
        "every node healthy and caught up",
        remaining(deadline),
        whole,
    )
    .await
}

/// Polls `check` until it yields `Some`, or fails after `limit`.
pub(crate) async fn poll<T, F, Fut>(
    what: &str,
    limit: Duration,
    mut check: F,
) -> Result<T, DrillError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            return Err(DrillError::Timeout {
                what: what.to_owned(),
                limit,
            });
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
