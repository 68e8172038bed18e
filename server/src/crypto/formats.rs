//! The private key formats import reads: PKCS#8 (v1 or v2), PKCS#1 `RSAPrivateKey` and
//! SEC1 `ECPrivateKey`. Each one detects the algorithm (key type, curve, RSA size) from the
//! DER, lets aws-lc-rs parse and validate the key, and re-encodes it as PKCS#8 v1.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::error::KeyRejected;
use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair};

use super::der::{self, Reader, tag};
use super::error::{CryptoError, Unsupported};
use super::key::ecdsa_signing;
use super::material::KeyMaterial;
use super::oid;
use crate::keys::Algorithm;

/// PKCS#8 v1 or v2: the algorithm identifier says the key type (and the curve).
pub(super) fn from_pkcs8(der: &[u8]) -> Result<(Algorithm, KeyMaterial), CryptoError> {
    let mut fields = Reader::new(der::single(der, tag::SEQUENCE)?);
    if der::small_uint(fields.expect(tag::INTEGER)?)? > 1 {
        return Err(CryptoError::invalid_key("unknown PKCS#8 version"));
    }
    let mut algorithm_id = Reader::new(fields.expect(tag::SEQUENCE)?);
    let private_key = fields.expect(tag::OCTET_STRING)?;
    let key_type = algorithm_id.expect(tag::OID)?;

    match key_type {
        oid::RSA => {
            let algorithm = rsa_algorithm(private_key)?;
            let key = RsaKeyPair::from_pkcs8(der).map_err(rejected)?;
            Ok((algorithm, rsa_material(&key)?))
        }
        oid::EC => {
            let parameters = match algorithm_id.is_empty() {
                true => None,
                false => Some(algorithm_id.next()?),
            };
            let algorithm = ec_algorithm(parameters)?;
            let key =
                EcdsaKeyPair::from_pkcs8(ecdsa_signing(algorithm).0, der).map_err(rejected)?;
            Ok((algorithm, ec_material(&key)?))
        }
        oid::ED25519 => {
            let key = Ed25519KeyPair::from_pkcs8(der).map_err(rejected)?;
            let pkcs8 = key.to_pkcs8v1().map_err(|_| serialization())?;
            Ok((Algorithm::Ed25519, KeyMaterial::copy_from(pkcs8.as_ref())))
        }
        other => Err(Unsupported::KeyType(oid::key_type_name(other)).into()),
    }
}

/// PKCS#1 `RSAPrivateKey`.
pub(super) fn from_pkcs1(der: &[u8]) -> Result<(Algorithm, KeyMaterial), CryptoError> {
    let algorithm = rsa_algorithm(der)?;
    let key = RsaKeyPair::from_der(der).map_err(rejected)?;
    Ok((algorithm, rsa_material(&key)?))
}

/// SEC1 `ECPrivateKey`; its `[0]` parameters must name the curve.
pub(super) fn from_sec1(der: &[u8]) -> Result<(Algorithm, KeyMaterial), CryptoError> {
    let mut fields = Reader::new(der::single(der, tag::SEQUENCE)?);
    fields.expect(tag::INTEGER)?;
    fields.expect(tag::OCTET_STRING)?;
    let parameters = match fields.peek_tag() {
        Some(tag::CONTEXT_0) => Some(der::single(fields.expect(tag::CONTEXT_0)?, tag::OID)?),
        _ => None,
    };

    let algorithm = ec_algorithm(parameters.map(|oid| (tag::OID, oid)))?;
    let key =
        EcdsaKeyPair::from_private_key_der(ecdsa_signing(algorithm).0, der).map_err(rejected)?;
    Ok((algorithm, ec_material(&key)?))
}

