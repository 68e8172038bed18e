//! The drill report: what was done, figures per phase (before, during and after the
//! fault), leader and write recovery times, the key accounting, and a verdict with the
//! reasons. Serialized as JSON for machines, with every operation record; the text form
//! is left to `text`.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::checks::{Checks, PartitionChecks};
use super::faults::Fault;
use super::observe::Sample;
use super::record::{OpKind, OpRecord, Source};
use super::stats::{self, OpStats};
use super::{DrillError, DrillName, DrillOptions, round_ms};
use crate::network::Isolation;

/// A part of the drill; an operation belongs to the phase in which it started.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Warm-up, before the fault.
    Before,
    /// From the fault to the heal.
    During,
    /// From the heal to the end.
    After,
}

/// When things happened, in ms since the drill started.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Timeline {
    /// The cluster answered and was initialized.
    pub cluster_started_ms: f64,
    /// The fault began.
    pub injected_ms: f64,
    /// The fault was healed.
    pub healed_ms: f64,
    /// Every node was healthy and caught up again.
    pub recovered_ms: Option<f64>,
    /// The load stopped.
    pub ended_ms: f64,
    /// The checks were done.
    pub checked_ms: f64,
}

/// Figures of one phase.
#[derive(Clone, Debug, Serialize)]
pub struct PhaseStats {
    /// The phase.
    pub phase: Phase,
    /// Its length in ms.
    pub duration_ms: f64,
    /// One entry per operation kind.
    pub ops: Vec<OpStats>,
}

/// Who led, and how the leadership moved.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LeaderFigures {
    /// The leader before the fault.
    pub before: Option<u64>,
    /// Its term.
    pub term_before: Option<u64>,
    /// The leader at the end.
    pub after: Option<u64>,
    /// Its term.
    pub term_after: Option<u64>,
    /// The first leader of a later term after the fault hit.
    pub new_leader: Option<u64>,
    /// From the fault to that leader's first sample.
    pub new_leader_after_ms: Option<f64>,
    /// Terms with a leader after the fault hit (1 is a single election).
    pub new_terms: usize,
}

/// A node's role or term changed (as the watcher saw it, a few hundred ms apart).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RoleChange {
    /// When it was first seen, in ms since the drill started.
    pub at_ms: f64,
    /// The node.
    pub node: u64,
    /// Its new role.
    pub role: String,
    /// Its term.
    pub term: u64,
}

/// Failures of one kind, in one phase, with one class.
#[derive(Clone, Debug, Serialize)]
pub struct ErrorCount {
    /// The phase.
    pub phase: Phase,
    /// The operation kind.
    pub kind: OpKind,
    /// The failure class (for example `unavailable`).
    pub class: String,
    /// How many.
    pub count: usize,
    /// The first one's message.
    pub example: String,
}

/// Everything a drill found.
#[derive(Clone, Debug, Serialize)]
pub struct DrillReport {
    /// The drill.
    pub drill: DrillName,
    /// What the fault was.
    pub description: String,
    /// True when every expectation held.
    pub passed: bool,
    /// Each expectation that did not hold.
    pub failures: Vec<String>,
    /// The node the fault hit.
    pub target: Option<u64>,
    /// Warm-up, hold and settle, in ms.
    pub warmup_ms: f64,
    /// The hold.
    pub hold_ms: f64,
    /// Load after recovery.
    pub settle_ms: f64,
    /// How isolated links failed.
    pub isolation: Isolation,
    /// When things happened.
    pub timeline: Timeline,
    /// Leadership.
    pub leader: LeaderFigures,
    /// Every change of a node's role or term.
    pub role_changes: Vec<RoleChange>,
    /// From the fault to the first acknowledged write started after it.
    pub writes_ok_after_ms: Option<f64>,
    /// Figures per phase.
    pub phases: Vec<PhaseStats>,
    /// Failures by phase, kind and class.
    pub errors: Vec<ErrorCount>,
    /// The key accounting.
    pub checks: Checks,
    /// az-partition's findings.
    pub partition: Option<PartitionChecks>,
    /// Where the node logs were copied.
    pub log_dir: Option<PathBuf>,
    /// Every operation, in start order.
    pub operations: Vec<OpRecord>,
}

impl DrillReport {
    /// Marks the drill failed for `reason`.
    pub fn fail(&mut self, reason: String) {
        self.passed = false;
        self.failures.push(reason);
    }

    /// Signatures of the load that failed, all phases.
    pub fn failed_signs(&self) -> usize {
        self.load_ops(OpKind::Sign).filter(|r| !r.ok).count()
    }

    /// Load operations of `kind`.
    pub fn load_ops(&self, kind: OpKind) -> impl Iterator<Item = &OpRecord> {
        self.operations
            .iter()
            .filter(move |r| r.kind == kind && r.source == Source::Load)
    }

    /// The figures of one phase and kind.
    pub fn stats(&self, phase: Phase, kind: OpKind) -> Option<&OpStats> {
        let phase = self.phases.iter().find(|p| p.phase == phase)?;
        phase.ops.iter().find(|s| s.kind == kind)
    }

    /// The report as pretty-printed JSON.
    pub fn to_json(&self) -> Result<String, DrillError> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    /// Writes the JSON report to `path`.
    pub fn write_json(&self, path: &Path) -> Result<(), DrillError> {
        std::fs::write(path, self.to_json()?).map_err(|source| DrillError::Io {
            what: format!("writing {}", path.display()),
            source,
        })
    }
}

