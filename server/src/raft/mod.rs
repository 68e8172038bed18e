//! Raft: type config, storage, network.

pub mod store;
pub mod types;
