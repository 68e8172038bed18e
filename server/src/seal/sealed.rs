//! The cluster key at rest: encrypted under a key that Argon2id derives from the node's
//! unseal secret, in a small JSON file with the parameters, salt and identity needed to
//! open it. Durable file handling is in `durable`; the derivation in `params`.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::aead::{self, KEY_LEN, NONCE_LEN, TAG_LEN, Transcript};
use super::{ClusterKey, SealError, SealParams, UnsealSecret, durable};
use crate::keys::b64;

/// Format of the sealed key file this code writes and reads.
const FORMAT: u32 = 1;
/// Domain label of the associated data.
const SEAL_LABEL: &str = "keyhold/sealed-cluster-key/v1";
/// Length of the random Argon2id salt.
const SALT_LEN: usize = 32;
/// A sealed key file is a few hundred bytes; anything much larger is not one.
const MAX_FILE_LEN: u64 = 64 * 1024;
/// What errors call the file.
const WHAT: &str = "sealed key file";

/// The cluster key sealed under one node's unseal secret. Holds no plaintext: it can be
/// logged, copied and backed up.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedClusterKey {
    format: u32,
    cluster_id: String,
    node_id: u64,
    kdf: SealParams,
    #[serde(with = "b64")]
    salt: Vec<u8>,
    #[serde(with = "b64")]
    nonce: Vec<u8>,
    #[serde(with = "b64")]
    ciphertext: Vec<u8>,
}

impl SealedClusterKey {
    /// Seals `key` under `secret` with the production Argon2id parameters; the cluster id
    /// and node id are bound into the encryption.
    pub fn seal(
        key: &ClusterKey,
        secret: &UnsealSecret,
        cluster_id: &str,
        node_id: u64,
    ) -> Result<Self, SealError> {
        Self::seal_with(key, secret, cluster_id, node_id, SealParams::default())
    }

    /// Seals with explicit Argon2id parameters.
    pub fn seal_with(
        key: &ClusterKey,
        secret: &UnsealSecret,
        cluster_id: &str,
        node_id: u64,
        params: SealParams,
    ) -> Result<Self, SealError> {
        if secret.is_empty() {
            return Err(SealError::EmptySecret {
                origin: "the caller".into(),
            });
        }
        let mut salt = vec![0u8; SALT_LEN];
        aws_lc_rs::rand::fill(&mut salt).map_err(|_| SealError::crypto("random salt"))?;
        let mut sealed = SealedClusterKey {
            format: FORMAT,
            cluster_id: cluster_id.to_owned(),
            node_id,
            kdf: params,
            salt,
            nonce: Vec::new(),
            ciphertext: Vec::new(),
        };

        let sealing_key = params.derive(secret, &sealed.salt)?;
        let encrypted = aead::seal(&sealing_key, sealed.aad().as_bytes(), key.expose())?;
        sealed.nonce = encrypted.nonce;
        sealed.ciphertext = encrypted.ciphertext;
        Ok(sealed)
    }

    /// Opens the cluster key with `secret`. [`SealError::WrongSecret`] when it does not
    /// open, which is also what an altered file looks like.
    pub fn unseal(&self, secret: &UnsealSecret) -> Result<ClusterKey, SealError> {
        self.check_structure()?;
        let sealing_key = self.kdf.derive(secret, &self.salt)?;
        let aad = self.aad();
        let plaintext = aead::open(&sealing_key, aad.as_bytes(), &self.nonce, &self.ciphertext)
            .ok_or(SealError::WrongSecret)?;
        ClusterKey::from_slice(&plaintext).ok_or_else(|| SealError::Corrupt {
            what: WHAT,
            detail: "cluster key has the wrong length".into(),
        })
    }

    /// The cluster this key belongs to.
    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// The node the key was sealed for.
    pub fn node_id(&self) -> u64 {
        self.node_id
    }

    /// The Argon2id parameters recorded in the file.
    pub fn params(&self) -> SealParams {
        self.kdf
    }

    /// Writes the file durably with mode 0600: a temp file in the same directory is
    /// written and fsynced, renamed over `path`, then the directory is fsynced.
    pub fn write(&self, path: &Path) -> Result<(), SealError> {
        let mut json = serde_json::to_vec_pretty(self).map_err(|e| SealError::Corrupt {
            what: WHAT,
            detail: format!("cannot encode: {e}"),
        })?;
        json.push(b'\n');
        durable::write_private(path, &json)
    }

