//! Building a rustls `CertifiedKey` from a certificate chain PEM and a cluster key id:
//! the key is fetched, must be a signing key of a TLS-capable type, and must be the key
//! the leaf certificate certifies.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use keyhold_proto::v1::{GetKeyRequest, KeyInfo};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::sign::CertifiedKey;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::error::TlsKeyError;

// A follower asks the leader for its commit index before answering GetKey NotFound, so a
// key made a moment ago through another client is found; a NotFound is still asked again
// for a moment, for a follower cut off from the leader while it answered.
/// How long a NotFound is doubted.
const NOT_FOUND_PATIENCE: Duration = Duration::from_secs(1);
/// First pause before asking again; doubles.
const FIRST_PAUSE: Duration = Duration::from_millis(50);
use super::key::{ClusterSigningKey, KeyAlgorithm};
use super::signer::TlsSigner;

/// Fetches cluster key `key_id` and pairs it with the certificate chain in
/// `cert_chain_pem` (leaf first, then intermediates), ready for a rustls
/// `ResolvesServerCert` or `ServerConfig::with_cert_resolver`.
///
/// Refuses a key that cannot sign ([`TlsKeyError::NotASigningKey`]), a key type without
/// TLS schemes, a PEM without certificates, a leaf certificate outside its validity
/// period, and a leaf certificate whose SubjectPublicKeyInfo is not the cluster key's
/// ([`TlsKeyError::KeyMismatch`]).
///
/// ```no_run
/// use std::sync::Arc;
/// use keyhold_client::ClientConfig;
/// use keyhold_client::tls::{SignerOptions, TlsSigner, certified_key};
/// use rustls::server::{ResolvesServerCert, ServerConfig};
/// use rustls::sign::SingleCertAndKey;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let config = ClientConfig::from_file("client.toml".as_ref())?;
/// let signer = TlsSigner::connect(config, SignerOptions::default()).await?;
/// let chain = std::fs::read("www.pem")?;
/// let key = certified_key(&signer, "k-3f9a0c1e2b4d5f60", &chain).await?;
/// let resolver: Arc<dyn ResolvesServerCert> = Arc::new(SingleCertAndKey::from(key));
/// let tls = ServerConfig::builder().with_no_client_auth().with_cert_resolver(resolver);
/// # drop(tls);
/// # Ok(())
/// # }
/// ```
pub async fn certified_key(
    signer: &TlsSigner,
    key_id: &str,
    cert_chain_pem: &[u8],
) -> Result<Arc<CertifiedKey>, TlsKeyError> {
    let chain = parse_chain(cert_chain_pem)?;
    check_validity(&chain[0], SystemTime::now())?;
    let info = fetch_key(signer, key_id).await?;
    let key = signing_key(signer, info)?;
    let certified = CertifiedKey::new(chain, Arc::new(key));
    match certified.keys_match() {
        Ok(()) => Ok(Arc::new(certified)),
        Err(rustls::Error::InconsistentKeys(_)) => Err(TlsKeyError::KeyMismatch {
            key_id: key_id.to_owned(),
        }),
        Err(err) => Err(TlsKeyError::Certificate {
            reason: format!("the leaf certificate cannot be parsed: {err}"),
        }),
    }
}

/// Fetches `key_id` from the cluster (on the signer's runtime) and checks that it can
/// sign TLS handshakes.
pub async fn fetch_signing_key(
    signer: &TlsSigner,
    key_id: &str,
) -> Result<ClusterSigningKey, TlsKeyError> {
    let info = fetch_key(signer, key_id).await?;
    signing_key(signer, info)
}

/// Refuses a leaf certificate that is not valid at `now`: a server would start and then
/// fail every handshake with a certificate-expired alert.
pub(crate) fn check_validity(
    leaf: &CertificateDer<'_>,
    now: SystemTime,
) -> Result<(), TlsKeyError> {
    let bad = |reason: String| TlsKeyError::Certificate { reason };
    let (_, cert) = X509Certificate::from_der(leaf.as_ref())
        .map_err(|err| bad(format!("the leaf certificate cannot be parsed: {err}")))?;
    let now = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let validity = cert.validity();
    if now > validity.not_after.timestamp() {
        return Err(bad(format!(
            "the leaf certificate expired on {}",
            validity.not_after
        )));
    }
    if now < validity.not_before.timestamp() {
        return Err(bad(format!(
            "the leaf certificate is not valid before {}",
            validity.not_before
        )));
    }
    Ok(())
}

/// The certificates of a PEM chain, in order.
pub(crate) fn parse_chain(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsKeyError> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| TlsKeyError::Certificate {
            reason: format!("invalid PEM: {err}"),
        })?;
    if chain.is_empty() {
        return Err(TlsKeyError::Certificate {
            reason: "no CERTIFICATE block found".into(),
        });
    }
    Ok(chain)
}

/// Fetches the key's metadata. A NotFound is asked again, on whichever node the client
/// picks, for up to [`NOT_FOUND_PATIENCE`] before it is believed.
async fn fetch_key(signer: &TlsSigner, key_id: &str) -> Result<KeyInfo, TlsKeyError> {
    let client = signer.client().clone();
    let request = GetKeyRequest {
        key_id: key_id.to_owned(),
        ..Default::default()
    };
    let fetched = signer
        .run(async move {
            let started = Instant::now();
            let mut pause = FIRST_PAUSE;
            loop {
                match client.get_key(request.clone()).await {
                    Err(crate::Error::NotFound { .. })
                        if started.elapsed() + pause < NOT_FOUND_PATIENCE =>
                    {
                        tokio::time::sleep(pause).await;
                        pause *= 2;
                    }
                    answer => return answer,
                }
            }
        })
        .await?;
    fetched.map_err(|source| TlsKeyError::Cluster {
        key_id: key_id.to_owned(),
        source,
    })
}

fn signing_key(signer: &TlsSigner, info: KeyInfo) -> Result<ClusterSigningKey, TlsKeyError> {
    if info.usage != "sign" {
        return Err(TlsKeyError::NotASigningKey {
            key_id: info.id,
            usage: info.usage,
        });
    }
    let Some(algorithm) = KeyAlgorithm::from_name(&info.algorithm) else {
        return Err(TlsKeyError::UnsupportedAlgorithm {
            key_id: info.id,
            algorithm: info.algorithm,
        });
    };
    let key = ClusterSigningKey::new(signer.clone(), &info.id, algorithm);
    Ok(key
        .with_public_key(info.public_key_der)
        .with_min_index(info.created_index))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pem_without_certificates_is_refused() {
        let err = parse_chain(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
            .unwrap_err();
        assert!(matches!(err, TlsKeyError::Certificate { .. }), "{err}");
        assert!(err.to_string().contains("no CERTIFICATE"), "{err}");
        assert!(!err.is_retryable());
    }

    #[test]
    fn a_chain_keeps_its_order() {
        let pem = "-----BEGIN CERTIFICATE-----\nAQI=\n-----END CERTIFICATE-----\n\
                   -----BEGIN CERTIFICATE-----\nAwQ=\n-----END CERTIFICATE-----\n";
        let chain = parse_chain(pem.as_bytes()).unwrap();
        assert_eq!(chain.len(), 2);
        assert_eq!(chain[0].as_ref(), [1, 2]);
        assert_eq!(chain[1].as_ref(), [3, 4]);
    }
}
