//! [`PrivateKey`]: a private key parsed once from its material and kept ready for use, so
//! that each signature or decryption costs only the operation itself. Construction and the
//! redacting `Debug` live here; the operations are in `sign.rs` and `decrypt.rs`.

use std::fmt;

use aws_lc_rs::digest;
use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::rsa::{OaepPrivateDecryptingKey, Pkcs1PrivateDecryptingKey, PrivateDecryptingKey};
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, EcdsaSigningAlgorithm, Ed25519KeyPair, KeyPair, RsaKeyPair,
};

use super::error::CryptoError;
use super::material::KeyMaterial;
use crate::keys::Algorithm;

/// A parsed private key ready for repeated use from many threads at once.
pub struct PrivateKey {
    pub(super) algorithm: Algorithm,
    public_key_der: Box<[u8]>,
    pub(super) inner: Inner,
}

/// The aws-lc-rs objects behind a [`PrivateKey`].
pub(super) enum Inner {
    /// An ECDSA key pair bound to its curve's own hash (SHA-256 for P-256, SHA-384 for
    /// P-384). aws-lc-rs binds a key pair to one hash; the other hash is signed through
    /// a digest fitted to the curve (see `sign.rs`), so one parse serves both schemes.
    Ecdsa {
        key: EcdsaKeyPair,
        curve_hash: &'static digest::Algorithm,
    },
    Ed25519(Ed25519KeyPair),
    Rsa(RsaKey),
}

/// An RSA key parsed for signing and for both decryption paddings.
pub(super) struct RsaKey {
    pub(super) signing: RsaKeyPair,
    pub(super) pkcs1: Pkcs1PrivateDecryptingKey,
    pub(super) oaep: OaepPrivateDecryptingKey,
    /// Modulus length in bytes: the length of a signature and of a ciphertext.
    pub(super) modulus_len: usize,
}

