//! [`CertError`]: why a CSR or certificate for a cluster key could not be made.

use crate::tls::TlsKeyError;

/// Everything the certificate functions can fail with. Messages never hold key material.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// The cluster key could not be fetched, is not a TLS signing key, or did not sign.
    #[error(transparent)]
    Key(#[from] TlsKeyError),
    /// The subject's common name or a subject alternative name is unusable.
    #[error("invalid subject: {reason}")]
    Subject {
        /// What is wrong.
        reason: String,
    },
    /// The certificate signing request cannot be parsed, or its signature is wrong.
    #[error("certificate signing request: {reason}")]
    Request {
        /// What is wrong.
        reason: String,
    },
    /// The CA certificate or key cannot be used.
    #[error("CA: {reason}")]
    Ca {
        /// What is wrong.
        reason: String,
    },
    /// The certificate or request could not be encoded.
    #[error("cannot encode the {what}: {source}")]
    Encode {
        /// A certificate or a request.
        what: &'static str,
        /// rcgen's error.
        #[source]
        source: rcgen::Error,
    },
    /// The system gave no randomness for a serial number.
    #[error("no randomness for a serial number")]
    Random,
    /// The task that signs was cancelled or panicked.
    #[error("the signing task failed: {reason}")]
    Task {
        /// What happened.
        reason: String,
    },
}
