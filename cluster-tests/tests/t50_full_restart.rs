//! Stop all three nodes (SIGTERM, clean exit) and start them again: every key is back,
//! from snapshots and the log, and signs.

#![allow(clippy::unwrap_used)] // a test fails by panicking

use keyhold_cluster_tests::openssl::{spki_to_pem, verify};
use keyhold_cluster_tests::ops::{generate, scheme_for, sign};
use keyhold_cluster_tests::{Cluster, ClusterOptions};
use keyhold_proto::v1::{DestroyKeyRequest, ListKeysRequest};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_key_survives_a_full_cluster_restart() {
    let raft = "snapshot_after_logs = 5\nkeep_logs_after_snapshot = 2".to_owned();
    let mut cluster = Cluster::start(ClusterOptions {
        raft,
        ..Default::default()
    })
    .await;
    let scratch = tempfile::tempdir().unwrap();

    eprintln!("--- keys through every node, one destroyed");
    let mut keys = Vec::new();
    for (i, algorithm) in [
        "ec-p256", "ed25519", "rsa-2048", "ec-p384", "ec-p256", "ed25519", "rsa-3072",
    ]
    .iter()
    .enumerate()
    {
        keys.push(
            generate(
                &cluster,
                (i % 3) as u64 + 1,
                algorithm,
                &format!("restart-{i}"),
            )
            .await,
        );
    }
    let destroyed = keys.remove(0).0;
    let req = DestroyKeyRequest {
        key_id: destroyed.id.clone(),
    };
    cluster.key_client(3).destroy_key(req).await.unwrap();

    eprintln!("--- stop every node cleanly");
    for id in 1..=3 {
        assert!(
            cluster.terminate(id).await,
            "node {id} did not exit cleanly:\n{}",
            cluster.log(id)
        );
    }

    eprintln!("--- start them again");
    for id in 1..=3 {
        cluster.spawn(id);
    }
    cluster.wait_healthy().await;

    eprintln!("--- every key is back and signs on every node; the destroyed one stays gone");
    let listed = cluster
        .key_client(2)
        .list_keys(ListKeysRequest::default())
        .await
        .unwrap()
        .into_inner();
    let mut listed_ids: Vec<_> = listed.keys.iter().map(|k| k.id.clone()).collect();
    let mut expected: Vec<_> = keys.iter().map(|(k, _)| k.id.clone()).collect();
    listed_ids.sort();
    expected.sort();
    assert_eq!(listed_ids, expected);
    for (key, index) in &keys {
        let pem = spki_to_pem(scratch.path(), &key.id, &key.public_key_der);
        for node in 1..=3 {
            let scheme = scheme_for(&key.algorithm);
            let sig = sign(&cluster, node, &key.id, scheme, b"after restart", *index)
                .await
                .unwrap();
            assert!(verify(scratch.path(), &pem, scheme, b"after restart", &sig));
        }
    }
    let err = sign(&cluster, 1, &destroyed.id, "ecdsa-sha256", b"x", 0)
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
}
