//! Figures computed from the records and the watcher's samples: attempts, failures and
//! latency percentiles per operation kind, time until writes succeed again, and when a
//! new leader took office.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::observe::Sample;
use super::record::{OpKind, OpRecord};
use super::report::{LeaderFigures, RoleChange};

/// Attempts, failures and latency of one kind of operation in one phase. Latency counts
/// every completed call, failed ones included: it is what a caller waited.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OpStats {
    /// The kind.
    pub kind: OpKind,
    /// Calls started.
    pub attempted: usize,
    /// Calls that failed.
    pub failed: usize,
    /// Median latency in ms.
    pub p50_ms: Option<f64>,
    /// 99th percentile latency in ms.
    pub p99_ms: Option<f64>,
    /// Longest call in ms.
    pub max_ms: Option<f64>,
}

impl OpStats {
    /// The figures of the `kind` operations among `records`.
    pub(crate) fn of<'a>(kind: OpKind, records: impl Iterator<Item = &'a OpRecord>) -> Self {
        let mut attempted = 0;
        let mut failed = 0;
        let mut latencies = Vec::new();
        for record in records.filter(|r| r.kind == kind) {
            attempted += 1;
            failed += usize::from(!record.ok);
            latencies.push(record.latency_ms());
        }
        latencies.sort_by(f64::total_cmp);
        OpStats {
            kind,
            attempted,
            failed,
            p50_ms: percentile(&latencies, 0.50),
            p99_ms: percentile(&latencies, 0.99),
            max_ms: latencies.last().copied(),
        }
    }
}

