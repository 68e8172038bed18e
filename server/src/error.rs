//! The server's error type: what went wrong, in terms a caller can act on. The one
//! conversion to a gRPC status lives in `api::status`.

use crate::crypto::CryptoError;
use crate::keys::Usage;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request field is missing, malformed or out of range.
    #[error("invalid {field}: {reason}")]
    InvalidArgument {
        /// The request field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// No live key has this id.
    #[error("key {id} not found")]
    KeyNotFound {
        /// The requested id.
        id: String,
    },
    /// The key exists but its usage forbids the operation.
    #[error("key {id} has usage {usage} and cannot be used to {operation}")]
    UsageNotPermitted {
        /// The key.
        id: String,
        /// Its usage.
        usage: Usage,
        /// What was asked.
        operation: &'static str,
    },
    /// This node cannot use the cluster key.
    #[error("node {node_id} is sealed: {reason}")]
    Sealed {
        /// This node.
        node_id: u64,
        /// Why (no cluster key yet, wrong unseal secret, key of another cluster).
        reason: &'static str,
    },
    /// The cluster has not been initialized.
    #[error("the cluster is not initialized; run `hsmctl cluster init`")]
    NotInitialized,
    /// `InitCluster` on an initialized cluster.
    #[error("the cluster is already initialized")]
    AlreadyInitialized,
    /// No leader is reachable, so writes cannot commit.
    #[error("no quorum: the write could not reach a leader{}", hint(.leader_hint))]
    NoQuorum {
        /// The last known leader, if any.
        leader_hint: Option<u64>,
    },
    /// The node has not applied the requested index within the wait bound.
    #[error("node {node_id} has not yet applied index {index}; retry or use another node")]
    NotApplied {
        /// This node.
        node_id: u64,
        /// The requested `min_index`.
        index: u64,
    },
    /// The node has not heard from a leader recently enough to sign safely.
    #[error("node {node_id} has not heard from a leader {}; refusing to sign", since(*.millis))]
    Stale {
        /// This node.
        node_id: u64,
        /// Time since the last leader contact.
        millis: u64,
    },
    /// This node leads but has lost contact with a quorum, so it refused the write before
    /// making it: sending the same write to another node is safe.
    #[error(
        "node {node_id} leads but has not heard from a quorum for {millis} ms; the write \
         was not made: send it to another node"
    )]
    LostQuorum {
        /// This node.
        node_id: u64,
        /// Time since a quorum last acknowledged this leader.
        millis: u64,
    },
    /// The node could not write the call's audit record: it did not act (`acted` false)
    /// or, having acted, withheld the answer.
    #[error("node {node_id} cannot write its audit trail, so {}; use another node", audit_consequence(*.acted))]
    AuditUnavailable {
        /// This node.
        node_id: u64,
        /// Whether the call was carried out before the record failed.
        acted: bool,
    },
    /// A peer failed during a cluster operation.
    #[error("node {peer} is unavailable: {reason}")]
    PeerUnavailable {
        /// The peer.
        peer: u64,
        /// What failed.
        reason: String,
    },
    /// Something that should not happen; details are logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

fn since(millis: u64) -> String {
    match millis {
        u64::MAX => "since it started".to_owned(),
        ms => format!("for {ms} ms"),
    }
}

fn audit_consequence(acted: bool) -> &'static str {
    if acted {
        "it withheld the answer (a write may have been made)"
    } else {
        "it did not carry out the call"
    }
}

fn hint(leader: &Option<u64>) -> String {
    leader
        .map(|l| format!(" (last known leader: node {l})"))
        .unwrap_or_default()
}

impl Error {
    /// Shorthand for an invalid request field.
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidArgument {
            field,
            reason: reason.into(),
        }
    }
}

impl From<CryptoError> for Error {
    fn from(err: CryptoError) -> Self {
        match err.field() {
            "" => Error::Internal(err.to_string()),
            field => Error::InvalidArgument {
                field,
                reason: err.to_string(),
            },
        }
    }
}
