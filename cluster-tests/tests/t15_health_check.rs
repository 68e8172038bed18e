//! `hsmd health` run as a container probe runs it: the real binary with each node's own
//! config. Before init a node is live but not ready; once initialized every node is
//! ready and names its leader; a sealed node is live but not ready; a frozen or killed
//! node is unreachable within the timeout; a node left alone has no leader or quorum.

#![allow(clippy::unwrap_used)] // a test fails by panicking

use std::process::Stdio;
use std::time::{Duration, Instant};

use keyhold_cluster_tests::binaries::binaries;
use keyhold_cluster_tests::{Cluster, ClusterOptions, wait_until};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// What one `hsmd health` run left behind.
#[derive(Debug)]
struct Probe {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
}

impl Probe {
    /// Exit 0 with exactly one line on stdout and nothing on stderr.
    fn passed(&self) -> bool {
        self.code == Some(0) && self.stdout.lines().count() == 1 && self.stderr.is_empty()
    }

    /// Exit 1 with exactly one line on stderr, starting with `reason`, and no stdout.
    fn failed_with(&self, reason: &str) -> bool {
        self.code == Some(1)
            && self.stdout.is_empty()
            && self.stderr.lines().count() == 1
            && self.stderr.starts_with(reason)
    }
}

/// Runs `hsmd health --config <node id's config> <extra>` with a clean environment plus
/// `env`.
async fn health_with_env(
    cluster: &Cluster,
    id: u64,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Probe {
    let config = cluster.node(id).dir.join("hsmd.toml");
    let started = Instant::now();
    let output = tokio::process::Command::new(&binaries().hsmd)
        .env_clear()
        .envs(env.iter().copied())
        .arg("health")
        .arg("--config")
        .arg(config)
        .args(extra)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .expect("hsmd health runs");
    Probe {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        took: started.elapsed(),
    }
}

async fn health(cluster: &Cluster, id: u64, extra: &[&str]) -> Probe {
    health_with_env(cluster, id, extra, &[]).await
}

/// Polls readiness of node `id` until it passes, and returns its line.
async fn wait_ready(cluster: &Cluster, id: u64) -> String {
    let what = format!("node {id} to be ready");
    wait_until(&what, Duration::from_secs(30), || async {
        let probe = health(cluster, id, &[]).await;
        probe.passed().then_some(probe.stdout)
    })
    .await
}

/// Polls readiness of node `id` until it fails with one of `reasons`; returns the line.
async fn wait_not_ready(cluster: &Cluster, id: u64, reasons: &[&str]) -> String {
    let what = format!("node {id} to be not ready with one of {reasons:?}");
    wait_until(&what, Duration::from_secs(30), || async {
        let probe = health(cluster, id, &[]).await;
        let matched = reasons.iter().any(|r| probe.failed_with(r));
        matched.then_some(probe.stderr)
    })
    .await
}

/// Reads `healthy: node N (ROLE, term T, leader L)` into (role, term, leader).
fn parse_healthy(line: &str, id: u64) -> (String, u64, u64) {
    let prefix = format!("healthy: node {id} (");
    let inner = line
        .trim_end()
        .strip_prefix(&prefix)
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("not a healthy line for node {id}: {line:?}"));
    let parts: Vec<&str> = inner.split(", ").collect();
    assert_eq!(parts.len(), 3, "{line:?}");
    let term = parts[1].strip_prefix("term ").unwrap().parse().unwrap();
    let leader = parts[2].strip_prefix("leader ").unwrap().parse().unwrap();
    (parts[0].to_owned(), term, leader)
}

fn signal(cluster: &Cluster, id: u64, signal: Signal) {
    let pid = cluster.node(id).pid().expect("node runs");
    kill(Pid::from_raw(i32::try_from(pid).unwrap()), signal).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_tells_live_from_ready_and_names_why_not() {
    let mut cluster = Cluster::start(ClusterOptions {
        init: false,
        ..Default::default()
    })
    .await;

    eprintln!("--- before init: live, not ready");
    {
        let ready = health(&cluster, 1, &[]).await;
        assert!(ready.failed_with("not initialized"), "{ready:?}");
        let live = health(&cluster, 1, &["--live"]).await;
        assert!(live.passed(), "{live:?}");
        assert!(live.stdout.starts_with("live: node 1 ("), "{live:?}");
    }

    eprintln!("--- after init: every node ready, naming the same leader");
    cluster.init().await;
    let leader = cluster.leader().await;
    for id in 1..=3 {
        let line = wait_ready(&cluster, id).await;
        let (role, term, said_leader) = parse_healthy(&line, id);
        assert_eq!(said_leader, leader, "{line:?}");
        let expected_role = if id == leader { "leader" } else { "follower" };
        assert_eq!(role, expected_role, "{line:?}");
        assert!(term > 0, "{line:?}");
    }

    eprintln!("--- a wildcard listener is checked on loopback; env overrides apply");
    {
        let port = cluster.node(2).api_port.to_string();
        let wildcard = format!("0.0.0.0:{port}");
        let probe = health_with_env(&cluster, 2, &[], &[("KEYHOLD_API_ADDR", &wildcard)]).await;
        assert!(probe.passed(), "{probe:?}");
        let elsewhere = format!("127.0.0.1:{}", cluster.node(1).api_port);
        let probe = health(&cluster, 2, &["--api-addr", &elsewhere]).await;
        assert!(
            probe.failed_with("unreachable: "),
            "node 1 is not node-2: {probe:?}"
        );
    }

    eprintln!("--- a node with a wrong unseal secret: live, not ready, sealed");
    {
        assert!(cluster.terminate(3).await);
        cluster.write_secret(3, "not-the-secret");
        cluster.restart(3).await;
        let why = wait_not_ready(&cluster, 3, &["sealed"]).await;
        assert_eq!(why, "sealed: node 3 refuses crypto (its log says why)\n");
        let live = health(&cluster, 3, &["--live"]).await;
        assert!(live.passed(), "{live:?}");
        assert!(!live.stdout.contains("not-the-secret"), "{live:?}");
    }

    eprintln!("--- a frozen node: unreachable within the timeout");
    {
        signal(&cluster, 3, Signal::SIGSTOP);
        let probe = health(&cluster, 3, &["--live", "--timeout-ms", "1000"]).await;
        signal(&cluster, 3, Signal::SIGCONT);
        let port = cluster.node(3).api_port;
        let expected = format!("unreachable: 127.0.0.1:{port}: no answer within 1000 ms\n");
        assert_eq!(probe.stderr, expected, "{probe:?}");
        assert!(probe.failed_with("unreachable"), "{probe:?}");
        assert!(probe.took < Duration::from_secs(6), "{probe:?}");
    }

    eprintln!("--- a killed node: unreachable at once; the other two stay ready");
    {
        cluster.kill(3);
        let probe = health(&cluster, 3, &[]).await;
        assert!(probe.failed_with("unreachable: 127.0.0.1:"), "{probe:?}");
        assert!(probe.took < Duration::from_secs(6), "{probe:?}");
        let live = health(&cluster, 3, &["--live"]).await;
        assert!(live.failed_with("unreachable"), "{live:?}");
        wait_ready(&cluster, 1).await;
        wait_ready(&cluster, 2).await;
    }

    eprintln!("--- a node left alone: live, but no leader or no quorum");
    {
        cluster.kill(2);
        let why = wait_not_ready(&cluster, 1, &["no leader", "no quorum"]).await;
        assert!(why.contains("node"), "{why:?}");
        let live = health(&cluster, 1, &["--live"]).await;
        assert!(live.passed(), "{live:?}");
    }
}
