//! Keyhold wire types generated from `proto/`: the public API (`v1`) and the
//! node-to-node protocol (`raft`). No logic lives here.

/// The public API, package `keyhold.v1`.
pub mod v1 {
    #![allow(missing_docs, unreachable_pub, clippy::all)] // generated code
    tonic::include_proto!("keyhold.v1");
}

/// Node-to-node messages, package `keyhold.raft.v1`.
pub mod raft {
    #![allow(missing_docs, unreachable_pub, clippy::all)] // generated code
    tonic::include_proto!("keyhold.raft.v1");
}

/// The `ErrorInfo` details a node attaches to some statuses, so that clients act on a
/// refusal without matching message text. Part of the wire contract, like the messages.
pub mod reasons {
    /// The `ErrorInfo.domain` of every Keyhold reason.
    pub const DOMAIN: &str = "keyhold";
    /// `FAILED_PRECONDITION`: the node is sealed; another node may serve the request.
    pub const SEALED: &str = "SEALED";
    /// `UNAVAILABLE`: the node refused a write before it entered the log (it leads but
    /// lost its quorum); sending the same write to another node is safe.
    pub const NOT_WRITTEN: &str = "NOT_WRITTEN";
}
