//! The error type of the seal module. No variant carries key bytes or secret text: only
//! identifiers, paths and structural descriptions.

use std::path::PathBuf;

/// What can go wrong wrapping keys, sealing the cluster key or handing it to a node.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The unseal secret does not open the sealed cluster key (or the sealed file was
    /// altered: AES-GCM cannot tell the two apart).
    #[error("the unseal secret does not open the sealed cluster key")]
    WrongSecret,
    /// A wrapped key did not open under this cluster key with the given context: another
    /// cluster's key, a blob moved to another record, or tampering.
    #[error("wrapped key {key_id} version {version} does not open under the cluster key")]
    UnwrapFailed {
        /// Key id from the wrap context.
        key_id: String,
        /// Material version from the wrap context.
        version: u32,
    },
    /// The cluster-key handoff did not open: mismatched binding (certificates, cluster id),
    /// a bad public key, or tampering.
    #[error("cluster key handoff failed: binding mismatch, bad public key or tampering")]
    HandoffFailed,
    /// Stored or received data does not have the expected structure.
    #[error("corrupt {what}: {detail}")]
    Corrupt {
        /// What was being read, e.g. "sealed key file".
        what: &'static str,
        /// What is wrong with it (never secret content).
        detail: String,
    },
    /// A sealed key file written by an unknown format version.
    #[error("sealed key file has unsupported format version {found}")]
    UnsupportedFormat {
        /// The version found in the file.
        found: u32,
    },
    /// Argon2id parameters out of the accepted range.
    #[error("invalid key derivation parameters: {reason}")]
    InvalidKdfParams {
        /// Which bound was violated.
        reason: &'static str,
    },
    /// The unseal secret is empty.
    #[error("unseal secret from {origin} is empty")]
    EmptySecret {
        /// Where the secret came from: a file path or an environment variable name.
        origin: String,
    },
    /// The environment variable that should hold the unseal secret is not set.
    #[error("environment variable {var} with the unseal secret is not set")]
    MissingEnv {
        /// Variable name.
        var: String,
    },
    /// A file operation failed.
    #[error("I/O on {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The crypto library failed (random generation, key agreement setup); no detail is
    /// available or safe to give.
    #[error("crypto operation failed: {operation}")]
    Crypto {
        /// The operation that failed, e.g. "random nonce".
        operation: &'static str,
    },
}

impl SealError {
    pub(super) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        SealError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(super) fn crypto(operation: &'static str) -> Self {
        SealError::Crypto { operation }
    }
}
