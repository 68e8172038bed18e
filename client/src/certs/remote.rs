//! [`RemoteKey`]: a cluster key as rcgen sees it, so that rcgen can sign a CSR or a
//! certificate with a key that is not on this machine.

use std::sync::Mutex;

use rcgen::{PublicKeyData, SignatureAlgorithm, SigningKey, SubjectPublicKeyInfo};
use rustls::SignatureScheme;

use super::error::CertError;
use crate::tls::{ClusterSigningKey, KeyAlgorithm, TlsKeyError, TlsSigner, fetch_signing_key};

/// A cluster signing key with its public key and the X.509 signature algorithm it signs
/// certificates with (ECDSA with the curve's hash, Ed25519, sha256WithRSAEncryption).
pub(crate) struct RemoteKey {
    key: ClusterSigningKey,
    public_key: SubjectPublicKeyInfo,
    algorithm: &'static SignatureAlgorithm,
    scheme: SignatureScheme,
    /// The cluster's reason for the last failed signature: rcgen only reports that the
    /// remote key failed.
    failure: Mutex<Option<TlsKeyError>>,
}

impl RemoteKey {
    /// Fetches `key_id` and checks that it can sign.
    pub(crate) async fn fetch(signer: &TlsSigner, key_id: &str) -> Result<Self, CertError> {
        let key = fetch_signing_key(signer, key_id).await?;
        let spki = signer_public_key(&key)?;
        let public_key = SubjectPublicKeyInfo::from_der(&spki).map_err(|err| {
            CertError::Key(TlsKeyError::UnsupportedAlgorithm {
                key_id: key_id.to_owned(),
                algorithm: format!("public key not usable in a certificate: {err}"),
            })
        })?;
        let (algorithm, scheme) = match key.key_algorithm() {
            KeyAlgorithm::EcP256 => (
                &rcgen::PKCS_ECDSA_P256_SHA256,
                SignatureScheme::ECDSA_NISTP256_SHA256,
            ),
            KeyAlgorithm::EcP384 => (
                &rcgen::PKCS_ECDSA_P384_SHA384,
                SignatureScheme::ECDSA_NISTP384_SHA384,
            ),
            KeyAlgorithm::Ed25519 => (&rcgen::PKCS_ED25519, SignatureScheme::ED25519),
            KeyAlgorithm::Rsa => (&rcgen::PKCS_RSA_SHA256, SignatureScheme::RSA_PKCS1_SHA256),
        };
        Ok(RemoteKey {
            key,
            public_key,
            algorithm,
            scheme,
            failure: Mutex::new(None),
        })
    }

    /// Turns rcgen's error into ours, with the cluster's reason when the signature failed.
    pub(crate) fn error(&self, what: &'static str, source: rcgen::Error) -> CertError {
        let failure = match self.failure.lock() {
            Ok(mut slot) => slot.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        match failure {
            Some(err) => CertError::Key(err),
            None => CertError::Encode { what, source },
        }
    }
}

impl PublicKeyData for RemoteKey {
    fn der_bytes(&self) -> &[u8] {
        self.public_key.der_bytes()
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.algorithm
    }
}

impl SigningKey for RemoteKey {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        self.key.sign_with(self.scheme, msg).map_err(|err| {
            if let Ok(mut slot) = self.failure.lock() {
                *slot = Some(err);
            }
            rcgen::Error::RemoteKeyError
        })
    }
}

fn signer_public_key(key: &ClusterSigningKey) -> Result<Vec<u8>, CertError> {
    use rustls::sign::SigningKey as _;
    match key.public_key() {
        Some(spki) => Ok(spki.as_ref().to_vec()),
        None => Err(CertError::Key(TlsKeyError::UnsupportedAlgorithm {
            key_id: key.key_id().to_owned(),
            algorithm: "the cluster sent no public key".into(),
        })),
    }
}
