//! [`ClusterSigningKey`]: a `rustls::sign::SigningKey` whose private half stays in the
//! cluster. It offers the TLS signature schemes of its key type and signs through a
//! [`TlsSigner`]; fetching and checking the key is left to `certified`.

use std::fmt;
use std::sync::Arc;

use rustls::pki_types::SubjectPublicKeyInfoDer;
use rustls::sign::{Signer, SigningKey};
use rustls::{OtherError, SignatureAlgorithm, SignatureScheme};

use super::error::TlsKeyError;
use super::signer::TlsSigner;

/// The key types the adapter can use for TLS, by their cluster names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    /// `ec-p256`: ECDSA on P-256 with SHA-256.
    EcP256,
    /// `ec-p384`: ECDSA on P-384 with SHA-384.
    EcP384,
    /// `ed25519`.
    Ed25519,
    /// `rsa-2048`, `rsa-3072`, `rsa-4096`: RSA-PSS and PKCS#1 v1.5 with SHA-2.
    Rsa,
}

/// RSA schemes in order of preference: PSS first (the only ones TLS 1.3 allows).
const RSA_SCHEMES: [(SignatureScheme, &str); 6] = [
    (SignatureScheme::RSA_PSS_SHA256, "rsa-pss-sha256"),
    (SignatureScheme::RSA_PSS_SHA384, "rsa-pss-sha384"),
    (SignatureScheme::RSA_PSS_SHA512, "rsa-pss-sha512"),
    (SignatureScheme::RSA_PKCS1_SHA256, "rsa-pkcs1-sha256"),
    (SignatureScheme::RSA_PKCS1_SHA384, "rsa-pkcs1-sha384"),
    (SignatureScheme::RSA_PKCS1_SHA512, "rsa-pkcs1-sha512"),
];

impl KeyAlgorithm {
    /// Parses a cluster algorithm name (`ec-p256`, `rsa-3072`, ...); `None` for a type
    /// without TLS schemes.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "ec-p256" => Some(KeyAlgorithm::EcP256),
            "ec-p384" => Some(KeyAlgorithm::EcP384),
            "ed25519" => Some(KeyAlgorithm::Ed25519),
            "rsa-2048" | "rsa-3072" | "rsa-4096" => Some(KeyAlgorithm::Rsa),
            _ => None,
        }
    }

    /// The TLS signature schemes this key type can make, with the cluster's name for
    /// each, in order of preference.
    pub fn schemes(self) -> &'static [(SignatureScheme, &'static str)] {
        match self {
            KeyAlgorithm::EcP256 => &[(SignatureScheme::ECDSA_NISTP256_SHA256, "ecdsa-sha256")],
            KeyAlgorithm::EcP384 => &[(SignatureScheme::ECDSA_NISTP384_SHA384, "ecdsa-sha384")],
            KeyAlgorithm::Ed25519 => &[(SignatureScheme::ED25519, "ed25519")],
            KeyAlgorithm::Rsa => &RSA_SCHEMES,
        }
    }

    /// The rustls signature algorithm of this key type.
    pub fn signature_algorithm(self) -> SignatureAlgorithm {
        match self {
            KeyAlgorithm::EcP256 | KeyAlgorithm::EcP384 => SignatureAlgorithm::ECDSA,
            KeyAlgorithm::Ed25519 => SignatureAlgorithm::ED25519,
            KeyAlgorithm::Rsa => SignatureAlgorithm::RSA,
        }
    }
}

/// A TLS signing key held by the cluster. Build it with
/// [`certified_key`](super::certified_key), which checks the key against the certificate;
/// [`ClusterSigningKey::new`] checks nothing.
#[derive(Clone)]
pub struct ClusterSigningKey {
    signer: TlsSigner,
    key_id: Arc<str>,
    algorithm: KeyAlgorithm,
    spki: Option<Arc<[u8]>>,
    min_index: u64,
}

impl ClusterSigningKey {
    /// A key that signs with cluster key `key_id`, assumed to be of type `algorithm`,
    /// without asking the cluster anything: a wrong id, a key without sign usage or of
    /// another type shows only when a handshake fails. Useful to start a server while
    /// the cluster is unreachable; otherwise prefer [`certified_key`](super::certified_key).
    pub fn new(signer: TlsSigner, key_id: &str, algorithm: KeyAlgorithm) -> Self {
        ClusterSigningKey {
            signer,
            key_id: key_id.into(),
            algorithm,
            spki: None,
            min_index: 0,
        }
    }

