//! What each drill does to the cluster: find its target, inject the fault, hold it, heal.
//! The load keeps running throughout; recovery and the checks are left to the runner.
//! az-partition also probes, directly and bypassing the proxies, that the cut-off node
//! refuses a write, that the majority accepts one, and that the cut-off node catches up.

use std::time::Duration;

use keyhold_proto::v1::{GenerateKeyRequest, GetKeyRequest};
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::checks::PartitionChecks;
use super::observe::{self, answering, leader};
use super::record::{OpKind, OpRecord, Source};
use super::{Clock, DrillError, DrillName, DrillOptions, LOAD_ALGORITHM, harness_sync};
use crate::Cluster;
use crate::network::Network;

/// Bound on finding the leader or a restarted node.
const FIND: Duration = Duration::from_secs(30);
/// Bound on one direct write probe: the server's write timeout and leader wait, plus slack.
const PROBE_TIMEOUT: Duration = Duration::from_secs(12);
/// Bound on the majority accepting a write, and on the cut-off node catching up.
const PARTITION_LIMIT: Duration = Duration::from_secs(30);

/// What the fault did and when.
#[derive(Debug, Default)]
pub(crate) struct Fault {
    /// One line saying what was done.
    pub(crate) description: String,
    /// The node the fault hit, when it hit one.
    pub(crate) target: Option<u64>,
    /// The leader and its term just before the fault.
    pub(crate) leader_before: Option<(u64, u64)>,
    /// When the fault began.
    pub(crate) injected_ms: f64,
    /// When the leader was hit, for drills that hit it.
    pub(crate) leader_hit_ms: Option<f64>,
    /// When the fault was healed (the last node restarted, the links restored).
    pub(crate) healed_ms: f64,
    /// az-partition's probes.
    pub(crate) partition: Option<PartitionChecks>,
    /// The direct writes the probes made.
    pub(crate) probes: Vec<OpRecord>,
    /// Anything odd seen on the way (for example an unclean exit).
    pub(crate) notes: Vec<String>,
}

/// Runs drill `name`'s fault from injection to heal.
pub(crate) async fn run(
    name: DrillName,
    cluster: &mut Cluster,
    clock: Clock,
    options: &DrillOptions,
) -> Result<Fault, DrillError> {
    let (leader, term) = leader(cluster, FIND).await?;
    let follower = cluster
        .nodes
        .iter()
        .map(|n| n.id)
        .rfind(|&id| id != leader)
        .unwrap_or(leader);
    let mut fault = Fault {
        leader_before: Some((leader, term)),
        ..Fault::default()
    };
    super::progress(options, format!("fault: {name}; leader is node {leader}"));
    match name {
        DrillName::LeaderKill => kill(cluster, clock, options, leader, &mut fault).await?,
        DrillName::FollowerKill => kill(cluster, clock, options, follower, &mut fault).await?,
        DrillName::LeaderFreeze => freeze(cluster, clock, options, leader, &mut fault).await?,
        DrillName::AzPartition => {
            partition(cluster, clock, options, follower, &mut fault).await?;
        }
        DrillName::LeaderIsolation => {
            isolate(cluster, clock, options, leader, &mut fault).await?;
        }
        DrillName::SlowAz => slow(cluster, clock, options, leader, &mut fault).await?,
        DrillName::RollingRestart => rolling_restart(cluster, clock, leader, &mut fault).await?,
        DrillName::FullRestart => full_restart(cluster, clock, &mut fault).await?,
    }
    super::progress(options, format!("done: {}", fault.description));
    Ok(fault)
}

impl Fault {
    /// Marks the start of a fault on `target`; says what it is.
    fn begin(&mut self, clock: Clock, target: u64, description: String) {
        self.description = description;
        self.target = Some(target);
        self.injected_ms = clock.now_ms();
        if self
            .leader_before
            .is_some_and(|(leader, _)| leader == target)
        {
            self.leader_hit_ms = Some(self.injected_ms);
        }
    }

    /// Marks the heal.
    fn heal(&mut self, clock: Clock) {
        self.healed_ms = clock.now_ms();
    }
}

async fn kill(
    cluster: &mut Cluster,
    clock: Clock,
    options: &DrillOptions,
    target: u64,
    fault: &mut Fault,
) -> Result<(), DrillError> {
    let held = held(options);
    fault.begin(
        clock,
        target,
        format!("kill -9 node {target}, restart it after {held}"),
    );
    cluster.kill(target);
    tokio::time::sleep(options.hold).await;
    fault.heal(clock);
    restart(cluster, target).await
}

