//! Object identifiers of the key types and curves import recognizes (as DER contents), and
//! readable names for common ones it refuses, so that an error says "P-521" rather than
//! only a dotted number.

use super::der;

/// rsaEncryption (1.2.840.113549.1.1.1).
pub(super) const RSA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01];
/// id-ecPublicKey (1.2.840.10045.2.1).
pub(super) const EC: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01];
/// id-Ed25519 (1.3.101.112).
pub(super) const ED25519: &[u8] = &[0x2B, 0x65, 0x70];
/// prime256v1, NIST P-256 (1.2.840.10045.3.1.7).
pub(super) const P256: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
/// secp384r1, NIST P-384 (1.3.132.0.34).
pub(super) const P384: &[u8] = &[0x2B, 0x81, 0x04, 0x00, 0x22];
/// A readable name for a curve OID.
pub(super) fn curve_name(oid: &[u8]) -> String {
    let dotted = der::oid_to_string(oid);
    let name = match dotted.as_str() {
        "1.3.132.0.35" => "P-521",
        "1.3.132.0.33" => "P-224",
        "1.3.132.0.10" => "secp256k1",
        "1.2.840.10045.3.1.1" => "P-192",
        "1.3.36.3.3.2.8.1.1.7" => "brainpoolP256r1",
        "1.3.36.3.3.2.8.1.1.11" => "brainpoolP384r1",
        "1.3.36.3.3.2.8.1.1.13" => "brainpoolP512r1",
        _ => return dotted,
    };
    format!("{name} ({dotted})")
}

/// A readable name for a key type OID.
pub(super) fn key_type_name(oid: &[u8]) -> String {
    let dotted = der::oid_to_string(oid);
    let name = match dotted.as_str() {
        "1.2.840.113549.1.1.10" => "RSA-PSS",
        "1.3.101.113" => "Ed448",
        "1.3.101.110" => "X25519",
        "1.3.101.111" => "X448",
        "1.2.840.10040.4.1" => "DSA",
        "1.2.840.113549.1.3.1" | "1.2.840.10046.2.1" => "DH",
        "1.2.156.10197.1.301" => "SM2",
        _ => return dotted,
    };
    format!("{name} ({dotted})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_oids_are_named_with_their_dotted_form() {
        assert_eq!(
            curve_name(&[0x2B, 0x81, 0x04, 0x00, 0x0A]),
            "secp256k1 (1.3.132.0.10)"
        );
        assert_eq!(key_type_name(&[0x2B, 0x65, 0x71]), "Ed448 (1.3.101.113)");
    }

    #[test]
    fn unknown_oids_are_printed_dotted() {
        assert_eq!(curve_name(&[0x2B, 0x81, 0x04, 0x00, 0x01]), "1.3.132.0.1");
        assert_eq!(key_type_name(P256), "1.2.840.10045.3.1.7");
    }
}
