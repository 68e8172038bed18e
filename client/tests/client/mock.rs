//! In-process mock nodes for the client tests: real gRPC servers on 127.0.0.1 with mutual
//! TLS from a throwaway CA, whose behaviour each test switches (serve, fail, hang) and
//! whose calls they count. The audit service lives in `mock/audit.rs`.

mod audit;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keyhold_client::{ClientConfig, EjectionPolicy};
use keyhold_proto::v1::audit_service_server::AuditServiceServer;
use keyhold_proto::v1::cluster_service_server::{ClusterService, ClusterServiceServer};
use keyhold_proto::v1::key_service_server::{KeyService, KeyServiceServer};
use keyhold_proto::v1::*;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tonic::{Code, Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// A throwaway CA with one server and one client certificate.
pub(crate) struct Pki {
    pub(crate) ca_pem: String,
    server_cert: String,
    server_key: String,
    /// A certificate of the same CA with the nodes' names but no node URI: a web server's.
    web_cert: String,
    web_key: String,
    client_cert: String,
    client_key: String,
}

impl Pki {
    pub(crate) fn new() -> Self {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf = |names: Vec<String>, node: bool| {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(names).unwrap();
            if node {
                let uri = "keyhold://node/1".try_into().unwrap();
                params.subject_alt_names.push(SanType::URI(uri));
            }
            let cert = params.signed_by(&key, &issuer).unwrap();
            (cert.pem(), key.serialize_pem())
        };
        let names = ["localhost", "node-1", "node-2", "node-3", "127.0.0.1"];
        let (server_cert, server_key) = leaf(names.map(str::to_owned).to_vec(), true);
        let (web_cert, web_key) = leaf(names.map(str::to_owned).to_vec(), false);
        let (client_cert, client_key) = leaf(vec!["client".to_owned()], false);
        Pki {
            ca_pem: ca_cert.pem(),
            server_cert,
            server_key,
            web_cert,
            web_key,
            client_cert,
            client_key,
        }
    }

    /// A client config for `endpoints` with short ejection backoffs and no discovery.
    pub(crate) fn client_config(&self, endpoints: Vec<String>) -> ClientConfig {
        let mut config = ClientConfig::new(
            endpoints,
            self.ca_pem.clone().into_bytes(),
            self.client_cert.clone().into_bytes(),
            self.client_key.clone().into_bytes(),
        );
        config.discovery_interval = None;
        config.ejection = EjectionPolicy {
            consecutive_failures: 2,
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(200),
        };
        config
    }
}

/// How a mock answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Serve,
    Unavailable,
    Sealed,
    /// Refuses writes as a leader cut off from its quorum does: not made, safe to resend.
    NotWritten,
    Hang,
}

/// A running mock node. Dropping it stops the server.
pub(crate) struct MockNode {
    pub(crate) id: u64,
    pub(crate) addr: SocketAddr,
    pub(crate) state: Arc<State>,
    server: JoinHandle<()>,
}

/// What a mock node does and has seen.
pub(crate) struct State {
    pub(crate) id: u64,
    key_mode: Mutex<Mode>,
    status_mode: Mutex<Mode>,
    calls: Mutex<HashMap<&'static str, usize>>,
    min_indexes: Mutex<Vec<(&'static str, u64)>>,
    next_index: AtomicU64,
    /// The node list this node reports in `ClusterStatus`.
    pub(crate) peers: Mutex<Vec<NodeStatus>>,
    /// This node's audit trail, served by `ReadAudit` as it is.
    pub(crate) audit: Mutex<Vec<AuditEvent>>,
}

impl MockNode {
    pub(crate) async fn start(pki: &Pki, id: u64) -> MockNode {
        Self::start_as(pki, id, &pki.server_cert, &pki.server_key).await
    }

    /// A node that presents a certificate of the cluster CA that is not a node's.
    pub(crate) async fn start_impostor(pki: &Pki, id: u64) -> MockNode {
        Self::start_as(pki, id, &pki.web_cert, &pki.web_key).await
    }