async fn freeze(
    cluster: &Cluster,
    clock: Clock,
    options: &DrillOptions,
    target: u64,
    fault: &mut Fault,
) -> Result<(), DrillError> {
    let held = held(options);
    fault.begin(
        clock,
        target,
        format!("SIGSTOP node {target}, SIGCONT after {held}"),
    );
    signal(cluster, target, Signal::SIGSTOP)?;
    tokio::time::sleep(options.hold).await;
    fault.heal(clock);
    signal(cluster, target, Signal::SIGCONT)
}

async fn isolate(
    cluster: &Cluster,
    clock: Clock,
    options: &DrillOptions,
    target: u64,
    fault: &mut Fault,
) -> Result<(), DrillError> {
    let (how, held) = (options.isolation, held(options));
    let what = format!(
        "{how} node {target}'s links to the other nodes, both ways (clients still reach \
         it), heal after {held}"
    );
    fault.begin(clock, target, what);
    network(cluster)?.isolate_from_peers(target, how);
    tokio::time::sleep(options.hold).await;
    fault.heal(clock);
    network(cluster)?.heal();
    Ok(())
}

async fn slow(
    cluster: &Cluster,
    clock: Clock,
    options: &DrillOptions,
    target: u64,
    fault: &mut Fault,
) -> Result<(), DrillError> {
    let (latency, held) = (options.slow_latency.as_millis(), held(options));
    let what = format!(
        "add {latency} ms each way to every link of node {target}'s zone, heal after {held}"
    );
    fault.begin(clock, target, what);
    network(cluster)?.slow_zone(target, options.slow_latency);
    tokio::time::sleep(options.hold).await;
    fault.heal(clock);
    network(cluster)?.heal();
    Ok(())
}

fn held(options: &DrillOptions) -> String {
    format!("{:.1} s", options.hold.as_secs_f64())
}

async fn rolling_restart(
    cluster: &mut Cluster,
    clock: Clock,
    leader: u64,
    fault: &mut Fault,
) -> Result<(), DrillError> {
    let mut order: Vec<u64> = cluster.nodes.iter().map(|n| n.id).collect();
    order.retain(|&id| id != leader);
    order.push(leader);
    fault.description = format!(
        "restart each node with SIGTERM, in the order {order:?}, waiting for the cluster \
         to be whole between nodes"
    );
    fault.injected_ms = clock.now_ms();
    for id in order {
        if id == leader {
            fault.leader_hit_ms = Some(clock.now_ms());
        }
        if !cluster.terminate(id).await {
            fault
                .notes
                .push(format!("node {id} did not exit cleanly on SIGTERM"));
        }
        restart(cluster, id).await?;
        observe::wait_recovered(cluster, FIND).await?;
    }
    fault.heal(clock);
    Ok(())
}

async fn full_restart(
    cluster: &mut Cluster,
    clock: Clock,
    fault: &mut Fault,
) -> Result<(), DrillError> {
    let ids: Vec<u64> = cluster.nodes.iter().map(|n| n.id).collect();
    fault.description = "stop every node with SIGTERM, then start them all again".into();
    fault.injected_ms = clock.now_ms();
    fault.leader_hit_ms = Some(fault.injected_ms);
    for &id in &ids {
        if !cluster.terminate(id).await {
            fault
                .notes
                .push(format!("node {id} did not exit cleanly on SIGTERM"));
        }
    }
    fault.heal(clock);
    for &id in &ids {
        harness_sync("restarting a node", || cluster.spawn(id))?;
    }
    for &id in &ids {
        answering(cluster, id, FIND).await?;
    }
    Ok(())
}

