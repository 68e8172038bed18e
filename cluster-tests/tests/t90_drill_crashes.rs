//! Drills that crash or freeze a node while a load runs: leader-kill, follower-kill and
//! leader-freeze. A quorum and a healthy node stay reachable throughout, so no key may be
//! lost and no signature or TLS handshake may fail; losing the leader must elect a new
//! one.

#![allow(clippy::unwrap_used)] // a test fails by panicking

use keyhold_cluster_tests::drill_test::{assert_handshakes_never_failed, drill_for_test};
use keyhold_cluster_tests::{DrillName, DrillReport};

fn drill(name: DrillName) -> DrillReport {
    drill_for_test(name, env!("CARGO_TARGET_TMPDIR"))
}

#[test]
fn killing_the_leader_loses_no_key_and_fails_no_signature_or_handshake() {
    let report = drill(DrillName::LeaderKill);
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
fn killing_a_follower_loses_no_key_and_fails_no_signature_or_handshake() {
    let report = drill(DrillName::FollowerKill);
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
fn freezing_the_leader_loses_no_key_and_fails_no_signature_or_handshake() {
    let report = drill(DrillName::LeaderFreeze);
    assert!(
        report.checks.lost_keys.is_empty(),
        "{:?}",
        report.checks.lost_keys
    );
    assert!(report.checks.passed(), "{report}");
    assert!(report.leader.new_leader.is_some());
    // The client bounds each attempt of a sign, so calls stuck on the frozen node move on.
    assert_eq!(report.failed_signs(), 0, "{report}");
    assert_handshakes_never_failed(&report);
    assert!(report.passed, "{report}");
}
