//! TLS handshake offload for every key type: the `https-server` example serves with a
//! cluster key whose certificate came from a CSR the cluster key signed, and rustls, curl
//! and `openssl s_client` all complete handshakes over TLS 1.3 and TLS 1.2 and read the
//! body. A self-signed certificate made by the cluster key works too.

#![allow(clippy::unwrap_used)] // a test fails by panicking

use keyhold_client::certs::{Subject, self_signed_pem};
use keyhold_client::tls::SignerOptions;
use keyhold_cluster_tests::https::{HttpsServer, issue_for_key, test_signer};
use keyhold_cluster_tests::ops::generate;
use keyhold_cluster_tests::tls_clients::{Tls, curl_get, openssl_get, rustls_get};
use keyhold_cluster_tests::{Cluster, ClusterOptions};

const BODY: &str = "hello from keyhold\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_key_type_serves_tls_13_and_12_to_rustls_curl_and_openssl() {
    let cluster = Cluster::start(ClusterOptions::default()).await;
    let scratch = tempfile::tempdir().unwrap();
    let ca = cluster.pki_dir().join("ca.pem");
    let signer = test_signer(&cluster, SignerOptions::default()).await;

    // (algorithm, what openssl reports as the peer's TLS 1.3 and TLS 1.2 signature type)
    let cases = [
        ("ec-p256", "ECDSA", "ECDSA"),
        ("ec-p384", "ECDSA", "ECDSA"),
        ("ed25519", "ed25519", "ed25519"),
        ("rsa-2048", "RSA-PSS", "RSA-PSS"),
    ];
    for (algorithm, sig13, sig12) in cases {
        eprintln!("--- {algorithm}: a CSR signed by the cluster key, issued by the dev CA");
        let (key, _) = generate(&cluster, 1, algorithm, algorithm).await;
        let cert = issue_for_key(&cluster, &signer, &key.id, scratch.path()).await;
        let server = HttpsServer::start(&cluster, &key.id, &cert, &[]).await;

        for (version, expected_sig) in [(Tls::V13, sig13), (Tls::V12, sig12)] {
            eprintln!("--- {algorithm} over {version:?}: rustls, curl, openssl s_client");
            let body = rustls_get(server.addr, &ca, version, None);
            assert_eq!(body.as_deref(), Ok(BODY), "rustls {algorithm} {version:?}");
            let body = curl_get(server.addr, &ca, version);
            assert_eq!(body.as_deref(), Ok(BODY), "curl {algorithm} {version:?}");
            let session = openssl_get(server.addr, &ca, version, &[])
                .unwrap_or_else(|out| panic!("openssl {algorithm} {version:?}:\n{out}"));
            assert_eq!(session.body, BODY);
            assert_eq!(
                session.peer_signature_type, expected_sig,
                "{algorithm} {version:?}\n{}",
                session.output
            );
        }
        eprintln!("--- {algorithm}: a HelloRetryRequest moves the signature after the lazy accept");
        let hrr = ["-groups", "P-521:P-256"];
        let session = openssl_get(server.addr, &ca, Tls::V13, &hrr).unwrap();
        assert_eq!(session.body, BODY);
        assert!(session.output.contains("prime256v1"), "{}", session.output);

        let log = server.log();
        assert!(!log.contains("TLS handshake failed"), "{log}");
    }

    eprintln!("--- a self-signed certificate made by the cluster key is its own trust anchor");
    let (key, _) = generate(&cluster, 2, "ec-p256", "self-signed").await;
    let subject = Subject::new("localhost").with_sans(["localhost", "127.0.0.1"]);
    let pem = self_signed_pem(&signer, &key.id, &subject, 30)
        .await
        .unwrap();
    let cert = scratch.path().join("self-signed.pem");
    std::fs::write(&cert, pem).unwrap();
    let server = HttpsServer::start(&cluster, &key.id, &cert, &[]).await;
    assert_eq!(curl_get(server.addr, &cert, Tls::V13).as_deref(), Ok(BODY));
    let session = openssl_get(server.addr, &cert, Tls::V12, &[]).unwrap();
    assert_eq!(session.body, BODY);
}
