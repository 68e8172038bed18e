//! Drills that cut or slow links while a load runs: az-partition (a follower's zone cut
//! off, clients included), leader-isolation (the leader cut off from its peers, clients
//! still reach it) and slow-az (latency on every link of the leader's zone). A quorum and a
//! healthy node stay reachable throughout, so no key may be lost and no signature or TLS
//! handshake may fail.

#![allow(clippy::unwrap_used)] // a test fails by panicking

use keyhold_cluster_tests::drill::{OpKind, Phase};
use keyhold_cluster_tests::drill_test::{assert_handshakes_never_failed, drill_for_test};
use keyhold_cluster_tests::{DrillName, DrillReport};

fn drill(name: DrillName) -> DrillReport {
    drill_for_test(name, env!("CARGO_TARGET_TMPDIR"))
}

#[test]
fn a_partitioned_zone_refuses_writes_the_majority_accepts_them_and_it_catches_up() {
    let report = drill(DrillName::AzPartition);
    let partition = report.partition.clone().unwrap();
    assert!(partition.isolated_write_refused, "{partition:?}");
    assert!(partition.majority_write_accepted, "{partition:?}");
    assert!(partition.caught_up, "{partition:?}");
    assert!(
        report.checks.lost_keys.is_empty(),
        "{:?}",
        report.checks.lost_keys
    );
    assert_eq!(report.failed_signs(), 0);
    assert_handshakes_never_failed(&report);
    assert!(report.passed, "{report}");
}

#[test]
fn an_isolated_leader_is_replaced_and_loses_no_key() {
    let report = drill(DrillName::LeaderIsolation);
    assert!(
        report.checks.lost_keys.is_empty(),
        "{:?}",
        report.checks.lost_keys
    );
    assert_eq!(report.failed_signs(), 0);
    assert_handshakes_never_failed(&report);
    assert!(report.leader.new_leader.is_some());
    assert!(report.passed, "{report}");
}

#[test]
fn a_slow_zone_fails_no_signature_or_handshake_and_loses_no_key() {
    let report = drill(DrillName::SlowAz);
    assert!(
        report.checks.lost_keys.is_empty(),
        "{:?}",
        report.checks.lost_keys
    );
    // 50 ms each way keeps the leader's round trip under openraft's heartbeat RPC
    // timeout (3/4 of heartbeat_ms), so writes keep committing, only slower.
    let writes = report.stats(Phase::During, OpKind::Generate).unwrap();
    assert!(writes.attempted > writes.failed, "{report}");
    assert_eq!(report.failed_signs(), 0);
    assert_handshakes_never_failed(&report);
    assert!(report.passed, "{report}");
}
