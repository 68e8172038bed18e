//! Waiting for a freshly started dev cluster: every node answers, the cluster is
//! initialized (by us, when it is new), a leader is known and no node is sealed. Bounded
//! by a deadline; a node process that exits meanwhile ends the wait at once.

use std::future::Future;
use std::time::Duration;

use futures::future::join_all;
use keyhold_client::v1::ClusterStatusResponse;
use keyhold_client::{Client, ClientConfig};
use tokio::time::{Instant, sleep, sleep_until};

use super::DevError;
use super::layout::Layout;
use super::process::Supervisor;
use crate::files;

const POLL_INTERVAL: Duration = Duration::from_millis(250);
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// One client per node, each talking to that node only, so "every node answers" means it.
pub(crate) async fn node_clients(layout: &Layout) -> Result<Vec<Client>, DevError> {
    let pki = layout.pki_dir();
    let ca = files::read(&pki.join("ca.pem"))?;
    let cert = files::read(&pki.join("client.pem"))?;
    let key = zeroize::Zeroizing::new(files::read(&pki.join("client.key"))?);
    let mut clients = Vec::new();
    for node in &layout.nodes {
        let mut config = ClientConfig::new(
            vec![node.endpoint()],
            ca.clone(),
            cert.clone(),
            key.to_vec(),
        );
        config.discovery_interval = None;
        config.call_timeout = PROBE_TIMEOUT;
        config.connect_timeout = PROBE_TIMEOUT;
        clients.push(Client::connect(config).await.map_err(DevError::Client)?);
    }
    Ok(clients)
}

/// Waits until the cluster is ready, initializing it if needed; returns the status that
/// showed it ready. A node that exits, or the deadline, ends the wait even mid-poll.
pub(crate) async fn until_ready(
    layout: &Layout,
    supervisor: &mut Supervisor,
    wait: Duration,
) -> Result<ClusterStatusResponse, DevError> {
    let deadline = Instant::now() + wait;
    let clients = node_clients(layout).await?;
    let mut waiting_for = "the nodes to start".to_string();
    loop {
        let Some(step) = bounded(supervisor, layout, deadline, step(&clients, layout)).await?
        else {
            break;
        };
        match step? {
            Readiness::Ready(status) => return Ok(status),
            Readiness::NeedsInit => waiting_for = "cluster init".to_string(),
            Readiness::Waiting(what) => waiting_for = what,
        }
        if bounded(supervisor, layout, deadline, sleep(POLL_INTERVAL))
            .await?
            .is_none()
        {
            break;
        }
    }
    Err(DevError::NotReady {
        secs: wait.as_secs(),
        waiting_for,
        dir: layout.dir.clone(),
    })
}

/// Runs `work` unless a node exits first (an error) or the deadline passes (`None`).
async fn bounded<T>(
    supervisor: &mut Supervisor,
    layout: &Layout,
    deadline: Instant,
    work: impl Future<Output = T>,
) -> Result<Option<T>, DevError> {
    tokio::select! {
        Some(exit) = supervisor.next_exit() => {
            let node = layout.nodes.iter().find(|n| n.id == exit.id);
            let log = node.map(|n| n.log_path()).unwrap_or_else(|| layout.dir.clone());
            Err(DevError::NodeExited { id: exit.id, status: exit.status, log })
        }
        done = work => Ok(Some(done)),
        () = sleep_until(deadline) => Ok(None),
    }
}

/// Asks every node at once; sends `InitCluster` when the cluster is new.
async fn step(clients: &[Client], layout: &Layout) -> Result<Readiness, DevError> {
    let statuses = join_all(clients.iter().map(Client::cluster_status)).await;
    match readiness(&statuses) {
        Readiness::NeedsInit => match clients.first() {
            Some(client) => Ok(Readiness::Waiting(init(client, layout).await?)),
            None => Ok(Readiness::NeedsInit),
        },
        other => Ok(other),
    }
}

/// Sends `InitCluster`; returns what we are waiting for next, or fails for good.
async fn init(client: &Client, layout: &Layout) -> Result<String, DevError> {
    match client.init_cluster().await {
        Ok(_) | Err(keyhold_client::Error::AlreadyExists { .. }) => {
            Ok("a leader after cluster init".to_string())
        }
        Err(err) if err.is_retryable() => Ok(format!("cluster init, which failed: {err}")),
        Err(source) => Err(DevError::Init {
            source,
            dir: layout.dir.clone(),
        }),
    }
}

/// Where a starting cluster stands, from each node's own status report.
#[derive(Debug, PartialEq)]
pub(crate) enum Readiness {
    /// Every node answers, the cluster has a leader and no node is sealed or unreachable.
    Ready(ClusterStatusResponse),
    /// Every node answers and none is initialized.
    NeedsInit,
    /// Not yet; what is missing.
    Waiting(String),
}

/// Judges the status answers of nodes 1, 2, 3 (in order).
pub(crate) fn readiness(
    statuses: &[Result<ClusterStatusResponse, keyhold_client::Error>],
) -> Readiness {
    let mut answered = Vec::new();
    for (index, status) in statuses.iter().enumerate() {
        match status {
            Ok(status) => answered.push(status),
            Err(err) => return Readiness::Waiting(format!("node {} to answer ({err})", index + 1)),
        }
    }
    if answered.iter().all(|s| !s.initialized) {
        return Readiness::NeedsInit;
    }
    for status in &answered {
        if let Some(what) = not_ready(status, statuses.len()) {
            return Readiness::Waiting(what);
        }
    }
    match answered.first() {
        Some(status) => Readiness::Ready((*status).clone()),
        None => Readiness::Waiting("a node to answer".to_string()),
    }
}

fn not_ready(status: &ClusterStatusResponse, members: usize) -> Option<String> {
    let by = status.node_id;
    if !status.initialized {
        return Some(format!(
            "node {by} to learn that the cluster is initialized"
        ));
    }
    if status.leader_id == 0 {
        return Some(format!("node {by} to know a leader"));
    }
    if status.nodes.len() < members {
        return Some(format!("node {by} to see all {members} members"));
    }
    if let Some(node) = status.nodes.iter().find(|n| !n.reachable) {
        return Some(format!("node {by} to reach node {}", node.id));
    }
    if let Some(node) = status.nodes.iter().find(|n| n.sealed) {
        return Some(format!("node {} to unseal", node.id));
    }
    None
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tls_tests;