/// Cuts `target`'s zone off and probes both sides; heals after the hold and waits for the
/// cut-off node to catch up.
async fn partition(
    cluster: &Cluster,
    clock: Clock,
    options: &DrillOptions,
    target: u64,
    fault: &mut Fault,
) -> Result<(), DrillError> {
    let (how, held) = (options.isolation, held(options));
    let what = format!(
        "{how} node {target}'s zone off: its links to the other nodes both ways and its \
         clients' link; heal after {held}"
    );
    fault.begin(clock, target, what);
    network(cluster)?.isolate_zone(target, how);

    // Both sides at once: a black-holed node takes the server's write timeout to refuse.
    let majority: Vec<u64> = cluster
        .nodes
        .iter()
        .map(|n| n.id)
        .filter(|&id| id != target)
        .collect();
    let (refused, (accepted, attempts)) = tokio::join!(
        probe_write(cluster, clock, target, "probe-isolated"),
        majority_write(cluster, clock, &majority)
    );
    let isolated_write_refused =
        !refused.ok && refused.error_class.as_deref() == Some("unavailable");
    let isolated_write_error = refused.error.clone();
    fault.probes.push(refused);
    fault.probes.extend(attempts);

    let hold_end = fault.injected_ms + super::round_ms(options.hold);
    let left_ms = (hold_end - clock.now_ms()).max(0.0);
    tokio::time::sleep(Duration::from_secs_f64(left_ms / 1000.0)).await;
    fault.heal(clock);
    network(cluster)?.heal();

    let caught_up_ms = match &accepted {
        Some(record) => caught_up(cluster, clock, target, record).await,
        None => None,
    };
    fault.partition = Some(PartitionChecks {
        isolated_node: target,
        isolated_write_refused,
        isolated_write_error,
        majority_write_accepted: accepted.is_some(),
        majority_write_after_ms: accepted.map(|record| record.end_ms - fault.injected_ms),
        caught_up: caught_up_ms.is_some(),
        caught_up_after_ms: caught_up_ms.map(|at| at - fault.healed_ms),
    });
    Ok(())
}

/// Generates through the `nodes` in turn until one acknowledges, within the partition
/// bound; returns the acknowledged write, if any, and every attempt.
async fn majority_write(
    cluster: &Cluster,
    clock: Clock,
    nodes: &[u64],
) -> (Option<OpRecord>, Vec<OpRecord>) {
    let deadline = tokio::time::Instant::now() + PARTITION_LIMIT;
    let mut attempts = Vec::new();
    for (attempt, via) in nodes.iter().cycle().enumerate() {
        let record = probe_write(cluster, clock, *via, &format!("probe-majority-{attempt}")).await;
        attempts.push(record.clone());
        if record.ok {
            return (Some(record), attempts);
        }
        if tokio::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    (None, attempts)
}

/// One generate sent directly to node `via`, recorded like a load operation.
async fn probe_write(cluster: &Cluster, clock: Clock, via: u64, what: &str) -> OpRecord {
    let label = format!("drill-{what}-{}", clock.now_ms() as u64);
    let request = GenerateKeyRequest {
        algorithm: LOAD_ALGORITHM.into(),
        label: label.clone(),
        usage: "sign".into(),
    };
    let start_ms = clock.now_ms();
    let mut client = cluster.key_client(via);
    let result = tokio::time::timeout(PROBE_TIMEOUT, client.generate_key(request)).await;
    let mut record = OpRecord::new(OpKind::Generate, start_ms, clock.now_ms());
    record.label = Some(label);
    record.source = Source::Probe;
    match result {
        Ok(Ok(written)) => {
            let written = written.into_inner();
            record.key_id = written.key.map(|k| k.id);
            record.succeeded(Some(via), Some(written.index));
        }
        Ok(Err(status)) => record.failed_status(&status),
        Err(_) => record.failed_status(&tonic::Status::deadline_exceeded("probe timed out")),
    }
    record
}

/// When node `id` has applied the majority's write and serves its key.
async fn caught_up(cluster: &Cluster, clock: Clock, id: u64, written: &OpRecord) -> Option<f64> {
    let (key_id, index) = (written.key_id.clone()?, written.index?);
    let has_key = || async {
        let request = GetKeyRequest {
            key_id: key_id.clone(),
            min_index: index,
        };
        let mut client = cluster.key_client(id);
        let call = client.get_key(request);
        let reply = tokio::time::timeout(Duration::from_secs(3), call)
            .await
            .ok()?;
        reply.ok().map(|_| clock.now_ms())
    };
    observe::poll("the cut-off node to catch up", PARTITION_LIMIT, has_key)
        .await
        .ok()
}

async fn restart(cluster: &mut Cluster, id: u64) -> Result<(), DrillError> {
    harness_sync("restarting a node", || cluster.spawn(id))?;
    answering(cluster, id, FIND).await
}

fn signal(cluster: &Cluster, id: u64, signal: Signal) -> Result<(), DrillError> {
    let failed = |source| DrillError::Signal {
        node: id,
        signal: signal.as_str(),
        source,
    };
    let pid = cluster.node(id).pid().ok_or(failed(nix::Error::ESRCH))?;
    let pid = i32::try_from(pid).map_err(|_| failed(nix::Error::EINVAL))?;
    nix::sys::signal::kill(Pid::from_raw(pid), signal).map_err(failed)
}

fn network(cluster: &Cluster) -> Result<&Network, DrillError> {
    cluster
        .network()
        .ok_or_else(|| DrillError::Setup("the cluster was started without proxies".into()))
}
