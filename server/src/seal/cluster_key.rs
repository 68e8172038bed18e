//! The 256-bit cluster key and what it does: wrap and unwrap private keys with associated
//! data bound to the key record, and produce or verify the cluster's check value. Sealing
//! the key at rest and handing it to other nodes live in `sealed` and `handoff`.

use std::fmt;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use super::SealError;
use super::aead::{self, KEY_LEN, NONCE_LEN, TAG_LEN, Transcript};
use crate::keys::{Algorithm, KeyRecord, WrappedKey};

/// Domain label of the associated data for wrapped private keys.
const WRAP_LABEL: &str = "keyhold/wrap-key/v1";
/// Domain label of the associated data for the check value.
const CHECK_LABEL: &str = "keyhold/key-check/v1";
/// The fixed plaintext of the check value (not secret).
const CHECK_PLAINTEXT: &[u8] = b"keyhold cluster key check value, format 1";

/// The 256-bit cluster key. Zeroized on drop; `Debug` shows no bytes; not `Clone` (share it
/// in an `Arc`). Held boxed so that moving it leaves no copy behind.
pub struct ClusterKey {
    bytes: Box<Zeroizing<[u8; KEY_LEN]>>,
}

/// What a wrapped key is bound to: the associated data of its AES-GCM encryption.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WrapContext<'a> {
    /// Key id of the record.
    pub key_id: &'a str,
    /// Material version of the record.
    pub version: u32,
    /// Algorithm of the record.
    pub algorithm: Algorithm,
}

impl ClusterKey {
    /// A fresh random key from the system generator.
    pub fn generate() -> Result<Self, SealError> {
        let mut bytes = Box::new(Zeroizing::new([0u8; KEY_LEN]));
        SystemRandom::new()
            .fill(&mut bytes[..])
            .map_err(|_| SealError::crypto("random cluster key"))?;
        Ok(ClusterKey { bytes })
    }

    /// Rebuilds a key from decrypted bytes; `None` unless exactly 32 bytes.
    pub(super) fn from_slice(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != KEY_LEN {
            return None;
        }
        let mut key = Box::new(Zeroizing::new([0u8; KEY_LEN]));
        key.copy_from_slice(bytes);
        Some(ClusterKey { bytes: key })
    }

    /// The raw key, for sealing and handoff inside this module only.
    pub(super) fn expose(&self) -> &[u8; KEY_LEN] {
        &self.bytes
    }

    /// Encrypts `plaintext` (a PKCS#8 private key) with AES-256-GCM under a fresh random
    /// nonce; the associated data binds the key id, version and algorithm of `ctx`.
    pub fn wrap(&self, ctx: &WrapContext<'_>, plaintext: &[u8]) -> Result<WrappedKey, SealError> {
        aead::seal(self.expose(), wrap_aad(ctx).as_bytes(), plaintext)
    }

    /// Decrypts a wrapped key; fails unless it was wrapped under this key with the same
    /// context.
    pub fn unwrap_key(
        &self,
        ctx: &WrapContext<'_>,
        wrapped: &WrappedKey,
    ) -> Result<Zeroizing<Vec<u8>>, SealError> {
        check_shape(wrapped)?;
        aead::open(
            self.expose(),
            wrap_aad(ctx).as_bytes(),
            &wrapped.nonce,
            &wrapped.ciphertext,
        )
        .ok_or_else(|| SealError::UnwrapFailed {
            key_id: ctx.key_id.to_owned(),
            version: ctx.version,
        })
    }

    /// A check value: a fixed plaintext wrapped under this key with its own label. Stored
    /// in the replicated state, it tells a node whether the key it holds is the cluster's.
    pub fn key_check(&self) -> Result<WrappedKey, SealError> {
        aead::seal(
            self.expose(),
            Transcript::new(CHECK_LABEL).as_bytes(),
            CHECK_PLAINTEXT,
        )
    }

    /// True when `check` was made by [`ClusterKey::key_check`] with this very key.
    pub fn matches_check(&self, check: &WrappedKey) -> bool {
        let aad = Transcript::new(CHECK_LABEL);
        aead::open(
            self.expose(),
            aad.as_bytes(),
            &check.nonce,
            &check.ciphertext,
        )
        .is_some_and(|plaintext| plaintext.as_slice() == CHECK_PLAINTEXT)
    }
}

impl fmt::Debug for ClusterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClusterKey(redacted)")
    }
}

impl<'a> WrapContext<'a> {
    /// The context of a stored key record.
    pub fn of(record: &'a KeyRecord) -> Self {
        WrapContext {
            key_id: &record.id,
            version: record.version,
            algorithm: record.algorithm,
        }
    }
}

fn wrap_aad(ctx: &WrapContext<'_>) -> Transcript {
    Transcript::new(WRAP_LABEL)
        .text(ctx.key_id)
        .number(u64::from(ctx.version))
        .text(ctx.algorithm.name())
}

