//! One audit event: what the API layer knows of a finished call ([`Entry`]), the event
//! as it is chained and stored (one JSON line, [`StoredEvent`]), and the chain hash. The
//! hash is defined on the wire type (`keyhold.v1.AuditEvent`), so anyone holding the
//! proto can check a chain; the JSON form is for people and log shippers.

use aws_lc_rs::digest::{SHA256, digest};
use keyhold_proto::v1 as pb;
use prost::Message;
use serde::{Deserialize, Serialize};

/// Longest free-text value kept in an event (key ids, labels, details): a caller cannot
/// grow the trail by sending huge strings.
const MAX_TEXT: usize = 128;

/// Who made a call: the subject common name of its client certificate and the
/// certificate's SHA-256.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Caller {
    /// The certificate's subject CN (empty when it has none).
    pub name: String,
    /// SHA-256 of the certificate's DER.
    pub cert_sha256: [u8; 32],
}

/// A finished call, as the API layer records it. Holds no secret: no key material,
/// message, digest, signature or plaintext ever goes here.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Entry {
    /// The RPC name, for example `Sign`.
    pub action: &'static str,
    /// Who called.
    pub caller: Caller,
    /// The key the call named or made.
    pub key_id: String,
    /// The gRPC code name the caller got, for example `OK`.
    pub outcome: &'static str,
    /// Log index of a committed write, 0 otherwise.
    pub index: u64,
    /// The scheme, algorithm, label filter or invalid field.
    pub detail: String,
}

/// An event as stored: one JSON object per line, hashes in hex.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// Per node, from 1.
    pub seq: u64,
    /// The node that served the call.
    pub node_id: u64,
    /// Milliseconds since the Unix epoch when the call ended.
    pub time_unix_ms: u64,
    /// The RPC.
    pub action: String,
    /// The caller's certificate CN.
    pub caller: String,
    /// The caller's certificate SHA-256, hex.
    pub caller_cert_sha256: String,
    /// The key, when there is one.
    pub key_id: String,
    /// The gRPC code name.
    pub outcome: String,
    /// Log index of a write.
    pub index: u64,
    /// Scheme, algorithm, label filter or invalid field.
    pub detail: String,
    /// The previous event's hash, hex (zeros for seq 1).
    pub prev_hash: String,
    /// This event's hash, hex.
    pub hash: String,
}

impl StoredEvent {
    /// Chains `entry` after `prev`: fills in the sequence, node, time and hashes.
    pub fn chain(
        entry: &Entry,
        seq: u64,
        node_id: u64,
        time_unix_ms: u64,
        prev: &[u8; 32],
    ) -> Self {
        let mut wire = pb::AuditEvent {
            seq,
            node_id,
            time_unix_ms,
            action: entry.action.to_owned(),
            caller: bounded(&entry.caller.name),
            caller_cert_sha256: entry.caller.cert_sha256.to_vec(),
            key_id: bounded(&entry.key_id),
            outcome: entry.outcome.to_owned(),
            index: entry.index,
            detail: bounded(&entry.detail),
            prev_hash: prev.to_vec(),
            hash: Vec::new(),
        };
        wire.hash = chain_hash(&wire).to_vec();
        StoredEvent::from_wire(&wire)
    }

    /// The wire form, as `ReadAudit` returns it.
    pub fn to_wire(&self) -> pb::AuditEvent {
        pb::AuditEvent {
            seq: self.seq,
            node_id: self.node_id,
            time_unix_ms: self.time_unix_ms,
            action: self.action.clone(),
            caller: self.caller.clone(),
            caller_cert_sha256: hex::decode(&self.caller_cert_sha256).unwrap_or_default(),
            key_id: self.key_id.clone(),
            outcome: self.outcome.clone(),
            index: self.index,
            detail: self.detail.clone(),
            prev_hash: hex::decode(&self.prev_hash).unwrap_or_default(),
            hash: hex::decode(&self.hash).unwrap_or_default(),
        }
    }

    /// This event's hash as bytes, when it is well-formed.
    pub fn hash_bytes(&self) -> Option<[u8; 32]> {
        hex::decode(&self.hash).ok()?.try_into().ok()
    }

    /// True when the stored hash is the hash of the stored fields.
    pub fn hash_holds(&self) -> bool {
        let wire = self.to_wire();
        chain_hash(&wire).as_slice() == wire.hash.as_slice()
    }

    fn from_wire(wire: &pb::AuditEvent) -> Self {
        StoredEvent {
            seq: wire.seq,
            node_id: wire.node_id,
            time_unix_ms: wire.time_unix_ms,
            action: wire.action.clone(),
            caller: wire.caller.clone(),
            caller_cert_sha256: hex::encode(&wire.caller_cert_sha256),
            key_id: wire.key_id.clone(),
            outcome: wire.outcome.clone(),
            index: wire.index,
            detail: wire.detail.clone(),
            prev_hash: hex::encode(&wire.prev_hash),
            hash: hex::encode(&wire.hash),
        }
    }
}

/// SHA-256 over the protobuf encoding of `event` with its `hash` left empty.
pub fn chain_hash(event: &pb::AuditEvent) -> [u8; 32] {
    let unhashed = pb::AuditEvent {
        hash: Vec::new(),
        ..event.clone()
    };
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, &unhashed.encode_to_vec()).as_ref());
    out
}

fn bounded(text: &str) -> String {
    match text.char_indices().nth(MAX_TEXT) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test fails by panicking
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry {
            action: "Sign",
            caller: Caller {
                name: "web-1".into(),
                cert_sha256: [7; 32],
            },
            key_id: "k-0123456789abcdef".into(),
            outcome: "OK",
            index: 0,
            detail: "ecdsa-sha256".into(),
        }
    }

    #[test]
    fn a_chained_event_carries_a_hash_of_its_fields_and_the_previous_hash() {
        let first = StoredEvent::chain(&entry(), 1, 2, 1_000, &[0; 32]);
        assert!(first.hash_holds());
        assert_eq!(first.prev_hash, "00".repeat(32));

        let second = StoredEvent::chain(&entry(), 2, 2, 1_001, &first.hash_bytes().unwrap());
        assert_eq!(second.prev_hash, first.hash);
        assert_ne!(second.hash, first.hash);
    }

    #[test]
    fn changing_any_stored_field_breaks_the_hash() {
        let event = StoredEvent::chain(&entry(), 1, 2, 1_000, &[0; 32]);
        let mut edited = event.clone();
        edited.outcome = "PERMISSION_DENIED".into();
        assert!(!edited.hash_holds());
        let mut edited = event.clone();
        edited.time_unix_ms += 1;
        assert!(!edited.hash_holds());
        let mut edited = event;
        edited.caller = "someone-else".into();
        assert!(!edited.hash_holds());
    }

    #[test]
    fn the_json_line_round_trips_to_the_same_wire_event() {
        let event = StoredEvent::chain(&entry(), 9, 3, 5, &[1; 32]);
        let line = serde_json::to_string(&event).unwrap();
        let back: StoredEvent = serde_json::from_str(&line).unwrap();
        assert_eq!(back.to_wire(), event.to_wire());
        assert_eq!(back.to_wire().caller_cert_sha256, vec![7; 32]);
    }

    #[test]
    fn long_caller_supplied_text_is_cut() {
        let long = Entry {
            key_id: "x".repeat(10_000),
            ..entry()
        };
        let event = StoredEvent::chain(&long, 1, 1, 1, &[0; 32]);
        assert_eq!(event.key_id.len(), MAX_TEXT + 3);
    }
}
