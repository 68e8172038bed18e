//! `until_ready` against three in-process fake nodes serving `ClusterService` over mutual
//! TLS with the certificates `dev up` makes: checks the PKI works with rustls on both
//! sides, that a new cluster is initialized once, and that a sealed node holds readiness.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use keyhold_client::v1::cluster_service_server::{ClusterService, ClusterServiceServer};
use keyhold_client::v1::{
    ClusterStatusRequest, InitClusterRequest, InitClusterResponse, NodeStatus,
};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tonic::{Request, Response, Status};

use super::*;
use crate::dev::layout::{self, Layout};

/// Shared state of the fake cluster.
#[derive(Default)]
struct Shared {
    initialized: AtomicBool,
    init_calls: AtomicUsize,
    sealed_node: Option<u64>,
}

struct FakeNode {
    id: u64,
    shared: Arc<Shared>,
}

#[tonic::async_trait]
impl ClusterService for FakeNode {
    async fn init_cluster(
        &self,
        _: Request<InitClusterRequest>,
    ) -> Result<Response<InitClusterResponse>, Status> {
        self.shared.init_calls.fetch_add(1, Ordering::SeqCst);
        if self.shared.initialized.swap(true, Ordering::SeqCst) {
            return Err(Status::already_exists("cluster is already initialized"));
        }
        let members = vec![1, 2, 3];
        Ok(Response::new(InitClusterResponse {
            cluster_id: "c-fake".into(),
            index: 1,
            members,
        }))
    }

    async fn cluster_status(
        &self,
        _: Request<ClusterStatusRequest>,
    ) -> Result<Response<ClusterStatusResponse>, Status> {
        let initialized = self.shared.initialized.load(Ordering::SeqCst);
        let nodes = (1..=3)
            .map(|id| NodeStatus {
                id,
                role: if id == 1 { "leader" } else { "follower" }.into(),
                reachable: true,
                sealed: self.shared.sealed_node == Some(id),
                ..Default::default()
            })
            .collect();
        Ok(Response::new(ClusterStatusResponse {
            cluster_id: if initialized {
                "c-fake".into()
            } else {
                String::new()
            },
            leader_id: if initialized { 1 } else { 0 },
            nodes,
            node_id: self.id,
            initialized,
        }))
    }
}

/// A dev layout whose nodes are fake servers using the layout's own node certificates.
async fn fake_cluster(dir: &Path, shared: &Arc<Shared>) -> Layout {
    let mut layout = layout::prepare(dir, 0).unwrap();
    let pki = layout.pki_dir();
    let ca = std::fs::read(pki.join("ca.pem")).unwrap();
    for node in &mut layout.nodes {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        node.api_addr = listener.local_addr().unwrap().to_string();
        let cert = std::fs::read(pki.join(format!("node-{}.pem", node.id))).unwrap();
        let key = std::fs::read(pki.join(format!("node-{}.key", node.id))).unwrap();
        let tls = ServerTlsConfig::new()
            .identity(Identity::from_pem(cert, key))
            .client_ca_root(Certificate::from_pem(&ca));
        let service = FakeNode {
            id: node.id,
            shared: shared.clone(),
        };
        let server = Server::builder()
            .tls_config(tls)
            .unwrap()
            .add_service(ClusterServiceServer::new(service))
            .serve_with_incoming(TcpListenerStream::new(listener));
        tokio::spawn(server);
    }
    layout
}

#[tokio::test]
async fn a_new_cluster_is_initialized_once_and_reported_ready() {
    let tmp = tempfile::tempdir().unwrap();
    let shared = Arc::new(Shared::default());
    let layout = fake_cluster(tmp.path(), &shared).await;

    let mut supervisor = Supervisor::new();
    let status = until_ready(&layout, &mut supervisor, Duration::from_secs(20))
        .await
        .unwrap();

    assert_eq!(status.cluster_id, "c-fake");
    assert_eq!(status.leader_id, 1);
    assert_eq!(shared.init_calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_initialized_cluster_is_not_initialized_again() {
    let tmp = tempfile::tempdir().unwrap();
    let shared = Arc::new(Shared::default());
    shared.initialized.store(true, Ordering::SeqCst);
    let layout = fake_cluster(tmp.path(), &shared).await;

    let mut supervisor = Supervisor::new();
    until_ready(&layout, &mut supervisor, Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(shared.init_calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_node_that_stays_sealed_ends_the_wait_with_what_was_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let shared = Arc::new(Shared {
        sealed_node: Some(3),
        ..Default::default()
    });
    shared.initialized.store(true, Ordering::SeqCst);
    let layout = fake_cluster(tmp.path(), &shared).await;

    let mut supervisor = Supervisor::new();
    let err = until_ready(&layout, &mut supervisor, Duration::from_secs(1))
        .await
        .unwrap_err();
    let DevError::NotReady {
        waiting_for, secs, ..
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!((waiting_for.as_str(), *secs), ("node 3 to unseal", 1));
    assert!(err.to_string().contains("node-*/hsmd.log"), "{err}");
}
