//! Replication: the openraft type config, the redb store, and node-to-node gRPC in both
//! directions. openraft is pinned and used only from this module and `node`.

#[cfg(feature = "assembled")]
pub mod network;
#[cfg(feature = "assembled")]
pub mod service;
pub mod store;
pub mod types;
