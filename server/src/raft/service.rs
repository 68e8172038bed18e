//! Inbound node-to-node traffic. Every call must come from a node certificate of the
//! cluster CA (URI SAN `keyhold://node/<id>`): a client certificate from the same CA is
//! refused here, so a crypto user cannot speak Raft or receive the cluster key.

use std::sync::Arc;

use keyhold_proto::raft::raft_service_server::RaftService;
use keyhold_proto::raft::{
    HandoffDeliverRequest, HandoffDeliverResponse, HandoffOfferRequest, HandoffOfferResponse,
    NodeStatusRequest, RaftPayload,
};
use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse, VoteRequest};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tonic::{Request, Response, Status};

use super::network::SnapshotTransfer;
use super::types::{Snapshot, TypeConfig};
use crate::api::status::to_status;
use crate::keys::Command;
use crate::node::Node;
use crate::tls::{node_id_of, sha256};

/// The node-to-node gRPC service.
pub struct RaftServer {
    node: Arc<Node>,
}

impl RaftServer {
    /// Serves `node`.
    pub fn new(node: Arc<Node>) -> Self {
        RaftServer { node }
    }
}

/// The calling node's id and certificate hash, or UNAUTHENTICATED / PERMISSION_DENIED.
fn calling_node<T>(request: &Request<T>) -> Result<(u64, [u8; 32]), Status> {
    let certs = request
        .peer_certs()
        .ok_or_else(|| Status::unauthenticated("a node certificate is required"))?;
    let leaf = certs
        .first()
        .ok_or_else(|| Status::unauthenticated("a node certificate is required"))?;
    let id = node_id_of(leaf.as_ref())
        .ok_or_else(|| Status::permission_denied("node-to-node calls need a node certificate"))?;
    Ok((id, sha256(leaf.as_ref())))
}

fn decode<T: DeserializeOwned>(payload: &RaftPayload) -> Result<T, Status> {
    serde_json::from_slice(&payload.data).map_err(|_| Status::invalid_argument("malformed payload"))
}

fn encode<T: Serialize>(value: &T) -> Result<Response<RaftPayload>, Status> {
    let data = serde_json::to_vec(value).map_err(|_| Status::internal("internal error"))?;
    Ok(Response::new(RaftPayload { data }))
}

#[tonic::async_trait]
impl RaftService for RaftServer {
    async fn append_entries(
        &self,
        request: Request<RaftPayload>,
    ) -> Result<Response<RaftPayload>, Status> {
        calling_node(&request)?;
        let rpc: AppendEntriesRequest<TypeConfig> = decode(request.get_ref())?;
        let result = self.node.raft().append_entries(rpc).await;
        // Any answer but a higher vote proves a live leader of our term.
        if result
            .as_ref()
            .is_ok_and(|r| !matches!(r, AppendEntriesResponse::HigherVote(_)))
        {
            self.node.note_leader_contact();
        }
        encode(&result)
    }

    async fn vote(&self, request: Request<RaftPayload>) -> Result<Response<RaftPayload>, Status> {
        calling_node(&request)?;
        let rpc: VoteRequest<TypeConfig> = decode(request.get_ref())?;
        encode(&self.node.raft().vote(rpc).await)
    }

    async fn pre_vote(
        &self,
        request: Request<RaftPayload>,
    ) -> Result<Response<RaftPayload>, Status> {
        calling_node(&request)?;
        let rpc: VoteRequest<TypeConfig> = decode(request.get_ref())?;
        encode(&self.node.raft().pre_vote(rpc).await)
    }

    async fn install_snapshot(
        &self,
        request: Request<RaftPayload>,
    ) -> Result<Response<RaftPayload>, Status> {
        calling_node(&request)?;
        let transfer: SnapshotTransfer = decode(request.get_ref())?;
        let snapshot = Snapshot {
            meta: transfer.meta,
            snapshot: transfer.data,
        };
        let result = self
            .node
            .raft()
            .install_full_snapshot(transfer.vote, snapshot)
            .await;
        let result = result.map_err(openraft::errors::RaftError::<TypeConfig>::Fatal);
        encode(&result)
    }

    async fn forward_write(
        &self,
        request: Request<RaftPayload>,
    ) -> Result<Response<RaftPayload>, Status> {
        let (from, _) = calling_node(&request)?;
        let command: Command = decode(request.get_ref())?;
        tracing::debug!(from, %command, "forwarded write");
        encode(&self.node.propose_local(command).await)
    }

    async fn node_status(
        &self,
        request: Request<NodeStatusRequest>,
    ) -> Result<Response<RaftPayload>, Status> {
        calling_node(&request)?;
        encode(&self.node.local_status().await)
    }

    async fn handoff_offer(
        &self,
        request: Request<HandoffOfferRequest>,
    ) -> Result<Response<HandoffOfferResponse>, Status> {
        calling_node(&request)?;
        let offer = self
            .node
            .handoff_offer(request.into_inner())
            .await
            .map_err(to_status)?;
        Ok(Response::new(offer))
    }

    async fn handoff_deliver(
        &self,
        request: Request<HandoffDeliverRequest>,
    ) -> Result<Response<HandoffDeliverResponse>, Status> {
        let (from, cert_hash) = calling_node(&request)?;
        tracing::info!(from, "receiving the cluster key");
        self.node
            .handoff_deliver(request.into_inner(), cert_hash)
            .await
            .map_err(to_status)?;
        Ok(Response::new(HandoffDeliverResponse {}))
    }
}