/// The algorithm of an RSA key, from the size of the modulus in its `RSAPrivateKey`.
fn rsa_algorithm(rsa_private_key: &[u8]) -> Result<Algorithm, CryptoError> {
    let mut fields = Reader::new(der::single(rsa_private_key, tag::SEQUENCE)?);
    fields.expect(tag::INTEGER)?;
    match der::uint_bits(fields.expect(tag::INTEGER)?)? {
        2048 => Ok(Algorithm::Rsa2048),
        3072 => Ok(Algorithm::Rsa3072),
        4096 => Ok(Algorithm::Rsa4096),
        bits => Err(Unsupported::RsaSize { bits }.into()),
    }
}

/// The algorithm of an EC key, from its curve parameters (tag and contents).
fn ec_algorithm(parameters: Option<(u8, &[u8])>) -> Result<Algorithm, CryptoError> {
    match parameters {
        Some((tag::OID, oid::P256)) => Ok(Algorithm::EcP256),
        Some((tag::OID, oid::P384)) => Ok(Algorithm::EcP384),
        Some((tag::OID, other)) => Err(Unsupported::Curve(oid::curve_name(other)).into()),
        Some((tag::SEQUENCE, _)) => Err(Unsupported::ExplicitCurve.into()),
        _ => Err(CryptoError::invalid_key("EC key does not name its curve")),
    }
}

fn rsa_material(key: &RsaKeyPair) -> Result<KeyMaterial, CryptoError> {
    let pkcs8 = key.as_der().map_err(|_| serialization())?;
    Ok(KeyMaterial::copy_from(pkcs8.as_ref()))
}

fn ec_material(key: &EcdsaKeyPair) -> Result<KeyMaterial, CryptoError> {
    let pkcs8 = key.to_pkcs8v1().map_err(|_| serialization())?;
    Ok(KeyMaterial::copy_from(pkcs8.as_ref()))
}

fn serialization() -> CryptoError {
    CryptoError::internal("pkcs8 serialization")
}

