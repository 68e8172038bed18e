//! Test harness for real Keyhold clusters: builds the binaries once, makes a PKI with
//! `hsmctl pki init`, starts `hsmd` processes on free loopback ports, and offers per-node
//! mTLS clients, fault injection (kill -9, stop, restart) and bounded waits. Every
//! process it starts is killed by pid when the cluster is dropped, even if a test fails.
//!
//! Tests live in `tests/`, one category per file (`t10_...` basics up to `t90_...`).

pub mod binaries;
pub mod cluster;
pub mod openssl;
pub mod wait;

pub use cluster::{Cluster, ClusterOptions, NodeHandle};
pub use wait::wait_until;
pub mod ops;
