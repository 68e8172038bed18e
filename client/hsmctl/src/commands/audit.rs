//! `hsmctl audit show` and `audit verify`: one node's audit trail as a table or JSON
//! lines, and a walk through each node's whole trail from seq 1 in pages, checking its
//! hash chain. The check of each event is `chain`; the per-node call is the client's.

mod chain;

use std::future::Future;
use std::io::{self, Write};

use keyhold_client::v1::{AuditEvent, ReadAuditRequest, ReadAuditResponse};
use keyhold_client::{Client, Error};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::cli::audit::Anchor;
use crate::error::CliError;
use crate::output::{Render, table};
use chain::{ChainBreak, ChainCheck};

/// Events per page when verifying: the most a node returns.
const VERIFY_PAGE: u32 = 1000;

/// A page of one node's trail (`audit show`).
#[derive(Debug)]
pub(crate) struct Page {
    node_id: u64,
    from: u64,
    last_seq: u64,
    events: Vec<AuditEvent>,
}

/// What `audit verify` found on each node.
#[derive(Debug)]
pub(crate) struct Verification {
    nodes: Vec<(u64, Verdict)>,
}

/// The state of one node's trail.
#[derive(Debug)]
enum Verdict {
    /// Every event from seq 1 to the node's last checks out.
    Intact {
        events: u64,
        last_hash: Option<Vec<u8>>,
    },
    /// The chain breaks here.
    Broken(ChainBreak),
    /// The trail could not be read to its end.
    Unreadable(Error),
    /// Another node answered for this one.
    OtherNode { answered: u64 },
    /// The chain is intact but the anchor does not hold: event `seq` has another hash,
    /// or the trail ends before it.
    AnchorFailed { seq: u64, found: Option<Vec<u8>> },
}

/// `audit show`: events of node `node_id` from seq `from`, at most `limit` (server
/// default 100).
pub(crate) async fn show(
    client: &Client,
    node_id: u64,
    from: u64,
    limit: Option<u32>,
) -> Result<Page, CliError> {
    let request = ReadAuditRequest {
        from_seq: from,
        limit: limit.unwrap_or(0),
    };
    let response = client.read_audit(node_id, request).await?;
    if response.node_id != node_id {
        return Err(CliError::OtherNodeAnswered {
            asked: node_id,
            answered: response.node_id,
        });
    }
    Ok(Page {
        node_id,
        from,
        last_seq: response.last_seq,
        events: response.events,
    })
}

/// `audit show --json`: one JSON object per event, one per line.
pub(crate) fn print_lines(page: &Page) -> Result<(), CliError> {
    let mut stdout = io::stdout().lock();
    let mut write = || -> io::Result<()> {
        for event in &page.events {
            writeln!(stdout, "{}", event_json(event))?;
        }
        stdout.flush()
    };
    write().map_err(CliError::Stdout)
}

/// `audit verify`: the whole trail of node `node_id`, or with `None` of every node the
/// client knows.
pub(crate) async fn verify(
    client: &Client,
    node_id: Option<u64>,
    expect: Option<Anchor>,
) -> Result<Verification, CliError> {
    let ids = match node_id {
        Some(id) => vec![id],
        None => client.node_ids(),
    };
    if ids.is_empty() {
        return Err(CliError::NoNodeIds);
    }
    let mut nodes = Vec::new();
    for id in ids {
        let verdict = walk(id, expect.as_ref(), |request| {
            client.read_audit(id, request)
        })
        .await;
        nodes.push((id, verdict));
    }
    Ok(Verification { nodes })
}

/// The exit status of `audit verify`: any node not intact fails the command.
pub(crate) fn verdict(report: &Verification) -> Result<(), CliError> {
    let failures: Vec<String> = report
        .nodes
        .iter()
        .filter(|(_, verdict)| !matches!(verdict, Verdict::Intact { .. }))
        .map(|(id, verdict)| node_line(*id, verdict))
        .collect();
    if failures.is_empty() {
        return Ok(());
    }
    Err(CliError::AuditFailed {
        reasons: failures.join("; "),
    })
}

/// Reads node `node_id`'s trail with `read` from seq 1, a page at a time, until the
/// node's last seq when it answered, checking every event.
async fn walk<F, Fut>(node_id: u64, anchor: Option<&Anchor>, mut read: F) -> Verdict
where
    F: FnMut(ReadAuditRequest) -> Fut,
    Fut: Future<Output = Result<ReadAuditResponse, Error>>,
{
    let mut check = ChainCheck::new(node_id);
    let mut anchored: Option<Vec<u8>> = None;
    loop {
        let request = ReadAuditRequest {
            from_seq: check.events() + 1,
            limit: VERIFY_PAGE,
        };
        let page = match read(request).await {
            Ok(page) => page,
            Err(err) => return Verdict::Unreadable(err),
        };
        if page.node_id != node_id {
            return Verdict::OtherNode {
                answered: page.node_id,
            };
        }
        for event in &page.events {
            if let Err(broken) = check.push(event) {
                return Verdict::Broken(broken);
            }
            if anchor.is_some_and(|a| a.seq == event.seq) {
                anchored = Some(event.hash.clone());
            }
        }

        // Reading is itself audited, so the trail grows while we read: stop at the last
        // seq the node had when it answered (or at an empty page), not at "no more".
        if page.events.is_empty() || check.events() >= page.last_seq {
            if let Some(anchor) = anchor
                && anchored.as_ref() != Some(&anchor.hash)
            {
                return Verdict::AnchorFailed {
                    seq: anchor.seq,
                    found: anchored,
                };
            }
            return Verdict::Intact {
                events: check.events(),
                last_hash: check.last_hash().map(<[u8]>::to_vec),
            };
        }
    }
}

