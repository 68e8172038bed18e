//! Keys of every algorithm, generated through one node, sign on every node at once
//! (read-your-writes via the returned index), and openssl verifies every signature.
//! A write sent to a follower is forwarded to the leader. A follower that lags behind the
//! quorum still finds a key acknowledged a moment ago, without being given its index.

#![allow(clippy::unwrap_used)] // a test fails by panicking

use std::time::Duration;

use keyhold_cluster_tests::openssl::{spki_to_pem, verify, verify_ecdsa_digest};
use keyhold_cluster_tests::ops::{generate, sign};
use keyhold_cluster_tests::proxy::Direction;
use keyhold_cluster_tests::{Cluster, ClusterOptions};
use keyhold_proto::v1::sign_request::Input;
use keyhold_proto::v1::{GenerateKeyRequest, GetKeyRequest, ListKeysRequest, SignRequest};

const ALGORITHMS: [(&str, &[&str]); 6] = [
    ("ec-p256", &["ecdsa-sha256", "ecdsa-sha384"]),
    ("ec-p384", &["ecdsa-sha384", "ecdsa-sha256"]),
    ("ed25519", &["ed25519"]),
    (
        "rsa-2048",
        &[
            "rsa-pkcs1-sha256",
            "rsa-pkcs1-sha384",
            "rsa-pkcs1-sha512",
            "rsa-pss-sha256",
            "rsa-pss-sha384",
            "rsa-pss-sha512",
        ],
    ),
    ("rsa-3072", &["rsa-pss-sha256"]),
    ("rsa-4096", &["rsa-pkcs1-sha256"]),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_of_every_algorithm_sign_on_every_node_and_verify_with_openssl() {
    let cluster = Cluster::start(ClusterOptions::default()).await;
    let scratch = tempfile::tempdir().unwrap();
    let message = b"keyhold signs this message".to_vec();

    for (algorithm, schemes) in ALGORITHMS {
        let label = format!("t10-{algorithm}");
        let req = GenerateKeyRequest {
            algorithm: algorithm.into(),
            label: label.clone(),
            usage: String::new(),
        };
        let written = cluster
            .key_client(1)
            .generate_key(req)
            .await
            .unwrap()
            .into_inner();
        let key = written.key.unwrap();
        assert_eq!(key.algorithm, algorithm);
        assert_eq!(key.label, label);
        assert_eq!(key.usage, "sign");
        assert!(written.index > 0 && key.created_index == written.index);
        let pem = spki_to_pem(scratch.path(), &key.id, &key.public_key_der);

        for node in 1..=3 {
            for scheme in schemes {
                let req = SignRequest {
                    key_id: key.id.clone(),
                    scheme: scheme.to_string(),
                    input: Some(Input::Message(message.clone())),
                    min_index: written.index,
                };
                let signed = cluster
                    .key_client(node)
                    .sign(req)
                    .await
                    .unwrap()
                    .into_inner();
                assert_eq!(signed.node_id, node, "the node asked must sign");
                assert!(
                    verify(scratch.path(), &pem, scheme, &message, &signed.signature),
                    "openssl rejected {scheme} from node {node} for {algorithm}"
                );
                let mut tampered = message.clone();
                tampered[0] ^= 1;
                assert!(!verify(
                    scratch.path(),
                    &pem,
                    scheme,
                    &tampered,
                    &signed.signature
                ));
            }
        }
    }

    let listed = cluster
        .key_client(3)
        .list_keys(ListKeysRequest {
            page_size: 0,
            page_token: String::new(),
            label: "t10-ed25519".into(),
            min_index: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.keys.len(), 1);
    assert_eq!(listed.keys[0].algorithm, "ed25519");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_sent_to_a_follower_is_forwarded_and_readable_everywhere() {
    let cluster = Cluster::start(ClusterOptions::default()).await;
    let leader = cluster.leader().await;
    let follower = (1..=3).find(|&n| n != leader).unwrap();

    let req = GenerateKeyRequest {
        algorithm: "ec-p256".into(),
        label: "forwarded".into(),
        usage: "sign".into(),
    };
    let written = cluster
        .key_client(follower)
        .generate_key(req)
        .await
        .unwrap()
        .into_inner();
    let key = written.key.unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let pem = spki_to_pem(scratch.path(), &key.id, &key.public_key_der);

    for node in 1..=3 {
        let got = cluster
            .key_client(node)
            .get_key(GetKeyRequest {
                key_id: key.id.clone(),
                min_index: written.index,
            })
            .await
            .unwrap()
            .into_inner()
            .key
            .unwrap();
        assert_eq!(got.id, key.id);
        assert_eq!(got.public_key_der, key.public_key_der);
        let digest = vec![7u8; 32];
        let req = SignRequest {
            key_id: key.id.clone(),
            scheme: "ecdsa-sha256".into(),
            input: Some(Input::Digest(digest)),
            min_index: written.index,
        };
        let signed = cluster
            .key_client(node)
            .sign(req)
            .await
            .unwrap()
            .into_inner();
        assert!(verify_ecdsa_digest(
            scratch.path(),
            &pem,
            &[7u8; 32],
            &signed.signature
        ));
        assert!(!verify_ecdsa_digest(
            scratch.path(),
            &pem,
            &[8u8; 32],
            &signed.signature
        ));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_follower_finds_a_key_acknowledged_a_moment_ago_without_min_index() {
    let cluster = Cluster::start(ClusterOptions {
        proxied: true,
        ..Default::default()
    })
    .await;
    let leader = cluster.leader().await;
    let (fast, slow) = {
        let followers: Vec<u64> = (1..=3).filter(|&n| n != leader).collect();
        (followers[0], followers[1])
    };

    eprintln!("--- entries reach node {slow} 400 ms after node {fast}, which makes the quorum");
    let network = cluster.network().unwrap();
    let link = network.raft_link(leader, slow).unwrap();
    link.set_latency(Direction::ToTarget, Duration::from_millis(400));

    eprintln!("--- each new key is found and signs on the lagging follower at once");
    for round in 0..5 {
        let (fresh, _) = generate(&cluster, leader, "ec-p256", &format!("fresh-{round}")).await;
        let got = cluster
            .key_client(slow)
            .get_key(GetKeyRequest {
                key_id: fresh.id.clone(),
                min_index: 0,
            })
            .await
            .unwrap_or_else(|err| panic!("round {round}: {err:?}"));
        assert_eq!(got.into_inner().key.unwrap().id, fresh.id);
        let (fresh, _) = generate(&cluster, leader, "ec-p256", &format!("sign-{round}")).await;
        sign(&cluster, slow, &fresh.id, "ecdsa-sha256", b"fresh", 0)
            .await
            .unwrap_or_else(|err| panic!("round {round}: {err:?}"));
    }

    eprintln!("--- a key that was never made is still NOT_FOUND there");
    let missing = cluster
        .key_client(slow)
        .get_key(GetKeyRequest {
            key_id: "k-00000000000000aa".into(),
            min_index: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound, "{missing:?}");
    network.heal();
}
