//! 200 handshakes started at once all complete, on a multi-thread and on a current-thread
//! server runtime. With the recommended accept (`keyhold_client::tls::accept`) they wait
//! for their signatures side by side on both runtimes (the signer's peak in flight is
//! above one); with the plain `TlsAcceptor` on a current-thread runtime they are signed one
//! after another (peak exactly one), as the adapter's documentation says, and still all
//! complete.

#![allow(clippy::unwrap_used)] // a test fails by panicking

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::Instant;

use keyhold_client::tls::SignerOptions;
use keyhold_cluster_tests::https::{HttpsServer, issue_for_key, test_signer};
use keyhold_cluster_tests::ops::generate;
use keyhold_cluster_tests::tls_clients::{Tls, rustls_get};
use keyhold_cluster_tests::{Cluster, ClusterOptions};

const BODY: &str = "hello from keyhold\n";
const AT_ONCE: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_handshakes_at_once_complete_on_both_runtime_flavors() {
    let cluster = Cluster::start(ClusterOptions::default()).await;
    let scratch = tempfile::tempdir().unwrap();
    let ca = cluster.pki_dir().join("ca.pem");
    let signer = test_signer(&cluster, SignerOptions::default()).await;
    let (key, _) = generate(&cluster, 1, "ec-p256", "concurrency").await;
    let cert = issue_for_key(&cluster, &signer, &key.id, scratch.path()).await;

    for (runtime, accept) in [
        ("multi-thread", "lazy"),
        ("current-thread", "lazy"),
        ("multi-thread", "plain"),
        ("current-thread", "plain"),
    ] {
        eprintln!("--- {AT_ONCE} handshakes at once: {runtime} runtime, {accept} accept");
        let args = ["--runtime", runtime, "--accept", accept];
        let mut server = HttpsServer::start(&cluster, &key.id, &cert, &args).await;
        let started = Instant::now();
        let results = handshakes_at_once(server.addr, &ca).await;
        let elapsed = started.elapsed();

        let failed: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
        assert!(
            failed.is_empty(),
            "{} failed, first: {}",
            failed.len(),
            failed[0]
        );
        assert!(results.iter().all(|r| r.as_deref() == Ok(BODY)));

        let log = server.interrupt().await;
        let peak = peak_in_flight(&log);
        eprintln!("    all {AT_ONCE} done in {elapsed:?}; peak signatures in flight: {peak}");
        if (runtime, accept) == ("current-thread", "plain") {
            assert_eq!(
                peak, 1,
                "a blocked current-thread runtime signs one at a time"
            );
        } else {
            assert!(
                peak > 1,
                "handshakes should wait side by side; peak {peak}\n{log}"
            );
        }
        assert!(!log.contains("TLS handshake failed"), "{log}");
    }
}

/// Starts `AT_ONCE` rustls clients behind a barrier; returns each one's body or error.
async fn handshakes_at_once(addr: SocketAddr, ca: &Path) -> Vec<Result<String, String>> {
    let ca = ca.to_owned();
    tokio::task::spawn_blocking(move || {
        let barrier = Arc::new(Barrier::new(AT_ONCE));
        let threads: Vec<_> = (0..AT_ONCE)
            .map(|_| {
                let (barrier, ca) = (barrier.clone(), ca.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    rustls_get(addr, &ca, Tls::V13, None)
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    })
    .await
    .unwrap()
}

/// The `peak_in_flight` the example logs when it stops.
fn peak_in_flight(log: &str) -> usize {
    let line = log
        .lines()
        .find(|l| l.contains("interrupted; stopping"))
        .unwrap_or_else(|| panic!("no stop line in\n{log}"));
    let value = line.split("peak_in_flight=").nth(1).unwrap();
    value.split_whitespace().next().unwrap().parse().unwrap()
}
