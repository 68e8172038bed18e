//! Drills that restart nodes while a load runs: rolling-restart (one node at a time,
//! followers first) and full-restart (every node stopped, then started). No key may be
//! lost; a rolling restart keeps a quorum, so no signature or TLS handshake may fail
//! either; after a full restart both work again.

#![allow(clippy::unwrap_used)] // a test fails by panicking

use keyhold_cluster_tests::drill::OpKind;
use keyhold_cluster_tests::drill_test::{assert_handshakes_never_failed, drill_for_test};
use keyhold_cluster_tests::{DrillName, DrillReport};

fn drill(name: DrillName) -> DrillReport {
    drill_for_test(name, env!("CARGO_TARGET_TMPDIR"))
}

#[test]
fn a_rolling_restart_fails_no_signature_or_handshake_and_loses_no_key() {
    let report = drill(DrillName::RollingRestart);
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
fn a_full_restart_loses_no_key_and_signs_and_handshakes_again() {
    let report = drill(DrillName::FullRestart);
    assert!(
        report.checks.lost_keys.is_empty(),
        "{:?}",
        report.checks.lost_keys
    );
    assert!(report.checks.acknowledged_keys > 0);
    let signed_after = report
        .load_ops(OpKind::Sign)
        .filter(|op| op.ok && op.start_ms >= report.timeline.healed_ms)
        .count();
    assert!(signed_after > 0, "nothing signed after the restart");
    let handshakes_after = report
        .load_ops(OpKind::Handshake)
        .filter(|op| op.ok && op.start_ms >= report.timeline.healed_ms)
        .count();
    assert!(
        handshakes_after > 0,
        "no handshake after the restart\n{report}"
    );
    assert!(report.passed, "{report}");
}