    /// Records the key's SubjectPublicKeyInfo (DER), which rustls can compare with a
    /// certificate.
    pub fn with_public_key(mut self, spki_der: Vec<u8>) -> Self {
        self.spki = Some(spki_der.into());
        self
    }

    /// Makes every signature wait (bounded, on the node) until the node has applied log
    /// index `index`, normally the key's `created_index`: a node that has not yet heard of
    /// a key made a moment ago then waits for it instead of answering NotFound.
    pub fn with_min_index(mut self, index: u64) -> Self {
        self.min_index = index;
        self
    }

    /// The cluster key id.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The key type.
    pub fn key_algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// Signs `message` with `scheme` through the cluster, outside any handshake; the
    /// same path (and deadline) a handshake takes.
    pub fn sign_with(
        &self,
        scheme: SignatureScheme,
        message: &[u8],
    ) -> Result<Vec<u8>, TlsKeyError> {
        let Some(&(_, name)) = self.algorithm.schemes().iter().find(|(s, _)| *s == scheme) else {
            return Err(TlsKeyError::UnsupportedAlgorithm {
                key_id: self.key_id.to_string(),
                algorithm: format!("{:?} with {scheme:?}", self.algorithm),
            });
        };
        self.signer
            .sign_blocking(&self.key_id, name, message, self.min_index)
    }
}

impl SigningKey for ClusterSigningKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        let (scheme, name) = self
            .algorithm
            .schemes()
            .iter()
            .find(|(scheme, _)| offered.contains(scheme))?;
        Some(Box::new(ClusterSigner {
            key: self.clone(),
            scheme: *scheme,
            name,
        }))
    }

    fn public_key(&self) -> Option<SubjectPublicKeyInfoDer<'_>> {
        let spki = self.spki.as_deref()?;
        Some(SubjectPublicKeyInfoDer::from(spki))
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm.signature_algorithm()
    }
}

impl fmt::Debug for ClusterSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterSigningKey")
            .field("key_id", &self.key_id)
            .field("algorithm", &self.algorithm)
            .finish()
    }
}

/// One handshake's signer: the key and the scheme rustls agreed on.
struct ClusterSigner {
    key: ClusterSigningKey,
    scheme: SignatureScheme,
    name: &'static str,
}

impl Signer for ClusterSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        let key_id = &self.key.key_id;
        let signed = self
            .key
            .signer
            .sign_blocking(key_id, self.name, message, self.key.min_index);
        match signed {
            Ok(signature) => {
                tracing::debug!(key_id = %key_id, scheme = self.name, "handshake signed");
                Ok(signature)
            }
            Err(err) => {
                // The handshake error rustls reports carries this text; the warning is for
                // servers that do not log failed handshakes.
                tracing::warn!(key_id = %key_id, scheme = self.name, error = %err,
                    "cluster signature failed; aborting the TLS handshake");
                Err(rustls::Error::Other(OtherError(Arc::new(err))))
            }
        }
    }

    fn scheme(&self) -> SignatureScheme {
        self.scheme
    }
}

impl fmt::Debug for ClusterSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterSigner")
            .field("key_id", &self.key.key_id)
            .field("scheme", &self.scheme)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cluster_algorithm_maps_to_its_tls_schemes() {
        let first = |name| KeyAlgorithm::from_name(name).map(|a| a.schemes()[0].0);
        assert_eq!(
            first("ec-p256"),
            Some(SignatureScheme::ECDSA_NISTP256_SHA256)
        );
        assert_eq!(
            first("ec-p384"),
            Some(SignatureScheme::ECDSA_NISTP384_SHA384)
        );
        assert_eq!(first("ed25519"), Some(SignatureScheme::ED25519));
        for rsa in ["rsa-2048", "rsa-3072", "rsa-4096"] {
            assert_eq!(first(rsa), Some(SignatureScheme::RSA_PSS_SHA256));
        }
        assert_eq!(KeyAlgorithm::from_name("aes-256"), None);
    }

    #[test]
    fn rsa_offers_pss_and_pkcs1_with_each_sha2_hash() {
        let names: Vec<&str> = KeyAlgorithm::Rsa.schemes().iter().map(|s| s.1).collect();
        assert_eq!(
            names,
            [
                "rsa-pss-sha256",
                "rsa-pss-sha384",
                "rsa-pss-sha512",
                "rsa-pkcs1-sha256",
                "rsa-pkcs1-sha384",
                "rsa-pkcs1-sha512"
            ]
        );
    }
}
