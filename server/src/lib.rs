//! Keyhold server: the `hsmd` node.
//!
//! - [`keys`]: domain core (algorithms, key records, replicated commands);
//! - [`crypto`]: key generation, import, signing and decryption (aws-lc-rs);
//! - [`seal`]: the cluster key, key wrapping, sealing at rest and handoff between nodes;
//! - [`raft`]: openraft type config, redb storage, node-to-node network;
//! - [`node`]: a running node assembled from these parts;
//! - [`api`]: the public gRPC services and the error-to-status mapping;
//! - [`audit`]: the node's hash-chained audit trail of the calls it serves;
//! - [`health`]: `hsmd health`, a node asking its own API whether it is live and ready;
//! - [`config`], [`tls`], [`serve`]: configuration, certificates and listeners.

pub mod api;
pub mod audit;
pub mod config;
pub mod crypto;
pub mod error;
pub mod health;
pub mod keys;
pub mod node;
pub mod raft;
pub mod seal;
pub mod serve;
pub mod tls;
