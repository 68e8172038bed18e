//! Signing with a [`PrivateKey`]: checks the scheme against the key and the input against
//! the scheme, then signs a message or a precomputed digest. ECDSA signatures are ASN.1
//! DER; RSA-PSS uses a salt as long as the hash.

use aws_lc_rs::digest::{self, Digest};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair};

use super::MAX_MESSAGE_LEN;
use super::error::CryptoError;
use super::key::{Inner, PrivateKey};
use crate::keys::SignScheme;

/// What to sign: the message itself, or the digest of it under the scheme's hash.
#[derive(Clone, Copy, Debug)]
pub enum SignInput<'a> {
    /// The message; hashed here with the scheme's hash (at most [`MAX_MESSAGE_LEN`]).
    Message(&'a [u8]),
    /// A precomputed hash of the message (not for Ed25519, which signs the message).
    Digest(&'a [u8]),
}

impl PrivateKey {
    /// Signs `input` with `scheme`.
    ///
    /// Errors: [`CryptoError::SchemeMismatch`] when the scheme does not fit the key,
    /// [`CryptoError::DigestLength`] / [`CryptoError::DigestNotSupported`] for a bad
    /// digest, [`CryptoError::EmptyMessage`] / [`CryptoError::MessageTooLarge`] for a bad
    /// message.
    pub fn sign(&self, scheme: SignScheme, input: SignInput<'_>) -> Result<Vec<u8>, CryptoError> {
        if !scheme.fits(self.algorithm) {
            return Err(CryptoError::SchemeMismatch {
                scheme,
                algorithm: self.algorithm,
            });
        }
        check_input(scheme, input)?;

        match &self.inner {
            Inner::Ecdsa { key, curve_hash } => sign_ecdsa(key, curve_hash, scheme, input),
            Inner::Ed25519(key) => sign_ed25519(key, input),
            Inner::Rsa(rsa) => sign_rsa(&rsa.signing, rsa.modulus_len, scheme, input),
        }
    }
}

/// Refuses inputs the scheme cannot sign, before any crypto runs.
fn check_input(scheme: SignScheme, input: SignInput<'_>) -> Result<(), CryptoError> {
    match (input, scheme.digest_len()) {
        (SignInput::Message([]), _) => Err(CryptoError::EmptyMessage),
        (SignInput::Message(message), _) if message.len() > MAX_MESSAGE_LEN => {
            Err(CryptoError::MessageTooLarge {
                actual: message.len(),
                max: MAX_MESSAGE_LEN,
            })
        }
        (SignInput::Message(_), _) => Ok(()),
        (SignInput::Digest(_), None) => Err(CryptoError::DigestNotSupported { scheme }),
        (SignInput::Digest(digest), Some(expected)) if digest.len() != expected => {
            Err(CryptoError::DigestLength {
                expected,
                actual: digest.len(),
            })
        }
        (SignInput::Digest(_), Some(_)) => Ok(()),
    }
}

/// The hash a scheme signs with; `None` for Ed25519.
fn scheme_hash(scheme: SignScheme) -> Option<&'static digest::Algorithm> {
    match scheme {
        SignScheme::EcdsaSha256 | SignScheme::RsaPkcs1Sha256 | SignScheme::RsaPssSha256 => {
            Some(&digest::SHA256)
        }
        SignScheme::EcdsaSha384 | SignScheme::RsaPkcs1Sha384 | SignScheme::RsaPssSha384 => {
            Some(&digest::SHA384)
        }
        SignScheme::RsaPkcs1Sha512 | SignScheme::RsaPssSha512 => Some(&digest::SHA512),
        SignScheme::Ed25519 => None,
    }
}

/// Hashes the message or imports the caller's digest (length already checked).
fn digest_of(
    hash: &'static digest::Algorithm,
    input: SignInput<'_>,
) -> Result<Digest, CryptoError> {
    match input {
        SignInput::Message(message) => Ok(digest::digest(hash, message)),
        SignInput::Digest(digest) => {
            Digest::import_less_safe(digest, hash).map_err(|_| CryptoError::DigestLength {
                expected: hash.output_len(),
                actual: digest.len(),
            })
        }
    }
}