/// Builds the report and its verdict.
pub(crate) fn assemble(
    name: DrillName,
    options: &DrillOptions,
    timeline: Timeline,
    fault: &Fault,
    operations: Vec<OpRecord>,
    samples: &[Sample],
    checks: Checks,
) -> DrillReport {
    let hit_ms = fault.leader_hit_ms.unwrap_or(fault.injected_ms);
    let mut report = DrillReport {
        drill: name,
        description: fault.description.clone(),
        passed: true,
        failures: Vec::new(),
        target: fault.target,
        warmup_ms: round_ms(options.warmup),
        hold_ms: round_ms(options.hold),
        settle_ms: round_ms(options.settle),
        isolation: options.isolation,
        leader: stats::leader_figures(samples, fault.leader_before, hit_ms),
        role_changes: stats::role_changes(samples),
        writes_ok_after_ms: None,
        phases: Vec::new(),
        errors: Vec::new(),
        checks,
        partition: fault.partition.clone(),
        log_dir: None,
        operations,
        timeline,
    };
    let load: Vec<&OpRecord> = report
        .operations
        .iter()
        .filter(|r| r.source == Source::Load)
        .collect();
    report.writes_ok_after_ms = stats::writes_ok_after(load.iter().copied(), fault.injected_ms);
    report.phases = phase_stats(&load, &report.timeline);
    report.errors = error_counts(&load, &report.timeline);
    judge(&mut report, fault);
    report
}

fn phase_of(start_ms: f64, timeline: &Timeline) -> Phase {
    if start_ms < timeline.injected_ms {
        Phase::Before
    } else if start_ms < timeline.healed_ms {
        Phase::During
    } else {
        Phase::After
    }
}

fn phase_stats(load: &[&OpRecord], timeline: &Timeline) -> Vec<PhaseStats> {
    let first = load.first().map_or(0.0, |r| r.start_ms);
    let bounds = [
        (Phase::Before, first, timeline.injected_ms),
        (Phase::During, timeline.injected_ms, timeline.healed_ms),
        (Phase::After, timeline.healed_ms, timeline.ended_ms),
    ];
    bounds
        .into_iter()
        .map(|(phase, from, to)| {
            let in_phase = || {
                load.iter()
                    .copied()
                    .filter(move |r| phase_of(r.start_ms, timeline) == phase)
            };
            PhaseStats {
                phase,
                duration_ms: ((to - from) * 100.0).round() / 100.0,
                ops: [OpKind::Sign, OpKind::Generate, OpKind::Destroy]
                    .into_iter()
                    .map(|kind| OpStats::of(kind, in_phase()))
                    .collect(),
            }
        })
        .collect()
}

fn error_counts(load: &[&OpRecord], timeline: &Timeline) -> Vec<ErrorCount> {
    let mut counts: Vec<ErrorCount> = Vec::new();
    for record in load.iter().filter(|r| !r.ok) {
        let phase = phase_of(record.start_ms, timeline);
        let class = record.error_class.clone().unwrap_or_default();
        let same =
            |c: &&mut ErrorCount| c.phase == phase && c.kind == record.kind && c.class == class;
        match counts.iter_mut().find(|c| same(c)) {
            Some(count) => count.count += 1,
            None => counts.push(ErrorCount {
                phase,
                kind: record.kind,
                class,
                count: 1,
                example: record.error.clone().unwrap_or_default(),
            }),
        }
    }
    counts.sort_by(|a, b| (a.phase, a.kind, &a.class).cmp(&(b.phase, b.kind, &b.class)));
    counts
}

/// The expectations every drill, or this drill, must meet.
fn judge(report: &mut DrillReport, fault: &Fault) {
    let checks = report.checks.clone();
    let lines = [
        (checks.lost_keys.len(), "acknowledged keys lost"),
        (checks.resurrected_keys.len(), "destroyed keys came back"),
        (checks.unexplained_keys.len(), "keys no write made"),
        (
            checks.signature_failures.len(),
            "signatures failed after the drill",
        ),
    ];
    for (count, what) in lines {
        if count > 0 {
            report.fail(format!("{count} {what}"));
        }
    }
    if !checks.nodes_agree {
        report.fail("the nodes list different keys".into());
    }
    for problem in &checks.problems {
        report.fail(problem.clone());
    }
    for note in &fault.notes {
        report.fail(note.clone());
    }
    let failed_signs = report.failed_signs();
    if report.drill.keeps_quorum() && failed_signs > 0 {
        report.fail(format!(
            "{failed_signs} signatures failed although a quorum and a healthy node stayed \
             reachable"
        ));
    }
    if report.drill.expects_new_leader() && report.leader.new_leader.is_none() {
        report.fail("no new leader was elected".into());
    }
    let after_ok = report
        .load_ops(OpKind::Generate)
        .any(|r| r.ok && r.start_ms >= report.timeline.healed_ms);
    if !after_ok {
        report.fail("no write succeeded after the heal".into());
    }
    if let Some(partition) = report.partition.clone().filter(|p| !p.passed()) {
        report.fail(format!("az-partition expectations failed: {partition:?}"));
    }
}
