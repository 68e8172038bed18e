//! Mutual TLS: a client without a certificate, or with one from another CA, is refused
//! before any operation runs (under TLS 1.3 `connect()` succeeds; the first RPC fails).
//! A client certificate from the right CA cannot speak the node-to-node protocol.

#![allow(clippy::unwrap_used)] // a test fails by panicking

use std::process::Command;

use keyhold_cluster_tests::openssl::run;
use keyhold_cluster_tests::{Cluster, ClusterOptions};
use keyhold_proto::raft::NodeStatusRequest;
use keyhold_proto::raft::raft_service_client::RaftServiceClient;
use keyhold_proto::v1::key_service_client::KeyServiceClient;
use keyhold_proto::v1::{GenerateKeyRequest, ListKeysRequest};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

fn generate() -> GenerateKeyRequest {
    GenerateKeyRequest {
        algorithm: "ec-p256".into(),
        label: "should-not-exist".into(),
        usage: String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_without_a_valid_certificate_are_refused_before_any_operation() {
    let cluster = Cluster::start(ClusterOptions::default()).await;
    let pki = cluster.pki_dir();
    let ca = Certificate::from_pem(std::fs::read(pki.join("ca.pem")).unwrap());

    tracing_phase("no client certificate");
    {
        let tls = ClientTlsConfig::new()
            .ca_certificate(ca.clone())
            .domain_name("localhost");
        let mut client = KeyServiceClient::new(cluster.channel(1, &tls));
        let err = client
            .generate_key(generate())
            .await
            .expect_err("must be refused");
        assert_ne!(err.code(), tonic::Code::Ok);
    }

    tracing_phase("a certificate from another CA");
    {
        let other = tempfile::tempdir().unwrap();
        let hsmctl = keyhold_cluster_tests::binaries::binaries().hsmctl.clone();
        run(Command::new(hsmctl)
            .args(["pki", "init", "--nodes", "1", "--dir"])
            .arg(other.path()));
        let read = |n: &str| std::fs::read(other.path().join(n)).unwrap();
        let tls = ClientTlsConfig::new()
            .ca_certificate(ca.clone())
            .identity(Identity::from_pem(read("client.pem"), read("client.key")))
            .domain_name("localhost");
        let mut client = KeyServiceClient::new(cluster.channel(1, &tls));
        let err = client
            .generate_key(generate())
            .await
            .expect_err("must be refused");
        assert_ne!(err.code(), tonic::Code::Ok);

        // And a client that trusts only the other CA refuses our nodes.
        let tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(read("ca.pem")))
            .identity(Identity::from_pem(read("client.pem"), read("client.key")))
            .domain_name("localhost");
        let mut client = KeyServiceClient::new(cluster.channel(1, &tls));
        assert!(client.list_keys(ListKeysRequest::default()).await.is_err());
    }

    tracing_phase("a client certificate on the node-to-node port");
    {
        let url = format!("https://127.0.0.1:{}", cluster.node(1).raft_port);
        let channel = Endpoint::from_shared(url)
            .unwrap()
            .tls_config(cluster.client_tls().domain_name("node-1"))
            .unwrap()
            .connect_lazy();
        let mut raft = RaftServiceClient::new(channel);
        let err = raft
            .node_status(NodeStatusRequest {})
            .await
            .expect_err("client certs cannot speak raft");
        assert_eq!(err.code(), tonic::Code::PermissionDenied, "{err:?}");
    }

    tracing_phase("nothing was created");
    {
        let keys = cluster
            .key_client(1)
            .list_keys(ListKeysRequest::default())
            .await
            .unwrap()
            .into_inner()
            .keys;
        assert!(keys.is_empty(), "refused clients created keys: {keys:?}");
    }
}

fn tracing_phase(what: &str) {
    eprintln!("--- {what}");
}