fn sign_ecdsa(
    key: &EcdsaKeyPair,
    curve_hash: &'static digest::Algorithm,
    scheme: SignScheme,
    input: SignInput<'_>,
) -> Result<Vec<u8>, CryptoError> {
    let internal = |_| CryptoError::internal("ecdsa sign");
    let hash = scheme_hash(scheme).ok_or(CryptoError::internal("ecdsa scheme without hash"))?;

    // The key pair's own hash over a message: the plain (FIPS-approved) path.
    if let SignInput::Message(message) = input
        && hash == curve_hash
    {
        let signature = key.sign(&SystemRandom::new(), message).map_err(internal)?;
        return Ok(signature.as_ref().to_vec());
    }

    let digest = digest_of(hash, input)?;
    let fitted = fit_to_curve(digest.as_ref(), curve_hash)?;
    let signature = key.sign_digest(&fitted).map_err(internal)?;
    Ok(signature.as_ref().to_vec())
}

/// Re-expresses an ECDSA hash value as a digest of the curve's own hash length, which is
/// what aws-lc-rs accepts for a key pair bound to that hash.
///
/// ECDSA turns the hash into an integer from its leftmost `n` bits, `n` being the bit length
/// of the group order (FIPS 186-5, 6.4.1): 256 for P-256, 384 for P-384, whole octets in
/// both cases. So a longer hash is cut to its first octets (SHA-384 on P-256), and a
/// shorter one is left-padded with zero octets, which leaves its integer value unchanged
/// (SHA-256 on P-384). The signature is the standard ECDSA signature for the scheme's hash.
fn fit_to_curve(
    hash_value: &[u8],
    curve_hash: &'static digest::Algorithm,
) -> Result<Digest, CryptoError> {
    let len = curve_hash.output_len();
    let mut fitted = [0u8; digest::MAX_OUTPUT_LEN];
    if hash_value.len() >= len {
        fitted[..len].copy_from_slice(&hash_value[..len]);
    } else {
        fitted[len - hash_value.len()..len].copy_from_slice(hash_value);
    }
    Digest::import_less_safe(&fitted[..len], curve_hash)
        .map_err(|_| CryptoError::internal("ecdsa digest fitting"))
}

fn sign_ed25519(key: &Ed25519KeyPair, input: SignInput<'_>) -> Result<Vec<u8>, CryptoError> {
    let SignInput::Message(message) = input else {
        return Err(CryptoError::DigestNotSupported {
            scheme: SignScheme::Ed25519,
        });
    };
    let signature = key
        .try_sign(message)
        .map_err(|_| CryptoError::internal("ed25519 sign"))?;
    Ok(signature.as_ref().to_vec())
}

fn sign_rsa(
    key: &RsaKeyPair,
    modulus_len: usize,
    scheme: SignScheme,
    input: SignInput<'_>,
) -> Result<Vec<u8>, CryptoError> {
    let encoding = rsa_encoding(scheme).ok_or(CryptoError::internal("rsa scheme"))?;
    let hash = scheme_hash(scheme).ok_or(CryptoError::internal("rsa scheme without hash"))?;
    let internal = |_| CryptoError::internal("rsa sign");

    let mut signature = vec![0u8; modulus_len];
    match input {
        SignInput::Message(message) => {
            key.sign(encoding, &SystemRandom::new(), message, &mut signature)
                .map_err(internal)?;
        }
        SignInput::Digest(_) => {
            let digest = digest_of(hash, input)?;
            key.sign_digest(encoding, &digest, &mut signature)
                .map_err(internal)?;
        }
    }
    Ok(signature)
}

