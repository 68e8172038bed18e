//! [`Client`]: the public face of the crate. Each method fills in read-your-writes, picks
//! its retry rule and hands the RPC to the shared call loop in `call`.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keyhold_proto::v1;
use keyhold_proto::v1::audit_service_client::AuditServiceClient;
use keyhold_proto::v1::cluster_service_client::ClusterServiceClient;
use keyhold_proto::v1::key_service_client::KeyServiceClient;
use tokio::runtime::Handle;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};
use zeroize::Zeroize;

use crate::call::{Retry, Shared};
use crate::config::ClientConfig;
use crate::error::{ConfigError, Error};
use crate::node::ChannelFactory;
use crate::pool::Pool;

/// A connection to a Keyhold cluster: one HTTP/2 channel per node, failover, retries and
/// read-your-writes. Cheap to clone; clones share channels and state. Background work
/// (discovery, probes of ejected nodes) runs on the runtime that called
/// [`Client::connect`] and stops when the last clone drops.
///
/// Every call has a deadline of [`ClientConfig::call_timeout`], retries included.
/// Reads, `sign` and `decrypt` are retried on another node after retryable failures;
/// writes are retried only when the request provably never left the client (see
/// [`Error::Connect`]).
///
/// ```no_run
/// use keyhold_client::{Client, ClientConfig};
/// use keyhold_proto::v1::{GenerateKeyRequest, SignRequest, sign_request::Input};
///
/// # async fn run() -> Result<(), keyhold_client::Error> {
/// let config = ClientConfig::from_file("client.toml".as_ref())?;
/// let client = Client::connect(config).await?;
///
/// let written = client
///     .generate_key(GenerateKeyRequest {
///         algorithm: "ec-p256".into(),
///         label: "www.example.com".into(),
///         usage: "sign".into(),
///     })
///     .await?;
/// let key_id = written.key.map(|key| key.id).unwrap_or_default();
///
/// // Any node may answer; this client's own writes are always visible to it.
/// let signed = client
///     .sign(SignRequest {
///         key_id,
///         scheme: "ecdsa-sha256".into(),
///         input: Some(Input::Message(b"hello".to_vec())),
///         min_index: 0,
///     })
///     .await?;
/// println!("node {} signed: {} bytes", signed.node_id, signed.signature.len());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
    discovers: bool,
}

impl Client {
    /// Builds a channel per seed endpoint (connecting lazily), then asks the cluster for
    /// its node list unless [`ClientConfig::discovery_interval`] is `None`. That first
    /// discovery takes at most [`ClientConfig::call_timeout`]; when it fails the client
    /// keeps working with the seeds and tries again at the next interval.
    ///
    /// Fails only on configuration: no endpoint, a malformed endpoint, unusable TLS
    /// material, or no tokio runtime.
    pub async fn connect(config: ClientConfig) -> Result<Self, Error> {
        let runtime = Handle::try_current().map_err(|_| ConfigError::NoRuntime)?;
        let factory = ChannelFactory::new(&config, runtime.clone())?;
        let pool = Pool::new(&config.endpoints, factory, config.availability_zone.clone())?;
        let shared = Arc::new(Shared {
            pool,
            call_timeout: config.call_timeout,
            attempt_timeout: config.attempt_timeout,
            ejection: config.ejection,
            written: AtomicU64::new(0),
            runtime,
            tasks: Mutex::new(Vec::new()),
        });
        let client = Client {
            shared,
            discovers: config.discovery_interval.is_some(),
        };

        if let Some(interval) = config.discovery_interval {
            match client.shared.discover().await {
                Ok(status) => tracing::info!(nodes = status.nodes.len(), "connected to cluster"),
                Err(err) => tracing::warn!(error = %err, "discovery failed; using the seeds"),
            }
            client.shared.start_discovery(interval);
        }
        Ok(client)
    }

