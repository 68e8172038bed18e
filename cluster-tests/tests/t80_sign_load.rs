//! A saturating sign load on all three nodes for 30 seconds causes no leader change:
//! crypto runs on its own bounded pool, so Raft heartbeats are never starved.

#![allow(clippy::unwrap_used)] // a test fails by panicking

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use keyhold_cluster_tests::ops::generate;
use keyhold_cluster_tests::{Cluster, ClusterOptions};
use keyhold_proto::v1::SignRequest;
use keyhold_proto::v1::sign_request::Input;

const LOAD: Duration = Duration::from_secs(30);
const CALLERS_PER_NODE: usize = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saturating_sign_load_causes_no_leader_change() {
    let cluster = Cluster::start(ClusterOptions::default()).await;
    let (rsa, rsa_index) = generate(&cluster, 1, "rsa-2048", "load-rsa").await;
    let (ec, ec_index) = generate(&cluster, 1, "ec-p256", "load-ec").await;
    let min_index = rsa_index.max(ec_index);
    let leader = cluster.leader().await;
    let term = cluster
        .status(leader)
        .await
        .unwrap()
        .nodes
        .iter()
        .map(|n| n.term)
        .max()
        .unwrap();

    eprintln!("--- {CALLERS_PER_NODE} callers per node for {LOAD:?}");
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + LOAD;
    let mut tasks = Vec::new();
    for node in 1..=3u64 {
        for caller in 0..CALLERS_PER_NODE {
            let mut client = cluster.key_client(node);
            let (key, scheme) = if caller % 2 == 0 {
                (&rsa, "rsa-pss-sha256")
            } else {
                (&ec, "ecdsa-sha256")
            };
            let key_id = key.id.clone();
            let (ok, failed) = (ok.clone(), failed.clone());
            tasks.push(tokio::spawn(async move {
                while Instant::now() < until {
                    let req = SignRequest {
                        key_id: key_id.clone(),
                        scheme: scheme.into(),
                        input: Some(Input::Message(b"load".to_vec())),
                        min_index,
                    };
                    match client.sign(req).await {
                        Ok(_) => ok.fetch_add(1, Ordering::Relaxed),
                        Err(e) => {
                            eprintln!("sign failed on node {node}: {e:?}");
                            failed.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
            }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    eprintln!("--- {ok} signatures, {failed} failures");

    assert_eq!(failed, 0);
    assert!(ok > 1000, "the load must be real: only {ok} signatures");
    for node in 1..=3 {
        let status = cluster.status(node).await.unwrap();
        assert_eq!(status.leader_id, leader, "node {node} sees another leader");
        for n in &status.nodes {
            assert_eq!(
                n.term, term,
                "term changed on node {}: an election happened",
                n.id
            );
        }
    }
}
