//! Argon2id parameters of a sealed key file and the derivation of the sealing key from the
//! unseal secret. The parameters are recorded in the file, so a node opens files made
//! with other settings; bounds keep a corrupt file from asking for absurd memory.

use argon2::{Argon2, Block, Params, Version};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::aead::KEY_LEN;
use super::{SealError, UnsealSecret};

/// Largest accepted memory cost: 1 GiB, in KiB.
const MAX_MEMORY_KIB: u32 = 1024 * 1024;
/// Largest accepted number of passes.
const MAX_ITERATIONS: u32 = 64;
/// Largest accepted number of lanes.
const MAX_PARALLELISM: u32 = 16;

/// Argon2id (version 0x13) cost parameters, as recorded in a sealed key file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealParams {
    algorithm: KdfAlgorithm,
    memory_kib: u32,
    iterations: u32,
    parallelism: u32,
}

/// The one key derivation function; named in the file so that another can follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum KdfAlgorithm {
    Argon2id,
}

impl SealParams {
    /// Checked parameters: memory in KiB (at least 8 per lane, at most 1 GiB), passes
    /// (1 to 64) and lanes (1 to 16).
    pub fn new(memory_kib: u32, iterations: u32, parallelism: u32) -> Result<Self, SealError> {
        let params = SealParams {
            algorithm: KdfAlgorithm::Argon2id,
            memory_kib,
            iterations,
            parallelism,
        };
        params.validate()?;
        Ok(params)
    }

    /// Cheap parameters for tests: 8 KiB, one pass. Never for real secrets.
    #[cfg(test)]
    pub(crate) fn fast_for_tests() -> Self {
        SealParams {
            algorithm: KdfAlgorithm::Argon2id,
            memory_kib: 8,
            iterations: 1,
            parallelism: 1,
        }
    }

    /// Memory cost in KiB.
    pub fn memory_kib(&self) -> u32 {
        self.memory_kib
    }

    /// Number of passes.
    pub fn iterations(&self) -> u32 {
        self.iterations
    }

    /// Number of lanes.
    pub fn parallelism(&self) -> u32 {
        self.parallelism
    }

    /// Checks the bounds (also for parameters read from a file).
    pub(super) fn validate(&self) -> Result<(), SealError> {
        let reason = if !(1..=MAX_PARALLELISM).contains(&self.parallelism) {
            "parallelism must be 1 to 16"
        } else if !(1..=MAX_ITERATIONS).contains(&self.iterations) {
            "iterations must be 1 to 64"
        } else if self.memory_kib < 8 * self.parallelism || self.memory_kib > MAX_MEMORY_KIB {
            "memory must be 8 KiB per lane to 1 GiB"
        } else {
            return Ok(());
        };
        Err(SealError::InvalidKdfParams { reason })
    }

    /// Derives the 256-bit sealing key from `secret` and `salt`.
    pub(super) fn derive(
        &self,
        secret: &UnsealSecret,
        salt: &[u8],
    ) -> Result<Zeroizing<[u8; KEY_LEN]>, SealError> {
        self.validate()?;
        let params = Params::new(
            self.memory_kib,
            self.iterations,
            self.parallelism,
            Some(KEY_LEN),
        )
        .map_err(|_| SealError::InvalidKdfParams {
            reason: "rejected by argon2",
        })?;
        let argon2 = Argon2::new(argon2::Algorithm::Argon2id, Version::V0x13, params);

        // Own the working memory so that it is wiped afterwards: it is derived from the
        // secret, and argon2 0.5 does not clear what it allocates itself.
        let mut memory = Zeroizing::new(vec![Block::default(); argon2.params().block_count()]);
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        argon2
            .hash_password_into_with_memory(secret.expose(), salt, &mut key[..], &mut memory[..])
            .map_err(|_| SealError::crypto("argon2id derivation"))?;
        Ok(key)
    }
}

impl Default for SealParams {
    /// Production strength: 64 MiB, 3 passes, 1 lane.
    fn default() -> Self {
        SealParams {
            algorithm: KdfAlgorithm::Argon2id,
            memory_kib: 64 * 1024,
            iterations: 3,
            parallelism: 1,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test fails by panicking
mod tests {
    use super::*;

    #[test]
    fn default_is_64_mib_three_passes_one_lane() {
        let params = SealParams::default();
        assert_eq!(
            (
                params.memory_kib(),
                params.iterations(),
                params.parallelism()
            ),
            (65536, 3, 1)
        );
        assert!(params.validate().is_ok());
    }

    #[test]
    fn out_of_range_parameters_are_refused() {
        for (m, t, p) in [
            (4, 1, 1),
            (16, 1, 4),
            (MAX_MEMORY_KIB + 1, 1, 1),
            (64, 0, 1),
            (64, 65, 1),
            (64, 1, 0),
            (1024, 1, 17),
        ] {
            let err = SealParams::new(m, t, p).unwrap_err();
            assert!(
                matches!(err, SealError::InvalidKdfParams { .. }),
                "({m}, {t}, {p})"
            );
        }
        assert!(SealParams::new(32, 1, 4).is_ok());
    }

    #[test]
    fn derivation_depends_on_secret_salt_and_parameters() {
        let params = SealParams::fast_for_tests();
        let secret = UnsealSecret::from_bytes(b"secret".to_vec());
        let base = params.derive(&secret, &[1; 16]).unwrap();
        assert_eq!(*base, *params.derive(&secret, &[1; 16]).unwrap());

        let other_secret = UnsealSecret::from_bytes(b"secreT".to_vec());
        assert_ne!(*base, *params.derive(&other_secret, &[1; 16]).unwrap());
        assert_ne!(*base, *params.derive(&secret, &[2; 16]).unwrap());
        let slower = SealParams::new(16, 2, 1).unwrap();
        assert_ne!(*base, *slower.derive(&secret, &[1; 16]).unwrap());
    }

    #[test]
    fn parameters_serialize_with_the_algorithm_name() {
        let json = serde_json::to_string(&SealParams::default()).unwrap();
        assert_eq!(
            json,
            r#"{"algorithm":"argon2id","memory_kib":65536,"iterations":3,"parallelism":1}"#
        );
        assert_eq!(
            serde_json::from_str::<SealParams>(&json).unwrap(),
            SealParams::default()
        );
        assert!(serde_json::from_str::<SealParams>(&json.replace("argon2id", "scrypt")).is_err());
    }
}
