//! Keyhold server: the `hsmd` node.
//!
//! - [`keys`]: domain core (algorithms, key records, replicated commands);
//! - [`crypto`]: key generation, import, signing and decryption (aws-lc-rs);
//! - [`seal`]: the cluster key, key wrapping, sealing at rest and handoff between nodes;
//! - [`raft`]: openraft type config, redb storage, node-to-node network;
//! - [`api`]: the public gRPC services and the error-to-status mapping.

pub mod keys;
pub mod crypto;
pub mod raft;
pub mod seal;
