//! `keyhold.v1.ClusterService`: init (recorded in the audit trail) and status (not
//! recorded: clients and health checks poll it every few seconds, and it names no key).

use std::sync::Arc;

use keyhold_proto::v1 as pb;
use keyhold_proto::v1::cluster_service_server::ClusterService;
use tonic::{Request, Response, Status};

use super::audited::{audited, entry_for};
use super::status::to_status;
use crate::audit::AuditLog;
use crate::node::Node;

/// The public cluster service.
pub struct ClusterApi {
    node: Arc<Node>,
    audit: AuditLog,
}

impl ClusterApi {
    /// Serves `node`, recording inits in `audit`.
    pub fn new(node: Arc<Node>, audit: AuditLog) -> Self {
        ClusterApi { node, audit }
    }
}

#[tonic::async_trait]
impl ClusterService for ClusterApi {
    async fn init_cluster(
        &self,
        request: Request<pb::InitClusterRequest>,
    ) -> Result<Response<pb::InitClusterResponse>, Status> {
        let entry = entry_for("InitCluster", &request);
        let init = async {
            let done = self.node.init_cluster().await.map_err(to_status)?;
            Ok(Response::new(pb::InitClusterResponse {
                cluster_id: done.cluster_id,
                index: done.index,
                members: done.members,
            }))
        };
        audited(&self.audit, self.node.id(), entry, init).await
    }

    async fn cluster_status(
        &self,
        _request: Request<pb::ClusterStatusRequest>,
    ) -> Result<Response<pb::ClusterStatusResponse>, Status> {
        let me = self.node.local_status().await;
        let nodes = self
            .node
            .cluster_status()
            .await
            .into_iter()
            .map(|(s, reachable)| pb::NodeStatus {
                id: s.id,
                availability_zone: s.az,
                api_addr: s.api_addr,
                raft_addr: s.raft_addr,
                role: s.role,
                term: s.term,
                commit_index: s.commit_index,
                applied_index: s.applied_index,
                sealed: s.sealed,
                reachable,
            })
            .collect();
        Ok(Response::new(pb::ClusterStatusResponse {
            cluster_id: me.cluster_id.unwrap_or_default(),
            leader_id: me.leader_id.unwrap_or(0),
            nodes,
            node_id: me.id,
            initialized: me.initialized,
        }))
    }
}
