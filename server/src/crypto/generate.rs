//! Key generation: a fresh key of an [`Algorithm`] as PKCS#8 v1 material plus its public
//! key. Wrapping the material under the cluster key is the seal module's job.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair};

use super::error::CryptoError;
use super::key::{PrivateKey, ecdsa_signing};
use super::material::KeyMaterial;
use crate::keys::Algorithm;

/// Generates a key of `algorithm`; returns its material and its `SubjectPublicKeyInfo` DER.
pub fn generate(algorithm: Algorithm) -> Result<(KeyMaterial, Vec<u8>), CryptoError> {
    let internal = |_| CryptoError::internal("key generation");
    let material = match algorithm {
        Algorithm::EcP256 | Algorithm::EcP384 => {
            let key = EcdsaKeyPair::generate(ecdsa_signing(algorithm).0).map_err(internal)?;
            KeyMaterial::copy_from(key.to_pkcs8v1().map_err(internal)?.as_ref())
        }
        Algorithm::Ed25519 => {
            let key = Ed25519KeyPair::generate().map_err(internal)?;
            KeyMaterial::copy_from(key.to_pkcs8v1().map_err(internal)?.as_ref())
        }
        Algorithm::Rsa2048 | Algorithm::Rsa3072 | Algorithm::Rsa4096 => {
            let size = match algorithm {
                Algorithm::Rsa2048 => KeySize::Rsa2048,
                Algorithm::Rsa3072 => KeySize::Rsa3072,
                _ => KeySize::Rsa4096,
            };
            let key = RsaKeyPair::generate(size).map_err(internal)?;
            KeyMaterial::copy_from(key.as_der().map_err(internal)?.as_ref())
        }
    };

    // Parsing back is cheap next to generation and proves the material is usable.
    let key = PrivateKey::from_material(algorithm, &material)
        .map_err(|_| CryptoError::internal("generated key does not parse"))?;
    Ok((material, key.public_key_der().to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_material_is_pkcs8_v1() {
        for &algorithm in &[Algorithm::EcP256, Algorithm::Ed25519, Algorithm::Rsa2048] {
            let (material, spki) = generate(algorithm).unwrap();
            let der = material.as_der();
            // SEQUENCE { INTEGER 0, ... }: version v1, whatever the outer length form.
            let body = super::super::der::single(der, 0x30).unwrap();
            assert_eq!(&body[..3], &[0x02, 0x01, 0x00], "{algorithm}");
            assert_eq!(spki[0], 0x30, "{algorithm}");
        }
    }

    #[test]
    fn two_generations_differ() {
        let (first, _) = generate(Algorithm::Ed25519).unwrap();
        let (second, _) = generate(Algorithm::Ed25519).unwrap();
        assert_ne!(first.as_der(), second.as_der());
    }
}
