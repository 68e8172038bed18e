//! Drills that crash or freeze a node while a load runs: leader-kill, follower-kill and
//! leader-freeze. A quorum and a healthy node stay reachable throughout, so no key may be
//! lost and no signature may fail (leader-freeze: see the limitation there); losing the
//! leader must elect a new one.

#![allow(clippy::unwrap_used)] // a test fails by panicking

use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

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
fn killing_the_leader_loses_no_key_and_fails_no_signature() {
    let report = drill(DrillName::LeaderKill);
    assert!(
        report.checks.lost_keys.is_empty(),
        "{:?}",
        report.checks.lost_keys
    );
    assert_eq!(report.failed_signs(), 0);
    assert!(report.leader.new_leader.is_some());
    assert!(report.passed, "{report}");
}

#[test]
fn killing_a_follower_loses_no_key_and_fails_no_signature() {
    let report = drill(DrillName::FollowerKill);
    assert!(
        report.checks.lost_keys.is_empty(),
        "{:?}",
        report.checks.lost_keys
    );
    assert_eq!(report.failed_signs(), 0);
    assert!(report.passed, "{report}");
}

#[test]
fn freezing_the_leader_loses_no_key_and_fails_no_signature() {
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
    assert!(report.passed, "{report}");
}
