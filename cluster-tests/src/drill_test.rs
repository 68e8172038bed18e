//! Running a drill from a `#[test]`: one drill at a time per test binary, logs and the
//! JSON report kept under the target's tmp dir, the text report printed.

use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

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
