//! The replicated key store: key records (wrapped material only), the commands that
//! change them, and the deterministic `apply` every node runs on the same log.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{Algorithm, Usage};

/// A private key encrypted under the cluster key (AES-256-GCM). The associated data binds
/// key id, version and algorithm, so a blob cannot be moved to another record.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedKey {
    /// 96-bit GCM nonce, fresh for every wrap.
    #[serde(with = "b64")]
    pub nonce: Vec<u8>,
    /// Ciphertext followed by the 16-byte tag.
    #[serde(with = "b64")]
    pub ciphertext: Vec<u8>,
}

impl std::fmt::Debug for WrappedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WrappedKey({} bytes)", self.ciphertext.len())
    }
}

/// One key as replicated: public metadata plus wrapped private material.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// Cluster-unique id, `k-` and 16 hex digits.
    pub id: String,
    /// Operator-chosen label (non-empty, not unique).
    pub label: String,
    /// Key algorithm.
    pub algorithm: Algorithm,
    /// Permitted use.
    pub usage: Usage,
    /// Material version, bound into the wrapping.
    pub version: u32,
    /// SubjectPublicKeyInfo, DER.
    #[serde(with = "b64")]
    pub public_key_der: Vec<u8>,
    /// PKCS#8 private key wrapped under the cluster key.
    pub wrapped: WrappedKey,
    /// Unix seconds when the key was made or imported.
    pub created_at: i64,
    /// Log index of the write that created it; set by `apply`.
    pub created_index: u64,
    /// True when imported rather than generated in the cluster.
    pub imported: bool,
}

/// A replicated write. Carries no plaintext key material.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Records the cluster identity and a check value wrapped under the cluster key, so a
    /// node can tell whether the key it unsealed is this cluster's.
    InitCluster {
        /// Random cluster id.
        cluster_id: String,
        /// A fixed plaintext wrapped under the cluster key.
        key_check: WrappedKey,
    },
    /// Stores a new key.
    PutKey(KeyRecord),
    /// Destroys a key everywhere.
    DestroyKey {
        /// Key to destroy.
        id: String,
    },
}

impl std::fmt::Display for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::InitCluster { cluster_id, .. } => write!(f, "init-cluster {cluster_id}"),
            Command::PutKey(record) => write!(f, "put-key {}", record.id),
            Command::DestroyKey { id } => write!(f, "destroy-key {id}"),
        }
    }
}

/// What applying a command did. Returned to the writer through Raft.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// Membership or blank entry: nothing for the key store.
    Nothing,
    /// The cluster identity was recorded.
    Initialized,
    /// The cluster had an identity already; nothing changed.
    AlreadyInitialized,
    /// The key was stored.
    KeyStored,
    /// A key with this id exists; nothing changed.
    KeyExists,
    /// The key was destroyed.
    KeyDestroyed,
    /// No key with this id; nothing changed.
    KeyNotFound,
}

/// The state every node derives from the log.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyStoreState {
    /// Set by the first `InitCluster`.
    pub cluster_id: Option<String>,
    /// Check value for the cluster key.
    pub key_check: Option<WrappedKey>,
    /// Live keys by id.
    pub keys: BTreeMap<String, KeyRecord>,
    /// Ids of destroyed keys. A put of one of them changes nothing: a write sent again
    /// after its first attempt committed (a leader change can leave the sender unsure)
    /// must not bring a destroyed key back.
    // LIMITATION: kept forever, about 20 bytes per destroyed key.
    #[serde(default)]
    pub destroyed: BTreeSet<String>,
}

impl KeyStoreState {
    /// Applies one command at log `index`. Deterministic: same log, same state.
    pub fn apply(&mut self, index: u64, command: Command) -> Outcome {
        match command {
            Command::InitCluster {
                cluster_id,
                key_check,
            } => {
                if self.cluster_id.is_some() {
                    return Outcome::AlreadyInitialized;
                }
                self.cluster_id = Some(cluster_id);
                self.key_check = Some(key_check);
                Outcome::Initialized
            }
            Command::PutKey(mut record) => {
                if self.keys.contains_key(&record.id) || self.destroyed.contains(&record.id) {
                    return Outcome::KeyExists;
                }
                record.created_index = index;
                self.keys.insert(record.id.clone(), record);
                Outcome::KeyStored
            }
            Command::DestroyKey { id } => match self.keys.remove(&id) {
                Some(_) => {
                    self.destroyed.insert(id);
                    Outcome::KeyDestroyed
                }
                None => Outcome::KeyNotFound,
            },
        }
    }

