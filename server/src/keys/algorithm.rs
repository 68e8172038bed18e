//! Names of key algorithms, usages and schemes: parsed once at the API edge, typed after.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A key algorithm the cluster can hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Algorithm {
    /// ECDSA on NIST P-256.
    EcP256,
    /// ECDSA on NIST P-384.
    EcP384,
    /// Ed25519 (pure EdDSA).
    Ed25519,
    /// RSA with a 2048-bit modulus.
    Rsa2048,
    /// RSA with a 3072-bit modulus.
    Rsa3072,
    /// RSA with a 4096-bit modulus.
    Rsa4096,
}

/// What a key may be used for. Fixed at creation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Usage {
    /// Signatures (every algorithm).
    Sign,
    /// RSA decryption (RSA only).
    Decrypt,
}

/// A signature scheme: algorithm family, padding and hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignScheme {
    /// ECDSA with SHA-256, DER-encoded signature.
    EcdsaSha256,
    /// ECDSA with SHA-384, DER-encoded signature.
    EcdsaSha384,
    /// Pure Ed25519 over the message.
    Ed25519,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RsaPkcs1Sha256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RsaPkcs1Sha384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RsaPkcs1Sha512,
    /// RSASSA-PSS with SHA-256, MGF1-SHA-256, salt length = hash length.
    RsaPssSha256,
    /// RSASSA-PSS with SHA-384, MGF1-SHA-384, salt length = hash length.
    RsaPssSha384,
    /// RSASSA-PSS with SHA-512, MGF1-SHA-512, salt length = hash length.
    RsaPssSha512,
}

/// An RSA decryption scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DecryptScheme {
    /// RSAES-PKCS1-v1_5 (TLS 1.2 RSA key exchange).
    RsaPkcs1,
    /// RSAES-OAEP with SHA-256 and MGF1-SHA-256, empty label.
    RsaOaepSha256,
}

/// A name that is not one of the known values; carries the offending text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown value {0:?}")]
pub struct UnknownName(pub String);

macro_rules! names {
    ($ty:ty { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$(<$ty>::$variant),+];

            /// The wire name, as accepted by `from_str`.
            pub fn name(self) -> &'static str {
                match self { $(<$ty>::$variant => $name),+ }
            }
        }

        impl FromStr for $ty {
            type Err = UnknownName;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s { $($name => Ok(<$ty>::$variant),)+ _ => Err(UnknownName(s.to_owned())) }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

names!(Algorithm {
    EcP256 => "ec-p256",
    EcP384 => "ec-p384",
    Ed25519 => "ed25519",
    Rsa2048 => "rsa-2048",
    Rsa3072 => "rsa-3072",
    Rsa4096 => "rsa-4096",
});

names!(Usage { Sign => "sign", Decrypt => "decrypt" });

names!(SignScheme {
    EcdsaSha256 => "ecdsa-sha256",
    EcdsaSha384 => "ecdsa-sha384",
    Ed25519 => "ed25519",
    RsaPkcs1Sha256 => "rsa-pkcs1-sha256",
    RsaPkcs1Sha384 => "rsa-pkcs1-sha384",
    RsaPkcs1Sha512 => "rsa-pkcs1-sha512",
    RsaPssSha256 => "rsa-pss-sha256",
    RsaPssSha384 => "rsa-pss-sha384",
    RsaPssSha512 => "rsa-pss-sha512",
});

names!(DecryptScheme { RsaPkcs1 => "rsa-pkcs1", RsaOaepSha256 => "rsa-oaep-sha256" });

impl Algorithm {
    /// True for the RSA sizes.
    pub fn is_rsa(self) -> bool {
        matches!(
            self,
            Algorithm::Rsa2048 | Algorithm::Rsa3072 | Algorithm::Rsa4096
        )
    }

    /// Whether a key of this algorithm can be created with `usage`.
    pub fn allows(self, usage: Usage) -> bool {
        usage == Usage::Sign || self.is_rsa()
    }
}

impl SignScheme {
    /// Whether a key of `algorithm` can produce this scheme.
    pub fn fits(self, algorithm: Algorithm) -> bool {
        match self {
            SignScheme::EcdsaSha256 | SignScheme::EcdsaSha384 => {
                matches!(algorithm, Algorithm::EcP256 | Algorithm::EcP384)
            }
            SignScheme::Ed25519 => algorithm == Algorithm::Ed25519,
            _ => algorithm.is_rsa(),
        }
    }

    /// Length of the digest a caller must send for this scheme; `None` when the scheme
    /// signs the message itself (Ed25519).
    pub fn digest_len(self) -> Option<usize> {
        match self {
            SignScheme::EcdsaSha256 | SignScheme::RsaPkcs1Sha256 | SignScheme::RsaPssSha256 => {
                Some(32)
            }
            SignScheme::EcdsaSha384 | SignScheme::RsaPkcs1Sha384 | SignScheme::RsaPssSha384 => {
                Some(48)
            }
            SignScheme::RsaPkcs1Sha512 | SignScheme::RsaPssSha512 => Some(64),
            SignScheme::Ed25519 => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for a in Algorithm::ALL {
            assert_eq!(a.name().parse::<Algorithm>(), Ok(*a));
        }
        for s in SignScheme::ALL {
            assert_eq!(s.name().parse::<SignScheme>(), Ok(*s));
        }
        assert_eq!(
            "rsa-oaep-sha256".parse::<DecryptScheme>(),
            Ok(DecryptScheme::RsaOaepSha256)
        );
    }

    #[test]
    fn unknown_name_is_rejected_with_its_text() {
        assert_eq!(
            "rsa-1024".parse::<Algorithm>(),
            Err(UnknownName("rsa-1024".into()))
        );
    }

    #[test]
    fn ec_keys_cannot_decrypt() {
        assert!(!Algorithm::EcP256.allows(Usage::Decrypt));
        assert!(Algorithm::Rsa2048.allows(Usage::Decrypt));
    }

    #[test]
    fn schemes_fit_only_their_family() {
        assert!(SignScheme::EcdsaSha384.fits(Algorithm::EcP256));
        assert!(!SignScheme::RsaPssSha256.fits(Algorithm::Ed25519));
        assert!(!SignScheme::Ed25519.fits(Algorithm::Rsa2048));
    }
}
