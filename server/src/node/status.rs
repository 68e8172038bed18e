//! Node and cluster status: this node's view from Raft metrics, and a cluster report that
//! asks every member over node-to-node mTLS (a member that does not answer in time is
//! reported unreachable, with what the membership says about it).

use std::time::Duration;

use keyhold_proto::raft::NodeStatusRequest;
use serde::{Deserialize, Serialize};

use super::Node;
use crate::raft::types::NodeInfo;

/// How long the status report waits for each peer.
const PEER_STATUS_TIMEOUT: Duration = Duration::from_millis(800);

/// One node's view of itself.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LocalStatus {
    /// Node id.
    pub id: u64,
    /// Availability zone.
    pub az: String,
    /// Client API address.
    pub api_addr: String,
    /// Node-to-node address.
    pub raft_addr: String,
    /// leader, follower, candidate, learner or shutdown.
    pub role: String,
    /// Current term.
    pub term: u64,
    /// Committed index.
    pub commit_index: u64,
    /// Applied index.
    pub applied_index: u64,
    /// Whether the node refuses crypto.
    pub sealed: bool,
    /// Leader as this node knows it.
    pub leader_id: Option<u64>,
    /// Cluster id once initialized.
    pub cluster_id: Option<String>,
    /// Whether the Raft group is formed.
    pub initialized: bool,
}

impl LocalStatus {
    /// What the report shows for a member that did not answer.
    pub fn unreachable(id: u64, info: &NodeInfo) -> Self {
        LocalStatus {
            id,
            az: info.az.clone(),
            api_addr: info.api_addr.clone(),
            raft_addr: info.raft_addr.clone(),
            role: "unreachable".into(),
            term: 0,
            commit_index: 0,
            applied_index: 0,
            sealed: true,
            leader_id: None,
            cluster_id: None,
            initialized: false,
        }
    }
}

impl Node {
    /// This node's status.
    pub async fn local_status(&self) -> LocalStatus {
        let m = self.metrics();
        let role = format!("{:?}", m.state).to_lowercase();
        let c = &self.config;
        LocalStatus {
            id: c.node_id,
            az: c.availability_zone.clone(),
            api_addr: c.advertised_api_addr().to_owned(),
            raft_addr: c.advertised_raft_addr().to_owned(),
            role,
            term: m.current_term,
            commit_index: m.local_committed.map(|l| l.index).unwrap_or(0),
            applied_index: m.last_applied.map(|l| l.index).unwrap_or(0),
            sealed: !self.custody.is_unsealed(),
            leader_id: m.current_leader,
            cluster_id: self.store.read(|s| s.cluster_id.clone()),
            initialized: self.is_initialized().await.unwrap_or(false),
        }
    }

    /// Every member's status, asked in parallel.
    pub async fn cluster_status(&self) -> Vec<(LocalStatus, bool)> {
        let members = self.members();
        let asks = members.iter().map(|(&id, info)| async move {
            if id == self.id() {
                return (self.local_status().await, true);
            }
            match self.peer_status(id, info).await {
                Some(status) => (status, true),
                None => (LocalStatus::unreachable(id, info), false),
            }
        });
        futures::future::join_all(asks).await
    }

    pub(super) async fn peer_status(&self, id: u64, info: &NodeInfo) -> Option<LocalStatus> {
        let mut client = self.peers.client(id, &info.raft_addr).ok()?;
        let mut request = tonic::Request::new(NodeStatusRequest {});
        request.set_timeout(PEER_STATUS_TIMEOUT);
        let ask = tokio::time::timeout(PEER_STATUS_TIMEOUT, client.node_status(request));
        let payload = ask.await.ok()?.ok()?.into_inner();
        serde_json::from_slice(&payload.data).ok()
    }
}