impl PrivateKey {
    /// Parses PKCS#8 material as a key of `algorithm`.
    ///
    /// Fails with [`CryptoError::NotAlgorithm`] when the material is not a valid key of
    /// exactly that algorithm (another key type, curve or RSA size).
    pub fn from_material(
        algorithm: Algorithm,
        material: &KeyMaterial,
    ) -> Result<PrivateKey, CryptoError> {
        let der = material.as_der();
        let not_algorithm = |_| CryptoError::NotAlgorithm { algorithm };
        let (inner, public_key_der) = match algorithm {
            Algorithm::EcP256 | Algorithm::EcP384 => {
                let (signing, curve_hash) = ecdsa_signing(algorithm);
                let key = EcdsaKeyPair::from_pkcs8(signing, der).map_err(not_algorithm)?;
                let spki = spki(key.public_key().as_der())?;
                (Inner::Ecdsa { key, curve_hash }, spki)
            }
            Algorithm::Ed25519 => {
                let key = Ed25519KeyPair::from_pkcs8(der).map_err(not_algorithm)?;
                let spki = spki(key.public_key().as_der())?;
                (Inner::Ed25519(key), spki)
            }
            Algorithm::Rsa2048 | Algorithm::Rsa3072 | Algorithm::Rsa4096 => {
                let key = RsaKey::from_pkcs8(algorithm, der)?;
                let spki = spki(key.signing.public_key().as_der())?;
                (Inner::Rsa(key), spki)
            }
        };
        Ok(PrivateKey {
            algorithm,
            public_key_der,
            inner,
        })
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The public key as X.509 `SubjectPublicKeyInfo` DER.
    pub fn public_key_der(&self) -> &[u8] {
        &self.public_key_der
    }
}

impl RsaKey {
    fn from_pkcs8(algorithm: Algorithm, der: &[u8]) -> Result<RsaKey, CryptoError> {
        let not_algorithm = |_| CryptoError::NotAlgorithm { algorithm };
        let signing = RsaKeyPair::from_pkcs8(der).map_err(not_algorithm)?;
        let decrypting = PrivateDecryptingKey::from_pkcs8(der).map_err(not_algorithm)?;
        if Some(decrypting.key_size_bits()) != rsa_bits(algorithm) {
            return Err(CryptoError::NotAlgorithm { algorithm });
        }

        let modulus_len = signing.public_modulus_len();
        let internal = |_| CryptoError::internal("rsa decrypting key");
        let pkcs1 = Pkcs1PrivateDecryptingKey::new(decrypting.clone()).map_err(internal)?;
        let oaep = OaepPrivateDecryptingKey::new(decrypting).map_err(internal)?;
        Ok(RsaKey {
            signing,
            pkcs1,
            oaep,
            modulus_len,
        })
    }
}

/// The ECDSA signing algorithm aws-lc-rs pairs with an EC algorithm's curve, and that
/// curve's own hash. Only called with `EcP256` or `EcP384`.
pub(super) fn ecdsa_signing(
    algorithm: Algorithm,
) -> (&'static EcdsaSigningAlgorithm, &'static digest::Algorithm) {
    match algorithm {
        Algorithm::EcP384 => (&signature::ECDSA_P384_SHA384_ASN1_SIGNING, &digest::SHA384),
        _ => (&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &digest::SHA256),
    }
}

/// The modulus size of an RSA algorithm, in bits.
pub(super) fn rsa_bits(algorithm: Algorithm) -> Option<usize> {
    match algorithm {
        Algorithm::Rsa2048 => Some(2048),
        Algorithm::Rsa3072 => Some(3072),
        Algorithm::Rsa4096 => Some(4096),
        Algorithm::EcP256 | Algorithm::EcP384 | Algorithm::Ed25519 => None,
    }
}

/// Copies a `SubjectPublicKeyInfo` serialization out of aws-lc-rs.
fn spki(
    der: Result<PublicKeyX509Der<'static>, aws_lc_rs::error::Unspecified>,
) -> Result<Box<[u8]>, CryptoError> {
    let der = der.map_err(|_| CryptoError::internal("public key serialization"))?;
    Ok(der.as_ref().into())
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::generate;

    #[test]
    fn private_key_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<PrivateKey>();
    }

    #[test]
    fn debug_shows_only_the_algorithm() {
        let (material, _) = generate(Algorithm::EcP256).unwrap();
        let key = PrivateKey::from_material(Algorithm::EcP256, &material).unwrap();
        assert_eq!(format!("{key:?}"), "PrivateKey { algorithm: EcP256, .. }");
    }

    #[test]
    fn material_of_another_algorithm_is_refused() {
        let (p256, _) = generate(Algorithm::EcP256).unwrap();
        let (ed25519, _) = generate(Algorithm::Ed25519).unwrap();
        let (rsa2048, _) = generate(Algorithm::Rsa2048).unwrap();
        let cases = [
            (Algorithm::EcP384, &p256),
            (Algorithm::Ed25519, &p256),
            (Algorithm::Rsa2048, &ed25519),
            (Algorithm::EcP256, &rsa2048),
            (Algorithm::Rsa3072, &rsa2048),
        ];
        for (algorithm, material) in cases {
            let err = PrivateKey::from_material(algorithm, material).unwrap_err();
            assert!(matches!(err, CryptoError::NotAlgorithm { algorithm: a } if a == algorithm));
            assert_eq!(err.field(), "private_key");
        }
    }

    #[test]
    fn public_key_matches_the_generated_one() {
        for &algorithm in &[Algorithm::EcP384, Algorithm::Ed25519, Algorithm::Rsa2048] {
            let (material, spki) = generate(algorithm).unwrap();
            let key = PrivateKey::from_material(algorithm, &material).unwrap();
            assert_eq!(key.public_key_der(), spki.as_slice());
            assert_eq!(key.algorithm(), algorithm);
        }
    }
}
