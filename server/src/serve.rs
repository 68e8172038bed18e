//! Binds the two mutual-TLS listeners (client API and node-to-node) and runs them until
//! shutdown.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use keyhold_proto::raft::raft_service_server::RaftServiceServer;
use keyhold_proto::v1::audit_service_server::AuditServiceServer;
use keyhold_proto::v1::cluster_service_server::ClusterServiceServer;
use keyhold_proto::v1::key_service_server::KeyServiceServer;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Server;

use crate::api::{AuditApi, ClusterApi, KeyApi};
use crate::audit::AuditLog;
use crate::crypto::MAX_MESSAGE_LEN;
use crate::node::Node;
use crate::raft::network::MAX_RAFT_MESSAGE;
use crate::raft::service::RaftServer;

/// Serves both listeners until `shutdown` completes, then stops Raft.
pub async fn serve(
    node: Arc<Node>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let config = node.config().clone();
    let api_listener = bind(&config.api_addr).await?;
    let raft_listener = bind(&config.raft_addr).await?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };

    let audit = AuditLog::open(&config.data_dir, config.node_id).context("audit trail")?;
    let tls = node.tls().server_config();
    let keys = KeyServiceServer::new(KeyApi::new(node.clone(), audit.clone()))
        .max_decoding_message_size(MAX_MESSAGE_LEN + 64 * 1024);
    let api = Server::builder()
        .tls_config(tls.clone())
        .context("API TLS config")?
        .tcp_nodelay(true)
        .add_service(keys)
        .add_service(ClusterServiceServer::new(ClusterApi::new(
            node.clone(),
            audit.clone(),
        )))
        .add_service(AuditServiceServer::new(AuditApi::new(
            config.node_id,
            audit,
        )))
        .serve_with_incoming_shutdown(TcpListenerStream::new(api_listener), stopped());

    let raft_service = RaftServiceServer::new(RaftServer::new(node.clone()))
        .max_decoding_message_size(MAX_RAFT_MESSAGE)
        .max_encoding_message_size(MAX_RAFT_MESSAGE);
    let raft = Server::builder()
        .tls_config(tls)
        .context("node-to-node TLS config")?
        .tcp_nodelay(true)
        .add_service(raft_service)
        .serve_with_incoming_shutdown(TcpListenerStream::new(raft_listener), stopped());

    tracing::info!(
        node_id = config.node_id,
        az = %config.availability_zone,
        api = %config.api_addr,
        raft = %config.raft_addr,
        "hsmd listening"
    );
    let api_task = tokio::spawn(api);
    let raft_task = tokio::spawn(raft);
    shutdown.await;
    tracing::info!("shutting down");
    let _ = stop_tx.send(true);
    node.shutdown().await;
    api_task
        .await
        .context("API server task")?
        .context("API server")?;
    raft_task
        .await
        .context("raft server task")?
        .context("raft server")?;
    Ok(())
}

async fn bind(addr: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))
}
