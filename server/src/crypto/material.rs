//! [`KeyMaterial`]: the plaintext PKCS#8 v1 DER of a private key, as it is wrapped under the
//! cluster key and unwrapped again. Zeroized on drop, never printed. Parsing it into a key
//! ready for use is [`super::PrivateKey::from_material`]'s job.

use std::fmt;

use zeroize::Zeroizing;

/// PKCS#8 v1 DER of a private key, zeroized on drop, redacted in `Debug`.
pub struct KeyMaterial(Zeroizing<Vec<u8>>);

impl KeyMaterial {
    /// Wraps PKCS#8 v1 DER (for example just unwrapped from storage). Not parsed here.
    pub fn from_der(der: Zeroizing<Vec<u8>>) -> KeyMaterial {
        KeyMaterial(der)
    }

    /// Copies DER out of a buffer the crypto library owns (and zeroizes itself).
    pub(super) fn copy_from(der: &[u8]) -> KeyMaterial {
        KeyMaterial(Zeroizing::new(der.to_vec()))
    }

    /// The PKCS#8 v1 DER bytes.
    pub fn as_der(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyMaterial(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_no_key_bytes() {
        let material = KeyMaterial::from_der(Zeroizing::new(vec![0xAB; 48]));
        let shown = format!("{material:?} {material:#?}");
        assert_eq!(shown, "KeyMaterial(<redacted>) KeyMaterial(<redacted>)");
    }

    #[test]
    fn der_is_returned_unchanged() {
        let material = KeyMaterial::from_der(Zeroizing::new(vec![0x30, 0x00]));
        assert_eq!(material.as_der(), &[0x30, 0x00]);
        assert_eq!(KeyMaterial::copy_from(&[1, 2, 3]).as_der(), &[1, 2, 3]);
    }
}
