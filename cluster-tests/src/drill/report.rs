//! The drill report: what was done, figures per phase (before, during and after the
//! fault), leader and write recovery times, the key accounting, and a verdict with the
//! reasons. Serialized as JSON for machines, with every operation record; the text form
//! is left to `text`, the expectations behind the verdict to `verdict`.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::checks::{Checks, PartitionChecks};
use super::faults::Fault;
use super::handshake::HandshakeSetup;
use super::observe::Sample;
use super::record::{OpKind, OpRecord, Source};
use super::stats::{self, OpStats};
use super::{DrillError, DrillName, DrillOptions, round_ms, verdict};
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
    /// The TLS server the load made handshakes with, when it made any.
    pub handshake: Option<HandshakeSetup>,
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

    /// TLS handshakes of the load that failed, all phases.
    pub fn failed_handshakes(&self) -> usize {
        self.load_ops(OpKind::Handshake).filter(|r| !r.ok).count()
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
        handshake: None,
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
    verdict::judge(&mut report, fault);
    report
}

/// The kinds a phase has figures for, in the order the report lists them.
const OP_KINDS: [OpKind; 4] = [
    OpKind::Sign,
    OpKind::Handshake,
    OpKind::Generate,
    OpKind::Destroy,
];

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
                ops: OP_KINDS
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

/// Reports built from hand-made records, for the unit tests of the report's parts.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// A load operation of `kind` from `start_ms` to `end_ms`.
    pub(crate) fn op(kind: OpKind, start_ms: f64, end_ms: f64, ok: bool) -> OpRecord {
        let mut record = OpRecord::new(kind, start_ms, end_ms);
        record.ok = ok;
        if !ok {
            record.failed_with("deadline-exceeded", "server: signature: too late".into());
        }
        record
    }

    /// The report of drill `name` whose fault lasted from 1 s to 2 s and whose load ended
    /// at 3 s, with clean checks, a write acknowledged after the heal, and `records`.
    pub(crate) fn report(name: DrillName, records: Vec<OpRecord>) -> DrillReport {
        let timeline = Timeline {
            injected_ms: 1000.0,
            healed_ms: 2000.0,
            ended_ms: 3000.0,
            ..Timeline::default()
        };
        let fault = Fault {
            injected_ms: 1000.0,
            healed_ms: 2000.0,
            ..Fault::default()
        };
        let checks = Checks {
            nodes_agree: true,
            ..Checks::default()
        };
        let mut operations = vec![op(OpKind::Generate, 2500.0, 2550.0, true)];
        operations.extend(records);
        operations.sort_by(|a, b| a.start_ms.total_cmp(&b.start_ms));
        let options = DrillOptions::default();
        assemble(name, &options, timeline, &fault, operations, &[], checks)
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{op, report};
    use super::*;

    #[test]
    fn handshakes_get_figures_in_the_phase_they_started() {
        let records = vec![
            op(OpKind::Handshake, 500.0, 520.0, true),
            op(OpKind::Handshake, 990.0, 3390.0, false),
            op(OpKind::Handshake, 1500.0, 1540.0, true),
            op(OpKind::Handshake, 1600.0, 1620.0, true),
        ];
        let report = report(DrillName::LeaderKill, records);
        let before = report.stats(Phase::Before, OpKind::Handshake).unwrap();
        assert_eq!((before.attempted, before.failed), (2, 1));
        assert_eq!(before.p99_ms, Some(2400.0));
        let during = report.stats(Phase::During, OpKind::Handshake).unwrap();
        assert_eq!((during.attempted, during.failed), (2, 0));
        assert_eq!((during.p50_ms, during.p99_ms), (Some(20.0), Some(40.0)));
        let after = report.stats(Phase::After, OpKind::Handshake).unwrap();
        assert_eq!(after.attempted, 0);
        assert_eq!(report.failed_handshakes(), 1);
    }

    #[test]
    fn failed_handshakes_are_counted_by_phase_and_class() {
        let records = vec![op(OpKind::Handshake, 1500.0, 3900.0, false)];
        let report = report(DrillName::FollowerKill, records);
        let [error] = report.errors.as_slice() else {
            panic!("{:?}", report.errors);
        };
        assert_eq!(
            (error.phase, error.kind),
            (Phase::During, OpKind::Handshake)
        );
        assert_eq!(
            (error.class.as_str(), error.count),
            ("deadline-exceeded", 1)
        );
    }
}
