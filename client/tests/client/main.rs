//! Client tests against in-process mock nodes over real mutual TLS: failover, retry
//! rules, deadlines, zone preference, read-your-writes and per-node audit reads.

#![allow(clippy::unwrap_used)] // a test fails by panicking

mod audit;
mod balancing;
mod failover;
mod mock;

use keyhold_proto::v1::{SignRequest, sign_request::Input};

/// A sign request for a key the mocks accept.
fn sign_request() -> SignRequest {
    SignRequest {
        key_id: "k-1".into(),
        scheme: "ecdsa-sha256".into(),
        input: Some(Input::Message(b"hello".to_vec())),
        min_index: 0,
    }
}
