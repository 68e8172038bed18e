//! Tests of the audit commands without a server: rendering, and `walk` over fake nodes
//! that answer pages the way a node does (its trail growing by one event per read).

use keyhold_client::Origin;

use super::chain::tests::{chain, extend};
use super::*;
use crate::cli::audit::Anchor;

/// A fake node's answers to `walk`: pages of `trail`, one more event after each read.
struct FakeNode {
    node_id: u64,
    trail: Vec<AuditEvent>,
    requests: Vec<(u64, u32)>,
}

impl FakeNode {
    fn new(node_id: u64, events: Vec<AuditEvent>) -> Self {
        FakeNode {
            node_id,
            trail: events,
            requests: Vec::new(),
        }
    }

    fn read(&mut self, request: ReadAuditRequest) -> Result<ReadAuditResponse, Error> {
        self.requests.push((request.from_seq, request.limit));
        let events = self
            .trail
            .iter()
            .filter(|event| event.seq >= request.from_seq)
            .take(request.limit as usize)
            .cloned()
            .collect();
        let last_seq = self.trail.len() as u64;
        extend(&mut self.trail, self.node_id, 1);
        Ok(ReadAuditResponse {
            events,
            last_seq,
            node_id: self.node_id,
        })
    }
}

async fn walk_fake(node: &mut FakeNode, asked: u64) -> Verdict {
    walk(asked, None, |request| {
        std::future::ready(node.read(request))
    })
    .await
}

async fn walk_anchored(node: &mut FakeNode, anchor: &Anchor) -> Verdict {
    walk(2, Some(anchor), |request| {
        std::future::ready(node.read(request))
    })
    .await
}

fn page(events: Vec<AuditEvent>, last_seq: u64) -> Page {
    Page {
        node_id: 2,
        from: 1,
        last_seq,
        events,
    }
}

#[tokio::test]
async fn verify_pages_through_the_whole_trail_of_a_growing_node() {
    let mut node = FakeNode::new(2, chain(2, 2500));
    let verdict = walk_fake(&mut node, 2).await;

    let Verdict::Intact { events, last_hash } = &verdict else {
        panic!("{verdict:?}")
    };
    assert_eq!(*events, 2502, "the trail grew by one event per read");
    assert_eq!(last_hash.as_deref(), Some(node.trail[2501].hash.as_slice()));
    assert_eq!(node.requests, [(1, 1000), (1001, 1000), (2001, 1000)]);
    let line = node_line(2, &verdict);
    let expected = format!(
        "node 2: 2502 events, chain intact, last hash {}",
        hex::encode(&node.trail[2501].hash)
    );
    assert_eq!(line, expected);
}

#[tokio::test]
async fn verify_names_the_seq_of_a_changed_event_on_a_later_page() {
    let mut events = chain(2, 2500);
    events[1499].caller = "someone-else".into();
    let mut node = FakeNode::new(2, events);
    let verdict = walk_fake(&mut node, 2).await;

    let Verdict::Broken(broken) = &verdict else {
        panic!("{verdict:?}")
    };
    assert_eq!((broken.seq(), broken.kind()), (1500, "hash_mismatch"));
    assert!(
        node_line(2, &verdict).starts_with("node 2: chain BROKEN at seq 1500: hash mismatch"),
        "{}",
        node_line(2, &verdict)
    );
    assert_eq!(node.requests.len(), 2, "stops at the break");
}

#[tokio::test]
async fn verify_of_an_empty_trail_is_intact() {
    let mut node = FakeNode::new(1, Vec::new());
    let verdict = walk_fake(&mut node, 1).await;
    assert!(
        matches!(
            verdict,
            Verdict::Intact {
                events: 0,
                last_hash: None
            }
        ),
        "{verdict:?}"
    );
    assert_eq!(
        node_line(1, &verdict),
        "node 1: 0 events, chain intact (the trail is empty)"
    );
}

#[tokio::test]
async fn verify_fails_when_a_node_repeats_events_instead_of_paging() {
    let trail = chain(3, 1500);
    let verdict = walk(3, None, |_request| {
        let response = ReadAuditResponse {
            events: trail[..1000].to_vec(),
            last_seq: 1500,
            node_id: 3,
        };
        std::future::ready(Ok(response))
    })
    .await;
    let Verdict::Broken(broken) = &verdict else {
        panic!("{verdict:?}")
    };
    assert_eq!((broken.seq(), broken.kind()), (1, "out_of_order"));
}

#[tokio::test]
async fn verify_refuses_an_answer_from_another_node() {
    let mut node = FakeNode::new(3, chain(3, 2));
    let verdict = walk_fake(&mut node, 2).await;
    assert!(
        matches!(verdict, Verdict::OtherNode { answered: 3 }),
        "{verdict:?}"
    );
}

#[tokio::test]
async fn verify_reports_a_node_it_cannot_read() {
    let verdict = walk(2, None, |_request| {
        let err = Error::Unavailable {
            origin: Origin {
                endpoint: "https://127.0.0.1:7102".into(),
                node_id: Some(2),
            },
            leader_hint: None,
            message: "node 2 is stale".into(),
        };
        std::future::ready(Err(err))
    })
    .await;
    assert_eq!(
        node_line(2, &verdict),
        "node 2: cannot read the trail: node 2 at https://127.0.0.1:7102: unavailable: \
         node 2 is stale"
    );
}

