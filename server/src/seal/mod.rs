//! The cluster key: wrapping private keys under it, sealing it at rest under a node's
//! unseal secret, and handing it from one node to another at cluster init or join.
//!
//! - [`ClusterKey`], [`WrapContext`]: AES-256-GCM wrapping bound to the key record, and
//!   the check value;
//! - [`SealedClusterKey`], [`UnsealSecret`], [`SealParams`]: the key at rest (Argon2id);
//! - [`HandoffOffer`], [`handoff_send`]: X25519 + HKDF transfer bound to both node
//!   certificates.

mod aead;
mod cluster_key;
mod durable;
mod error;
mod handoff;
mod params;
mod sealed;
mod secret;

pub use cluster_key::{ClusterKey, WrapContext};
pub use error::SealError;
pub use handoff::{HandoffBinding, HandoffOffer, HandoffPackage, handoff_send};
pub use params::SealParams;
pub use sealed::SealedClusterKey;
pub use secret::UnsealSecret;

#[cfg(test)]
mod tests {
    use super::*;

    fn shareable<T: Send + Sync>() {}

    #[test]
    fn seal_types_can_be_shared_across_tasks() {
        // The node keeps these in `Arc`s and mutexes reached from async tasks.
        shareable::<ClusterKey>();
        shareable::<UnsealSecret>();
        shareable::<SealedClusterKey>();
        shareable::<HandoffOffer>();
        shareable::<SealError>();
    }
}