    /// Generates a key in the cluster. A write; see the retry rule on [`Client`].
    pub async fn generate_key(
        &self,
        req: v1::GenerateKeyRequest,
    ) -> Result<v1::KeyWriteResponse, Error> {
        let response = self
            .key_call(
                "generate_key",
                Retry::Write,
                &req,
                |mut client, request| async move { client.generate_key(request).await },
            )
            .await?;
        self.observe_write(response.index);
        Ok(response)
    }

    /// Imports an existing private key. A write; see the retry rule on [`Client`].
    /// The request's key bytes are wiped once the call is over.
    pub async fn import_key(
        &self,
        mut req: v1::ImportKeyRequest,
    ) -> Result<v1::KeyWriteResponse, Error> {
        // LIMITATION: the copy encoded into each attempt's HTTP/2 buffers is freed by
        // tonic without being wiped; only our own copy is.
        let result = self
            .key_call(
                "import_key",
                Retry::Write,
                &req,
                |mut client, request| async move { client.import_key(request).await },
            )
            .await;
        req.private_key.zeroize();
        let response = result?;
        self.observe_write(response.index);
        Ok(response)
    }

    /// Metadata and public key of one key.
    pub async fn get_key(&self, mut req: v1::GetKeyRequest) -> Result<v1::KeyInfo, Error> {
        req.min_index = self.read_index(req.min_index);
        self.key_call(
            "get_key",
            Retry::Idempotent,
            &req,
            |mut client, request| async move {
                let response = client.get_key(request).await?;
                let key = response.into_inner().key;
                let key = key.ok_or_else(|| Status::internal("GetKeyResponse without a key"))?;
                Ok(Response::new(key))
            },
        )
        .await
    }

    /// One page of keys, in id order.
    pub async fn list_keys(
        &self,
        mut req: v1::ListKeysRequest,
    ) -> Result<v1::ListKeysResponse, Error> {
        req.min_index = self.read_index(req.min_index);
        self.key_call(
            "list_keys",
            Retry::Idempotent,
            &req,
            |mut client, request| async move { client.list_keys(request).await },
        )
        .await
    }

    /// Destroys a key on every node. A write; see the retry rule on [`Client`].
    pub async fn destroy_key(
        &self,
        req: v1::DestroyKeyRequest,
    ) -> Result<v1::DestroyKeyResponse, Error> {
        let response = self
            .key_call(
                "destroy_key",
                Retry::Write,
                &req,
                |mut client, request| async move { client.destroy_key(request).await },
            )
            .await?;
        self.observe_write(response.index);
        Ok(response)
    }

    /// Signs a message or a digest on any node that has applied this client's writes.
    pub async fn sign(&self, mut req: v1::SignRequest) -> Result<v1::SignResponse, Error> {
        req.min_index = self.read_index(req.min_index);
        self.key_call(
            "sign",
            Retry::Idempotent,
            &req,
            |mut client, request| async move { client.sign(request).await },
        )
        .await
    }

    /// RSA decryption on any node that has applied this client's writes.
    pub async fn decrypt(&self, mut req: v1::DecryptRequest) -> Result<v1::DecryptResponse, Error> {
        req.min_index = self.read_index(req.min_index);
        self.key_call(
            "decrypt",
            Retry::Idempotent,
            &req,
            |mut client, request| async move { client.decrypt(request).await },
        )
        .await
    }

    /// Initializes the cluster. A write; see the retry rule on [`Client`].
    pub async fn init_cluster(&self) -> Result<v1::InitClusterResponse, Error> {
        let req = v1::InitClusterRequest {};
        let response = self
            .cluster_call(
                "init_cluster",
                Retry::Write,
                &req,
                |mut client, request| async move { client.init_cluster(request).await },
            )
            .await?;
        self.observe_write(response.index);
        Ok(response)
    }

