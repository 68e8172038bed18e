//! [`TlsKeyError`]: why a cluster key cannot serve TLS, or why one signature for a
//! handshake failed. Turning it into a `rustls::Error` for a failed handshake is left to
//! `key`.

use std::time::Duration;

/// Everything the TLS adapter can fail with.
///
/// The messages name the key id and the reason, never key material.
#[derive(Debug, thiserror::Error)]
pub enum TlsKeyError {
    /// The cluster client could not be made (configuration, TLS material).
    #[error("cluster client: {0}")]
    Client(#[source] crate::Error),
    /// The cluster refused or could not serve the call (fetching the key, or signing).
    #[error("key {key_id}: {source}")]
    Cluster {
        /// The cluster key.
        key_id: String,
        /// The client's error; [`crate::Error::is_retryable`] says whether a later
        /// handshake may succeed.
        #[source]
        source: crate::Error,
    },
    /// The key may only decrypt.
    #[error("key {key_id} has usage {usage:?}; TLS needs a key with usage \"sign\"")]
    NotASigningKey {
        /// The cluster key.
        key_id: String,
        /// The key's usage as the cluster reports it.
        usage: String,
    },
    /// The key's algorithm has no TLS signature scheme this adapter knows.
    #[error("key {key_id}: algorithm {algorithm:?} cannot sign TLS handshakes")]
    UnsupportedAlgorithm {
        /// The cluster key.
        key_id: String,
        /// The algorithm as the cluster reports it.
        algorithm: String,
    },
    /// The certificate chain PEM holds no usable certificate.
    #[error("certificate chain: {reason}")]
    Certificate {
        /// What is wrong with it.
        reason: String,
    },
    /// The leaf certificate certifies another public key than the cluster key's.
    #[error("the leaf certificate's public key is not the public key of cluster key {key_id}")]
    KeyMismatch {
        /// The cluster key.
        key_id: String,
    },
    /// No answer came within the deadline (the cluster's own deadline error is reported
    /// as [`TlsKeyError::Cluster`]; this one means the signer's runtime did not answer).
    #[error("key {key_id}: no signature within {deadline:?}")]
    DeadlineExceeded {
        /// The cluster key.
        key_id: String,
        /// The signer's deadline.
        deadline: Duration,
    },
    /// Too many handshakes are already waiting for a signature.
    #[error("key {key_id}: {limit} signatures already in flight; refusing another")]
    Overloaded {
        /// The cluster key.
        key_id: String,
        /// [`SignerOptions::max_in_flight`](super::SignerOptions::max_in_flight).
        limit: usize,
    },
    /// The signer's own runtime could not be started, or has stopped.
    #[error("signer runtime: {reason}")]
    Runtime {
        /// What failed.
        reason: String,
    },
}

impl TlsKeyError {
    /// True when a later attempt may succeed: the cluster or the signer was busy or
    /// unreachable, as opposed to a wrong key, certificate or usage.
    pub fn is_retryable(&self) -> bool {
        match self {
            TlsKeyError::Cluster { source, .. } => source.is_retryable(),
            TlsKeyError::DeadlineExceeded { .. } | TlsKeyError::Overloaded { .. } => true,
            TlsKeyError::NotASigningKey { .. }
            | TlsKeyError::UnsupportedAlgorithm { .. }
            | TlsKeyError::Certificate { .. }
            | TlsKeyError::KeyMismatch { .. }
            | TlsKeyError::Runtime { .. }
            | TlsKeyError::Client(_) => false,
        }
    }
}
