//! A leader cut off from the other nodes, while clients still reach it: once no quorum
//! has answered it for an election timeout it refuses writes at once, saying they were
//! not made (`UNAVAILABLE` with the `NOT_WRITTEN` reason), instead of holding them until
//! the heal or a timeout with an unknown outcome. A client that knows the other nodes
//! sends such a write there and it commits. After the heal the refused write exists
//! nowhere, and the old leader has every key.

#![allow(clippy::unwrap_used)] // a test fails by panicking

use std::time::{Duration, Instant};

use keyhold_client::Client;
use keyhold_cluster_tests::network::Isolation;
use keyhold_cluster_tests::ops::sign;
use keyhold_cluster_tests::{Cluster, ClusterOptions, wait_until};
use keyhold_proto::v1::{GenerateKeyRequest, ListKeysRequest};
use tonic_types::StatusExt;

fn request(label: &str) -> GenerateKeyRequest {
    GenerateKeyRequest {
        algorithm: "ec-p256".into(),
        label: label.into(),
        usage: "sign".into(),
    }
}

/// A client that knows every node and prefers `zone`, as a web server there would.
async fn client_in_zone(cluster: &Cluster, zone: &str) -> Client {
    let mut config = cluster.web_client_config().unwrap();
    config.availability_zone = Some(zone.to_owned());
    Client::connect(config).await.unwrap()
}

async fn labels_on(cluster: &Cluster, id: u64, label: &str) -> usize {
    let request = ListKeysRequest {
        page_size: 0,
        page_token: String::new(),
        label: label.into(),
        min_index: 0,
    };
    let reply = cluster.key_client(id).list_keys(request).await.unwrap();
    reply.into_inner().keys.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_leader_refuses_writes_as_not_written_and_clients_go_elsewhere() {
    let cluster = Cluster::start(ClusterOptions {
        proxied: true,
        ..Default::default()
    })
    .await;
    let old = cluster.leader().await;
    let old_zone = ["az-a", "az-b", "az-c"][(old - 1) as usize];
    let others: Vec<u64> = (1..=3).filter(|&n| n != old).collect();
    let network = cluster.network().unwrap();
    let client = client_in_zone(&cluster, old_zone).await;

    eprintln!("--- cut node {old}, the leader, off from its peers; clients still reach it");
    network.isolate_from_peers(old, Isolation::Cut);
    let new_leader = wait_until(
        "the majority to elect a leader",
        Duration::from_secs(20),
        || {
            let cluster = &cluster;
            let others = &others;
            async move {
                let status = cluster.status(others[0]).await?;
                others
                    .contains(&status.leader_id)
                    .then_some(status.leader_id)
            }
        },
    )
    .await;

    eprintln!("--- the old leader refuses a write at once and says it was not made");
    let started = Instant::now();
    let refused = cluster
        .key_client(old)
        .generate_key(request("refused-by-isolated-leader"))
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
    assert!(
        elapsed < Duration::from_secs(1),
        "refused after {elapsed:?}"
    );
    let info = refused.get_error_details().error_info().cloned().unwrap();
    assert_eq!(
        (info.reason.as_str(), info.domain.as_str()),
        ("NOT_WRITTEN", "keyhold")
    );
    assert!(
        refused.message().contains("was not made"),
        "{}",
        refused.message()
    );

    eprintln!("--- a client in the old leader's zone sends its write elsewhere; it commits");
    let made = client.generate_key(request("made-during-isolation")).await;
    let key = made.unwrap().key.unwrap();
    assert!(
        cluster.log(old).contains("write refused: quorum lost"),
        "the client's write did not try node {old} first"
    );

    eprintln!("--- heal: the old leader follows node {new_leader} and has every key");
    network.heal();
    wait_until(
        "the old leader to follow",
        Duration::from_secs(20),
        || async {
            let status = cluster.status(old).await?;
            (status.leader_id == new_leader).then_some(())
        },
    )
    .await;
    let index = client.last_write_index();
    for id in 1..=3 {
        sign(&cluster, id, &key.id, "ecdsa-sha256", b"after heal", index)
            .await
            .unwrap_or_else(|err| panic!("node {id}: {err:?}"));
        assert_eq!(
            labels_on(&cluster, id, "refused-by-isolated-leader").await,
            0
        );
    }
}
