//! Handshakes go on while nodes die: a loop of real handshakes against the `https-server`
//! example runs while the leader is killed with -9 (and restarted), then a follower;
//! not one handshake fails, and handshakes complete in every phase.

#![allow(clippy::unwrap_used)] // a test fails by panicking

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use keyhold_client::tls::SignerOptions;
use keyhold_cluster_tests::https::{HttpsServer, issue_for_key, test_signer};
use keyhold_cluster_tests::ops::generate;
use keyhold_cluster_tests::tls_clients::{Tls, rustls_get};
use keyhold_cluster_tests::{Cluster, ClusterOptions, wait_until};

const BODY: &str = "hello from keyhold\n";
/// Client threads running handshakes back to back.
const LOOPS: usize = 3;
/// Handshakes each phase must see complete.
const PER_PHASE: usize = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshakes_never_fail_while_the_leader_and_then_a_follower_are_killed() {
    let mut cluster = Cluster::start(ClusterOptions::default()).await;
    let scratch = tempfile::tempdir().unwrap();
    let signer = test_signer(&cluster, SignerOptions::default()).await;
    let (key, _) = generate(&cluster, 1, "ec-p256", "failover").await;
    let cert = issue_for_key(&cluster, &signer, &key.id, scratch.path()).await;
    let server = HttpsServer::start(&cluster, &key.id, &cert, &[]).await;
    let load = Load::start(server.addr, cluster.pki_dir().join("ca.pem"));

    eprintln!("--- handshakes run against a healthy cluster");
    load.wait_for_more(PER_PHASE).await;

    eprintln!("--- kill -9 the leader; handshakes go on through the election");
    let old_leader = cluster.leader().await;
    cluster.kill(old_leader);
    let survivor = (1..=3).find(|&n| n != old_leader).unwrap();
    wait_until("a new leader", Duration::from_secs(20), || async {
        let s = cluster.status(survivor).await?;
        (s.leader_id != 0 && s.leader_id != old_leader).then_some(())
    })
    .await;
    load.wait_for_more(PER_PHASE).await;

    eprintln!("--- the old leader returns");
    cluster.restart(old_leader).await;
    cluster.wait_healthy().await;
    load.wait_for_more(PER_PHASE).await;

    eprintln!("--- kill -9 a follower; handshakes go on");
    let leader = cluster.leader().await;
    let follower = (1..=3).find(|&n| n != leader).unwrap();
    cluster.kill(follower);
    load.wait_for_more(PER_PHASE).await;
    cluster.restart(follower).await;
    cluster.wait_healthy().await;
    load.wait_for_more(PER_PHASE).await;

    eprintln!("--- not one handshake failed");
    let (done, failures) = load.stop();
    eprintln!("    {done} handshakes, {} failed", failures.len());
    assert!(
        failures.is_empty(),
        "failed handshakes: {failures:#?}\n{}",
        server.log()
    );
    assert!(done >= 5 * PER_PHASE);
}

/// Client threads doing handshakes back to back until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicUsize>,
    failures: Arc<Mutex<Vec<String>>>,
    threads: Vec<JoinHandle<()>>,
}

impl Load {
    fn start(addr: SocketAddr, ca: PathBuf) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicUsize::new(0));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let threads = (0..LOOPS)
            .map(|_| {
                let (stop, done, failures) = (stop.clone(), done.clone(), failures.clone());
                let ca = ca.clone();
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        match rustls_get(addr, &ca, Tls::V13, None) {
                            Ok(body) if body == BODY => done.fetch_add(1, Ordering::Relaxed),
                            Ok(body) => panic!("unexpected body {body:?}"),
                            Err(err) => {
                                failures.lock().unwrap().push(err);
                                0
                            }
                        };
                    }
                })
            })
            .collect();
        Load {
            stop,
            done,
            failures,
            threads,
        }
    }

    /// Waits until `count` more handshakes than now have completed.
    async fn wait_for_more(&self, count: usize) {
        let target = self.done.load(Ordering::Relaxed) + count;
        let what = format!("{count} more handshakes");
        wait_until(&what, Duration::from_secs(30), || async {
            (self.done.load(Ordering::Relaxed) >= target).then_some(())
        })
        .await;
    }

    /// Stops the clients; returns the handshakes done and every failure.
    fn stop(self) -> (usize, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            thread.join().unwrap();
        }
        let failures = self.failures.lock().unwrap().clone();
        (self.done.load(Ordering::Relaxed), failures)
    }
}
