//! The drill report as text (its `Display`): a verdict line, the fault and timeline, the
//! leadership, the TLS handshakes' totals, a table per phase and operation, the failures
//! by class, and the checks.

use std::fmt::{self, Formatter};

use super::record::OpKind;
use super::report::{DrillReport, Phase};

impl fmt::Display for DrillReport {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let verdict = if self.passed { "PASSED" } else { "FAILED" };
        writeln!(f, "drill {}: {verdict}", self.drill)?;
        writeln!(f, "  fault: {}", self.description)?;
        self.write_timeline(f)?;
        self.write_table(f)?;
        self.write_checks(f)?;
        if let Some(dir) = &self.log_dir {
            writeln!(f, "  node logs: {}", dir.display())?;
        }
        for failure in &self.failures {
            writeln!(f, "  FAILED: {failure}")?;
        }
        Ok(())
    }
}

impl DrillReport {
    fn write_timeline(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let t = &self.timeline;
        let whole = t.recovered_ms.map_or("never".into(), secs);
        writeln!(
            f,
            "  fault at {}, healed at {}, whole again at {whole}, checked at {}",
            secs(t.injected_ms),
            secs(t.healed_ms),
            secs(t.checked_ms)
        )?;
        let l = &self.leader;
        let new_leader = match (l.new_leader, l.new_leader_after_ms) {
            (Some(id), Some(ms)) => format!("node {id} after {}", secs(ms)),
            _ => "none".into(),
        };
        writeln!(
            f,
            "  leader: {} -> {}; new leader {new_leader}; terms with a new leader: {}",
            node(l.before),
            node(l.after),
            l.new_terms
        )?;
        let changes: Vec<String> = self
            .role_changes
            .iter()
            .filter(|c| c.at_ms >= t.injected_ms)
            .map(|c| format!("{} node {} {} t{}", secs(c.at_ms), c.node, c.role, c.term))
            .collect();
        let changes = match changes.is_empty() {
            true => "none".to_owned(),
            false => changes.join(", "),
        };
        writeln!(f, "  role changes from the fault on: {changes}")?;
        let writes = self.writes_ok_after_ms.map_or("never".into(), secs);
        writeln!(f, "  writes succeeded again {writes} after the fault")?;
        self.write_handshakes(f)
    }

    /// One line: how many handshakes, how many failed, and what each needed.
    fn write_handshakes(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let Some(setup) = &self.handshake else {
            return Ok(());
        };
        let attempted = self.load_ops(OpKind::Handshake).count();
        writeln!(
            f,
            "  TLS handshakes: {attempted} attempted, {} failed (key {}, deadline {}, {} per node)",
            self.failed_handshakes(),
            setup.key_id,
            secs(setup.deadline_ms),
            secs(setup.attempt_timeout_ms)
        )
    }

    fn write_table(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let columns = ["phase", "length", "op", "ok/failed", "p50", "p99", "max"];
        row(f, columns.map(String::from))?;
        for phase in &self.phases {
            for op in phase.ops.iter().filter(|op| op.attempted > 0) {
                let cells = [
                    phase_name(phase.phase).to_owned(),
                    secs(phase.duration_ms),
                    kind_name(op.kind).to_owned(),
                    format!("{}/{}", op.attempted - op.failed, op.failed),
                    millis(op.p50_ms),
                    millis(op.p99_ms),
                    millis(op.max_ms),
                ];
                row(f, cells)?;
            }
        }
        for e in &self.errors {
            let (phase, kind) = (phase_name(e.phase), kind_name(e.kind));
            let example = &e.example;
            writeln!(
                f,
                "  {phase}: {} {kind} failed {}: {example}",
                e.count, e.class
            )?;
        }
        Ok(())
    }

