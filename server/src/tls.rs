//! Mutual TLS material for both listeners and for node-to-node channels, and the check
//! that tells a node certificate (URI SAN `keyhold://node/<id>`) from a client one.

use std::path::Path;

use aws_lc_rs::digest;
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::config::TlsFiles;

/// URI SAN prefix that marks a node certificate.
pub const NODE_URI_PREFIX: &str = "keyhold://node/";

/// This node's certificate, key and the cluster CA, loaded once at start.
#[derive(Clone)]
pub struct TlsMaterial {
    ca_pem: Vec<u8>,
    cert_pem: Vec<u8>,
    key_pem: zeroize::Zeroizing<Vec<u8>>,
    cert_der: Vec<u8>,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsMaterial").finish_non_exhaustive()
    }
}

/// Why TLS material could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A certificate file held no PEM certificate.
    #[error("{path} holds no PEM certificate")]
    NoCertificate {
        /// The file.
        path: String,
    },
}

impl TlsMaterial {
    /// Reads the PEM files named in the config.
    pub fn load(files: &TlsFiles) -> Result<Self, TlsError> {
        let ca_pem = read(&files.ca)?;
        let cert_pem = read(&files.cert)?;
        let key_pem = zeroize::Zeroizing::new(read(&files.key)?);
        let cert_der = first_certificate(&cert_pem).ok_or_else(|| TlsError::NoCertificate {
            path: files.cert.display().to_string(),
        })?;
        Ok(TlsMaterial {
            ca_pem,
            cert_pem,
            key_pem,
            cert_der,
        })
    }

    /// Server side: our identity, and client certificates required from the cluster CA.
    pub fn server_config(&self) -> ServerTlsConfig {
        ServerTlsConfig::new()
            .identity(self.identity())
            .client_ca_root(Certificate::from_pem(&self.ca_pem))
            .client_auth_optional(false)
    }

    /// Client side toward peer `peer_id`: the peer must present `node-<id>` from our CA.
    pub fn peer_client_config(&self, peer_id: u64) -> ClientTlsConfig {
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.ca_pem))
            .identity(self.identity())
            .domain_name(format!("node-{peer_id}"))
    }

    /// SHA-256 of our certificate (DER), bound into the cluster-key handoff.
    pub fn cert_sha256(&self) -> [u8; 32] {
        sha256(&self.cert_der)
    }

    fn identity(&self) -> Identity {
        Identity::from_pem(&self.cert_pem, &*self.key_pem)
    }
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, bytes).as_ref());
    out
}

/// The node id in a certificate's `keyhold://node/<id>` URI SAN, if it is a node
/// certificate.
pub fn node_id_of(cert_der: &[u8]) -> Option<u64> {
    let (_, cert) = X509Certificate::from_der(cert_der).ok()?;
    let san = cert.subject_alternative_name().ok()??;
    san.value.general_names.iter().find_map(|name| match name {
        GeneralName::URI(uri) => uri.strip_prefix(NODE_URI_PREFIX)?.parse().ok(),
        _ => None,
    })
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.display().to_string(),
        source,
    })
}

fn first_certificate(pem: &[u8]) -> Option<Vec<u8>> {
    let mut reader = pem;
    let first = rustls_pemfile::certs(&mut reader).next()?;
    first.ok().map(|der| der.to_vec())
}
