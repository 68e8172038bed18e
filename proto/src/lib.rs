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
