//! With every node down, a handshake fails within the signer's deadline plus a small
//! margin (it never hangs), the server logs why and keeps serving, and handshakes succeed
//! again once the nodes return, with nothing restarted on the web server's side.

#![allow(clippy::unwrap_used)] // a test fails by panicking

use std::time::{Duration, Instant};

use keyhold_client::tls::SignerOptions;
use keyhold_cluster_tests::https::{HttpsServer, issue_for_key, test_signer};
use keyhold_cluster_tests::ops::generate;
use keyhold_cluster_tests::tls_clients::{Tls, rustls_get};
use keyhold_cluster_tests::{Cluster, ClusterOptions, wait_until};

const BODY: &str = "hello from keyhold\n";
const DEADLINE: Duration = Duration::from_millis(1500);
/// Allowance for the grace the signer gives its runtime, the alert and the client.
const MARGIN: Duration = Duration::from_millis(1000);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_every_node_down_handshakes_fail_within_the_deadline_then_recover() {
    let mut cluster = Cluster::start(ClusterOptions::default()).await;
    let scratch = tempfile::tempdir().unwrap();
    let ca = cluster.pki_dir().join("ca.pem");
    let signer = test_signer(&cluster, SignerOptions::default()).await;
    let (key, _) = generate(&cluster, 1, "ec-p256", "outage").await;
    let cert = issue_for_key(&cluster, &signer, &key.id, scratch.path()).await;
    let deadline_ms = DEADLINE.as_millis().to_string();
    let args = ["--deadline-ms", deadline_ms.as_str()];
    let mut server = HttpsServer::start(&cluster, &key.id, &cert, &args).await;

    eprintln!("--- a healthy cluster signs");
    assert_eq!(
        rustls_get(server.addr, &ca, Tls::V13, None).as_deref(),
        Ok(BODY)
    );

    eprintln!("--- every node down: each handshake fails within the deadline");
    for id in 1..=3 {
        cluster.kill(id);
    }
    for attempt in 0..3 {
        let (addr, ca) = (server.addr, ca.clone());
        let started = Instant::now();
        let result = tokio::task::spawn_blocking(move || rustls_get(addr, &ca, Tls::V13, None))
            .await
            .unwrap();
        let elapsed = started.elapsed();
        eprintln!("    attempt {attempt}: failed after {elapsed:?}");
        assert!(result.is_err(), "a handshake succeeded with no node up");
        assert!(elapsed < DEADLINE + MARGIN, "took {elapsed:?}");
    }
    let log = server.log();
    let failure = log
        .lines()
        .find(|l| l.contains("TLS handshake failed"))
        .unwrap_or_else(|| panic!("no failed handshake logged\n{log}"));
    assert!(failure.contains(&key.id), "{failure}");
    assert!(failure.contains("deadline of 1.5s exceeded"), "{failure}");
    eprintln!("    logged: {failure}");
    assert!(server.is_running());

    eprintln!("--- the nodes return: handshakes succeed again, same server process");
    for id in 1..=3 {
        cluster.restart(id).await;
    }
    cluster.wait_healthy().await;
    let healthy = Instant::now();
    let (addr, ca2) = (server.addr, ca.clone());
    wait_until(
        "a handshake to succeed again",
        Duration::from_secs(30),
        || {
            let ca = ca2.clone();
            async move {
                let fetched =
                    tokio::task::spawn_blocking(move || rustls_get(addr, &ca, Tls::V13, None));
                fetched.await.unwrap().ok().filter(|body| body == BODY)
            }
        },
    )
    .await;
    eprintln!(
        "    first success {:?} after the cluster was healthy",
        healthy.elapsed()
    );
    for _ in 0..5 {
        assert_eq!(
            rustls_get(server.addr, &ca, Tls::V13, None).as_deref(),
            Ok(BODY)
        );
    }
    assert!(server.is_running());
}
