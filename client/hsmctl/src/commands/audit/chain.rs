//! The hash chain of one node's audit trail, checked event by event as pages arrive: seqs
//! run from 1 without gaps, every event names the node asked, each `hash` is the SHA-256
//! of the event's protobuf encoding with `hash` empty, and each `prev_hash` is the previous
//! event's `hash` (32 zero bytes for seq 1). Fetching the pages is left to `audit`.

use aws_lc_rs::digest::{self, SHA256, SHA256_OUTPUT_LEN};
use keyhold_client::v1::AuditEvent;
use prost::Message;

/// The `prev_hash` of seq 1.
const GENESIS: [u8; SHA256_OUTPUT_LEN] = [0; SHA256_OUTPUT_LEN];

/// Where and how a chain is broken. Every message starts with the seq concerned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ChainBreak {
    /// An event is missing: the next one has a higher seq than expected.
    #[error("seq {expected}: gap: missing, the next event is seq {found}")]
    Gap {
        /// The missing seq.
        expected: u64,
        /// The seq that came instead.
        found: u64,
    },
    /// An event repeats an earlier seq or goes back.
    #[error("seq {found}: out of order: seq {expected} expected")]
    OutOfOrder {
        /// The seq that should have come.
        expected: u64,
        /// The seq that came instead.
        found: u64,
    },
    /// The event says another node recorded it.
    #[error("seq {seq}: recorded by node {found}, not node {expected}")]
    WrongNode {
        /// The event's seq.
        seq: u64,
        /// The node asked.
        expected: u64,
        /// The node the event names.
        found: u64,
    },
    /// The event's content does not hash to its recorded hash: it was changed.
    #[error("seq {seq}: hash mismatch: the event hashes to {computed}, its hash is {recorded}")]
    HashMismatch {
        /// The event's seq.
        seq: u64,
        /// The hash of its content, hex.
        computed: String,
        /// The hash it carries, hex.
        recorded: String,
    },
    /// The event does not link to the event before it.
    #[error("seq {seq}: prev mismatch: prev_hash is {found}, the previous hash is {expected}")]
    PrevMismatch {
        /// The event's seq.
        seq: u64,
        /// The previous event's hash (zeros for seq 1), hex.
        expected: String,
        /// The event's prev_hash, hex.
        found: String,
    },
}

impl ChainBreak {
    /// The seq where the chain breaks (for a gap, the first missing one).
    pub(crate) fn seq(&self) -> u64 {
        match self {
            ChainBreak::Gap { expected, .. } => *expected,
            ChainBreak::OutOfOrder { found, .. } => *found,
            ChainBreak::WrongNode { seq, .. }
            | ChainBreak::HashMismatch { seq, .. }
            | ChainBreak::PrevMismatch { seq, .. } => *seq,
        }
    }

    /// A stable name for scripts.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            ChainBreak::Gap { .. } => "gap",
            ChainBreak::OutOfOrder { .. } => "out_of_order",
            ChainBreak::WrongNode { .. } => "wrong_node",
            ChainBreak::HashMismatch { .. } => "hash_mismatch",
            ChainBreak::PrevMismatch { .. } => "prev_mismatch",
        }
    }
}

/// The check of one node's chain so far. Feed it every event from seq 1, in order.
#[derive(Debug)]
pub(crate) struct ChainCheck {
    node_id: u64,
    events: u64,
    last_hash: Vec<u8>,
}

impl ChainCheck {
    /// A check of node `node_id`'s trail, before its first event.
    pub(crate) fn new(node_id: u64) -> Self {
        ChainCheck {
            node_id,
            events: 0,
            last_hash: GENESIS.to_vec(),
        }
    }

    /// Checks the next event; on success it becomes the link the next one must name.
    pub(crate) fn push(&mut self, event: &AuditEvent) -> Result<(), ChainBreak> {
        let expected = self.events + 1;
        if event.seq > expected {
            return Err(ChainBreak::Gap {
                expected,
                found: event.seq,
            });
        }
        if event.seq < expected {
            return Err(ChainBreak::OutOfOrder {
                expected,
                found: event.seq,
            });
        }
        if event.node_id != self.node_id {
            return Err(ChainBreak::WrongNode {
                seq: event.seq,
                expected: self.node_id,
                found: event.node_id,
            });
        }

        // The hash first: a changed event is named as such, not as a broken link.
        let computed = event_hash(event);
        if event.hash != computed {
            return Err(ChainBreak::HashMismatch {
                seq: event.seq,
                computed: hex::encode(computed),
                recorded: hex::encode(&event.hash),
            });
        }
        if event.prev_hash != self.last_hash {
            return Err(ChainBreak::PrevMismatch {
                seq: event.seq,
                expected: hex::encode(&self.last_hash),
                found: hex::encode(&event.prev_hash),
            });
        }

        self.events = expected;
        self.last_hash.clone_from(&event.hash);
        Ok(())
    }

    /// How many events passed, which is also the last good seq.
    pub(crate) fn events(&self) -> u64 {
        self.events
    }

    /// The hash of the last event that passed; `None` before the first.
    pub(crate) fn last_hash(&self) -> Option<&[u8]> {
        (self.events > 0).then_some(self.last_hash.as_slice())
    }
}