    /// Keys with id greater than `after`, in id order, optionally with exactly `label`.
    pub fn list<'a>(
        &'a self,
        after: &str,
        label: Option<&'a str>,
    ) -> impl Iterator<Item = &'a KeyRecord> + 'a {
        use std::ops::Bound;
        self.keys
            .range::<str, _>((Bound::Excluded(after), Bound::Unbounded))
            .map(|(_, record)| record)
            .filter(move |record| label.is_none_or(|l| record.label == l))
    }
}

/// Serde helper: bytes as standard base64 strings (readable JSON log entries).
pub(crate) mod b64 {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, label: &str) -> KeyRecord {
        KeyRecord {
            id: id.into(),
            label: label.into(),
            algorithm: Algorithm::EcP256,
            usage: Usage::Sign,
            version: 1,
            public_key_der: vec![1, 2, 3],
            wrapped: WrappedKey {
                nonce: vec![0; 12],
                ciphertext: vec![9; 48],
            },
            created_at: 0,
            created_index: 0,
            imported: false,
        }
    }

    #[test]
    fn put_sets_created_index_and_refuses_duplicates() {
        let mut state = KeyStoreState::default();
        assert_eq!(
            state.apply(7, Command::PutKey(record("k-1", "web"))),
            Outcome::KeyStored
        );
        assert_eq!(state.keys["k-1"].created_index, 7);
        assert_eq!(
            state.apply(8, Command::PutKey(record("k-1", "x"))),
            Outcome::KeyExists
        );
        assert_eq!(state.keys["k-1"].label, "web");
    }

    #[test]
    fn destroy_of_unknown_key_changes_nothing() {
        let mut state = KeyStoreState::default();
        state.apply(1, Command::PutKey(record("k-1", "web")));
        let before = state.clone();
        assert_eq!(
            state.apply(2, Command::DestroyKey { id: "k-2".into() }),
            Outcome::KeyNotFound
        );
        assert_eq!(state, before);
        assert_eq!(
            state.apply(3, Command::DestroyKey { id: "k-1".into() }),
            Outcome::KeyDestroyed
        );
        assert!(state.keys.is_empty());
    }

    #[test]
    fn a_put_sent_again_after_a_destroy_does_not_bring_the_key_back() {
        let mut state = KeyStoreState::default();
        state.apply(1, Command::PutKey(record("k-1", "web")));
        state.apply(2, Command::DestroyKey { id: "k-1".into() });
        assert_eq!(
            state.apply(3, Command::PutKey(record("k-1", "web"))),
            Outcome::KeyExists
        );
        assert!(state.keys.is_empty());
        assert!(state.destroyed.contains("k-1"));
    }

    #[test]
    fn a_snapshot_from_before_tombstones_still_loads() {
        let mut state = KeyStoreState::default();
        state.apply(1, Command::PutKey(record("k-1", "web")));
        let mut json: serde_json::Value = serde_json::to_value(&state).unwrap();
        json.as_object_mut().unwrap().remove("destroyed");
        let back: KeyStoreState = serde_json::from_value(json).unwrap();
        assert_eq!(back, state);
    }

    #[test]
    fn list_pages_in_id_order_and_filters_by_label() {
        let mut state = KeyStoreState::default();
        for (i, label) in ["a", "b", "a", "a"].iter().enumerate() {
            state.apply(i as u64, Command::PutKey(record(&format!("k-{i}"), label)));
        }
        let ids: Vec<_> = state
            .list("k-0", Some("a"))
            .map(|r| r.id.as_str())
            .collect();
        assert_eq!(ids, ["k-2", "k-3"]);
        assert_eq!(state.list("", None).count(), 4);
    }

    #[test]
    fn second_init_keeps_the_first_identity() {
        let mut state = KeyStoreState::default();
        let check = WrappedKey {
            nonce: vec![1; 12],
            ciphertext: vec![2; 32],
        };
        let init = |id: &str| Command::InitCluster {
            cluster_id: id.into(),
            key_check: check.clone(),
        };
        assert_eq!(state.apply(1, init("c-1")), Outcome::Initialized);
        assert_eq!(state.apply(2, init("c-2")), Outcome::AlreadyInitialized);
        assert_eq!(state.cluster_id.as_deref(), Some("c-1"));
    }
}