    async fn start_as(pki: &Pki, id: u64, cert: &str, key: &str) -> MockNode {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            id,
            key_mode: Mutex::new(Mode::Serve),
            status_mode: Mutex::new(Mode::Serve),
            calls: Mutex::new(HashMap::new()),
            min_indexes: Mutex::new(Vec::new()),
            next_index: AtomicU64::new(100 * id),
            peers: Mutex::new(Vec::new()),
            audit: Mutex::new(Vec::new()),
        });
        let tls = ServerTlsConfig::new()
            .identity(Identity::from_pem(cert, key))
            .client_ca_root(Certificate::from_pem(&pki.ca_pem));
        let router = Server::builder()
            .tls_config(tls)
            .unwrap()
            .add_service(KeyServiceServer::new(Service(Arc::clone(&state))))
            .add_service(ClusterServiceServer::new(Service(Arc::clone(&state))))
            .add_service(AuditServiceServer::new(Service(Arc::clone(&state))));
        let incoming = TcpIncoming::from(listener);
        let server = tokio::spawn(async move {
            router.serve_with_incoming(incoming).await.unwrap();
        });
        MockNode {
            id,
            addr,
            state,
            server,
        }
    }

    pub(crate) fn endpoint(&self) -> String {
        format!("https://{}", self.addr)
    }

    pub(crate) fn status(&self, az: &str) -> NodeStatus {
        NodeStatus {
            id: self.id,
            availability_zone: az.to_owned(),
            api_addr: self.addr.to_string(),
            role: "follower".to_owned(),
            reachable: true,
            ..NodeStatus::default()
        }
    }
}

impl Drop for MockNode {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl State {
    pub(crate) fn set_key_mode(&self, mode: Mode) {
        *self.key_mode.lock().unwrap() = mode;
    }

    pub(crate) fn set_status_mode(&self, mode: Mode) {
        *self.status_mode.lock().unwrap() = mode;
    }

    /// How many `op` calls reached this node.
    pub(crate) fn calls(&self, op: &str) -> usize {
        self.calls.lock().unwrap().get(op).copied().unwrap_or(0)
    }

    /// The `min_index` of each read that reached this node, in order.
    pub(crate) fn min_indexes(&self) -> Vec<(&'static str, u64)> {
        self.min_indexes.lock().unwrap().clone()
    }

    /// Counts the call, then answers by the mode: `Ok(())` means serve.
    async fn enter(&self, op: &'static str, mode: &Mutex<Mode>) -> Result<(), Status> {
        *self.calls.lock().unwrap().entry(op).or_default() += 1;
        let mode = *mode.lock().unwrap();
        match mode {
            Mode::Serve => Ok(()),
            Mode::Unavailable => Err(Status::unavailable(format!("node {} is stale", self.id))),
            Mode::Sealed => {
                let message = format!("node {} is sealed: no cluster key yet", self.id);
                Err(Status::failed_precondition(message))
            }
            Mode::NotWritten => {
                let message = format!("node {} leads but lost its quorum", self.id);
                let details = ErrorDetails::with_error_info("NOT_WRITTEN", "keyhold", []);
                Err(Status::with_error_details(
                    Code::Unavailable,
                    message,
                    details,
                ))
            }
            Mode::Hang => std::future::pending().await,
        }
    }

    async fn key_call(&self, op: &'static str) -> Result<(), Status> {
        self.enter(op, &self.key_mode).await
    }

    async fn read(&self, op: &'static str, min_index: u64) -> Result<(), Status> {
        self.key_call(op).await?;
        self.min_indexes.lock().unwrap().push((op, min_index));
        Ok(())
    }

    fn key(&self, id: &str) -> KeyInfo {
        KeyInfo {
            id: id.to_owned(),
            algorithm: "ec-p256".into(),
            ..KeyInfo::default()
        }
    }

