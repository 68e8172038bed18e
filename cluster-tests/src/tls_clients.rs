//! Three independent TLS clients for HTTPS servers under test: rustls (in-process, with a
//! choice of protocol version and of the signature schemes it offers), the system `curl`
//! and `openssl s_client`. Each sends `GET /` for `localhost` and returns the body, or the
//! client's own error text.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use keyhold_client::rustls::client::WebPkiServerVerifier;
use keyhold_client::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use keyhold_client::rustls::crypto::aws_lc_rs;
use keyhold_client::rustls::pki_types::pem::PemObject;
use keyhold_client::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use keyhold_client::rustls::version::{TLS12, TLS13};
use keyhold_client::rustls::{
    self, ClientConfig, ClientConnection, DigitallySignedStruct, ProtocolVersion, RootCertStore,
    SignatureScheme, StreamOwned, SupportedProtocolVersion,
};

/// The request every client sends.
const REQUEST: &str = "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
/// Bound on one client's whole exchange.
const CLIENT_LIMIT: Duration = Duration::from_secs(15);

/// A TLS protocol version to insist on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tls {
    /// TLS 1.2 only.
    V12,
    /// TLS 1.3 only.
    V13,
}

impl Tls {
    fn rustls(self) -> &'static SupportedProtocolVersion {
        match self {
            Tls::V12 => &TLS12,
            Tls::V13 => &TLS13,
        }
    }

    fn protocol(self) -> ProtocolVersion {
        match self {
            Tls::V12 => ProtocolVersion::TLSv1_2,
            Tls::V13 => ProtocolVersion::TLSv1_3,
        }
    }
}

/// `GET /` over rustls with `version`, trusting only `ca_pem`. `schemes` replaces the
/// signature schemes the client offers. Returns the body; checks the negotiated version.
pub fn rustls_get(
    addr: SocketAddr,
    ca_pem: &Path,
    version: Tls,
    schemes: Option<&[SignatureScheme]>,
) -> Result<String, String> {
    let config = rustls_config(ca_pem, version, schemes)?;
    let tcp = TcpStream::connect_timeout(&addr, CLIENT_LIMIT).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(CLIENT_LIMIT))
        .map_err(|e| e.to_string())?;
    tcp.set_write_timeout(Some(CLIENT_LIMIT))
        .map_err(|e| e.to_string())?;
    let name = ServerName::try_from("localhost").map_err(|e| e.to_string())?;
    let conn = ClientConnection::new(config, name).map_err(|e| e.to_string())?;
    let mut tls = StreamOwned::new(conn, tcp);

    tls.write_all(REQUEST.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    match tls.read_to_end(&mut response) {
        Ok(_) => {}
        // A server may close without close_notify once the response is complete.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !response.is_empty() => {}
        Err(e) => return Err(e.to_string()),
    }
    let negotiated = tls.conn.protocol_version();
    if negotiated != Some(version.protocol()) {
        return Err(format!("negotiated {negotiated:?}, wanted {version:?}"));
    }
    http_body(&String::from_utf8_lossy(&response))
}

/// `GET /` with the system curl, forcing `version`.
pub fn curl_get(addr: SocketAddr, ca_pem: &Path, version: Tls) -> Result<String, String> {
    let port = addr.port();
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "15", "--cacert"])
        .arg(ca_pem)
        .args(["--resolve", &format!("localhost:{port}:127.0.0.1")]);
    match version {
        Tls::V12 => cmd.args(["--tlsv1.2", "--tls-max", "1.2"]),
        Tls::V13 => cmd.args(["--tlsv1.3"]),
    };
    cmd.arg(format!("https://localhost:{port}/"));
    let out = cmd.output().map_err(|e| format!("curl: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// What `openssl s_client` saw.
#[derive(Debug, Clone)]
pub struct OpensslSession {
    /// The HTTP body.
    pub body: String,
    /// The `Peer signature type` it reports (`ECDSA`, `Ed25519`, `RSA-PSS`, ...).
    pub peer_signature_type: String,
    /// Everything it printed.
    pub output: String,
}

/// `GET /` with `openssl s_client`, forcing `version`, verifying the chain against
/// `ca_pem` and the name `localhost`; `extra` options go last (for example `-sigalgs`
/// to restrict the signature schemes it offers, `-groups` its key exchange groups).
pub fn openssl_get(
    addr: SocketAddr,
    ca_pem: &Path,
    version: Tls,
    extra: &[&str],
) -> Result<OpensslSession, String> {
    let mut cmd = Command::new("timeout");
    cmd.args(["15", "openssl", "s_client", "-connect", &addr.to_string()])
        .args(["-servername", "localhost", "-verify_hostname", "localhost"])
        .args(["-verify_return_error", "-ign_eof", "-CAfile"])
        .arg(ca_pem)
        .arg(match version {
            Tls::V12 => "-tls1_2",
            Tls::V13 => "-tls1_3",
        });
    cmd.args(extra);
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("openssl: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(REQUEST.as_bytes())
            .map_err(|e| e.to_string())?;
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() || !output.contains("Verify return code: 0 (ok)") {
        return Err(output);
    }
    let peer_signature_type = output
        .lines()
        .find_map(|l| l.trim().strip_prefix("Peer signature type: "))
        .unwrap_or_default()
        .to_owned();
    Ok(OpensslSession {
        body: http_body(&output)?,
        peer_signature_type,
        output,
    })
}

/// The body of an HTTP/1.1 200 response found in `text`, by its `content-length`.
fn http_body(text: &str) -> Result<String, String> {
    let start = text
        .find("HTTP/1.1 200")
        .ok_or_else(|| format!("no 200 response in {text:?}"))?;
    let response = &text[start..];
    let (head, rest) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no body in {response:?}"))?;
    let length = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .ok_or_else(|| format!("no content-length in {head:?}"))?;
    rest.get(..length)
        .map(str::to_owned)
        .ok_or_else(|| format!("body shorter than {length} bytes: {rest:?}"))
}

fn rustls_config(
    ca_pem: &Path,
    version: Tls,
    schemes: Option<&[SignatureScheme]>,
) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_pem).map_err(|e| e.to_string())? {
        roots
            .add(cert.map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    }
    let provider = Arc::new(aws_lc_rs::default_provider());
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| e.to_string())?;
    let schemes = match schemes {
        Some(schemes) => schemes.to_vec(),
        None => webpki.supported_verify_schemes(),
    };
    let verifier = Arc::new(OfferOnly { webpki, schemes });
    let config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[version.rustls()])
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// WebPKI verification, offering only some signature schemes.
#[derive(Debug)]
struct OfferOnly {
    webpki: Arc<WebPkiServerVerifier>,
    schemes: Vec<SignatureScheme>,
}

impl ServerCertVerifier for OfferOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
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
        self.schemes.clone()
    }
}