    /// Reads a sealed key file; `None` when there is none. Checks the structure, not the
    /// secret: that is [`SealedClusterKey::unseal`]'s job.
    pub fn read(path: &Path) -> Result<Option<Self>, SealError> {
        let Some(bytes) = durable::read_bounded(path, MAX_FILE_LEN, WHAT)? else {
            return Ok(None);
        };
        let sealed: SealedClusterKey =
            serde_json::from_slice(&bytes).map_err(|e| SealError::Corrupt {
                what: WHAT,
                detail: e.to_string(),
            })?;
        sealed.check_structure()?;
        Ok(Some(sealed))
    }

    fn check_structure(&self) -> Result<(), SealError> {
        if self.format != FORMAT {
            return Err(SealError::UnsupportedFormat { found: self.format });
        }
        self.kdf.validate()?;
        let lengths = [
            ("salt", self.salt.len(), SALT_LEN),
            ("nonce", self.nonce.len(), NONCE_LEN),
            ("ciphertext", self.ciphertext.len(), KEY_LEN + TAG_LEN),
        ];
        for (field, found, expected) in lengths {
            if found != expected {
                let detail = format!("{field} is {found} bytes, expected {expected}");
                return Err(SealError::Corrupt { what: WHAT, detail });
            }
        }
        Ok(())
    }

    fn aad(&self) -> Transcript {
        Transcript::new(SEAL_LABEL)
            .number(u64::from(self.format))
            .text(&self.cluster_id)
            .number(self.node_id)
            .text("argon2id")
            .number(u64::from(self.kdf.memory_kib()))
            .number(u64::from(self.kdf.iterations()))
            .number(u64::from(self.kdf.parallelism()))
            .bytes(&self.salt)
    }
}