fn check_shape(wrapped: &WrappedKey) -> Result<(), SealError> {
    if wrapped.nonce.len() != NONCE_LEN {
        let detail = format!(
            "nonce is {} bytes, expected {NONCE_LEN}",
            wrapped.nonce.len()
        );
        return Err(SealError::Corrupt {
            what: "wrapped key",
            detail,
        });
    }
    if wrapped.ciphertext.len() < TAG_LEN {
        let detail = format!(
            "ciphertext is {} bytes, shorter than the tag",
            wrapped.ciphertext.len()
        );
        return Err(SealError::Corrupt {
            what: "wrapped key",
            detail,
        });
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test fails by panicking
mod tests {
    use super::*;

    const PKCS8: &[u8] = b"not really pkcs8 but private all the same";

    fn ctx(key_id: &str) -> WrapContext<'_> {
        WrapContext {
            key_id,
            version: 1,
            algorithm: Algorithm::EcP256,
        }
    }

    #[test]
    fn wrap_then_unwrap_returns_the_plaintext() {
        let key = ClusterKey::generate().unwrap();
        let wrapped = key.wrap(&ctx("k-1"), PKCS8).unwrap();
        assert_eq!(wrapped.nonce.len(), NONCE_LEN);
        assert_eq!(wrapped.ciphertext.len(), PKCS8.len() + TAG_LEN);
        assert_ne!(&wrapped.ciphertext[..PKCS8.len()], PKCS8);
        assert_eq!(
            key.unwrap_key(&ctx("k-1"), &wrapped).unwrap().as_slice(),
            PKCS8
        );
    }

    #[test]
    fn unwrap_with_another_context_fails() {
        let key = ClusterKey::generate().unwrap();
        let wrapped = key.wrap(&ctx("k-1"), PKCS8).unwrap();
        let others = [
            ctx("k-2"),
            WrapContext {
                version: 2,
                ..ctx("k-1")
            },
            WrapContext {
                algorithm: Algorithm::Ed25519,
                ..ctx("k-1")
            },
        ];
        for other in others {
            let err = key.unwrap_key(&other, &wrapped).unwrap_err();
            assert!(
                matches!(&err, SealError::UnwrapFailed { key_id, version }
                    if key_id == other.key_id && *version == other.version),
                "{err:?}"
            );
        }
    }

    #[test]
    fn unwrap_under_another_cluster_key_fails() {
        let wrapped = ClusterKey::generate()
            .unwrap()
            .wrap(&ctx("k-1"), PKCS8)
            .unwrap();
        let other = ClusterKey::generate().unwrap();
        assert!(matches!(
            other.unwrap_key(&ctx("k-1"), &wrapped),
            Err(SealError::UnwrapFailed { .. })
        ));
    }

    #[test]
    fn tampered_ciphertext_or_nonce_fails() {
        let key = ClusterKey::generate().unwrap();
        let wrapped = key.wrap(&ctx("k-1"), PKCS8).unwrap();
        for i in [0, PKCS8.len() - 1, wrapped.ciphertext.len() - 1] {
            let mut bad = wrapped.clone();
            bad.ciphertext[i] ^= 0x01;
            assert!(matches!(
                key.unwrap_key(&ctx("k-1"), &bad),
                Err(SealError::UnwrapFailed { .. })
            ));
        }
        let mut bad = wrapped.clone();
        bad.nonce[5] ^= 0x80;
        assert!(matches!(
            key.unwrap_key(&ctx("k-1"), &bad),
            Err(SealError::UnwrapFailed { .. })
        ));
    }

    #[test]
    fn malformed_wrapped_key_is_reported_as_corrupt() {
        let key = ClusterKey::generate().unwrap();
        let short_nonce = WrappedKey {
            nonce: vec![0; 8],
            ciphertext: vec![0; 48],
        };
        let short_text = WrappedKey {
            nonce: vec![0; 12],
            ciphertext: vec![0; 3],
        };
        for bad in [short_nonce, short_text] {
            let err = key.unwrap_key(&ctx("k-1"), &bad).unwrap_err();
            assert!(
                matches!(
                    err,
                    SealError::Corrupt {
                        what: "wrapped key",
                        ..
                    }
                ),
                "{err:?}"
            );
        }
    }

    #[test]
    fn two_wraps_of_the_same_plaintext_differ() {
        let key = ClusterKey::generate().unwrap();
        let a = key.wrap(&ctx("k-1"), PKCS8).unwrap();
        let b = key.wrap(&ctx("k-1"), PKCS8).unwrap();
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.ciphertext, b.ciphertext);
    }

    #[test]
    fn key_check_matches_only_its_own_key() {
        let key = ClusterKey::generate().unwrap();
        let other = ClusterKey::generate().unwrap();
        let check = key.key_check().unwrap();
        assert!(key.matches_check(&check));
        assert!(!other.matches_check(&check));
        assert!(key.matches_check(&key.key_check().unwrap()));

        let mut tampered = check.clone();
        tampered.ciphertext[0] ^= 1;
        assert!(!key.matches_check(&tampered));
    }

    #[test]
    fn key_check_is_not_a_wrapped_key_and_vice_versa() {
        let key = ClusterKey::generate().unwrap();
        let check = key.key_check().unwrap();
        assert!(key.unwrap_key(&ctx(""), &check).is_err());
        let wrapped = key.wrap(&ctx("k-1"), CHECK_PLAINTEXT).unwrap();
        assert!(!key.matches_check(&wrapped));
    }

    #[test]
    fn context_of_a_record_uses_its_id_version_and_algorithm() {
        let record = KeyRecord {
            id: "k-00000000000000aa".into(),
            label: "web".into(),
            algorithm: Algorithm::Rsa2048,
            usage: crate::keys::Usage::Sign,
            version: 3,
            public_key_der: vec![],
            wrapped: WrappedKey {
                nonce: vec![],
                ciphertext: vec![],
            },
            created_at: 0,
            created_index: 0,
            imported: false,
        };
        let expected = WrapContext {
            key_id: "k-00000000000000aa",
            version: 3,
            algorithm: Algorithm::Rsa2048,
        };
        assert_eq!(WrapContext::of(&record), expected);
    }

    #[test]
    fn debug_shows_no_key_bytes() {
        let key = ClusterKey::from_slice(&[0xab; KEY_LEN]).unwrap();
        let text = format!("{key:?} {key:#?}");
        assert!(!text.to_lowercase().contains("ab"), "{text}");
        assert!(!text.contains("171"), "{text}");
        assert!(ClusterKey::from_slice(&[0; 31]).is_none());
    }
}
