//! Failover drills: start a fresh three-node cluster with every link behind a proxy, run
//! a load through `keyhold_client`, inject one named fault, hold it, heal, wait for the
//! cluster to recover, then check that no acknowledged write was lost. The result is a
//! [`DrillReport`] (text through `Display`, JSON through serde), never a panic: usable
//! from tests and from `hsmctl drill`.
//!
//! - `load`: the load generator; `handshake`: its TLS server and handshakes;
//!   `record`: one operation and its result;
//! - `faults`: what each drill does to the cluster;
//! - `observe`: the leader watcher and bounded waits, from outside the proxies;
//! - `checks`: key accounting after the drill;
//! - `stats`, `report`, `verdict` and `text`: figures per phase, the report, what it
//!   must show to pass, its text form;
//! - `error`: why a drill could not run to its report.

mod checks;
mod error;
mod faults;
mod handshake;
mod load;
mod observe;
mod record;
mod report;
mod stats;
mod text;
mod verdict;

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use futures::FutureExt;
use keyhold_client::ClientConfig;
use serde::Serialize;
use tokio::time::Instant;

pub use checks::{Checks, PartitionChecks};
pub use error::DrillError;
pub use handshake::{HandshakeOptions, HandshakeSetup};
pub use load::LoadOptions;
pub use record::{OpKind, OpRecord, Source};
pub use report::{DrillReport, ErrorCount, LeaderFigures, Phase, PhaseStats, RoleChange, Timeline};
pub use stats::OpStats;

use crate::binaries::Binaries;
use crate::network::Isolation;
use crate::{Cluster, ClusterOptions};

/// Algorithm of every key the load makes (cheap to generate and to sign with).
pub(crate) const LOAD_ALGORITHM: &str = "ec-p256";
/// Scheme the load signs with.
pub(crate) const LOAD_SCHEME: &str = "ecdsa-sha256";

/// The drills.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DrillName {
    /// kill -9 the leader, restart it after the hold.
    LeaderKill,
    /// kill -9 a follower, restart it after the hold.
    FollowerKill,
    /// SIGSTOP the leader, SIGCONT after the hold.
    LeaderFreeze,
    /// Cut a follower's availability zone off: its node-to-node links and its clients.
    AzPartition,
    /// Cut the leader off from the other nodes; clients still reach it.
    LeaderIsolation,
    /// Add latency to every link of the leader's zone.
    SlowAz,
    /// Restart the nodes one at a time (SIGTERM), followers first.
    RollingRestart,
    /// Stop every node (SIGTERM), then start them all again.
    FullRestart,
}

impl DrillName {
    /// Every drill, in the order `hsmctl drill` lists them.
    pub const ALL: [DrillName; 8] = [
        DrillName::LeaderKill,
        DrillName::FollowerKill,
        DrillName::LeaderFreeze,
        DrillName::AzPartition,
        DrillName::LeaderIsolation,
        DrillName::SlowAz,
        DrillName::RollingRestart,
        DrillName::FullRestart,
    ];

    /// The drill's command-line name.
    pub fn as_str(self) -> &'static str {
        match self {
            DrillName::LeaderKill => "leader-kill",
            DrillName::FollowerKill => "follower-kill",
            DrillName::LeaderFreeze => "leader-freeze",
            DrillName::AzPartition => "az-partition",
            DrillName::LeaderIsolation => "leader-isolation",
            DrillName::SlowAz => "slow-az",
            DrillName::RollingRestart => "rolling-restart",
            DrillName::FullRestart => "full-restart",
        }
    }

    /// Whether a quorum and a healthy node stay reachable for clients throughout, so
    /// that no signature may fail.
    pub fn keeps_quorum(self) -> bool {
        self != DrillName::FullRestart
    }

    /// Whether the fault must make the cluster elect a new leader.
    pub fn expects_new_leader(self) -> bool {
        // A leader restarted within the election timeout (rolling-restart, full-restart)
        // may resume office in its own term: openraft keeps a committed vote across
        // restarts, so no election is required there.
        matches!(
            self,
            DrillName::LeaderKill | DrillName::LeaderFreeze | DrillName::LeaderIsolation
        )
    }
}