/// Milliseconds since the Unix epoch as RFC 3339 UTC with milliseconds, or the number
/// itself when out of range.
fn timestamp(unix_ms: u64) -> String {
    let nanos = i128::from(unix_ms) * 1_000_000;
    let Ok(t) = OffsetDateTime::from_unix_timestamp_nanos(nanos) else {
        return unix_ms.to_string();
    };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

fn event_json(event: &AuditEvent) -> Value {
    json!({
        "seq": event.seq,
        "node_id": event.node_id,
        "time": timestamp(event.time_unix_ms),
        "time_unix_ms": event.time_unix_ms,
        "caller": event.caller,
        "caller_cert_sha256": hex::encode(&event.caller_cert_sha256),
        "action": event.action,
        "key_id": event.key_id,
        "outcome": event.outcome,
        "index": event.index,
        "detail": event.detail,
        "prev_hash": hex::encode(&event.prev_hash),
        "hash": hex::encode(&event.hash),
    })
}

fn event_row(event: &AuditEvent) -> Vec<String> {
    // Key ids, labels and CNs come from callers, refused requests included: shown as
    // they are, a newline or an escape sequence could forge rows or redraw the terminal.
    let shown = |text: &str| match text {
        "" => "-".to_string(),
        text => printable(text),
    };
    let index = match event.index {
        0 => "-".to_string(),
        index => index.to_string(),
    };
    // The CN alone does not tell two certificates apart; the hash's head does.
    let cert = hex::encode(event.caller_cert_sha256.get(..4).unwrap_or_default());
    vec![
        event.seq.to_string(),
        timestamp(event.time_unix_ms),
        format!("{} ({cert})", shown(&event.caller)),
        printable(&event.action),
        shown(&event.key_id),
        printable(&event.outcome),
        index,
        printable(&event.detail),
    ]
}

/// `text` with control characters escaped (`\n`, `\u{1b}`), printable as one cell.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| match c.is_control() {
            true => c.escape_default().to_string(),
            false => c.to_string(),
        })
        .collect()
}

fn node_line(node_id: u64, verdict: &Verdict) -> String {
    match verdict {
        Verdict::Intact {
            events,
            last_hash: Some(hash),
        } => format!(
            "node {node_id}: {events} events, chain intact, last hash {}",
            hex::encode(hash)
        ),
        Verdict::Intact { events, .. } => {
            format!("node {node_id}: {events} events, chain intact (the trail is empty)")
        }
        Verdict::Broken(broken) => format!("node {node_id}: chain BROKEN at {broken}"),
        Verdict::Unreadable(err) => format!("node {node_id}: cannot read the trail: {err}"),
        Verdict::OtherNode { answered } => {
            format!("node {node_id}: node {answered} answered instead")
        }
        Verdict::AnchorFailed {
            seq,
            found: Some(found),
        } => format!(
            "node {node_id}: chain BROKEN at seq {seq}: anchor mismatch: the trail now has \
             hash {} there (rewritten since the anchor was taken)",
            hex::encode(found)
        ),
        Verdict::AnchorFailed { seq, found: None } => format!(
            "node {node_id}: chain BROKEN at seq {seq}: anchor missing: the trail ends \
             before it (cut or replaced since the anchor was taken)"
        ),
    }
}

fn node_json(node_id: u64, verdict: &Verdict) -> Value {
    let failed = |problem: &str, seq: Option<u64>| {
        json!({
            "node_id": node_id,
            "intact": false,
            "problem": problem,
            "seq": seq,
            "message": node_line(node_id, verdict),
        })
    };
    match verdict {
        Verdict::Intact { events, last_hash } => json!({
            "node_id": node_id,
            "intact": true,
            "events": events,
            "last_hash": last_hash.as_ref().map(hex::encode),
        }),
        Verdict::Broken(broken) => failed(broken.kind(), Some(broken.seq())),
        Verdict::Unreadable(_) => failed("unreadable", None),
        Verdict::OtherNode { .. } => failed("other_node", None),
        Verdict::AnchorFailed { seq, .. } => failed("anchor", Some(*seq)),
    }
}

impl Render for Page {
    fn text(&self) -> String {
        if self.events.is_empty() {
            return format!(
                "No audit events on node {} from seq {} (last seq {}).",
                self.node_id, self.from, self.last_seq
            );
        }
        let headers = [
            "SEQ", "TIME", "CALLER", "ACTION", "KEY ID", "OUTCOME", "INDEX", "DETAIL",
        ];
        let rows: Vec<Vec<String>> = self.events.iter().map(event_row).collect();
        let mut text = table(&headers, &rows);
        let shown = self.events.last().map_or(0, |event| event.seq);
        if shown < self.last_seq {
            text.push_str(&format!(
                "\nMore events: --from {} (node {} is at seq {})",
                shown + 1,
                self.node_id,
                self.last_seq
            ));
        }
        text
    }

    fn json(&self) -> Value {
        let events: Vec<Value> = self.events.iter().map(event_json).collect();
        json!({ "node_id": self.node_id, "last_seq": self.last_seq, "events": events })
    }
}

impl Render for Verification {
    fn text(&self) -> String {
        let lines: Vec<String> = self
            .nodes
            .iter()
            .map(|(id, verdict)| node_line(*id, verdict))
            .collect();
        lines.join("\n")
    }

    fn json(&self) -> Value {
        let intact = self
            .nodes
            .iter()
            .all(|(_, verdict)| matches!(verdict, Verdict::Intact { .. }));
        let nodes: Vec<Value> = self
            .nodes
            .iter()
            .map(|(id, verdict)| node_json(*id, verdict))
            .collect();
        json!({ "intact": intact, "nodes": nodes })
    }
}

#[cfg(test)]
mod tests;
