//! Test harness for real Keyhold clusters: builds the binaries once, makes a PKI with
//! `hsmctl pki init`, starts `hsmd` processes on free loopback ports, and offers per-node
//! mTLS clients, fault injection (kill -9, stop, restart) and bounded waits. Every
//! process it starts is killed by pid when the cluster is dropped, even if a test fails.
//!
//! - `proxy` and `network`: a TCP proxy per directed link (cut, stall, latency, reset),
//!   set up by `ClusterOptions::proxied`, to partition or slow an availability zone
//!   without root;
//! - `dev_up`: `hsmctl dev up` driven as a user runs it;
//! - `drill`: named failover drills under load with a report ([`run_drill`]), used by the
//!   `t9x_drill_*` tests and by `hsmctl drill`.
//!
//! Tests live in `tests/`, one category per file (`t10_...` basics up to `t90_...`).

pub mod binaries;
pub mod cluster;
pub mod dev_up;
pub mod drill;
pub mod network;
pub mod openssl;
pub mod proxy;
pub mod wait;

pub use cluster::{Cluster, ClusterOptions, NodeHandle};
pub use drill::{DrillError, DrillName, DrillOptions, DrillReport, run_drill};
pub use wait::wait_until;
pub mod drill_test;
pub mod https;
pub mod ops;
pub mod tls_clients;
