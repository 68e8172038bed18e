//! Outbound node-to-node traffic: one cached mutual-TLS channel per peer (a TLS handshake
//! per heartbeat would cost more than the heartbeat), and openraft's network trait on top.
//! Raft messages travel as JSON inside `RaftPayload`.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keyhold_proto::raft::RaftPayload;
use keyhold_proto::raft::raft_service_client::RaftServiceClient;
use openraft::OptionalSend;
use openraft::errors::{
    NetworkError, RPCError, RaftError, ReplicationClosed, StreamingError, Unreachable,
};
use openraft::network::{Backoff, RPCOption, RaftNetworkFactory, v2::RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tonic::transport::Channel;

use super::types::{NodeId, NodeInfo, Snapshot, SnapshotData, SnapshotMeta, TypeConfig, Vote};
use crate::tls::TlsMaterial;

/// Floor for AppendEntries timeouts (see `append_entries`).
const MIN_APPEND_TIMEOUT: Duration = Duration::from_millis(500);

/// Largest node-to-node message (snapshots travel whole).
pub const MAX_RAFT_MESSAGE: usize = 256 * 1024 * 1024;

/// Cached channels to peers, keyed by node id; replaced when a peer's address changes.
#[derive(Debug)]
pub struct Peers {
    tls: TlsMaterial,
    /// Addresses from this node's own `[[peers]]` config; they win over the membership's,
    /// so an operator (or a fault-injection test) can route one node's links through a
    /// proxy or NAT without changing what other nodes dial.
    dial_overrides: HashMap<NodeId, String>,
    channels: Mutex<HashMap<NodeId, (String, Channel)>>,
}

impl Peers {
    /// No channels yet; they open lazily on first use.
    pub fn new(tls: TlsMaterial, dial_overrides: HashMap<NodeId, String>) -> Self {
        Peers {
            tls,
            dial_overrides,
            channels: Mutex::new(HashMap::new()),
        }
    }

    /// A gRPC client for the peer's node-to-node service.
    pub fn client(
        &self,
        id: NodeId,
        raft_addr: &str,
    ) -> Result<RaftServiceClient<Channel>, String> {
        let raft_addr = self
            .dial_overrides
            .get(&id)
            .map_or(raft_addr, String::as_str);
        let mut channels = self
            .channels
            .lock()
            .map_err(|_| "peer table poisoned".to_owned())?;
        if let Some((addr, channel)) = channels.get(&id)
            && addr == raft_addr
        {
            return Ok(Self::wrap(channel.clone()));
        }
        let channel = Channel::from_shared(format!("https://{raft_addr}"))
            .map_err(|e| format!("bad peer address {raft_addr}: {e}"))?
            .tls_config(self.tls.peer_client_config(id))
            .map_err(|e| format!("peer TLS config: {e}"))?
            .connect_timeout(Duration::from_millis(500))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(5))
            .keep_alive_timeout(Duration::from_secs(5))
            .connect_lazy();
        channels.insert(id, (raft_addr.to_owned(), channel.clone()));
        Ok(Self::wrap(channel))
    }

    fn wrap(channel: Channel) -> RaftServiceClient<Channel> {
        RaftServiceClient::new(channel)
            .max_decoding_message_size(MAX_RAFT_MESSAGE)
            .max_encoding_message_size(MAX_RAFT_MESSAGE)
    }
}

/// Hands openraft a connection per target, sharing the cached channels.
#[derive(Clone, Debug)]
pub struct NetworkFactory {
    peers: Arc<Peers>,
}

impl NetworkFactory {
    /// A factory over the shared peer table.
    pub fn new(peers: Arc<Peers>) -> Self {
        NetworkFactory { peers }
    }
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = Connection;

    async fn new_client(&mut self, target: NodeId, node: &NodeInfo) -> Self::Network {
        Connection {
            target,
            addr: node.raft_addr.clone(),
            peers: self.peers.clone(),
        }
    }
}

/// One peer as openraft sees it.
#[derive(Debug)]
pub struct Connection {
    target: NodeId,
    addr: String,
    peers: Arc<Peers>,
}

/// A snapshot on the wire: vote, metadata and the data (base64 inside JSON).
#[derive(Serialize, Deserialize)]
pub struct SnapshotTransfer {
    /// The leader's vote.
    pub vote: Vote,
    /// Snapshot metadata.
    pub meta: SnapshotMeta,
    /// Serialized key store state.
    #[serde(with = "crate::keys::b64")]
    pub data: SnapshotData,
}

/// Which node-to-node method a call uses.
#[derive(Clone, Copy)]
enum Method {
    Append,
    Vote,
    PreVote,
    Snapshot,
}

impl Connection {
    async fn call<Req, Resp>(
        &mut self,
        method: Method,
        req: &Req,
        timeout: Duration,
    ) -> Result<Resp, RPCError<TypeConfig>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
    {
        let data = serde_json::to_vec(req).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let mut client = self
            .peers
            .client(self.target, &self.addr)
            .map_err(|e| RPCError::Unreachable(Unreachable::from_string(e)))?;
        let mut request = tonic::Request::new(RaftPayload { data });
        request.set_timeout(timeout);
        let reply = match method {
            Method::Append => client.append_entries(request).await,
            Method::Vote => client.vote(request).await,
            Method::PreVote => client.pre_vote(request).await,
            Method::Snapshot => client.install_snapshot(request).await,
        };
        let payload = reply.map_err(status_to_rpc_error)?.into_inner();
        let result: Result<Resp, RaftError<TypeConfig>> = serde_json::from_slice(&payload.data)
            .map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        result.map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))
    }
}

fn status_to_rpc_error(status: tonic::Status) -> RPCError<TypeConfig> {
    match status.code() {
        tonic::Code::Unavailable | tonic::Code::DeadlineExceeded => {
            RPCError::Unreachable(Unreachable::new(&status))
        }
        _ => RPCError::Network(NetworkError::new(&status)),
    }
}

impl RaftNetworkV2<TypeConfig> for Connection {
    type SnapshotData = SnapshotData;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        // openraft derives the TTL from the heartbeat interval (250 ms -> 187 ms): too tight
        // for a slow zone, where it stalled every write. Half the election timeout still
        // lets a dead follower be noticed long before an election would start.
        self.call(
            Method::Append,
            &rpc,
            option.soft_ttl().max(MIN_APPEND_TIMEOUT),
        )
        .await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call(Method::Vote, &rpc, option.soft_ttl()).await
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call(Method::PreVote, &rpc, option.soft_ttl()).await
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: Snapshot,
        cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let transfer = SnapshotTransfer {
            vote,
            meta: snapshot.meta,
            data: snapshot.snapshot,
        };
        let timeout = option.soft_ttl().max(Duration::from_secs(30));
        tokio::select! {
            closed = cancel => Err(StreamingError::Closed(closed)),
            result = self.call(Method::Snapshot, &transfer, timeout) => Ok(result?),
        }
    }

    fn backoff(&self) -> Option<Backoff> {
        // An unreachable peer is retried every 200 ms: fast catch-up after a restart
        // without spinning.
        Some(Backoff::new(std::iter::repeat(Duration::from_millis(200))))
    }
}
