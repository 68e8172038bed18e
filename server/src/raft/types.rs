//! The openraft type configuration: Keyhold commands as log payload, node addresses as
//! membership data. Every other module names Raft types through the aliases here.

use serde::{Deserialize, Serialize};

use crate::keys::{Command, Outcome};

/// A member's addresses and availability zone, stored in the membership config.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// Client API address, `host:port`.
    pub api_addr: String,
    /// Node-to-node address, `host:port`.
    pub raft_addr: String,
    /// Availability zone name.
    pub az: String,
}

impl std::fmt::Display for NodeInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.raft_addr, self.az)
    }
}

openraft::declare_raft_types!(
    /// Raft types of a Keyhold cluster.
    pub TypeConfig:
        D = Command,
        R = Outcome,
        NodeId = u64,
        Node = NodeInfo,
);

/// Node ids are small positive integers chosen by the operator.
pub type NodeId = u64;
/// Snapshots are the serialized [`crate::keys::KeyStoreState`] (wrapped keys only).
pub type SnapshotData = Vec<u8>;
/// The Raft handle.
pub type Raft = openraft::Raft<TypeConfig, super::storage::StateMachineStore>;

/// Log id.
pub type LogId = openraft::alias::LogIdOf<TypeConfig>;
/// Vote.
pub type Vote = openraft::alias::VoteOf<TypeConfig>;
/// Log entry.
pub type Entry = openraft::alias::EntryOf<TypeConfig>;
/// Stored membership.
pub type StoredMembership = openraft::alias::StoredMembershipOf<TypeConfig>;
/// Snapshot metadata.
pub type SnapshotMeta = openraft::alias::SnapshotMetaOf<TypeConfig>;
/// A snapshot with its data.
pub type Snapshot = openraft::alias::SnapshotOf<TypeConfig, SnapshotData>;
/// Log state.
pub type LogState = openraft::storage::LogState<TypeConfig>;
/// Callback for flushed log writes.
pub type IoFlushed = openraft::storage::IOFlushed<TypeConfig>;
/// Metrics.
pub type RaftMetrics = openraft::RaftMetrics<TypeConfig>;
