//! Import of an existing private key (a site's current certificate key): accepts PKCS#8
//! DER, and PEM holding PKCS#8 (`PRIVATE KEY`), PKCS#1 (`RSA PRIVATE KEY`) or SEC1
//! (`EC PRIVATE KEY`); PKCS#1 and SEC1 DER are recognized too. The algorithm is detected
//! from the key itself, unsupported kinds are named, and the material always comes out as
//! PKCS#8 v1 re-encoded by aws-lc-rs, whatever went in.

use super::der::{self, Reader, tag};
use super::error::CryptoError;
use super::formats::{from_pkcs1, from_pkcs8, from_sec1};
use super::key::PrivateKey;
use super::material::KeyMaterial;
use super::pem::{self, Format};
use crate::keys::Algorithm;

/// Larger than any PEM a supported key (RSA-4096 with a certificate chain) needs.
const MAX_IMPORT_LEN: usize = 64 * 1024;

/// Parses an imported private key; returns its algorithm, its PKCS#8 v1 material and its
/// `SubjectPublicKeyInfo` DER.
///
/// RSA sizes other than 2048, 3072 and 4096 bits, curves other than P-256 and P-384, other
/// key types and encrypted keys are refused with [`CryptoError::UnsupportedKey`]; anything
/// malformed with [`CryptoError::InvalidKey`].
pub fn import(input: &[u8]) -> Result<(Algorithm, KeyMaterial, Vec<u8>), CryptoError> {
    if input.is_empty() {
        return Err(CryptoError::invalid_key("input is empty"));
    }
    if input.len() > MAX_IMPORT_LEN {
        return Err(CryptoError::invalid_key(
            "input is larger than any supported key",
        ));
    }

    let decoded;
    let (format, der) = if pem::looks_like_pem(input) {
        decoded = pem::decode(input)?;
        (decoded.format, decoded.der.as_slice())
    } else {
        (detect_format(input)?, input)
    };

    let (algorithm, material) = match format {
        Format::Pkcs8 => from_pkcs8(der)?,
        Format::Pkcs1 => from_pkcs1(der)?,
        Format::Sec1 => from_sec1(der)?,
    };
    let key = PrivateKey::from_material(algorithm, &material)?;
    Ok((algorithm, material, key.public_key_der().to_vec()))
}

/// Tells PKCS#8, PKCS#1 and SEC1 DER apart by their first two fields.
fn detect_format(input: &[u8]) -> Result<Format, CryptoError> {
    if input.first() != Some(&tag::SEQUENCE) {
        return Err(CryptoError::invalid_key(
            "expected PKCS#8 DER or a PEM private key",
        ));
    }
    let mut fields = Reader::new(der::single(input, tag::SEQUENCE)?);
    let version = match fields.peek_tag() {
        Some(tag::INTEGER) => der::small_uint(fields.expect(tag::INTEGER)?)?,
        _ => return Err(not_a_private_key()),
    };
    match (version, fields.peek_tag()) {
        (0 | 1, Some(tag::SEQUENCE)) => Ok(Format::Pkcs8),
        (0, Some(tag::INTEGER)) => Ok(Format::Pkcs1),
        (1, Some(tag::OCTET_STRING)) => Ok(Format::Sec1),
        _ => Err(not_a_private_key()),
    }
}

fn not_a_private_key() -> CryptoError {
    CryptoError::invalid_key("not a PKCS#8, PKCS#1 or SEC1 private key")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Unsupported;
    use crate::crypto::testkit::{OpenSsl, P256};

    fn refusal(input: &[u8]) -> CryptoError {
        let err = import(input).map(|(algorithm, ..)| algorithm).unwrap_err();
        assert_eq!(err.field(), "private_key", "{err}");
        err
    }

    #[test]
    fn unsupported_keys_are_refused_with_their_reason() {
        let openssl = OpenSsl::new();
        let rsa1024 = &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"];
        let err = refusal(&openssl.genpkey("rsa1024", rsa1024));
        assert!(matches!(
            err,
            CryptoError::UnsupportedKey(Unsupported::RsaSize { bits: 1024 })
        ));

        let cases = [
            (
                "ec_paramgen_curve:P-521",
                "curve P-521 (1.3.132.0.35) is not supported",
            ),
            (
                "ec_paramgen_curve:secp256k1",
                "curve secp256k1 (1.3.132.0.10) is not supported",
            ),
        ];
        for (curve, reason) in cases {
            let pem = openssl.genpkey("ec", &["-algorithm", "EC", "-pkeyopt", curve]);
            let err = refusal(&pem);
            assert!(err.to_string().contains(reason), "{err}");
            let err = refusal(&openssl.to_der("ec", "ec", &[]));
            assert!(err.to_string().contains(reason), "sec1: {err}");
        }

        let err = refusal(&openssl.genpkey("ed448", &["-algorithm", "ED448"]));
        let expected = Unsupported::KeyType("Ed448 (1.3.101.113)".into());
        assert!(matches!(err, CryptoError::UnsupportedKey(ref kind) if *kind == expected));
    }

    #[test]
    fn encrypted_keys_are_refused() {
        let openssl = OpenSsl::new();
        openssl.genpkey("plain", P256);
        let pkcs8 = [
            "pkcs8",
            "-topk8",
            "-in",
            "plain.pem",
            "-passout",
            "pass:secret",
        ];
        let encrypted = openssl.run(&pkcs8);
        assert!(encrypted.starts_with(b"-----BEGIN ENCRYPTED PRIVATE KEY-----"));
        let legacy = [
            "genrsa",
            "-traditional",
            "-aes128",
            "-passout",
            "pass:secret",
            "2048",
        ];
        for input in [encrypted, openssl.run(&legacy)] {
            let err = refusal(&input);
            assert!(
                matches!(err, CryptoError::UnsupportedKey(Unsupported::Encrypted)),
                "{err}"
            );
        }
    }

    #[test]
    fn garbage_and_truncated_keys_are_invalid() {
        let openssl = OpenSsl::new();
        openssl.genpkey("key", P256);
        let der = openssl.to_der("pkey", "key", &[]);
        let mut flipped_type = der.clone();
        flipped_type[5] = 0x07;
        let cases: [(&[u8], &str); 6] = [
            (b"", "invalid private key: input is empty"),
            (
                b"hello, not a key",
                "invalid private key: expected PKCS#8 DER or a PEM private key",
            ),
            (
                &der[..der.len() - 10],
                "invalid private key: malformed DER (truncated or corrupt)",
            ),
            (
                &flipped_type,
                "invalid private key: not a PKCS#8, PKCS#1 or SEC1 private key",
            ),
            (
                &openssl.spki("key"),
                "invalid private key: not a PKCS#8, PKCS#1 or SEC1 private key",
            ),
            (
                b"-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n",
                "invalid private key: PEM input holds no private key block",
            ),
        ];
        for (input, message) in cases {
            let err = refusal(input);
            assert_eq!(err.to_string(), message);
        }
    }

    #[test]
    fn corrupt_key_contents_are_invalid() {
        let openssl = OpenSsl::new();
        openssl.run(&["genrsa", "-traditional", "-out", "rsa.pem", "2048"]);
        let mut pkcs1 = openssl.to_der("rsa", "rsa", &["-traditional"]);
        // The last octet belongs to qInv: the key becomes inconsistent, not malformed.
        let last = pkcs1.len() - 1;
        pkcs1[last] ^= 0x01;
        let err = refusal(&pkcs1);
        assert!(matches!(err, CryptoError::InvalidKey { .. }), "{err}");
    }
}
