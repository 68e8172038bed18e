//! Running a drill from a `#[test]`: one drill at a time per test binary, logs and the
//! JSON report kept under the target's tmp dir, the text report printed; and the
//! assertions the drill tests share.

use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use crate::drill::{OpKind, Phase};
use crate::{DrillName, DrillOptions, DrillReport, run_drill};

/// One drill at a time: each runs a three-node cluster and a load on two cores.
static SERIAL: Mutex<()> = Mutex::new(());

/// Runs `name` with the default options; panics (fails the test) if the runner fails.
pub fn drill_for_test(name: DrillName, target_tmp: &str) -> DrillReport {
    let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let dir = PathBuf::from(target_tmp).join("drills").join(name.as_str());
    let options = DrillOptions {
        log_dir: Some(dir.clone()),
        progress: true,
        ..DrillOptions::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("test runtime");
    let report = runtime
        .block_on(run_drill(name, &options))
        .expect("drill runner");
    eprintln!("{report}");
    report
        .write_json(&dir.join("report.json"))
        .expect("report written");
    report
}

/// The load made TLS handshakes in every phase, and none failed.
pub fn assert_handshakes_never_failed(report: &DrillReport) {
    assert!(report.handshake.is_some(), "no handshake server\n{report}");
    for phase in [Phase::Before, Phase::During, Phase::After] {
        let made = report
            .stats(phase, OpKind::Handshake)
            .map_or(0, |stats| stats.attempted);
        assert!(made > 0, "no handshake {phase:?} the fault\n{report}");
    }
    assert_eq!(report.failed_handshakes(), 0, "{report}");
}
