//! Certificates for cluster keys, with no private key on this machine (feature `certs`):
//!
//! - [`csr_pem`] (`request`): a PKCS#10 request signed by a cluster key, for any CA;
//! - [`self_signed_pem`] (`request`): a self-signed server certificate for a cluster key;
//! - [`issue_pem`] (`issue`): a certificate for a CSR from a CA certificate and key file,
//!   such as the development CA of `hsmctl pki init`;
//! - [`check_name`], [`is_node_name`] (`names`): which subject alternative names are
//!   accepted;
//! - [`CertError`] (`error`); `remote` lets rcgen sign through the cluster.
//!
//! The signatures go through a [`TlsSigner`](crate::tls::TlsSigner), with its deadline and
//! failover; certificates for RSA keys are signed sha256WithRSAEncryption.
//!
//! ```no_run
//! use keyhold_client::ClientConfig;
//! use keyhold_client::certs::{IssueOptions, Subject, csr_pem, issue_pem};
//! use keyhold_client::tls::{SignerOptions, TlsSigner};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = ClientConfig::from_file("client.toml".as_ref())?;
//! let signer = TlsSigner::connect(config, SignerOptions::default()).await?;
//! let subject = Subject::new("www.example.com").with_sans(["www.example.com", "127.0.0.1"]);
//! let csr = csr_pem(&signer, "k-3f9a0c1e2b4d5f60", &subject).await?;
//! let ca_cert = std::fs::read_to_string("pki/ca.pem")?;
//! let ca_key = zeroize::Zeroizing::new(std::fs::read_to_string("pki/ca.key")?);
//! let cert = issue_pem(&csr, &ca_cert, &ca_key, &IssueOptions::default())?;
//! std::fs::write("www.pem", cert + &ca_cert)?;
//! # Ok(())
//! # }
//! ```

mod error;
mod issue;
mod names;
mod remote;
mod request;

pub use error::CertError;
pub use issue::{DEFAULT_VALIDITY_DAYS, IssueOptions, issue_pem};
pub use names::{check_name, is_node_name};
pub use request::{csr_pem, self_signed_pem};

use rcgen::SerialNumber;
use time::{Duration, OffsetDateTime};

/// Allowance for clocks behind ours: certificates start this long ago.
const CLOCK_SKEW: Duration = Duration::minutes(5);

/// The names a CSR or certificate carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subject {
    /// The subject's common name (CN).
    pub common_name: String,
    /// The subject's organization (O), if any.
    pub organization: Option<String>,
    /// Subject alternative names: DNS names (`*.example.com` allowed) or IP addresses.
    /// When empty, the common name is used.
    pub sans: Vec<String>,
}

impl Subject {
    /// A subject with this common name and no other names.
    pub fn new(common_name: &str) -> Self {
        Subject {
            common_name: common_name.to_owned(),
            ..Default::default()
        }
    }

    /// The same subject with these subject alternative names.
    pub fn with_sans<I, S>(mut self, sans: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.sans = sans.into_iter().map(Into::into).collect();
        self
    }
}

/// From a few minutes ago to `days` from now.
fn validity(days: u32) -> (OffsetDateTime, OffsetDateTime) {
    let now = OffsetDateTime::now_utc();
    (now - CLOCK_SKEW, now + Duration::days(i64::from(days)))
}

/// A random positive 16-byte serial: reissuing for the same key never repeats one.
fn random_serial() -> Result<SerialNumber, CertError> {
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let mut bytes = [0u8; 16];
    provider
        .secure_random
        .fill(&mut bytes)
        .map_err(|_| CertError::Random)?;
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    Ok(SerialNumber::from_slice(&bytes))
}
