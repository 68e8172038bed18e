//! Bad keys and certificates: `certified_key` refuses a certificate of another key, a
//! decrypt-only key and an unknown id with typed errors; a server started without those
//! checks (`--no-check`) fails each handshake with a logged, clear reason and keeps
//! serving; a client that offers no scheme the key can do fails its handshake, is logged,
//! and the next client is served.

#![allow(clippy::unwrap_used)] // a test fails by panicking

use std::time::Duration;

use keyhold_client::Error;
use keyhold_client::rustls::SignatureScheme;
use keyhold_client::tls::{SignerOptions, TlsKeyError, certified_key};
use keyhold_cluster_tests::https::{HttpsServer, issue_for_key, test_signer};
use keyhold_cluster_tests::ops::generate;
use keyhold_cluster_tests::tls_clients::{Tls, openssl_get, rustls_get};
use keyhold_cluster_tests::{Cluster, ClusterOptions, wait_until};
use keyhold_proto::v1::GenerateKeyRequest;

const BODY: &str = "hello from keyhold\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_keys_and_schemes_fail_cleanly_and_the_server_keeps_serving() {
    let cluster = Cluster::start(ClusterOptions::default()).await;
    let scratch = tempfile::tempdir().unwrap();
    let ca = cluster.pki_dir().join("ca.pem");
    let signer = test_signer(&cluster, SignerOptions::default()).await;
    let (ec, _) = generate(&cluster, 1, "ec-p256", "ec").await;
    let (other, _) = generate(&cluster, 1, "ec-p256", "other").await;
    let (rsa, _) = generate(&cluster, 1, "rsa-2048", "rsa").await;
    let decrypt = cluster
        .key_client(1)
        .generate_key(GenerateKeyRequest {
            algorithm: "rsa-2048".into(),
            label: "decrypt-only".into(),
            usage: "decrypt".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .key
        .unwrap();
    let ec_cert = issue_for_key(&cluster, &signer, &ec.id, scratch.path()).await;
    let rsa_cert = issue_for_key(&cluster, &signer, &rsa.id, scratch.path()).await;
    let ec_chain = std::fs::read(&ec_cert).unwrap();

    eprintln!("--- certified_key pairs a key with its own certificate");
    let certified = certified_key(&signer, &ec.id, &ec_chain).await.unwrap();
    certified.keys_match().unwrap();

    eprintln!("--- certified_key refuses a certificate of another key");
    let err = certified_key(&signer, &other.id, &ec_chain)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, TlsKeyError::KeyMismatch { key_id } if *key_id == other.id),
        "{err}"
    );
    assert!(!err.is_retryable());

    eprintln!("--- certified_key refuses a decrypt-only key and an unknown id");
    let err = certified_key(&signer, &decrypt.id, &ec_chain)
        .await
        .unwrap_err();
    let TlsKeyError::NotASigningKey { usage, .. } = &err else {
        panic!("unexpected {err}");
    };
    assert_eq!(usage, "decrypt");
    let err = certified_key(&signer, "k-0000000000000000", &ec_chain)
        .await
        .unwrap_err();
    let TlsKeyError::Cluster { source, .. } = &err else {
        panic!("unexpected {err}");
    };
    assert!(matches!(source, Error::NotFound { .. }), "{source}");
    assert!(!err.is_retryable());

    eprintln!("--- unchecked, an unknown key id fails each handshake with a logged reason");
    let args = ["--no-check", "ec-p256"];
    let mut server = HttpsServer::start(&cluster, "k-0000000000000000", &ec_cert, &args).await;
    for _ in 0..3 {
        assert!(rustls_get(server.addr, &ca, Tls::V13, None).is_err());
    }
    let failures = handshake_failures(&server, 3).await;
    assert!(
        failures[0].contains("k-0000000000000000: node"),
        "{}",
        failures[0]
    );
    assert!(failures[0].contains("not found"), "{}", failures[0]);
    assert!(server.is_running());
    assert!(!server.log().contains("panicked"));

    eprintln!("--- unchecked, a decrypt-only key fails each handshake with a logged reason");
    let args = ["--no-check", "rsa-2048"];
    let mut server = HttpsServer::start(&cluster, &decrypt.id, &rsa_cert, &args).await;
    for version in [Tls::V13, Tls::V12] {
        assert!(rustls_get(server.addr, &ca, version, None).is_err());
    }
    let failures = handshake_failures(&server, 2).await;
    assert!(
        failures[1].contains("cannot be used to sign"),
        "{}",
        failures[1]
    );
    assert!(server.is_running());

    eprintln!("--- a client offering no scheme the key can do fails; the next one is served");
    let mut server = HttpsServer::start(&cluster, &ec.id, &ec_cert, &[]).await;
    let wrong: [&[SignatureScheme]; 2] = [
        &[SignatureScheme::RSA_PSS_SHA256, SignatureScheme::ED25519],
        // P-256 with SHA-384 is not a TLS 1.3 scheme of a P-256 key.
        &[SignatureScheme::ECDSA_NISTP384_SHA384],
    ];
    for schemes in wrong {
        let err = rustls_get(server.addr, &ca, Tls::V13, Some(schemes)).unwrap_err();
        eprintln!("    client saw: {err}");
    }
    let err = openssl_get(server.addr, &ca, Tls::V12, &["-sigalgs", "RSA-PSS+SHA256"]).unwrap_err();
    assert!(err.contains("handshake failure"), "{err}");
    let failures = handshake_failures(&server, 3).await;
    for failure in &failures {
        eprintln!("    server logged: {failure}");
        assert!(failure.contains("peer is incompatible"), "{failure}");
    }
    assert_eq!(
        rustls_get(server.addr, &ca, Tls::V13, None).as_deref(),
        Ok(BODY)
    );
    assert!(server.is_running());
    assert!(!server.log().contains("panicked"));
}

/// The server's log lines for failed handshakes, once there are `count` of them (the
/// client may see the alert before the server has logged).
async fn handshake_failures(server: &HttpsServer, count: usize) -> Vec<String> {
    let lines = wait_until(
        "failed handshakes logged",
        Duration::from_secs(10),
        || async {
            let lines: Vec<String> = server
                .log()
                .lines()
                .filter(|l| l.contains("TLS handshake failed"))
                .map(str::to_owned)
                .collect();
            (lines.len() >= count).then_some(lines)
        },
    )
    .await;
    assert_eq!(lines.len(), count, "{}", server.log());
    lines
}