    fn write(&self, id: &str) -> KeyWriteResponse {
        let index = self.next_index.fetch_add(1, Ordering::SeqCst) + 1;
        KeyWriteResponse {
            key: Some(self.key(id)),
            index,
        }
    }
}

struct Service(Arc<State>);

#[tonic::async_trait]
impl KeyService for Service {
    async fn generate_key(
        &self,
        request: Request<GenerateKeyRequest>,
    ) -> Result<Response<KeyWriteResponse>, Status> {
        self.0.key_call("generate_key").await?;
        Ok(Response::new(self.0.write(&request.into_inner().label)))
    }

    async fn import_key(
        &self,
        request: Request<ImportKeyRequest>,
    ) -> Result<Response<KeyWriteResponse>, Status> {
        self.0.key_call("import_key").await?;
        Ok(Response::new(self.0.write(&request.into_inner().label)))
    }

    async fn get_key(
        &self,
        request: Request<GetKeyRequest>,
    ) -> Result<Response<GetKeyResponse>, Status> {
        let request = request.into_inner();
        self.0.read("get_key", request.min_index).await?;
        if request.key_id == "missing" {
            return Err(Status::not_found("key missing not found"));
        }
        Ok(Response::new(GetKeyResponse {
            key: Some(self.0.key(&request.key_id)),
        }))
    }

    async fn list_keys(
        &self,
        request: Request<ListKeysRequest>,
    ) -> Result<Response<ListKeysResponse>, Status> {
        self.0
            .read("list_keys", request.into_inner().min_index)
            .await?;
        Ok(Response::new(ListKeysResponse::default()))
    }

    async fn destroy_key(
        &self,
        _request: Request<DestroyKeyRequest>,
    ) -> Result<Response<DestroyKeyResponse>, Status> {
        self.0.key_call("destroy_key").await?;
        let index = self.0.next_index.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(Response::new(DestroyKeyResponse { index }))
    }

    async fn sign(&self, request: Request<SignRequest>) -> Result<Response<SignResponse>, Status> {
        self.0.read("sign", request.into_inner().min_index).await?;
        Ok(Response::new(SignResponse {
            signature: vec![7; 64],
            node_id: self.0.id,
        }))
    }

    async fn decrypt(
        &self,
        request: Request<DecryptRequest>,
    ) -> Result<Response<DecryptResponse>, Status> {
        self.0
            .read("decrypt", request.into_inner().min_index)
            .await?;
        Ok(Response::new(DecryptResponse {
            plaintext: vec![1; 48],
            node_id: self.0.id,
        }))
    }
}

#[tonic::async_trait]
impl ClusterService for Service {
    async fn init_cluster(
        &self,
        _request: Request<InitClusterRequest>,
    ) -> Result<Response<InitClusterResponse>, Status> {
        self.0.key_call("init_cluster").await?;
        let index = self.0.next_index.fetch_add(1, Ordering::SeqCst) + 1;
        let members = vec![self.0.id];
        Ok(Response::new(InitClusterResponse {
            cluster_id: "c-1".into(),
            index,
            members,
        }))
    }

    async fn cluster_status(
        &self,
        _request: Request<ClusterStatusRequest>,
    ) -> Result<Response<ClusterStatusResponse>, Status> {
        self.0.enter("cluster_status", &self.0.status_mode).await?;
        let nodes = self.0.peers.lock().unwrap().clone();
        let response = ClusterStatusResponse {
            cluster_id: "c-1".into(),
            leader_id: 1,
            nodes,
            node_id: self.0.id,
            initialized: true,
        };
        Ok(Response::new(response))
    }
}

/// Starts `count` nodes (ids 1..=count) that all report the same node list, node `i` in
/// zone `zones[i-1]`.
pub(crate) async fn cluster(pki: &Pki, zones: &[&str]) -> Vec<MockNode> {
    let mut nodes = Vec::new();
    for id in 1..=zones.len() as u64 {
        nodes.push(MockNode::start(pki, id).await);
    }
    let statuses: Vec<NodeStatus> = nodes
        .iter()
        .zip(zones)
        .map(|(node, az)| node.status(az))
        .collect();
    for node in &nodes {
        *node.state.peers.lock().unwrap() = statuses.clone();
    }
    nodes
}

/// Polls `condition` every 10 ms for up to `limit`; true as soon as it holds.
pub(crate) async fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
