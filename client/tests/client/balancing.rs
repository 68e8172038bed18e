//! Node choice and discovery: zone preference, read-your-writes, node lists learned from
//! `ClusterStatus`, and errors that name the node.

use std::time::Duration;

use keyhold_client::{Client, Error};
use keyhold_proto::v1::{
    DecryptRequest, DestroyKeyRequest, GenerateKeyRequest, GetKeyRequest, ListKeysRequest,
};
use tokio::task::JoinSet;

use crate::mock::{MockNode, Mode, Pki, cluster};
use crate::sign_request;

fn assert_shareable<T: Send + Sync + Clone + 'static>() {}

#[test]
fn a_client_can_be_shared_between_tasks() {
    assert_shareable::<Client>();
}

#[tokio::test]
async fn calls_go_to_the_healthy_node_in_the_client_zone() {
    let pki = Pki::new();
    let nodes = cluster(&pki, &["az-a", "az-b", "az-c"]).await;
    let mut config = pki.client_config(vec![nodes[0].endpoint()]);
    config.availability_zone = Some("az-b".into());
    config.discovery_interval = Some(Duration::from_secs(60));
    let client = Client::connect(config).await.unwrap();

    let mut calls = JoinSet::new();
    for _ in 0..20 {
        let client = client.clone();
        calls.spawn(async move { client.sign(sign_request()).await });
    }
    while let Some(result) = calls.join_next().await {
        assert_eq!(result.unwrap().unwrap().node_id, 2);
    }
    assert_eq!(nodes[1].state.calls("sign"), 20);
    assert_eq!(
        nodes[0].state.calls("sign") + nodes[2].state.calls("sign"),
        0
    );

    // Without a healthy local node, calls go to the other zones.
    nodes[1].state.set_key_mode(Mode::Unavailable);
    for _ in 0..10 {
        assert_ne!(client.sign(sign_request()).await.unwrap().node_id, 2);
    }
}

#[tokio::test]
async fn reads_wait_for_this_clients_last_write() {
    let pki = Pki::new();
    let node = MockNode::start(&pki, 1).await;
    let client = Client::connect(pki.client_config(vec![node.endpoint()]))
        .await
        .unwrap();

    client.sign(sign_request()).await.unwrap();
    let generate = GenerateKeyRequest {
        algorithm: "rsa-2048".into(),
        ..Default::default()
    };
    let written = client.generate_key(generate).await.unwrap();
    assert_eq!(written.index, 101);
    assert_eq!(client.last_write_index(), 101);

    client.sign(sign_request()).await.unwrap();
    client
        .get_key(GetKeyRequest {
            key_id: "k-1".into(),
            min_index: 0,
        })
        .await
        .unwrap();
    client.list_keys(ListKeysRequest::default()).await.unwrap();
    client
        .decrypt(DecryptRequest {
            key_id: "k-1".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut explicit = sign_request();
    explicit.min_index = 7;
    client.sign(explicit).await.unwrap();
    let destroyed = client
        .destroy_key(DestroyKeyRequest {
            key_id: "k-1".into(),
        })
        .await;
    assert_eq!(destroyed.unwrap().index, 102);
    client.list_keys(ListKeysRequest::default()).await.unwrap();

    let seen = node.state.min_indexes();
    let expected = [
        ("sign", 0),
        ("sign", 101),
        ("get_key", 101),
        ("list_keys", 101),
        ("decrypt", 101),
        ("sign", 7),
        ("list_keys", 102),
    ];
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn discovery_learns_nodes_missing_from_the_seed_list() {
    let pki = Pki::new();
    let nodes = cluster(&pki, &["az-a", "az-b", "az-c"]).await;
    let mut config = pki.client_config(vec![nodes[0].endpoint()]);
    config.discovery_interval = Some(Duration::from_secs(60));
    let client = Client::connect(config).await.unwrap();

    let mut endpoints = client.endpoints();
    endpoints.sort();
    let mut expected: Vec<String> = nodes.iter().map(MockNode::endpoint).collect();
    expected.sort();
    assert_eq!(endpoints, expected);

    let status = client.cluster_status().await.unwrap();
    assert_eq!(status.nodes.len(), 3);
    assert!(status.initialized);
}

#[tokio::test]
async fn a_failed_discovery_leaves_the_seeds_in_use() {
    let pki = Pki::new();
    let node = MockNode::start(&pki, 1).await;
    node.state.set_status_mode(Mode::Unavailable);
    let mut config = pki.client_config(vec![node.endpoint()]);
    config.discovery_interval = Some(Duration::from_secs(60));
    config.call_timeout = Duration::from_secs(1);
    let client = Client::connect(config).await.unwrap();

    assert_eq!(client.endpoints(), [node.endpoint()]);
    assert_eq!(client.sign(sign_request()).await.unwrap().node_id, 1);
}

#[tokio::test]
async fn a_request_error_names_the_node_and_is_not_retried() {
    let pki = Pki::new();
    let nodes = cluster(&pki, &["az-a", "az-b"]).await;
    let mut config = pki.client_config(vec![nodes[0].endpoint()]);
    config.discovery_interval = Some(Duration::from_secs(60));
    let client = Client::connect(config).await.unwrap();

    let request = GetKeyRequest {
        key_id: "missing".into(),
        min_index: 0,
    };
    let err = client.get_key(request).await.unwrap_err();
    let Error::NotFound { origin, message } = &err else {
        panic!("unexpected {err:?}")
    };
    assert_eq!(message, "key missing not found");
    let node = nodes.iter().find(|n| Some(n.id) == origin.node_id).unwrap();
    assert_eq!(origin.endpoint, node.endpoint());
    assert!(!err.is_retryable());
    let reads: usize = nodes.iter().map(|n| n.state.calls("get_key")).sum();
    assert_eq!(reads, 1);
}

#[tokio::test]
async fn init_cluster_records_its_write_index() {
    let pki = Pki::new();
    let node = MockNode::start(&pki, 3).await;
    let client = Client::connect(pki.client_config(vec![node.endpoint()]))
        .await
        .unwrap();

    let init = client.init_cluster().await.unwrap();
    assert_eq!(init.members, [3]);
    assert_eq!(client.last_write_index(), init.index);
}