    fn write_checks(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let c = &self.checks;
        let nodes: Vec<String> = c.nodes_checked.iter().map(u64::to_string).collect();
        writeln!(
            f,
            "  checks at log index {} on nodes {}:",
            c.barrier_index,
            nodes.join(", ")
        )?;
        writeln!(
            f,
            "    {} acknowledged keys, {} lost; {} acknowledged destroys, {} came back",
            c.acknowledged_keys,
            c.lost_keys.len(),
            c.acknowledged_destroys,
            c.resurrected_keys.len()
        )?;
        writeln!(
            f,
            "    {} in-doubt writes, {} unexplained keys; {} signatures verified, {} failed; {}",
            c.in_doubt_writes,
            c.unexplained_keys.len(),
            c.signatures_checked - c.signature_failures.len(),
            c.signature_failures.len(),
            if c.nodes_agree {
                "nodes agree"
            } else {
                "NODES DISAGREE"
            }
        )?;
        let problems = [
            &c.lost_keys,
            &c.resurrected_keys,
            &c.unexplained_keys,
            &c.signature_failures,
        ];
        for line in problems.into_iter().flatten() {
            writeln!(f, "      {line}")?;
        }
        let Some(p) = &self.partition else {
            return Ok(());
        };
        writeln!(
            f,
            "  partition of node {}: it refused a write: {} ({})",
            p.isolated_node,
            p.isolated_write_refused,
            p.isolated_write_error.as_deref().unwrap_or("accepted")
        )?;
        writeln!(
            f,
            "    the majority accepted one: {} ({} after the cut); it caught up: {} ({} after \
             the heal)",
            p.majority_write_accepted,
            p.majority_write_after_ms.map_or("-".into(), secs),
            p.caught_up,
            p.caught_up_after_ms.map_or("-".into(), secs)
        )
    }
}

fn row(f: &mut Formatter<'_>, cells: [String; 7]) -> fmt::Result {
    let [phase, length, op, counts, p50, p99, max] = cells;
    writeln!(
        f,
        "  {phase:<7} {length:>8} {op:<9} {counts:>10} {p50:>10} {p99:>10} {max:>10}"
    )
}

fn phase_name(phase: Phase) -> &'static str {
    match phase {
        Phase::Before => "before",
        Phase::During => "during",
        Phase::After => "after",
    }
}

fn kind_name(kind: OpKind) -> &'static str {
    match kind {
        OpKind::Sign => "sign",
        OpKind::Generate => "generate",
        OpKind::Destroy => "destroy",
        OpKind::Handshake => "handshake",
    }
}

fn secs(ms: f64) -> String {
    format!("{:.2} s", ms / 1000.0)
}

fn millis(ms: Option<f64>) -> String {
    ms.map_or("-".into(), |ms| format!("{ms:.1} ms"))
}

fn node(id: Option<u64>) -> String {
    id.map_or("none".into(), |id| format!("node {id}"))
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use crate::drill::DrillName;
    use crate::drill::handshake::HandshakeSetup;
    use crate::drill::record::OpKind;
    use crate::drill::report::testing::{op, report};

    #[test]
    fn the_text_shows_the_handshake_totals_and_a_row_per_phase() {
        let records = vec![
            op(OpKind::Handshake, 500.0, 520.0, true),
            op(OpKind::Handshake, 1500.0, 3900.0, false),
        ];
        let mut report = report(DrillName::FullRestart, records);
        report.handshake = Some(HandshakeSetup {
            key_id: "k-1".into(),
            addr: SocketAddr::from(([127, 0, 0, 1], 4433)),
            deadline_ms: 2000.0,
            attempt_timeout_ms: 500.0,
        });
        let text = report.to_string();
        let line =
            "  TLS handshakes: 2 attempted, 1 failed (key k-1, deadline 2.00 s, 0.50 s per node)\n";
        assert!(text.contains(line), "{text}");
        let is_row = |line: &&str| line.split_whitespace().nth(3) == Some("handshake");
        let rows: Vec<&str> = text.lines().filter(is_row).collect();
        assert_eq!(rows.len(), 2, "{text}");
        assert!(rows[0].starts_with("  before "), "{text}");
        assert!(rows[0].contains("1/0"), "{text}");
        assert!(rows[1].starts_with("  during "), "{text}");
        assert!(rows[1].contains("0/1"), "{text}");
        assert!(
            text.contains("during: 1 handshake failed deadline-exceeded: server: signature"),
            "{text}"
        );
    }

    #[test]
    fn a_load_without_handshakes_prints_no_handshake_line() {
        let report = report(DrillName::FollowerKill, Vec::new());
        let text = report.to_string();
        assert!(!text.contains("handshake"), "{text}");
    }
}
