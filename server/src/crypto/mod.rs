//! Key generation, import, signing and decryption, on aws-lc-rs. Plaintext key material
//! ([`KeyMaterial`], PKCS#8 v1 DER) comes in from generation, import or unwrapping and is
//! parsed once into a [`PrivateKey`] that the server caches and uses from many threads.
//! Wrapping material under the cluster key is the seal module's job; who may use a key is
//! the API's.
//!
//! - `generate.rs`: [`generate`];
//! - `import.rs`, `pem.rs`, `formats.rs`, `der.rs`, `oid.rs`: [`import`] of PKCS#8, PKCS#1
//!   and SEC1 keys;
//! - `key.rs`: [`PrivateKey`]; `sign.rs`: [`PrivateKey::sign`]; `decrypt.rs`:
//!   [`PrivateKey::decrypt`];
//! - `material.rs`: [`KeyMaterial`]; `error.rs`: [`CryptoError`].

mod decrypt;
mod der;
mod error;
mod formats;
mod generate;
mod import;
mod key;
mod material;
mod oid;
mod pem;
mod sign;
#[cfg(test)]
mod testkit;

pub use error::{CryptoError, Unsupported};
pub use generate::generate;
pub use import::import;
pub use key::PrivateKey;
pub use material::KeyMaterial;
pub use sign::SignInput;

/// Longest message [`PrivateKey::sign`] accepts; longer ones must be sent as a digest.
pub const MAX_MESSAGE_LEN: usize = 1024 * 1024;