/// Nearest-rank percentile of sorted values.
pub(crate) fn percentile(sorted: &[f64], quantile: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (quantile * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

/// From `from_ms` to the acknowledgement of the first write started at or after it.
pub(crate) fn writes_ok_after<'a>(
    records: impl IntoIterator<Item = &'a OpRecord>,
    from_ms: f64,
) -> Option<f64> {
    records
        .into_iter()
        .filter(|r| r.kind.is_write() && r.ok && r.start_ms >= from_ms)
        .map(|r| r.end_ms - from_ms)
        .min_by(f64::total_cmp)
}

/// Leader figures: who led before and at the end, and the first node after `hit_ms` that
/// reported itself leader in a later term than `before`'s. Samples are a few hundred ms
/// apart, which bounds the precision.
pub(crate) fn leader_figures(
    samples: &[Sample],
    before: Option<(u64, u64)>,
    hit_ms: f64,
) -> LeaderFigures {
    let term_before = before.map_or(0, |(_, term)| term);
    let leaders = samples.iter().filter(|s| s.role == "leader");
    let newer: Vec<&Sample> = leaders
        .clone()
        .filter(|s| s.at_ms >= hit_ms && s.term > term_before)
        .collect();
    let first = newer.first();
    let terms: BTreeSet<u64> = newer.iter().map(|s| s.term).collect();
    let after = leaders.max_by(|a, b| a.term.cmp(&b.term).then(a.at_ms.total_cmp(&b.at_ms)));
    LeaderFigures {
        before: before.map(|(id, _)| id),
        term_before: before.map(|(_, term)| term),
        after: after.map(|s| s.node),
        term_after: after.map(|s| s.term),
        new_leader: first.map(|s| s.node),
        new_leader_after_ms: first.map(|s| s.at_ms - hit_ms),
        new_terms: terms.len(),
    }
}

/// Each change of a node's role or term, in time order: the election history.
pub(crate) fn role_changes(samples: &[Sample]) -> Vec<RoleChange> {
    let mut last: BTreeMap<u64, (&str, u64)> = BTreeMap::new();
    let mut changes = Vec::new();
    for sample in samples {
        let now = (sample.role.as_str(), sample.term);
        if last.insert(sample.node, now) != Some(now) {
            changes.push(RoleChange {
                at_ms: sample.at_ms,
                node: sample.node,
                role: sample.role.clone(),
                term: sample.term,
            });
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drill::record::Source;

    fn op(kind: OpKind, start_ms: f64, end_ms: f64, ok: bool) -> OpRecord {
        let mut record = OpRecord::new(kind, start_ms, end_ms);
        record.ok = ok;
        record.source = Source::Load;
        record
    }

    fn sample(at_ms: f64, node: u64, role: &str, term: u64) -> Sample {
        Sample {
            at_ms,
            node,
            role: role.into(),
            term,
            leader: 0,
        }
    }

    #[test]
    fn role_changes_keep_only_transitions() {
        let samples = [
            sample(0.0, 1, "leader", 1),
            sample(10.0, 2, "follower", 1),
            sample(200.0, 1, "leader", 1),
            sample(210.0, 2, "candidate", 2),
            sample(400.0, 2, "leader", 2),
        ];
        let changes = role_changes(&samples);
        let seen: Vec<(u64, &str, u64)> = changes
            .iter()
            .map(|c| (c.node, c.role.as_str(), c.term))
            .collect();
        assert_eq!(
            seen,
            [
                (1, "leader", 1),
                (2, "follower", 1),
                (2, "candidate", 2),
                (2, "leader", 2)
            ]
        );
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let values: Vec<f64> = (1..=200).map(f64::from).collect();
        assert_eq!(percentile(&values, 0.50), Some(100.0));
        assert_eq!(percentile(&values, 0.99), Some(198.0));
        assert_eq!(percentile(&[7.0], 0.99), Some(7.0));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn op_stats_count_failures_and_include_their_latency() {
        let records = [
            op(OpKind::Sign, 0.0, 1.0, true),
            op(OpKind::Sign, 0.0, 3.0, true),
            op(OpKind::Sign, 0.0, 5000.0, false),
            op(OpKind::Generate, 0.0, 9.0, true),
        ];
        let stats = OpStats::of(OpKind::Sign, records.iter());
        assert_eq!((stats.attempted, stats.failed), (3, 1));
        assert_eq!(stats.p50_ms, Some(3.0));
        assert_eq!(stats.max_ms, Some(5000.0));
    }

    #[test]
    fn writes_recover_at_the_first_acknowledged_write_started_after_the_fault() {
        let records = [
            op(OpKind::Generate, 900.0, 950.0, true),
            op(OpKind::Generate, 1000.0, 6000.0, false),
            op(OpKind::Destroy, 1500.0, 2500.0, true),
            op(OpKind::Generate, 2000.0, 2100.0, true),
        ];
        assert_eq!(writes_ok_after(&records, 1000.0), Some(1100.0));
        assert_eq!(writes_ok_after(&records, 3000.0), None);
    }

    #[test]
    fn signatures_and_handshakes_do_not_count_as_writes() {
        let records = [
            op(OpKind::Sign, 1000.0, 1010.0, true),
            op(OpKind::Handshake, 1000.0, 1020.0, true),
            op(OpKind::Generate, 1000.0, 1500.0, true),
        ];
        assert_eq!(writes_ok_after(&records, 1000.0), Some(500.0));
    }

    #[test]
    fn handshake_stats_count_only_handshakes() {
        let records = [
            op(OpKind::Handshake, 0.0, 20.0, true),
            op(OpKind::Handshake, 10.0, 2410.0, false),
            op(OpKind::Sign, 0.0, 5.0, false),
        ];
        let stats = OpStats::of(OpKind::Handshake, records.iter());
        assert_eq!(stats.kind, OpKind::Handshake);
        assert_eq!((stats.attempted, stats.failed), (2, 1));
        assert_eq!(stats.p50_ms, Some(20.0));
        assert_eq!(stats.p99_ms, Some(2400.0));
    }

    #[test]
    fn a_new_leader_is_one_in_a_later_term_after_the_hit() {
        let samples = [
            sample(100.0, 1, "leader", 3),
            sample(1200.0, 2, "candidate", 4),
            sample(2400.0, 2, "leader", 4),
            sample(2600.0, 1, "leader", 3),
            sample(9000.0, 3, "leader", 5),
        ];
        let figures = leader_figures(&samples, Some((1, 3)), 1000.0);
        assert_eq!(figures.new_leader, Some(2));
        assert_eq!(figures.new_leader_after_ms, Some(1400.0));
        assert_eq!(figures.after, Some(3));
        assert_eq!(figures.new_terms, 2);
    }
}
