//! The crypto module's error type. Every message is written for an API caller and is built
//! only from public facts (names, sizes, lengths): never from key bytes, plaintext or
//! anything a padding oracle could use. [`CryptoError::field`] names the request field an
//! error is about, so the API edge can attach a field violation without matching here.

use crate::keys::{Algorithm, SignScheme};

/// Why a key operation, a generation or an import failed.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The signature scheme belongs to another key family.
    #[error("scheme {scheme} does not fit key algorithm {algorithm}")]
    SchemeMismatch {
        /// The scheme the caller asked for.
        scheme: SignScheme,
        /// The key's algorithm.
        algorithm: Algorithm,
    },
    /// Decryption was asked of a key that is not RSA.
    #[error("decryption needs an RSA key; this key is {algorithm}")]
    DecryptNotSupported {
        /// The key's algorithm.
        algorithm: Algorithm,
    },
    /// A precomputed digest does not have the length of the scheme's hash.
    #[error("digest must be {expected} bytes for this scheme, got {actual}")]
    DigestLength {
        /// Output length of the scheme's hash.
        expected: usize,
        /// Length the caller sent.
        actual: usize,
    },
    /// The scheme signs the message itself (pure EdDSA) and cannot sign a digest.
    #[error("scheme {scheme} signs the message itself; send the message, not a digest")]
    DigestNotSupported {
        /// The scheme the caller asked for.
        scheme: SignScheme,
    },
    /// The message is longer than [`super::MAX_MESSAGE_LEN`].
    #[error("message is {actual} bytes, more than the maximum of {max}; send a digest instead")]
    MessageTooLarge {
        /// Length the caller sent.
        actual: usize,
        /// The limit.
        max: usize,
    },
    /// The message to sign is empty.
    #[error("message is empty")]
    EmptyMessage,
    /// The ciphertext to decrypt is empty.
    #[error("ciphertext is empty")]
    EmptyCiphertext,
    /// The ciphertext does not have the length of the key's modulus.
    #[error("ciphertext must be {expected} bytes for this key, got {actual}")]
    CiphertextLength {
        /// The modulus length in bytes.
        expected: usize,
        /// Length the caller sent.
        actual: usize,
    },
    /// Decryption failed. Deliberately says nothing more (no padding-oracle detail).
    #[error("decryption failed")]
    DecryptFailed,
    /// The private key is malformed; `reason` says what is wrong in general terms.
    #[error("invalid private key: {reason}")]
    InvalidKey {
        /// What is wrong, in general terms.
        reason: &'static str,
    },
    /// Key material does not parse as a key of the algorithm it was given with.
    #[error("private key is not a valid {algorithm} key")]
    NotAlgorithm {
        /// The algorithm the material was expected to hold.
        algorithm: Algorithm,
    },
    /// The private key is well formed but of a kind the cluster does not hold.
    #[error("unsupported private key: {0}")]
    UnsupportedKey(Unsupported),
    /// The crypto library failed where it should not; details are deliberately generic.
    #[error("internal cryptographic failure")]
    Internal {
        /// The operation that failed, for logs (not part of the message).
        context: &'static str,
    },
}

/// What makes a well-formed private key unsupported.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unsupported {
    /// An RSA modulus size other than 2048, 3072 or 4096 bits.
    #[error("RSA keys must be 2048, 3072 or 4096 bits, this one is {bits} bits")]
    RsaSize {
        /// The modulus size.
        bits: usize,
    },
    /// An elliptic curve other than P-256 or P-384 (name or dotted OID).
    #[error("curve {0} is not supported; use P-256 or P-384")]
    Curve(String),
    /// An EC key with explicit curve parameters instead of a named curve.
    #[error("EC keys must name their curve (explicit curve parameters are not supported)")]
    ExplicitCurve,
    /// A key type that is neither RSA, EC nor Ed25519 (name or dotted OID).
    #[error("key type {0} is not supported; use RSA, EC (P-256, P-384) or Ed25519")]
    KeyType(String),
    /// A password-protected private key.
    #[error("encrypted private keys are not supported; decrypt it first (openssl pkey)")]
    Encrypted,
}

