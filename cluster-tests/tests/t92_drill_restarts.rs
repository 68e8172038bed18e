//! Drills that restart nodes while a load runs: rolling-restart (one node at a time,
//! followers first) and full-restart (every node stopped, then started). No key may be
//! lost; a rolling restart keeps a quorum, so no signature may fail either.

#![allow(clippy::unwrap_used)] // a test fails by panicking

use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use keyhold_cluster_tests::drill::OpKind;
use keyhold_cluster_tests::{DrillName, DrillOptions, DrillReport, run_drill};

/// One drill at a time: each runs a three-node cluster and a load on two cores.
static SERIAL: Mutex<()> = Mutex::new(());

fn drill(name: DrillName) -> DrillReport {
    let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("drills")
        .join(name.as_str());
    let options = DrillOptions {
        log_dir: Some(dir.clone()),
        progress: true,
        ..DrillOptions::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let report = runtime.block_on(run_drill(name, &options)).unwrap();
    eprintln!("{report}");
    report.write_json(&dir.join("report.json")).unwrap();
    report
}

#[test]
fn a_rolling_restart_fails_no_signature_and_loses_no_key() {
    let report = drill(DrillName::RollingRestart);
    assert!(
        report.checks.lost_keys.is_empty(),
        "{:?}",
        report.checks.lost_keys
    );
    assert_eq!(report.failed_signs(), 0);
    assert!(report.passed, "{report}");
}

#[test]
fn a_full_restart_loses_no_key() {
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
    assert!(report.passed, "{report}");
}