/// SHA-256 of the event's protobuf encoding with `hash` left empty.
pub(crate) fn event_hash(event: &AuditEvent) -> Vec<u8> {
    let unhashed = AuditEvent {
        hash: Vec::new(),
        ..event.clone()
    };
    digest::digest(&SHA256, &unhashed.encode_to_vec())
        .as_ref()
        .to_vec()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A well-formed trail of `count` events of node `node_id`.
    pub(crate) fn chain(node_id: u64, count: u64) -> Vec<AuditEvent> {
        let mut events = Vec::new();
        extend(&mut events, node_id, count);
        events
    }

    /// Appends `count` well-formed events to a well-formed trail of node `node_id`.
    pub(crate) fn extend(events: &mut Vec<AuditEvent>, node_id: u64, count: u64) {
        let first = events.len() as u64 + 1;
        for seq in first..first + count {
            let prev_hash = events.last().map_or(GENESIS.to_vec(), |e| e.hash.clone());
            let mut event = AuditEvent {
                seq,
                node_id,
                time_unix_ms: 1_700_000_000_000 + seq * 1_000,
                action: "Sign".into(),
                caller: "hsmctl".into(),
                caller_cert_sha256: vec![0xab; 32],
                key_id: format!("k-{seq}"),
                outcome: "OK".into(),
                index: 0,
                detail: "ecdsa-sha256".into(),
                prev_hash,
                hash: Vec::new(),
            };
            event.hash = event_hash(&event);
            events.push(event);
        }
    }

    /// Runs `events` through a check of node `node_id`: the count, or the first break.
    fn check(node_id: u64, events: &[AuditEvent]) -> Result<u64, ChainBreak> {
        let mut check = ChainCheck::new(node_id);
        for event in events {
            check.push(event)?;
        }
        Ok(check.events())
    }

    #[test]
    fn a_good_chain_passes_and_ends_on_its_last_hash() {
        let events = chain(2, 5);
        let mut check = ChainCheck::new(2);
        assert_eq!(check.last_hash(), None);
        for event in &events {
            check.push(event).unwrap();
        }
        assert_eq!(check.events(), 5);
        assert_eq!(check.last_hash(), Some(events[4].hash.as_slice()));
    }

    #[test]
    fn the_hash_covers_the_protobuf_encoding_without_the_hash() {
        let event = &chain(1, 1)[0];
        let mut unhashed = event.clone();
        unhashed.hash.clear();
        let expected = digest::digest(&SHA256, &unhashed.encode_to_vec());
        assert_eq!(event.hash, expected.as_ref());
        assert_eq!(event.hash.len(), 32);
    }

    #[test]
    fn a_changed_field_fails_as_a_hash_mismatch_at_its_seq() {
        let mut events = chain(1, 5);
        events[2].outcome = "PERMISSION_DENIED".into();
        let broken = check(1, &events).unwrap_err();
        assert_eq!((broken.seq(), broken.kind()), (3, "hash_mismatch"));
        assert!(
            broken.to_string().starts_with("seq 3: hash mismatch"),
            "{broken}"
        );
    }

    #[test]
    fn a_changed_and_rehashed_event_fails_at_the_next_link() {
        let mut events = chain(1, 5);
        events[2].key_id = "k-other".into();
        events[2].hash = event_hash(&events[2]);
        let broken = check(1, &events).unwrap_err();
        assert_eq!((broken.seq(), broken.kind()), (4, "prev_mismatch"));
    }

    #[test]
    fn a_removed_event_fails_as_a_gap_naming_the_missing_seq() {
        let mut events = chain(1, 5);
        events.remove(2);
        let broken = check(1, &events).unwrap_err();
        assert_eq!(
            broken,
            ChainBreak::Gap {
                expected: 3,
                found: 4
            }
        );
        assert_eq!(
            broken.to_string(),
            "seq 3: gap: missing, the next event is seq 4"
        );
    }

    #[test]
    fn a_removed_and_renumbered_event_still_fails() {
        let mut events = chain(1, 5);
        events.remove(2);
        for event in &mut events[2..] {
            event.seq -= 1;
            event.hash = event_hash(event);
        }
        let broken = check(1, &events).unwrap_err();
        assert_eq!((broken.seq(), broken.kind()), (3, "prev_mismatch"));
    }

    #[test]
    fn a_reordered_event_fails_at_the_first_seq_out_of_place() {
        let mut events = chain(1, 5);
        events.swap(1, 2);
        let broken = check(1, &events).unwrap_err();
        assert_eq!(
            broken,
            ChainBreak::Gap {
                expected: 2,
                found: 3
            }
        );

        let mut repeated = chain(1, 5);
        repeated.insert(3, repeated[1].clone());
        let broken = check(1, &repeated).unwrap_err();
        assert_eq!((broken.seq(), broken.kind()), (2, "out_of_order"));
    }

    #[test]
    fn a_wrong_first_prev_hash_fails_at_seq_one() {
        let mut events = chain(1, 3);
        events[0].prev_hash = vec![1; 32];
        events[0].hash = event_hash(&events[0]);
        let broken = check(1, &events).unwrap_err();
        assert_eq!((broken.seq(), broken.kind()), (1, "prev_mismatch"));
        let zeros = "0".repeat(64);
        assert!(broken.to_string().ends_with(&zeros), "{broken}");
    }

    #[test]
    fn a_trail_that_does_not_start_at_seq_one_fails_as_a_gap() {
        let events = chain(1, 3);
        let broken = check(1, &events[1..]).unwrap_err();
        assert_eq!(
            broken.to_string(),
            "seq 1: gap: missing, the next event is seq 2"
        );
    }

    #[test]
    fn an_event_of_another_node_fails_naming_both_nodes() {
        let events = chain(3, 2);
        let broken = check(2, &events).unwrap_err();
        assert_eq!(broken.to_string(), "seq 1: recorded by node 3, not node 2");
    }
}