/// The aws-lc-rs padding and hash of an RSA scheme. PSS encodings salt with the hash length.
fn rsa_encoding(scheme: SignScheme) -> Option<&'static signature::RsaSignatureEncoding> {
    match scheme {
        SignScheme::RsaPkcs1Sha256 => Some(&signature::RSA_PKCS1_SHA256),
        SignScheme::RsaPkcs1Sha384 => Some(&signature::RSA_PKCS1_SHA384),
        SignScheme::RsaPkcs1Sha512 => Some(&signature::RSA_PKCS1_SHA512),
        SignScheme::RsaPssSha256 => Some(&signature::RSA_PSS_SHA256),
        SignScheme::RsaPssSha384 => Some(&signature::RSA_PSS_SHA384),
        SignScheme::RsaPssSha512 => Some(&signature::RSA_PSS_SHA512),
        SignScheme::EcdsaSha256 | SignScheme::EcdsaSha384 | SignScheme::Ed25519 => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::testkit::{key, verifies};
    use crate::keys::Algorithm;

    const MESSAGE: &[u8] = b"GET / HTTP/1.1 -- the handshake transcript stands in here";

    fn fitting(algorithm: Algorithm) -> impl Iterator<Item = SignScheme> {
        SignScheme::ALL
            .iter()
            .copied()
            .filter(move |scheme| scheme.fits(algorithm))
    }

    fn digest_for(scheme: SignScheme, message: &[u8]) -> Vec<u8> {
        digest::digest(scheme_hash(scheme).unwrap(), message)
            .as_ref()
            .to_vec()
    }

    #[test]
    fn every_algorithm_signs_with_every_fitting_scheme() {
        for &algorithm in Algorithm::ALL {
            let key = key(algorithm);
            let schemes: Vec<_> = fitting(algorithm).collect();
            assert!(!schemes.is_empty());
            for scheme in schemes {
                let signature = key.sign(scheme, SignInput::Message(MESSAGE)).unwrap();
                let spki = key.public_key_der();
                assert!(
                    verifies(algorithm, scheme, spki, MESSAGE, &signature),
                    "{scheme}"
                );
                assert!(
                    !verifies(algorithm, scheme, spki, b"other", &signature),
                    "{scheme}"
                );
            }
        }
    }

    #[test]
    fn digest_input_signs_the_same_message() {
        for &algorithm in Algorithm::ALL {
            let key = key(algorithm);
            for scheme in fitting(algorithm).filter(|s| s.digest_len().is_some()) {
                let digest = digest_for(scheme, MESSAGE);
                let signature = key.sign(scheme, SignInput::Digest(&digest)).unwrap();
                let spki = key.public_key_der();
                assert!(
                    verifies(algorithm, scheme, spki, MESSAGE, &signature),
                    "{scheme}"
                );
            }
        }
    }

    #[test]
    fn rsa_pkcs1_signatures_of_digest_and_message_are_identical() {
        let key = key(Algorithm::Rsa2048);
        for scheme in [SignScheme::RsaPkcs1Sha256, SignScheme::RsaPkcs1Sha512] {
            let from_message = key.sign(scheme, SignInput::Message(MESSAGE)).unwrap();
            let digest = digest_for(scheme, MESSAGE);
            let from_digest = key.sign(scheme, SignInput::Digest(&digest)).unwrap();
            assert_eq!(from_message, from_digest, "{scheme}");
            assert_eq!(from_message.len(), 256);
        }
    }

    #[test]
    fn ecdsa_signatures_are_der_sequences() {
        for (algorithm, max_len) in [(Algorithm::EcP256, 72), (Algorithm::EcP384, 104)] {
            for scheme in [SignScheme::EcdsaSha256, SignScheme::EcdsaSha384] {
                let signature = key(algorithm)
                    .sign(scheme, SignInput::Message(MESSAGE))
                    .unwrap();
                assert_eq!(signature[0], 0x30, "{algorithm} {scheme}");
                assert_eq!(usize::from(signature[1]) + 2, signature.len());
                assert!(signature.len() <= max_len);
            }
        }
    }

    #[test]
    fn every_wrong_scheme_is_refused_with_field_scheme() {
        for &algorithm in Algorithm::ALL {
            for &scheme in SignScheme::ALL.iter().filter(|s| !s.fits(algorithm)) {
                let err = key(algorithm)
                    .sign(scheme, SignInput::Message(MESSAGE))
                    .unwrap_err();
                assert_eq!(err.field(), "scheme", "{algorithm} {scheme}");
                assert!(matches!(
                    err,
                    CryptoError::SchemeMismatch { scheme: s, algorithm: a }
                        if s == scheme && a == algorithm
                ));
            }
        }
    }

    #[test]
    fn wrong_digest_lengths_are_refused_with_field_digest() {
        for &algorithm in Algorithm::ALL {
            for scheme in fitting(algorithm) {
                let Some(expected) = scheme.digest_len() else {
                    continue;
                };
                for actual in [0, 20, expected - 1, expected + 1, 32, 48, 64] {
                    if actual == expected {
                        continue;
                    }
                    let digest = vec![7u8; actual];
                    let err = key(algorithm)
                        .sign(scheme, SignInput::Digest(&digest))
                        .unwrap_err();
                    assert_eq!(err.field(), "digest");
                    assert!(matches!(
                        err,
                        CryptoError::DigestLength { expected: e, actual: a }
                            if e == expected && a == actual
                    ));
                }
            }
        }
    }

    #[test]
    fn ed25519_refuses_a_digest() {
        let digest = [1u8; 64];
        let err = key(Algorithm::Ed25519).sign(SignScheme::Ed25519, SignInput::Digest(&digest));
        let err = err.unwrap_err();
        assert!(matches!(
            err,
            CryptoError::DigestNotSupported {
                scheme: SignScheme::Ed25519
            }
        ));
        assert_eq!(err.field(), "digest");
    }

    #[test]
    fn empty_and_oversized_messages_are_refused_with_field_message() {
        let key = key(Algorithm::EcP256);
        let scheme = SignScheme::EcdsaSha256;
        let err = key.sign(scheme, SignInput::Message(b"")).unwrap_err();
        assert!(matches!(err, CryptoError::EmptyMessage));
        assert_eq!(err.field(), "message");

        let largest = vec![0x5Au8; MAX_MESSAGE_LEN];
        let signature = key.sign(scheme, SignInput::Message(&largest)).unwrap();
        assert!(verifies(
            Algorithm::EcP256,
            scheme,
            key.public_key_der(),
            &largest,
            &signature
        ));

        let too_large = vec![0x5Au8; MAX_MESSAGE_LEN + 1];
        let err = key
            .sign(scheme, SignInput::Message(&too_large))
            .unwrap_err();
        assert!(matches!(
            err,
            CryptoError::MessageTooLarge { actual, max: MAX_MESSAGE_LEN }
                if actual == MAX_MESSAGE_LEN + 1
        ));
        assert_eq!(err.field(), "message");
    }

    #[test]
    fn one_key_signs_from_many_threads_at_once() {
        let cases = [
            (Algorithm::EcP384, SignScheme::EcdsaSha256),
            (Algorithm::Rsa2048, SignScheme::RsaPssSha256),
            (Algorithm::Ed25519, SignScheme::Ed25519),
        ];
        std::thread::scope(|scope| {
            for thread in 0..4u8 {
                for (algorithm, scheme) in cases {
                    scope.spawn(move || {
                        let key = key(algorithm);
                        for round in 0..16u8 {
                            let message = [thread, round, 1, 2, 3];
                            let input = SignInput::Message(&message);
                            let signature = key.sign(scheme, input).unwrap();
                            let spki = key.public_key_der();
                            assert!(verifies(algorithm, scheme, spki, &message, &signature));
                        }
                    });
                }
            }
        });
    }
}
