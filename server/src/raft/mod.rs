//! Replication: the openraft type config, the redb store, and node-to-node gRPC in both
//! directions. openraft is pinned and used only from this module and `node`.

pub mod network;
pub mod service;
pub mod storage;
pub mod types;