    /// Every node with its role, indexes and seal state, as one node sees them. With
    /// discovery on, the client also adopts the node list.
    pub async fn cluster_status(&self) -> Result<v1::ClusterStatusResponse, Error> {
        if self.discovers {
            return self.shared.discover().await;
        }
        self.shared
            .call(
                "cluster_status",
                Retry::Idempotent,
                crate::discovery::cluster_status,
            )
            .await
    }

    /// One page of the audit trail of node `node_id`: its events from `req.from_seq` on,
    /// in order. Each node keeps its own trail, so the call goes to that node only, once,
    /// within [`ClientConfig::call_timeout`]; it is never sent to another node.
    ///
    /// Node ids are learned by discovery (see [`Client::node_ids`]): with none known for
    /// `node_id`, fails with [`Error::UnknownNode`] without sending anything.
    pub async fn read_audit(
        &self,
        node_id: u64,
        req: v1::ReadAuditRequest,
    ) -> Result<v1::ReadAuditResponse, Error> {
        let Some(node) = self.shared.pool.node_with_id(node_id) else {
            let known = self.shared.pool.ids();
            return Err(Error::UnknownNode { node_id, known });
        };
        let send = |channel, timeout| {
            let request = timed(&req, timeout);
            async move { AuditServiceClient::new(channel).read_audit(request).await }
        };
        let response = self.shared.call_node("read_audit", &node, send).await?;
        Ok(response.into_inner())
    }

    /// The ids of the nodes this client knows, ascending. Ids come from discovery: with
    /// discovery off, or before it first succeeds, there are none.
    pub fn node_ids(&self) -> Vec<u64> {
        self.shared.pool.ids()
    }

    /// The highest write index this client has seen; reads wait for it.
    pub fn last_write_index(&self) -> u64 {
        self.shared.written.load(Ordering::Acquire)
    }

    /// The endpoints of the nodes this client currently knows.
    pub fn endpoints(&self) -> Vec<String> {
        self.shared
            .pool
            .nodes()
            .iter()
            .map(|node| node.endpoint.clone())
            .collect()
    }

    fn observe_write(&self, index: u64) {
        self.shared.written.fetch_max(index, Ordering::AcqRel);
    }

    /// The caller's `min_index` if set, else this client's last write.
    fn read_index(&self, requested: u64) -> u64 {
        if requested != 0 {
            requested
        } else {
            self.last_write_index()
        }
    }

    async fn key_call<Req, Resp, F, Fut>(
        &self,
        op: &'static str,
        retry: Retry,
        req: &Req,
        rpc: F,
    ) -> Result<Resp, Error>
    where
        Req: Clone,
        F: Fn(KeyServiceClient<Channel>, Request<Req>) -> Fut,
        Fut: Future<Output = Result<Response<Resp>, Status>>,
    {
        let send = |channel, timeout| rpc(KeyServiceClient::new(channel), timed(req, timeout));
        let response = self.shared.call(op, retry, send).await;
        response.map(Response::into_inner)
    }

    async fn cluster_call<Req, Resp, F, Fut>(
        &self,
        op: &'static str,
        retry: Retry,
        req: &Req,
        rpc: F,
    ) -> Result<Resp, Error>
    where
        Req: Clone,
        F: Fn(ClusterServiceClient<Channel>, Request<Req>) -> Fut,
        Fut: Future<Output = Result<Response<Resp>, Status>>,
    {
        let send = |channel, timeout| rpc(ClusterServiceClient::new(channel), timed(req, timeout));
        let response = self.shared.call(op, retry, send).await;
        response.map(Response::into_inner)
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("endpoints", &self.endpoints())
            .field("call_timeout", &self.shared.call_timeout)
            .field("last_write_index", &self.last_write_index())
            .finish()
    }
}

/// A request carrying the time left, so the server gives up when the caller does.
fn timed<T: Clone>(message: &T, timeout: Duration) -> Request<T> {
    let mut request = Request::new(message.clone());
    request.set_timeout(timeout);
    request
}
