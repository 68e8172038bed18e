//! RSA decryption with a [`PrivateKey`]: PKCS#1 v1.5 (the TLS 1.2 RSA key exchange) and
//! OAEP with SHA-256. Every failure after the length checks is the one generic
//! [`CryptoError::DecryptFailed`], so that callers learn nothing about the padding.

use aws_lc_rs::rsa::OAEP_SHA256_MGF1SHA256;
use zeroize::Zeroizing;

use super::error::CryptoError;
use super::key::{Inner, PrivateKey};
use crate::keys::DecryptScheme;

impl PrivateKey {
    /// Decrypts `ciphertext` (exactly the modulus length) with `scheme`; the plaintext comes
    /// back in a zeroizing buffer.
    ///
    /// Errors: [`CryptoError::DecryptNotSupported`] for a key that is not RSA,
    /// [`CryptoError::EmptyCiphertext`] / [`CryptoError::CiphertextLength`] for a ciphertext
    /// of the wrong size, [`CryptoError::DecryptFailed`] for anything else.
    pub fn decrypt(
        &self,
        scheme: DecryptScheme,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let Inner::Rsa(rsa) = &self.inner else {
            return Err(CryptoError::DecryptNotSupported {
                algorithm: self.algorithm,
            });
        };
        if ciphertext.is_empty() {
            return Err(CryptoError::EmptyCiphertext);
        }
        if ciphertext.len() != rsa.modulus_len {
            let actual = ciphertext.len();
            return Err(CryptoError::CiphertextLength {
                expected: rsa.modulus_len,
                actual,
            });
        }

        // LIMITATION: a PKCS#1 v1.5 failure is still distinguishable from a success, as in
        // any HSM; TLS stacks must apply their own Bleichenbacher countermeasure (a random
        // premaster secret on failure) to what this returns.
        let mut plaintext = Zeroizing::new(vec![0u8; rsa.modulus_len]);
        let result = match scheme {
            DecryptScheme::RsaPkcs1 => rsa.pkcs1.decrypt(ciphertext, &mut plaintext),
            DecryptScheme::RsaOaepSha256 => {
                rsa.oaep
                    .decrypt(&OAEP_SHA256_MGF1SHA256, ciphertext, &mut plaintext, None)
            }
        };
        let len = result.map_err(|_| CryptoError::DecryptFailed)?.len();
        plaintext.truncate(len);
        Ok(plaintext)
    }
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::rsa::{OaepPublicEncryptingKey, Pkcs1PublicEncryptingKey, PublicEncryptingKey};

    use super::*;
    use crate::crypto::testkit::{OpenSsl, key};
    use crate::keys::Algorithm;

    /// A TLS 1.2 premaster secret is 48 bytes.
    const PREMASTER: &[u8; 48] = b"\x03\x03 forty-six more bytes of a premaster secret...";

    fn encrypt(key: &PrivateKey, scheme: DecryptScheme, plaintext: &[u8]) -> Vec<u8> {
        let public = PublicEncryptingKey::from_der(key.public_key_der()).unwrap();
        let mut out = vec![0u8; public.key_size_bytes()];
        let len = match scheme {
            DecryptScheme::RsaPkcs1 => {
                let public = Pkcs1PublicEncryptingKey::new(public).unwrap();
                public.encrypt(plaintext, &mut out).unwrap().len()
            }
            DecryptScheme::RsaOaepSha256 => {
                let public = OaepPublicEncryptingKey::new(public).unwrap();
                public
                    .encrypt(&OAEP_SHA256_MGF1SHA256, plaintext, &mut out, None)
                    .unwrap()
                    .len()
            }
        };
        out.truncate(len);
        out
    }