impl CryptoError {
    /// The request field the error is about: `"algorithm"`, `"scheme"`, `"digest"`,
    /// `"message"`, `"private_key"`, `"ciphertext"`, or `""` for an internal failure.
    pub fn field(&self) -> &'static str {
        match self {
            CryptoError::SchemeMismatch { .. } | CryptoError::DecryptNotSupported { .. } => {
                "scheme"
            }
            CryptoError::DigestLength { .. } | CryptoError::DigestNotSupported { .. } => "digest",
            CryptoError::MessageTooLarge { .. } | CryptoError::EmptyMessage => "message",
            CryptoError::EmptyCiphertext
            | CryptoError::CiphertextLength { .. }
            | CryptoError::DecryptFailed => "ciphertext",
            CryptoError::InvalidKey { .. }
            | CryptoError::NotAlgorithm { .. }
            | CryptoError::UnsupportedKey(_) => "private_key",
            CryptoError::Internal { .. } => "",
        }
    }

    /// Whether the error is the caller's (a bad request) rather than an internal failure.
    pub fn is_invalid_argument(&self) -> bool {
        !matches!(self, CryptoError::Internal { .. })
    }

    /// Shorthand for [`CryptoError::Internal`].
    pub(super) fn internal(context: &'static str) -> CryptoError {
        CryptoError::Internal { context }
    }

    /// Shorthand for [`CryptoError::InvalidKey`].
    pub(super) fn invalid_key(reason: &'static str) -> CryptoError {
        CryptoError::InvalidKey { reason }
    }
}

impl From<Unsupported> for CryptoError {
    fn from(unsupported: Unsupported) -> Self {
        CryptoError::UnsupportedKey(unsupported)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_mismatch_names_scheme_and_algorithm() {
        let err = CryptoError::SchemeMismatch {
            scheme: SignScheme::RsaPssSha256,
            algorithm: Algorithm::EcP256,
        };
        assert_eq!(
            err.to_string(),
            "scheme rsa-pss-sha256 does not fit key algorithm ec-p256"
        );
        assert_eq!(err.field(), "scheme");
    }

    #[test]
    fn decrypt_failure_says_nothing_more() {
        assert_eq!(CryptoError::DecryptFailed.to_string(), "decryption failed");
        assert_eq!(CryptoError::DecryptFailed.field(), "ciphertext");
    }

    #[test]
    fn internal_failure_hides_its_context_from_the_message() {
        let err = CryptoError::internal("rsa sign");
        assert_eq!(err.to_string(), "internal cryptographic failure");
        assert_eq!(err.field(), "");
        assert!(!err.is_invalid_argument());
    }

    #[test]
    fn unsupported_key_explains_what_is_accepted() {
        let err = CryptoError::from(Unsupported::RsaSize { bits: 1024 });
        assert_eq!(
            err.to_string(),
            "unsupported private key: RSA keys must be 2048, 3072 or 4096 bits, \
             this one is 1024 bits"
        );
        assert_eq!(err.field(), "private_key");
        assert!(err.is_invalid_argument());
    }

    #[test]
    fn input_errors_point_at_their_field() {
        assert_eq!(
            CryptoError::DigestLength {
                expected: 32,
                actual: 31
            }
            .field(),
            "digest"
        );
        assert_eq!(CryptoError::EmptyMessage.field(), "message");
        assert_eq!(CryptoError::EmptyCiphertext.field(), "ciphertext");
        assert_eq!(CryptoError::invalid_key("truncated").field(), "private_key");
        let err = CryptoError::DecryptNotSupported {
            algorithm: Algorithm::Ed25519,
        };
        assert_eq!(err.field(), "scheme");
    }
}
