//! PEM decoding of private keys into zeroizing buffers. Finds the one private key block in
//! the input (skipping others such as `EC PARAMETERS` or `CERTIFICATE`), refuses encrypted
//! keys, and says which format the DER inside is in; parsing that DER is import's job.
//! Written here rather than with a PEM crate so that no copy of the key escapes zeroizing.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use super::error::{CryptoError, Unsupported};

/// The encoding of a private key's DER.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Format {
    /// PKCS#8 `PrivateKeyInfo` (v1) or `OneAsymmetricKey` (v2).
    Pkcs8,
    /// PKCS#1 `RSAPrivateKey`.
    Pkcs1,
    /// SEC1 `ECPrivateKey`.
    Sec1,
}

/// DER of a private key and the format it is in.
pub(super) struct Encoded {
    /// Which structure `der` holds.
    pub(super) format: Format,
    /// The DER itself.
    pub(super) der: Zeroizing<Vec<u8>>,
}

const BEGIN: &str = "-----BEGIN ";
const DASHES: &str = "-----";

/// True when `input` starts (after whitespace) like a PEM document.
pub(super) fn looks_like_pem(input: &[u8]) -> bool {
    input.trim_ascii_start().starts_with(BEGIN.as_bytes())
}

/// Decodes the single private key block of a PEM document.
pub(super) fn decode(input: &[u8]) -> Result<Encoded, CryptoError> {
    let text = std::str::from_utf8(input)
        .map_err(|_| CryptoError::invalid_key("PEM input is not ASCII text"))?;

    let mut found = None;
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let (label, body, after) = split_block(&rest[start + BEGIN.len()..])?;
        rest = after;

        let Some(format) = format_of(label)? else {
            continue;
        };
        if found.is_some() {
            return Err(CryptoError::invalid_key(
                "PEM input holds more than one private key",
            ));
        }
        found = Some(Encoded {
            format,
            der: decode_body(body)?,
        });
    }
    found.ok_or(CryptoError::invalid_key(
        "PEM input holds no private key block",
    ))
}

/// Splits `-----BEGIN ` already consumed: returns the label, the body and what follows
/// the END line.
fn split_block(block: &str) -> Result<(&str, &str, &str), CryptoError> {
    let malformed = || CryptoError::invalid_key("malformed PEM block");
    let label_end = block.find(DASHES).ok_or_else(malformed)?;
    let label = &block[..label_end];
    if label.len() > 64 || label.contains(['\r', '\n']) {
        return Err(malformed());
    }

    let body = &block[label_end + DASHES.len()..];
    let end_line = format!("-----END {label}-----");
    let end = body.find(&end_line).ok_or_else(malformed)?;
    Ok((label, &body[..end], &body[end + end_line.len()..]))
}

/// The format a block label announces; `None` for blocks that are not private keys.
fn format_of(label: &str) -> Result<Option<Format>, CryptoError> {
    match label {
        "PRIVATE KEY" => Ok(Some(Format::Pkcs8)),
        "RSA PRIVATE KEY" => Ok(Some(Format::Pkcs1)),
        "EC PRIVATE KEY" => Ok(Some(Format::Sec1)),
        "ENCRYPTED PRIVATE KEY" => Err(Unsupported::Encrypted.into()),
        _ => Ok(None),
    }
}

/// Base64-decodes a block body into a zeroizing buffer.
fn decode_body(body: &str) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    // Only legacy encrypted keys carry headers ("Proc-Type: 4,ENCRYPTED", "DEK-Info: ...");
    // ':' is not in the base64 alphabet.
    if body.contains(':') {
        if body.contains("ENCRYPTED") {
            return Err(Unsupported::Encrypted.into());
        }
        return Err(CryptoError::invalid_key("PEM block has unexpected headers"));
    }

    // Both buffers are sized up front so that no reallocation leaves a copy behind.
    let mut text = Zeroizing::new(Vec::with_capacity(body.len()));
    text.extend(body.bytes().filter(|b| !b.is_ascii_whitespace()));
    let mut der = Zeroizing::new(vec![0u8; text.len() / 4 * 3 + 3]);
    let len = STANDARD
        .decode_slice(text.as_slice(), der.as_mut_slice())
        .map_err(|_| CryptoError::invalid_key("PEM block is not valid base64"))?;
    der.truncate(len);
    Ok(der)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pem(label: &str, body: &str) -> String {
        format!("-----BEGIN {label}-----\n{body}\n-----END {label}-----\n")
    }

    #[test]
    fn private_key_block_is_found_among_others() {
        let input = pem("EC PARAMETERS", "BggqhkjOPQMBBw==") + &pem("EC PRIVATE KEY", "MAMCAQE=");
        let encoded = decode(input.as_bytes()).unwrap();
        assert_eq!(encoded.format, Format::Sec1);
        assert_eq!(encoded.der.as_slice(), &[0x30, 0x03, 0x02, 0x01, 0x01]);
    }

    #[test]
    fn labels_select_the_format() {
        let pkcs8 = decode(pem("PRIVATE KEY", "MAA=").as_bytes()).unwrap();
        assert_eq!(pkcs8.format, Format::Pkcs8);
        let pkcs1 = decode(pem("RSA PRIVATE KEY", "MAA=").as_bytes()).unwrap();
        assert_eq!(pkcs1.format, Format::Pkcs1);
    }

    #[test]
    fn body_may_wrap_over_lines() {
        let encoded = decode(pem("PRIVATE KEY", "MAM\r\nCAQE=").as_bytes()).unwrap();
        assert_eq!(encoded.der.as_slice(), &[0x30, 0x03, 0x02, 0x01, 0x01]);
    }

    #[test]
    fn encrypted_keys_are_refused_as_unsupported() {
        let pkcs8 = pem("ENCRYPTED PRIVATE KEY", "MAA=");
        let err = decode(pkcs8.as_bytes()).err().unwrap();
        assert!(matches!(
            err,
            CryptoError::UnsupportedKey(Unsupported::Encrypted)
        ));

        let legacy = pem(
            "RSA PRIVATE KEY",
            "Proc-Type: 4,ENCRYPTED\nDEK-Info: AES\n\nMAA=",
        );
        let err = decode(legacy.as_bytes()).err().unwrap();
        assert!(matches!(
            err,
            CryptoError::UnsupportedKey(Unsupported::Encrypted)
        ));
    }

    #[test]
    fn malformed_pem_is_an_invalid_key() {
        let two = pem("PRIVATE KEY", "MAA=") + &pem("RSA PRIVATE KEY", "MAA=");
        let cases = [
            String::from("-----BEGIN PRIVATE KEY-----\nMAA=\n"),
            pem("PRIVATE KEY", "MA*A"),
            pem("CERTIFICATE", "MAA="),
            two,
        ];
        for case in cases {
            let err = decode(case.as_bytes()).err().unwrap();
            assert!(
                matches!(err, CryptoError::InvalidKey { .. }),
                "{case}: {err}"
            );
        }
    }

    #[test]
    fn pem_is_recognized_after_whitespace() {
        assert!(looks_like_pem(b"\n  -----BEGIN PRIVATE KEY-----"));
        assert!(!looks_like_pem(&[0x30, 0x82]));
    }
}
