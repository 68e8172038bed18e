//! kill -9 the leader: a write sent to a follower at that moment waits for the new
//! leader instead of failing, a new leader is elected, every acknowledged key still signs,
//! new keys can be made, and the old leader catches up (from a snapshot: the log is purged
//! aggressively here) when restarted. With two nodes gone, writes fail UNAVAILABLE.

#![allow(clippy::unwrap_used)] // a test fails by panicking

use std::time::Duration;

use keyhold_cluster_tests::openssl::{spki_to_pem, verify};
use keyhold_cluster_tests::ops::{generate, scheme_for, sign};
use keyhold_cluster_tests::{Cluster, ClusterOptions, wait_until};
use keyhold_proto::v1::GenerateKeyRequest;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_loses_no_key_and_the_old_leader_catches_up() {
    let raft = "snapshot_after_logs = 4\nkeep_logs_after_snapshot = 0".to_owned();
    let mut cluster = Cluster::start(ClusterOptions {
        raft,
        ..Default::default()
    })
    .await;
    let scratch = tempfile::tempdir().unwrap();
    let msg = b"failover";

    eprintln!("--- acknowledged keys before the failure");
    let mut keys = Vec::new();
    for algorithm in ["ec-p256", "ed25519", "rsa-2048", "ec-p384"] {
        keys.push(generate(&cluster, 1, algorithm, "before").await);
    }

    eprintln!("--- kill -9 the leader");
    let old_leader = cluster.leader().await;
    let term_before = cluster
        .status(old_leader)
        .await
        .unwrap()
        .nodes
        .iter()
        .map(|n| n.term)
        .max()
        .unwrap();
    cluster.kill(old_leader);
    let survivors: Vec<u64> = (1..=3).filter(|&n| n != old_leader).collect();

    eprintln!("--- a write sent to a survivor at once waits for the election and commits");
    keys.push(generate(&cluster, survivors[0], "ec-p256", "during-election").await);
    let new_leader = wait_until("a new leader", Duration::from_secs(20), || async {
        let s = cluster.status(survivors[0]).await?;
        (s.leader_id != 0 && s.leader_id != old_leader).then_some(s.leader_id)
    })
    .await;
    assert!(survivors.contains(&new_leader));
    let term_after = cluster
        .status(new_leader)
        .await
        .unwrap()
        .nodes
        .iter()
        .map(|n| n.term)
        .max()
        .unwrap();
    assert!(term_after > term_before);

    eprintln!("--- every acknowledged key signs on the survivors");
    for (key, index) in &keys {
        let pem = spki_to_pem(scratch.path(), &key.id, &key.public_key_der);
        for &node in &survivors {
            let scheme = scheme_for(&key.algorithm);
            let sig = sign(&cluster, node, &key.id, scheme, msg, *index)
                .await
                .unwrap();
            assert!(verify(scratch.path(), &pem, scheme, msg, &sig));
        }
    }

    eprintln!("--- new keys can be made, through either survivor");
    let mut after = Vec::new();
    for (i, via) in survivors.iter().cycle().take(6).enumerate() {
        after.push(generate(&cluster, *via, "ec-p256", &format!("after-{i}")).await);
    }
    let last_index = after.last().unwrap().1;

    eprintln!("--- the old leader restarts and catches up");
    cluster.restart(old_leader).await;
    wait_until(
        "the old leader to apply the new writes",
        Duration::from_secs(30),
        || async {
            let s = cluster.status(old_leader).await?;
            let me = s.nodes.iter().find(|n| n.id == old_leader)?;
            (me.applied_index >= last_index && !me.sealed).then_some(())
        },
    )
    .await;
    let log = cluster.log(old_leader);
    assert!(
        log.contains("snapshot installed"),
        "the log was purged: catch-up needs a snapshot\n{log}"
    );
    for (key, index) in keys.iter().chain(after.iter()) {
        let scheme = scheme_for(&key.algorithm);
        sign(&cluster, old_leader, &key.id, scheme, msg, *index)
            .await
            .unwrap();
    }

    eprintln!("--- with two nodes down, writes are refused UNAVAILABLE");
    let lone = survivors[0];
    cluster.kill(survivors[1]);
    cluster.kill(old_leader);
    let req = GenerateKeyRequest {
        algorithm: "ec-p256".into(),
        label: "no-quorum".into(),
        usage: String::new(),
    };
    let err = cluster
        .key_client(lone)
        .generate_key(req.clone())
        .await
        .expect_err("no quorum");
    assert_eq!(err.code(), tonic::Code::Unavailable, "{err:?}");
    assert!(err.message().contains("quorum"), "{}", err.message());

    eprintln!("--- a caller's 2 s deadline gets the definite UNAVAILABLE before it runs out");
    let mut request = tonic::Request::new(req);
    request.set_timeout(Duration::from_secs(2));
    let started = std::time::Instant::now();
    let err = cluster
        .key_client(lone)
        .generate_key(request)
        .await
        .expect_err("no quorum");
    assert_eq!(err.code(), tonic::Code::Unavailable, "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}
