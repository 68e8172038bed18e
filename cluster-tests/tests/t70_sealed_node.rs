//! A node restarted with the wrong unseal secret refuses crypto with FAILED_PRECONDITION
//! saying it is sealed, yet still replicates; with the right secret it signs again.

#![allow(clippy::unwrap_used)] // a test fails by panicking

use std::time::Duration;

use keyhold_cluster_tests::ops::{generate, sign};
use keyhold_cluster_tests::{Cluster, ClusterOptions, wait_until};
use keyhold_proto::v1::{GenerateKeyRequest, GetKeyRequest};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_the_wrong_secret_is_sealed_but_replicates() {
    let mut cluster = Cluster::start(ClusterOptions::default()).await;
    let (first, first_index) = generate(&cluster, 1, "ec-p256", "before-seal").await;
    let right_secret = std::fs::read_to_string(cluster.node(3).dir.join("unseal.secret")).unwrap();

    eprintln!("--- restart node 3 with a wrong secret");
    assert!(cluster.terminate(3).await);
    cluster.write_secret(3, "not-the-secret");
    cluster.restart(3).await;

    eprintln!("--- node 3 refuses crypto, saying it is sealed");
    let err = sign(&cluster, 3, &first.id, "ecdsa-sha256", b"x", first_index)
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition, "{err:?}");
    assert!(err.message().contains("sealed"), "{}", err.message());
    let req = GenerateKeyRequest {
        algorithm: "ec-p256".into(),
        label: "via-sealed".into(),
        usage: String::new(),
    };
    let err = cluster.key_client(3).generate_key(req).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition, "{err:?}");

    eprintln!("--- it still replicates writes made elsewhere");
    let (second, second_index) = generate(&cluster, 1, "ed25519", "while-sealed").await;
    let got = cluster
        .key_client(3)
        .get_key(GetKeyRequest {
            key_id: second.id.clone(),
            min_index: second_index,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.key.unwrap().public_key_der, second.public_key_der);
    let status = cluster.status(1).await.unwrap();
    let node3 = status.nodes.iter().find(|n| n.id == 3).unwrap();
    assert!(node3.sealed && node3.reachable);
    assert!(
        !cluster.log(3).contains("not-the-secret"),
        "the secret must not be logged"
    );

    eprintln!("--- with the right secret it signs again");
    assert!(cluster.terminate(3).await);
    cluster.write_secret(3, &right_secret);
    cluster.restart(3).await;
    wait_until("node 3 to sign", Duration::from_secs(20), || async {
        sign(&cluster, 3, &second.id, "ed25519", b"x", second_index)
            .await
            .ok()
    })
    .await;
}