    #[test]
    fn both_schemes_round_trip_on_every_rsa_size() {
        for algorithm in [Algorithm::Rsa2048, Algorithm::Rsa3072, Algorithm::Rsa4096] {
            let key = key(algorithm);
            for &scheme in DecryptScheme::ALL {
                let ciphertext = encrypt(key, scheme, PREMASTER);
                let plaintext = key.decrypt(scheme, &ciphertext).unwrap();
                assert_eq!(plaintext.as_slice(), PREMASTER, "{algorithm} {scheme}");
            }
        }
    }

    #[test]
    fn ciphertexts_from_openssl_decrypt() {
        let key = key(Algorithm::Rsa2048);
        let openssl = OpenSsl::new();
        openssl.write("pub.der", key.public_key_der());
        openssl.write("premaster", PREMASTER);
        let oaep = [
            "-pkeyopt",
            "rsa_padding_mode:oaep",
            "-pkeyopt",
            "rsa_oaep_md:sha256",
            "-pkeyopt",
            "rsa_mgf1_md:sha256",
        ];
        let pkcs1 = ["-pkeyopt", "rsa_padding_mode:pkcs1"];
        let cases: [(DecryptScheme, &[&str]); 2] = [
            (DecryptScheme::RsaOaepSha256, &oaep),
            (DecryptScheme::RsaPkcs1, &pkcs1),
        ];
        for (scheme, options) in cases {
            let mut args = vec!["pkeyutl", "-encrypt", "-pubin", "-keyform", "DER"];
            args.extend(["-inkey", "pub.der", "-in", "premaster"]);
            args.extend(options);
            let ciphertext = openssl.run(&args);
            assert_eq!(ciphertext.len(), 256);
            let plaintext = key.decrypt(scheme, &ciphertext).unwrap();
            assert_eq!(plaintext.as_slice(), PREMASTER, "{scheme}");
        }
    }

    #[test]
    fn wrong_ciphertexts_fail_with_the_generic_error() {
        let key = key(Algorithm::Rsa2048);
        let mut tampered = encrypt(key, DecryptScheme::RsaOaepSha256, PREMASTER);
        tampered[100] ^= 0x01;
        // 1 decrypts to 1 (never valid padding); all 0xFF is not below the modulus.
        let mut one = vec![0u8; 256];
        one[255] = 1;
        let too_big = vec![0xFFu8; 256];
        let cases = [
            (DecryptScheme::RsaOaepSha256, &tampered),
            (DecryptScheme::RsaPkcs1, &one),
            (DecryptScheme::RsaOaepSha256, &one),
            (DecryptScheme::RsaPkcs1, &too_big),
        ];
        for (scheme, ciphertext) in cases {
            let err = key.decrypt(scheme, ciphertext).unwrap_err();
            assert!(matches!(err, CryptoError::DecryptFailed), "{scheme}: {err}");
            assert_eq!(err.to_string(), "decryption failed");
            assert_eq!(err.field(), "ciphertext");
        }
    }

    #[test]
    fn ciphertext_of_the_wrong_size_is_refused() {
        let key = key(Algorithm::Rsa3072);
        let err = key
            .decrypt(DecryptScheme::RsaPkcs1, &[0u8; 256])
            .unwrap_err();
        assert!(matches!(
            err,
            CryptoError::CiphertextLength {
                expected: 384,
                actual: 256
            }
        ));
        let err = key.decrypt(DecryptScheme::RsaPkcs1, &[]).unwrap_err();
        assert!(matches!(err, CryptoError::EmptyCiphertext));
        assert_eq!(err.field(), "ciphertext");
    }

    #[test]
    fn keys_that_are_not_rsa_cannot_decrypt() {
        for algorithm in [Algorithm::EcP256, Algorithm::EcP384, Algorithm::Ed25519] {
            let err = key(algorithm)
                .decrypt(DecryptScheme::RsaPkcs1, &[0u8; 256])
                .unwrap_err();
            assert!(
                matches!(err, CryptoError::DecryptNotSupported { algorithm: a } if a == algorithm)
            );
            assert_eq!(err.field(), "scheme");
        }
    }
}