/// What aws-lc-rs found wrong, in general terms.
fn rejected(err: KeyRejected) -> CryptoError {
    CryptoError::invalid_key(match err.description_() {
        "InconsistentComponents" => "the key's components are inconsistent",
        "InvalidEncoding" => "the key's encoding is malformed",
        "WrongAlgorithm" => "the key's contents do not match its declared type",
        "TooSmall" | "TooLarge" => "the key's size is out of range",
        _ => "the key is malformed or inconsistent",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::testkit::{ED25519, OpenSsl, P256, P384, RSA2048, pkcs8_version, verifies};
    use crate::crypto::{PrivateKey, SignInput, import};
    use crate::keys::SignScheme;

    #[test]
    fn pkcs8_der_and_pem_import_with_the_public_key_openssl_derives() {
        let openssl = OpenSsl::new();
        let cases = [
            (Algorithm::EcP256, P256),
            (Algorithm::EcP384, P384),
            (Algorithm::Ed25519, ED25519),
            (Algorithm::Rsa2048, RSA2048),
        ];
        for (expected, options) in cases {
            let name = expected.name();
            let pem = openssl.genpkey(name, options);
            assert!(pem.starts_with(b"-----BEGIN PRIVATE KEY-----"));
            let spki = openssl.spki(name);

            let (algorithm, from_pem, public) = import(&pem).unwrap();
            assert_eq!((algorithm, public.as_slice()), (expected, spki.as_slice()));
            let der = openssl.to_der("pkey", name, &[]);
            let (algorithm, from_der, public) = import(&der).unwrap();
            assert_eq!((algorithm, public.as_slice()), (expected, spki.as_slice()));
            assert_eq!(from_pem.as_der(), from_der.as_der(), "{name}");
            assert_eq!(pkcs8_version(from_der.as_der()), 0, "{name}");

            // openssl reads the material back as the same key.
            openssl.write("material.der", from_der.as_der());
            let args = [
                "pkey",
                "-inform",
                "DER",
                "-in",
                "material.der",
                "-pubout",
                "-outform",
                "DER",
            ];
            assert_eq!(openssl.run(&args), spki, "{name}");
        }
    }

    #[test]
    fn pkcs1_rsa_keys_import_as_pkcs8() {
        let openssl = OpenSsl::new();
        openssl.run(&["genrsa", "-traditional", "-out", "rsa.pem", "3072"]);
        let pem = openssl.read("rsa.pem");
        assert!(pem.starts_with(b"-----BEGIN RSA PRIVATE KEY-----"));
        let spki = openssl.spki("rsa");

        let (algorithm, material, public) = import(&pem).unwrap();
        assert_eq!(
            (algorithm, public.as_slice()),
            (Algorithm::Rsa3072, spki.as_slice())
        );
        assert_eq!(pkcs8_version(material.as_der()), 0);
        assert_eq!(from_pkcs8(material.as_der()).unwrap().0, Algorithm::Rsa3072);

        let pkcs1_der = openssl.to_der("rsa", "rsa", &["-traditional"]);
        let (_, from_der, _) = import(&pkcs1_der).unwrap();
        assert_eq!(from_der.as_der(), material.as_der());
    }

    #[test]
    fn sec1_ec_keys_import_after_an_ec_parameters_block() {
        let openssl = OpenSsl::new();
        openssl.run(&["ecparam", "-name", "secp384r1", "-genkey", "-out", "ec.pem"]);
        let pem = openssl.read("ec.pem");
        assert!(pem.starts_with(b"-----BEGIN EC PARAMETERS-----"));
        let spki = openssl.spki("ec");

        let (algorithm, material, public) = import(&pem).unwrap();
        assert_eq!(
            (algorithm, public.as_slice()),
            (Algorithm::EcP384, spki.as_slice())
        );
        assert_eq!(pkcs8_version(material.as_der()), 0);

        let sec1_der = openssl.to_der("ec", "ec", &[]);
        assert_eq!(import(&sec1_der).unwrap().1.as_der(), material.as_der());
    }

    #[test]
    fn pkcs8_v2_is_normalized_to_v1() {
        let v2 = Ed25519KeyPair::generate().unwrap().to_pkcs8().unwrap();
        assert_eq!(pkcs8_version(v2.as_ref()), 1);
        let (algorithm, material, public) = import(v2.as_ref()).unwrap();
        assert_eq!(algorithm, Algorithm::Ed25519);
        assert_eq!(pkcs8_version(material.as_der()), 0);
        let key = PrivateKey::from_material(algorithm, &material).unwrap();
        assert_eq!(key.public_key_der(), public.as_slice());
    }

    #[test]
    fn imported_keys_sign_what_openssl_verifies() {
        let openssl = OpenSsl::new();
        openssl.write("message", b"hello from an imported key");
        let cases = [
            (
                RSA2048,
                SignScheme::RsaPssSha256,
                &[
                    "-sha256",
                    "-sigopt",
                    "rsa_padding_mode:pss",
                    "-sigopt",
                    "rsa_pss_saltlen:32",
                ][..],
            ),
            (RSA2048, SignScheme::RsaPkcs1Sha512, &["-sha512"][..]),
            (P256, SignScheme::EcdsaSha384, &["-sha384"][..]),
            (P384, SignScheme::EcdsaSha256, &["-sha256"][..]),
        ];
        for (options, scheme, dgst) in cases {
            let pem = openssl.genpkey("key", options);
            openssl.run(&["pkey", "-in", "key.pem", "-pubout", "-out", "pub.pem"]);
            let (algorithm, material, public) = import(&pem).unwrap();
            let key = PrivateKey::from_material(algorithm, &material).unwrap();

            let message = b"hello from an imported key";
            let signature = key.sign(scheme, SignInput::Message(message)).unwrap();
            assert!(verifies(algorithm, scheme, &public, message, &signature));
            openssl.write("signature", &signature);
            let verify = ["-verify", "pub.pem", "-signature", "signature", "message"];
            let out = openssl.run(&[&["dgst"], dgst, &verify].concat());
            assert_eq!(
                String::from_utf8_lossy(&out).trim(),
                "Verified OK",
                "{scheme}"
            );
        }
    }
}
