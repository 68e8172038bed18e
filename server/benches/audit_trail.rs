//! Audit trail: records per second when callers wait one at a time (one fsync each) versus
//! 64 callers at once (group commit: one fsync per batch), side by side in one run, on
//! the disk of the temporary directory. A signature waits for its record, so the
//! concurrent rate bounds a node's signatures per second. Run with
//! `cargo bench -p keyhold-server --bench audit_trail`.

#![allow(clippy::unwrap_used)] // a benchmark fails by panicking

use std::time::{Duration, Instant};

use keyhold_server::audit::{AuditLog, Entry};

const RUN: Duration = Duration::from_secs(2);
const CALLERS: usize = 64;

fn entry() -> Entry {
    Entry {
        action: "Sign",
        key_id: "k-0123456789abcdef".into(),
        outcome: "OK",
        detail: "ecdsa-sha256".into(),
        ..Entry::default()
    }
}

async fn one_at_a_time(log: &AuditLog) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < RUN {
        log.record(entry()).await.unwrap();
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

async fn concurrent(log: &AuditLog) -> f64 {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CALLERS {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while start.elapsed() < RUN {
                log.record(entry()).await.unwrap();
                n += 1;
            }
            n
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap();
    }
    total as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(dir.path(), 1).unwrap();
        let single = one_at_a_time(&log).await;
        let many = concurrent(&log).await;
        println!("{:<28} {:>12}", "audit records", "records/s");
        println!("{:<28} {:>12.0}", "1 caller (fsync each)", single);
        println!(
            "{:<28} {:>12.0}",
            format!("{CALLERS} callers (group commit)"),
            many
        );
        println!("{:<28} {:>12.1}", "ratio", many / single);
    });
}