#[test]
fn a_verification_fails_naming_each_broken_node() {
    let report = Verification {
        nodes: vec![
            (
                1,
                Verdict::Intact {
                    events: 3,
                    last_hash: Some(vec![0x3f; 32]),
                },
            ),
            (
                2,
                Verdict::Broken(ChainBreak::Gap {
                    expected: 7,
                    found: 9,
                }),
            ),
        ],
    };
    let lines: Vec<String> = report.text().lines().map(str::to_owned).collect();
    assert_eq!(
        lines[0],
        format!(
            "node 1: 3 events, chain intact, last hash {}",
            "3f".repeat(32)
        )
    );
    assert_eq!(
        lines[1],
        "node 2: chain BROKEN at seq 7: gap: missing, the next event is seq 9"
    );

    let err = verdict(&report).unwrap_err();
    assert_eq!(
        err.to_string(),
        "audit verify FAILED: node 2: chain BROKEN at seq 7: gap: missing, the next event \
         is seq 9"
    );
    let json = report.json();
    assert_eq!(json["intact"], false);
    assert_eq!(json["nodes"][0]["last_hash"], "3f".repeat(32));
    assert_eq!(json["nodes"][1]["problem"], "gap");
    assert_eq!(json["nodes"][1]["seq"], 7);
}

#[test]
fn an_intact_verification_passes() {
    let report = Verification {
        nodes: vec![(
            4,
            Verdict::Intact {
                events: 0,
                last_hash: None,
            },
        )],
    };
    assert!(verdict(&report).is_ok());
    assert_eq!(report.json()["intact"], true);
}

#[test]
fn show_text_is_a_table_with_utc_times_and_a_hint_for_more() {
    let mut events = chain(2, 2);
    events[1].key_id.clear();
    events[1].index = 42;
    events[1].action = "GenerateKey".into();
    let text = page(events, 9).text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "SEQ  TIME                      CALLER             ACTION       KEY ID  OUTCOME  INDEX  DETAIL"
    );
    assert_eq!(
        lines[1],
        "1    2023-11-14T22:13:21.000Z  hsmctl (abababab)  Sign         k-1     OK       -      ecdsa-sha256"
    );
    assert_eq!(
        lines[2],
        "2    2023-11-14T22:13:22.000Z  hsmctl (abababab)  GenerateKey  -       OK       42     ecdsa-sha256"
    );
    assert_eq!(lines[3], "More events: --from 3 (node 2 is at seq 9)");
}

#[test]
fn show_text_says_when_there_are_no_events() {
    let mut empty = page(Vec::new(), 4);
    empty.from = 5;
    assert_eq!(
        empty.text(),
        "No audit events on node 2 from seq 5 (last seq 4)."
    );
}

#[test]
fn event_json_has_every_field_and_hashes_in_hex() {
    let events = chain(2, 2);
    let json = event_json(&events[1]);
    assert_eq!(json["seq"], 2);
    assert_eq!(json["node_id"], 2);
    assert_eq!(json["time"], "2023-11-14T22:13:22.000Z");
    assert_eq!(json["time_unix_ms"], 1_700_000_002_000_u64);
    assert_eq!(json["caller"], "hsmctl");
    assert_eq!(json["caller_cert_sha256"], "ab".repeat(32));
    assert_eq!(json["action"], "Sign");
    assert_eq!(json["key_id"], "k-2");
    assert_eq!(json["outcome"], "OK");
    assert_eq!(json["index"], 0);
    assert_eq!(json["detail"], "ecdsa-sha256");
    assert_eq!(json["prev_hash"], hex::encode(&events[0].hash));
    assert_eq!(json["hash"], hex::encode(&events[1].hash));
    assert!(!json.to_string().contains('\n'));

    let document = page(events, 2).json();
    assert_eq!(document["last_seq"], 2);
    assert_eq!(document["events"][1]["hash"], json["hash"]);
}

#[test]
fn timestamps_are_rfc3339_utc_with_milliseconds() {
    assert_eq!(timestamp(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(timestamp(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    assert_eq!(timestamp(u64::MAX), u64::MAX.to_string());
}

#[test]
fn show_text_escapes_control_characters_that_callers_sent() {
    let mut events = chain(2, 1);
    events[0].key_id = "k-\u{1b}[31mRED\nSEQ 99 fake".into();
    events[0].detail = "a\u{1b}[2Jb".into();
    let text = page(events, 1).text();
    assert_eq!(text.lines().count(), 2, "one header, one row: {text}");
    assert!(!text.contains('\u{1b}'), "{text:?}");
    assert!(text.contains("k-\\u{1b}[31mRED\\nSEQ 99 fake"), "{text}");
}

#[tokio::test]
async fn an_anchor_taken_earlier_holds_on_an_untouched_trail() {
    let trail = chain(2, 1500);
    let anchor = Anchor {
        seq: 1200,
        hash: trail[1199].hash.clone(),
    };
    let mut node = FakeNode::new(2, trail);
    let verdict = walk_anchored(&mut node, &anchor).await;
    assert!(matches!(verdict, Verdict::Intact { .. }), "{verdict:?}");
}

#[tokio::test]
async fn a_trail_rewritten_whole_fails_its_anchor() {
    // A consistent chain, but not the one the anchor was taken from.
    let anchor = Anchor {
        seq: 10,
        hash: vec![7; 32],
    };
    let mut node = FakeNode::new(2, chain(2, 20));
    let verdict = walk_anchored(&mut node, &anchor).await;
    assert!(
        matches!(
            verdict,
            Verdict::AnchorFailed {
                seq: 10,
                found: Some(_)
            }
        ),
        "{verdict:?}"
    );
    assert!(node_line(2, &verdict).contains("anchor mismatch"));

    let mut short = FakeNode::new(2, chain(2, 5));
    let verdict = walk_anchored(&mut short, &anchor).await;
    assert!(
        matches!(verdict, Verdict::AnchorFailed { found: None, .. }),
        "{verdict:?}"
    );
}
