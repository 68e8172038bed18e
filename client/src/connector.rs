//! How the client reaches a node: TCP, then TLS that checks the server the way tonic's
//! own TLS would (a certificate of the cluster CA, valid for the configured server name)
//! and one more thing: the certificate must be a Keyhold node certificate, one that
//! carries a `keyhold://node/<id>` URI name. Any other certificate of the cluster CA, a
//! web server's issued by `hsmctl pki issue` for example, is refused before a request
//! (an imported private key, say) is sent. Channels and their timeouts are `node`'s.

use std::io;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, aws_lc_rs};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tonic::codegen::http::Uri;
use tonic::codegen::{Context, Poll, Service};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use crate::error::ConfigError;

/// The URI name every node certificate carries, followed by the node id.
pub(crate) const NODE_URI_PREFIX: &str = "keyhold://node/";

type Connecting = std::pin::Pin<Box<dyn Future<Output = io::Result<Connected>> + Send>>;
/// A TLS connection to a node, as hyper reads and writes it.
pub(crate) type Connected = hyper_util::rt::TokioIo<TlsStream<TcpStream>>;

/// Connects to nodes; one per client, cloned into every channel.
#[derive(Clone)]
pub(crate) struct NodeConnector {
    tls: TlsConnector,
    server_name: ServerName<'static>,
}

impl NodeConnector {
    /// TLS with `ca_pem` as the only root, `cert_pem` and `key_pem` as the client's
    /// identity, and `server_name` as the name every node certificate must be valid for.
    pub(crate) fn new(
        ca_pem: &[u8],
        cert_pem: &[u8],
        key_pem: &[u8],
        server_name: &str,
    ) -> Result<Self, ConfigError> {
        let tls = |message: String| ConfigError::Tls { message };
        let provider = Arc::new(aws_lc_rs::default_provider());
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca_pem) {
            let cert = cert.map_err(|e| tls(format!("cluster CA: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| tls(format!("cluster CA: {e}")))?;
        }
        if roots.is_empty() {
            return Err(tls("cluster CA: no certificate in the PEM".into()));
        }
        let chain = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| tls(format!("client certificate: {e}")))?;
        if chain.is_empty() {
            return Err(tls("client certificate: no certificate in the PEM".into()));
        }
        let key =
            PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| tls(format!("client key: {e}")))?;
        let verifier = NodeVerifier::new(roots, provider.clone())?;
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| tls(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_client_auth_cert(chain, key)
            .map_err(|e| tls(format!("client certificate and key: {e}")))?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        let server_name = ServerName::try_from(server_name.to_owned())
            .map_err(|e| tls(format!("tls_server_name {server_name:?}: {e}")))?;
        Ok(NodeConnector {
            tls: TlsConnector::from(Arc::new(config)),
            server_name,
        })
    }
}

impl Service<Uri> for NodeConnector {
    type Response = Connected;
    type Error = io::Error;
    type Future = Connecting;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let (tls, name) = (self.tls.clone(), self.server_name.clone());
        Box::pin(async move {
            let host = uri.host().unwrap_or_default();
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let port = uri.port_u16().unwrap_or(443);
            let tcp = TcpStream::connect((host, port)).await?;
            tcp.set_nodelay(true)?;
            let stream = tls.connect(name, tcp).await?;
            Ok(hyper_util::rt::TokioIo::new(stream))
        })
    }
}

/// rustls's WebPKI checks, then the node name.
#[derive(Debug)]
struct NodeVerifier {
    webpki: Arc<WebPkiServerVerifier>,
}

/// Why a valid certificate of the cluster CA was refused.
#[derive(Debug, thiserror::Error)]
#[error(
    "the server's certificate is not a Keyhold node certificate (no {NODE_URI_PREFIX}<id> name)"
)]
struct NotANode;

impl NodeVerifier {
    fn new(roots: RootCertStore, provider: Arc<CryptoProvider>) -> Result<Self, ConfigError> {
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| ConfigError::Tls {
                message: format!("cluster CA: {e}"),
            })?;
        Ok(NodeVerifier { webpki })
    }
}

impl ServerCertVerifier for NodeVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified = self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        if node_id_of(end_entity).is_none() {
            // `General` keeps the sentence readable in the error the caller sees.
            return Err(rustls::Error::General(NotANode.to_string()));
        }
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// The node id in a certificate's `keyhold://node/<id>` URI name, if it has one.
pub(crate) fn node_id_of(cert_der: &[u8]) -> Option<u64> {
    let (_, cert) = X509Certificate::from_der(cert_der).ok()?;
    let san = cert.subject_alternative_name().ok()??;
    san.value.general_names.iter().find_map(|name| match name {
        GeneralName::URI(uri) => uri.strip_prefix(NODE_URI_PREFIX)?.parse().ok(),
        _ => None,
    })
}