impl fmt::Display for DrillName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DrillName {
    type Err = DrillError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        DrillName::ALL
            .into_iter()
            .find(|drill| drill.as_str() == name)
            .ok_or_else(|| DrillError::UnknownDrill {
                name: name.to_owned(),
            })
    }
}

/// How a drill runs.
#[derive(Clone, Debug)]
pub struct DrillOptions {
    /// Load before the fault.
    pub warmup: Duration,
    /// How long the fault lasts.
    pub hold: Duration,
    /// Load after the cluster has recovered.
    pub settle: Duration,
    /// Bound on recovery after the heal.
    pub recovery_limit: Duration,
    /// The load.
    pub load: LoadOptions,
    /// How isolated links fail (az-partition, leader-isolation).
    pub isolation: Isolation,
    /// Latency added to each direction of the slow zone's links (slow-az).
    pub slow_latency: Duration,
    /// Extra lines for each node's `[raft]` table.
    pub raft: String,
    /// The binaries to run; `None` builds this workspace's with cargo.
    pub binaries: Option<Binaries>,
    /// When set, each node's log is copied there as `node-<id>.log`.
    pub log_dir: Option<PathBuf>,
    /// Print a `--- step` line on stderr as the drill goes.
    pub progress: bool,
}

impl Default for DrillOptions {
    fn default() -> Self {
        DrillOptions {
            warmup: Duration::from_secs(3),
            hold: Duration::from_secs(6),
            settle: Duration::from_secs(3),
            recovery_limit: Duration::from_secs(60),
            load: LoadOptions::default(),
            isolation: Isolation::Cut,
            slow_latency: Duration::from_millis(50),
            raft: String::new(),
            binaries: None,
            log_dir: None,
            progress: false,
        }
    }
}

/// Milliseconds since the drill started: the time base of every record.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock(Instant);

impl Clock {
    fn start() -> Self {
        Clock(Instant::now())
    }

    pub(crate) fn now_ms(self) -> f64 {
        round_ms(self.0.elapsed())
    }
}

/// A duration in milliseconds, to the hundredth.
pub(crate) fn round_ms(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 100_000.0).round() / 100.0
}

/// Runs drill `name` on a fresh local cluster and reports what happened. Every process
/// and proxy it started is stopped before it returns, whatever the outcome; the node logs
/// are copied to [`DrillOptions::log_dir`] even when the drill ends in an error.
pub async fn run_drill(name: DrillName, options: &DrillOptions) -> Result<DrillReport, DrillError> {
    let clock = Clock::start();
    progress(
        options,
        format!("{name}: a cluster with every link behind a proxy"),
    );
    let cluster_options = ClusterOptions {
        proxied: true,
        raft: options.raft.clone(),
        binaries: options.binaries.clone(),
        ..ClusterOptions::default()
    };
    let mut cluster = harness("starting the cluster", Cluster::start(cluster_options)).await?;
    let result = drill_on(&mut cluster, name, options, clock).await;
    let Some(dir) = &options.log_dir else {
        return result;
    };
    let copied = copy_logs(&cluster, dir);
    let mut report = result?;
    copied?;
    report.log_dir = Some(dir.clone());
    Ok(report)
}

