//! Background work of a client: refreshing the node list from `ClusterStatus`, and
//! probing an ejected node until it answers again. Tasks hold only a weak reference to
//! the client's shared state and end when the last `Client` clone drops.

use std::sync::{Arc, Weak};
use std::time::Duration;

use keyhold_proto::v1::cluster_service_client::ClusterServiceClient;
use keyhold_proto::v1::{ClusterStatusRequest, ClusterStatusResponse};
use tokio::time::{Instant, MissedTickBehavior};
use tonic::transport::Channel;
use tonic::{Request, Status};

use crate::call::{Retry, Shared};
use crate::error::Error;
use crate::node::Node;

impl Shared {
    /// Asks any node for the cluster status and adopts its node list.
    pub(crate) async fn discover(self: &Arc<Self>) -> Result<ClusterStatusResponse, Error> {
        let status = self
            .call("cluster_status", Retry::Idempotent, |channel, timeout| {
                cluster_status(channel, timeout)
            })
            .await?;
        let known = self.pool.apply(&status);
        tracing::debug!(reported = status.nodes.len(), known, "node list refreshed");
        Ok(status)
    }

    /// Starts refreshing the node list every `interval`, on the client's runtime.
    pub(crate) fn start_discovery(self: &Arc<Self>, interval: Duration) {
        let weak = Arc::downgrade(self);
        let task = self.runtime.spawn(refresh_every(weak, interval));
        match self.tasks.lock() {
            Ok(mut tasks) => tasks.push(task.abort_handle()),
            Err(poisoned) => poisoned.into_inner().push(task.abort_handle()),
        }
    }
}

/// One `ClusterStatus` call on one channel.
pub(crate) async fn cluster_status(
    channel: Channel,
    timeout: Duration,
) -> Result<ClusterStatusResponse, Status> {
    let mut request = Request::new(ClusterStatusRequest {});
    request.set_timeout(timeout);
    let response = ClusterServiceClient::new(channel)
        .cluster_status(request)
        .await?;
    Ok(response.into_inner())
}

async fn refresh_every(shared: Weak<Shared>, interval: Duration) {
    let mut ticker = tokio::time::interval_at(Instant::now() + interval, interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        if let Err(err) = shared.discover().await {
            tracing::warn!(error = %err, "cannot refresh the node list; keeping the known nodes");
        }
    }
}

/// Waits out an ejection, then asks the node for its status; back into rotation when it
/// answers, otherwise out again for longer. Ends when the ejection is over by other means
/// (a real request succeeded), the node left the cluster, or the client is gone.
pub(crate) async fn probe_until_back(
    shared: Weak<Shared>,
    node: Arc<Node>,
    epoch: u64,
    first_backoff: Duration,
) {
    let mut backoff = first_backoff;
    loop {
        tokio::time::sleep(backoff).await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        if !node.is_ejection_current(epoch) || !shared.pool.contains(&node) {
            return;
        }
        let probe = cluster_status(node.channel.clone(), shared.call_timeout);
        match tokio::time::timeout(shared.call_timeout, probe).await {
            Ok(Ok(_)) => {
                node.probe_succeeded();
                tracing::info!(endpoint = %node.endpoint, "node answered its probe; back in use");
                return;
            }
            Ok(Err(status)) => {
                backoff = node.probe_failed(&shared.ejection);
                let code = status.code();
                tracing::debug!(endpoint = %node.endpoint, ?code, ?backoff, "probe failed");
            }
            Err(_elapsed) => {
                backoff = node.probe_failed(&shared.ejection);
                tracing::debug!(endpoint = %node.endpoint, ?backoff, "probe timed out");
            }
        }
    }
}
