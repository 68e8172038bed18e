//! AES-256-GCM with a fresh random nonce, and the unambiguous encoding of associated data
//! and KDF inputs. Shared by wrapping, sealing at rest and handoff; owns no keys.

use aws_lc_rs::aead::{AES_256_GCM, Aad, Nonce, RandomizedNonceKey};
use zeroize::Zeroizing;

use super::SealError;
use crate::keys::WrappedKey;

/// AES-256 key length.
pub(super) const KEY_LEN: usize = 32;
/// GCM nonce length (96 bits).
pub(super) const NONCE_LEN: usize = 12;
/// GCM tag length.
pub(super) const TAG_LEN: usize = 16;

/// Encrypts `plaintext` under `key` with a fresh random nonce; the tag follows the
/// ciphertext.
pub(super) fn seal(
    key: &[u8; KEY_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<WrappedKey, SealError> {
    let key = RandomizedNonceKey::new(&AES_256_GCM, key)
        .map_err(|_| SealError::crypto("aes-256-gcm key setup"))?;
    let mut ciphertext = Vec::with_capacity(plaintext.len() + TAG_LEN);
    ciphertext.extend_from_slice(plaintext);
    let nonce = key
        .seal_in_place_append_tag(Aad::from(aad), &mut ciphertext)
        .map_err(|_| SealError::crypto("aes-256-gcm seal"))?;
    Ok(WrappedKey {
        nonce: nonce.as_ref().to_vec(),
        ciphertext,
    })
}

/// Decrypts and authenticates; `None` on any failure (wrong key, AAD, nonce, tampering).
/// The plaintext lives in a zeroizing buffer.
pub(super) fn open(
    key: &[u8; KEY_LEN],
    aad: &[u8],
    nonce: &[u8],
    ciphertext: &[u8],
) -> Option<Zeroizing<Vec<u8>>> {
    let key = RandomizedNonceKey::new(&AES_256_GCM, key).ok()?;
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut buffer = Zeroizing::new(ciphertext.to_vec());
    let plaintext_len = key
        .open_in_place(nonce, Aad::from(aad), &mut buffer)
        .ok()?
        .len();
    buffer.truncate(plaintext_len);
    Some(buffer)
}

/// Length-prefixed fields after a domain label: no two different field lists encode to
/// the same bytes, and no two labels (protocols) share an encoding.
pub(super) struct Transcript(Vec<u8>);

impl Transcript {
    /// Starts with the protocol `label`.
    pub(super) fn new(label: &str) -> Self {
        Transcript(Vec::with_capacity(128)).bytes(label.as_bytes())
    }

    /// Appends a field as an 8-byte big-endian length and the bytes.
    pub(super) fn bytes(mut self, field: &[u8]) -> Self {
        self.0
            .extend_from_slice(&(field.len() as u64).to_be_bytes());
        self.0.extend_from_slice(field);
        self
    }

    /// Appends a string field.
    pub(super) fn text(self, field: &str) -> Self {
        self.bytes(field.as_bytes())
    }

    /// Appends an integer field (fixed width, big-endian).
    pub(super) fn number(self, field: u64) -> Self {
        self.bytes(&field.to_be_bytes())
    }

    /// The encoding.
    pub(super) fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test fails by panicking
mod tests {
    use super::*;

    #[test]
    fn seal_then_open_returns_the_plaintext() {
        let key = [7u8; KEY_LEN];
        let sealed = seal(&key, b"aad", b"hello").unwrap();
        assert_eq!(sealed.nonce.len(), NONCE_LEN);
        assert_eq!(sealed.ciphertext.len(), 5 + TAG_LEN);
        let opened = open(&key, b"aad", &sealed.nonce, &sealed.ciphertext).unwrap();
        assert_eq!(opened.as_slice(), b"hello");
        assert!(open(&key, b"aad!", &sealed.nonce, &sealed.ciphertext).is_none());
        assert!(open(&key, b"aad", &sealed.nonce[..11], &sealed.ciphertext).is_none());
        assert!(open(&key, b"aad", &sealed.nonce, &sealed.ciphertext[..4]).is_none());
    }

    #[test]
    fn transcript_fields_cannot_be_shifted() {
        let a = Transcript::new("l").text("ab").text("c");
        let b = Transcript::new("l").text("a").text("bc");
        assert_ne!(a.as_bytes(), b.as_bytes());
        let c = Transcript::new("l2").text("ab").text("c");
        assert_ne!(a.as_bytes(), c.as_bytes());
    }
}