/// Load, fault, recovery and checks on a started cluster.
async fn drill_on(
    cluster: &mut Cluster,
    name: DrillName,
    options: &DrillOptions,
    clock: Clock,
) -> Result<DrillReport, DrillError> {
    let started_ms = clock.now_ms();
    progress(options, describe_load(&options.load));
    let config = load_config(cluster)?;
    let prefix = format!("drill-{name}");
    let load = load::Load::start(config, clock, &prefix, &options.load).await?;
    let handshake = load.handshake_setup();
    let watcher = observe::Watcher::start(cluster, clock);
    tokio::time::sleep(options.warmup).await;

    let fault = faults::run(name, cluster, clock, options).await?;
    progress(
        options,
        "healed; waiting until every node is whole and caught up".into(),
    );
    let recovery = observe::wait_recovered(cluster, options.recovery_limit).await;
    let recovered_ms = recovery.as_ref().ok().map(|_| clock.now_ms());
    tokio::time::sleep(options.settle).await;

    progress(
        options,
        "stopping the load; checking every key on every node".into(),
    );
    let mut records = load.stop().await;
    let samples = watcher.stop();
    records.extend(fault.probes.iter().cloned());
    let ended_ms = clock.now_ms();
    let checks = checks::run(cluster, clock, &records, recovery.is_ok()).await;
    let timeline = Timeline {
        cluster_started_ms: started_ms,
        injected_ms: fault.injected_ms,
        healed_ms: fault.healed_ms,
        recovered_ms,
        ended_ms,
        checked_ms: clock.now_ms(),
    };
    let mut report = report::assemble(name, options, timeline, &fault, records, &samples, checks);
    report.handshake = handshake;
    if let Err(err) = recovery {
        report.fail(format!("the cluster did not recover: {err}"));
    }
    Ok(report)
}

fn describe_load(load: &LoadOptions) -> String {
    let destroys = match load.destroy_every {
        0 => "no destroys".to_owned(),
        n => format!("one write in {n} destroys a key"),
    };
    let handshakes = match &load.handshakes {
        Some(h) => format!(
            "TLS handshakes one at a time ({} ms pause, signer deadline {} ms, {} ms per node)",
            h.pause.as_millis(),
            h.deadline.as_millis(),
            h.attempt_bound().as_millis()
        ),
        None => "no TLS handshakes".to_owned(),
    };
    format!(
        "load: {} signers ({} ms pause), a write every {} ms, {destroys}, {handshakes}",
        load.signers,
        load.sign_pause.as_millis(),
        load.write_interval.as_millis()
    )
}

/// Prints a step of the drill when asked to.
pub(crate) fn progress(options: &DrillOptions, step: String) {
    if options.progress {
        eprintln!("--- {step}");
    }
}

/// A client configuration like a web server's, reaching every node through its client
/// proxy.
fn load_config(cluster: &Cluster) -> Result<ClientConfig, DrillError> {
    cluster
        .web_client_config()
        .map_err(|source| DrillError::Io {
            what: "reading the client's TLS files".into(),
            source,
        })
}

fn copy_logs(cluster: &Cluster, dir: &Path) -> Result<(), DrillError> {
    let io = |what: String| move |source| DrillError::Io { what, source };
    std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
    for node in &cluster.nodes {
        let to = dir.join(format!("node-{}.log", node.id));
        std::fs::copy(node.log_path(), &to).map_err(io(format!("writing {}", to.display())))?;
    }
    Ok(())
}

/// Runs a step of the cluster harness, a test harness that reports failure by panicking,
/// and turns such a panic into an error. The harness's `Drop` still stops every process.
pub(crate) async fn harness<T>(what: &str, step: impl Future<Output = T>) -> Result<T, DrillError> {
    AssertUnwindSafe(step)
        .catch_unwind()
        .await
        .map_err(|panic| DrillError::Harness {
            what: what.to_owned(),
            message: panic_message(panic.as_ref()),
        })
}

/// The synchronous form of [`harness`].
pub(crate) fn harness_sync<T>(what: &str, step: impl FnOnce() -> T) -> Result<T, DrillError> {
    std::panic::catch_unwind(AssertUnwindSafe(step)).map_err(|panic| DrillError::Harness {
        what: what.to_owned(),
        message: panic_message(panic.as_ref()),
    })
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = panic.downcast_ref::<&str>() {
        return (*text).to_owned();
    }
    panic
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_else(|| "panicked".to_owned())
}