impl fmt::Debug for SealedClusterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedClusterKey")
            .field("format", &self.format)
            .field("cluster_id", &self.cluster_id)
            .field("node_id", &self.node_id)
            .field("kdf", &self.kdf)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test fails by panicking
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;

    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};

    use super::*;

    const SECRET: &[u8] = b"an unseal secret of some length";

    fn secret() -> UnsealSecret {
        UnsealSecret::from_bytes(SECRET.to_vec())
    }

    fn seal_fast(key: &ClusterKey) -> SealedClusterKey {
        let params = SealParams::fast_for_tests();
        SealedClusterKey::seal_with(key, &secret(), "c-1234", 2, params).unwrap()
    }

    /// Writes a sealed key file, then lets `edit` change its JSON.
    fn edited_file(dir: &tempfile::TempDir, edit: impl FnOnce(&mut serde_json::Value)) -> PathBuf {
        let path = dir.path().join(format!("sealed-{}", rand::random::<u32>()));
        seal_fast(&ClusterKey::generate().unwrap())
            .write(&path)
            .unwrap();
        let mut json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        edit(&mut json);
        std::fs::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
        path
    }

    fn encodings(bytes: &[u8]) -> Vec<Vec<u8>> {
        vec![
            bytes.to_vec(),
            hex::encode(bytes).into_bytes(),
            hex::encode_upper(bytes).into_bytes(),
            STANDARD.encode(bytes).into_bytes(),
            STANDARD_NO_PAD.encode(bytes).into_bytes(),
            URL_SAFE_NO_PAD.encode(bytes).into_bytes(),
        ]
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn seal_write_read_unseal_round_trips_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cluster-key.sealed");
        let key = ClusterKey::generate().unwrap();
        seal_fast(&key).write(&path).unwrap();

        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let read = SealedClusterKey::read(&path).unwrap().unwrap();
        assert_eq!((read.cluster_id(), read.node_id()), ("c-1234", 2));
        assert_eq!(read.params(), SealParams::fast_for_tests());
        let unsealed = read.unseal(&secret()).unwrap();
        assert_eq!(unsealed.expose(), key.expose());
        assert!(unsealed.matches_check(&key.key_check().unwrap()));
    }

    #[test]
    fn file_holds_neither_the_key_nor_the_secret_in_any_encoding() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cluster-key.sealed");
        let key = ClusterKey::generate().unwrap();
        seal_fast(&key).write(&path).unwrap();
        let file = std::fs::read(&path).unwrap();

        for needle in encodings(key.expose()).into_iter().chain(encodings(SECRET)) {
            assert!(
                !contains(&file, &needle),
                "found {}",
                String::from_utf8_lossy(&needle)
            );
        }
        // Also no 8-byte run of the key: a partial leak would be caught too.
        for window in key.expose().windows(8) {
            assert!(!contains(&file, window));
        }
    }

    #[test]
    fn wrong_secret_is_reported_as_such() {
        let sealed = seal_fast(&ClusterKey::generate().unwrap());
        let wrong = UnsealSecret::from_bytes(b"an unseal secret of some lengtH".to_vec());
        assert!(matches!(sealed.unseal(&wrong), Err(SealError::WrongSecret)));
    }

    #[test]
    fn two_seals_of_one_key_use_fresh_salt_and_nonce() {
        let key = ClusterKey::generate().unwrap();
        let (a, b) = (seal_fast(&key), seal_fast(&key));
        assert_ne!(a.salt, b.salt);
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.ciphertext, b.ciphertext);
    }

    #[test]
    fn seal_uses_production_parameters_and_refuses_an_empty_secret() {
        let key = ClusterKey::generate().unwrap();
        let sealed = SealedClusterKey::seal(&key, &secret(), "c-1", 1).unwrap();
        assert_eq!(sealed.params(), SealParams::default());
        let empty = UnsealSecret::from_bytes(Vec::new());
        let err = SealedClusterKey::seal(&key, &empty, "c-1", 1).unwrap_err();
        assert!(matches!(err, SealError::EmptySecret { .. }));
    }

    #[test]
    fn absent_file_reads_as_none() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            SealedClusterKey::read(&dir.path().join("absent"))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn unparseable_file_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        for content in [
            &b""[..],
            b"\x00\xff garbage",
            b"{\"format\": 1, \"cluster_id\"",
        ] {
            std::fs::write(&path, content).unwrap();
            let err = SealedClusterKey::read(&path).unwrap_err();
            assert!(
                matches!(err, SealError::Corrupt { what: WHAT, .. }),
                "{err:?}"
            );
        }
    }

    #[test]
    fn malformed_fields_are_reported_before_any_decryption() {
        let dir = tempfile::tempdir().unwrap();
        let read = |edit: fn(&mut serde_json::Value)| {
            SealedClusterKey::read(&edited_file(&dir, edit)).unwrap_err()
        };
        let err = read(|j| j["nonce"] = "AAAA".into());
        assert!(matches!(&err, SealError::Corrupt { detail, .. } if detail.contains("nonce")));
        let err = read(|j| j["salt"] = "not base64!".into());
        assert!(matches!(err, SealError::Corrupt { .. }));
        let err = read(|j| j["format"] = 2.into());
        assert!(matches!(err, SealError::UnsupportedFormat { found: 2 }));
        let err = read(|j| j["kdf"]["memory_kib"] = u32::MAX.into());
        assert!(matches!(err, SealError::InvalidKdfParams { .. }));
        let err = read(|j| j["extra"] = true.into());
        assert!(matches!(err, SealError::Corrupt { .. }));
    }

    #[test]
    fn altered_identity_or_ciphertext_does_not_unseal() {
        let dir = tempfile::tempdir().unwrap();
        let edits: [fn(&mut serde_json::Value); 4] = [
            |j| j["cluster_id"] = "c-9999".into(),
            |j| j["node_id"] = 3.into(),
            |j| j["kdf"]["iterations"] = 2.into(),
            |j| {
                let mut ct = STANDARD.decode(j["ciphertext"].as_str().unwrap()).unwrap();
                ct[0] ^= 1;
                j["ciphertext"] = STANDARD.encode(ct).into();
            },
        ];
        for edit in edits {
            let sealed = SealedClusterKey::read(&edited_file(&dir, edit))
                .unwrap()
                .unwrap();
            assert!(matches!(
                sealed.unseal(&secret()),
                Err(SealError::WrongSecret)
            ));
        }
    }

    #[test]
    fn debug_shows_identity_only() {
        let sealed = seal_fast(&ClusterKey::generate().unwrap());
        let text = format!("{sealed:?}");
        assert!(
            text.contains("c-1234") && !text.contains("ciphertext"),
            "{text}"
        );
    }
}
