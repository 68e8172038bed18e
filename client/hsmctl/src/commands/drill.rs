//! `hsmctl drill NAME`: runs a failover drill on a fresh local three-node cluster (hsmd
//! processes on loopback, every link behind a fault-injecting proxy) while a load runs,
//! and prints the report. The drill itself is `keyhold_cluster_tests::run_drill`; this
//! file finds the binaries, runs it on its own multi-threaded runtime and renders it.

use std::path::PathBuf;
use std::time::Duration;

use keyhold_cluster_tests::binaries::Binaries;
use keyhold_cluster_tests::network::Isolation;
use keyhold_cluster_tests::{DrillError, DrillName, DrillOptions, DrillReport, run_drill};
use serde_json::Value;

use crate::cli::DrillArgs;
use crate::error::CliError;
use crate::output::Render;

/// Worker threads of the drill's runtime: the load, the proxies and the watcher.
const DRILL_THREADS: usize = 2;

/// Runs the drill named in `args`; writes the JSON report when asked.
pub(crate) async fn run(args: DrillArgs) -> Result<DrillReport, CliError> {
    let name: DrillName = args.name.parse()?;
    let hsmctl = std::env::current_exe().map_err(|source| DrillError::Io {
        what: "locating the hsmctl executable".into(),
        source,
    })?;
    let hsmd = crate::dev::find_hsmd(args.hsmd.as_deref())?;
    let isolation = match args.isolation.as_str() {
        "blackhole" => Isolation::Blackhole,
        _ => Isolation::Cut,
    };
    let options = DrillOptions {
        hold: Duration::from_secs(args.hold_secs),
        isolation,
        slow_latency: Duration::from_millis(args.slow_ms),
        binaries: Some(Binaries { hsmd, hsmctl }),
        log_dir: args.logs.clone(),
        progress: true,
        ..DrillOptions::default()
    };
    // The drill runs its own processes, proxies and load: give it threads of its own
    // instead of this command's single-threaded runtime.
    let report = tokio::task::spawn_blocking(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(DRILL_THREADS)
            .enable_all()
            .build()
            .map_err(|source| DrillError::Io {
                what: "starting the drill's runtime".into(),
                source,
            })?;
        runtime.block_on(run_drill(name, &options))
    })
    .await
    .map_err(|err| CliError::DrillAborted(err.to_string()))??;
    if let Some(path) = &args.report {
        report.write_json(path)?;
    }
    Ok(report)
}

/// The exit status of a drill: a failed drill is an error for scripts.
pub(crate) fn verdict(report: &DrillReport, file: Option<PathBuf>) -> Result<(), CliError> {
    if report.passed {
        return Ok(());
    }
    Err(CliError::DrillFailed {
        drill: report.drill.to_string(),
        reasons: report.failures.join("; "),
        report: file,
    })
}

impl Render for DrillReport {
    fn text(&self) -> String {
        self.to_string().trim_end().to_owned()
    }

    /// The report without its operation records, which only `--report FILE` holds.
    fn json(&self) -> Value {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(fields) = value.as_object_mut() {
            fields.remove("operations");
        }
        value
    }
}
