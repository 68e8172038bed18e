//! The verdict of a drill: the expectations every drill must meet (no key lost, returned
//! or unexplained, every key signs, the nodes agree, writes work after the heal) and
//! those of some drills (no failed signature or TLS handshake while a quorum and a healthy
//! node stayed reachable, a new leader when the leader was lost). The figures it judges
//! are left to `report` and `stats`.

use super::faults::Fault;
use super::record::OpKind;
use super::report::DrillReport;

/// Marks `report` failed, once per expectation that did not hold.
pub(crate) fn judge(report: &mut DrillReport, fault: &Fault) {
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
    judge_availability(report);
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

/// Signatures and handshakes must not fail while clients can reach a quorum and a
/// healthy node; losing the leader must elect another.
fn judge_availability(report: &mut DrillReport) {
    let failed = [
        (report.failed_signs(), "signatures"),
        (report.failed_handshakes(), "TLS handshakes"),
    ];
    for (count, what) in failed {
        if report.drill.keeps_quorum() && count > 0 {
            report.fail(format!(
                "{count} {what} failed although a quorum and a healthy node stayed reachable"
            ));
        }
    }
    if report.drill.expects_new_leader() && report.leader.new_leader.is_none() {
        report.fail("no new leader was elected".into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drill::DrillName;
    use crate::drill::report::testing::{op, report};

    #[test]
    fn a_failed_handshake_fails_a_drill_that_keeps_a_quorum() {
        let records = vec![
            op(OpKind::Handshake, 1200.0, 1220.0, true),
            op(OpKind::Handshake, 1300.0, 3700.0, false),
        ];
        let report = report(DrillName::FollowerKill, records);
        assert!(!report.passed);
        assert_eq!(
            report.failures,
            ["1 TLS handshakes failed although a quorum and a healthy node stayed reachable"]
        );
    }

    #[test]
    fn a_full_restart_may_fail_handshakes_and_signatures() {
        let records = vec![
            op(OpKind::Handshake, 1300.0, 3700.0, false),
            op(OpKind::Sign, 1300.0, 6300.0, false),
            op(OpKind::Handshake, 2600.0, 2620.0, true),
        ];
        let report = report(DrillName::FullRestart, records);
        assert_eq!(report.failed_handshakes(), 1);
        assert!(report.passed, "{:?}", report.failures);
    }

    #[test]
    fn a_drill_without_failures_passes() {
        let records = vec![
            op(OpKind::Sign, 500.0, 510.0, true),
            op(OpKind::Handshake, 1500.0, 1530.0, true),
        ];
        let report = report(DrillName::SlowAz, records);
        assert!(report.passed, "{:?}", report.failures);
    }
}
