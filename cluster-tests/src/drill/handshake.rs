//! The load's TLS handshakes, served as a web server whose certificate key is a cluster
//! key serves them: an in-process server on a loopback port the load owns (a `TlsSigner`,
//! a self-signed certificate made by the key, `keyhold_client::tls::accept`), and one
//! full handshake at a time from a rustls client that trusts only that certificate and
//! never resumes a session, so every handshake needs a cluster signature. The server
//! answers a known byte sequence, which the client checks, and tells the client why a
//! handshake failed on its side (the cluster's reason), so that each record names it.
//! The server side is `serve`'s; the loop that makes handshakes is left to `load`.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use keyhold_client::DEFAULT_ATTEMPT_TIMEOUT;
use keyhold_client::certs::{Subject, self_signed_pem};
use keyhold_client::rustls::client::Resumption;
use keyhold_client::rustls::crypto::{CryptoProvider, aws_lc_rs};
use keyhold_client::rustls::pki_types::pem::PemObject;
use keyhold_client::rustls::pki_types::{CertificateDer, ServerName};
use keyhold_client::rustls::{self, ClientConfig, RootCertStore};
use keyhold_client::tls::{DEFAULT_SIGN_DEADLINE, SignerOptions, TlsSigner, certified_key};
use keyhold_client::tokio_rustls::TlsConnector;
use serde::Serialize;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::record::{OpKind, OpRecord};
use super::{Clock, DrillError, round_ms};
use serve::{Failure, Notes, Outcome, serve, server_config};

mod serve;

/// What the server sends once a handshake is done; the client checks it byte for byte.
const ANSWER: &[u8] = b"keyhold drill handshake\n";
/// The name the client asks for; the certificate carries it.
const SERVER_NAME: &str = "localhost";
/// Bound on one handshake and its answer, on both sides: above the signer's deadline
/// (plus its grace), so that a handshake fails by the cluster's deadline, not by this.
const EXCHANGE_SLACK: Duration = Duration::from_secs(3);
/// How long the client waits for the server's side of a failed handshake.
const SERVER_NOTE_WAIT: Duration = Duration::from_secs(1);

/// How the load makes TLS handshakes.
#[derive(Clone, Debug)]
pub struct HandshakeOptions {
    /// Pause between two handshakes; one handshake at a time.
    pub pause: Duration,
    /// The signer's deadline for one handshake signature, retries on other nodes
    /// included; a handshake whose signature is not back by then fails.
    pub deadline: Duration,
    /// The client's `attempt_timeout`, before the signer caps it at a third of the
    /// deadline (`SignerOptions::attempt_bound`). The default is the client's, so the
    /// drill runs what a web server gets. Without the cap, one signature sent to a frozen
    /// node failed its handshake although two healthy nodes could sign (leader-freeze
    /// showed it).
    pub attempt_timeout: Duration,
}

impl HandshakeOptions {
    /// The signer's options for these handshakes.
    pub fn signer_options(&self) -> SignerOptions {
        SignerOptions {
            deadline: self.deadline,
            worker_threads: 1,
            ..SignerOptions::default()
        }
    }

    /// The bound on one attempt on one node that the signer actually uses.
    pub fn attempt_bound(&self) -> Duration {
        self.signer_options().attempt_bound(self.attempt_timeout)
    }
}

impl Default for HandshakeOptions {
    fn default() -> Self {
        HandshakeOptions {
            pause: Duration::from_millis(50),
            deadline: DEFAULT_SIGN_DEADLINE,
            attempt_timeout: DEFAULT_ATTEMPT_TIMEOUT,
        }
    }
}

/// What the report says about the handshake server.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HandshakeSetup {
    /// The cluster key whose signature each handshake needs.
    pub key_id: String,
    /// Where the server listened.
    pub addr: SocketAddr,
    /// The signer's deadline, in ms.
    pub deadline_ms: f64,
    /// The signer's bound on one attempt on one node, in ms.
    pub attempt_timeout_ms: f64,
}

/// The server and the client's configuration; the server stops when this drops.
pub(crate) struct HandshakeServer {
    setup: HandshakeSetup,
    connector: TlsConnector,
    limit: Duration,
    notes: Arc<Notes>,
    accept_loop: JoinHandle<()>,
}

impl HandshakeServer {
    /// Connects a signer with `config` (the load's cluster, through the client proxies),
    /// makes a self-signed certificate for `key_id` and starts serving on a free loopback
    /// port.
    pub(crate) async fn start(
        mut config: keyhold_client::ClientConfig,
        key_id: &str,
        options: &HandshakeOptions,
    ) -> Result<Self, DrillError> {
        let setup_failed = |what: &str, err: &dyn std::fmt::Display| {
            DrillError::Setup(format!("handshake server: {what}: {err}"))
        };
        config.attempt_timeout = options.attempt_timeout;
        let signer_options = options.signer_options();
        let config_attempt = options.attempt_bound();
        let signer = TlsSigner::connect(config, signer_options)
            .await
            .map_err(|err| setup_failed("signer", &err))?;
        let subject = Subject::new(SERVER_NAME).with_sans([SERVER_NAME, "127.0.0.1"]);
        let cert = self_signed_pem(&signer, key_id, &subject, 1)
            .await
            .map_err(|err| setup_failed("certificate", &err))?;
        let key = certified_key(&signer, key_id, cert.as_bytes())
            .await
            .map_err(|err| setup_failed("certified key", &err))?;

        let provider = Arc::new(aws_lc_rs::default_provider());
        let server = server_config(provider.clone(), key)
            .map_err(|err| setup_failed("server config", &err))?;
        let client = client_config(provider, cert.as_bytes())
            .map_err(|err| setup_failed("client config", &err))?;
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(|source| io_error("binding the handshake server", source))?;
        let addr = listener
            .local_addr()
            .map_err(|source| io_error("reading the handshake server's address", source))?;

        let limit = options.deadline + EXCHANGE_SLACK;
        let notes = Arc::new(Notes::default());
        let accept_loop = tokio::spawn(serve(listener, server, limit, notes.clone()));
        Ok(HandshakeServer {
            setup: HandshakeSetup {
                key_id: key_id.to_owned(),
                addr,
                deadline_ms: round_ms(options.deadline),
                attempt_timeout_ms: round_ms(config_attempt),
            },
            connector: TlsConnector::from(client),
            limit,
            notes,
            accept_loop,
        })
    }

    /// The server as the report shows it.
    pub(crate) fn setup(&self) -> &HandshakeSetup {
        &self.setup
    }

    /// One full handshake and its answer, recorded.
    pub(crate) async fn handshake(&self, clock: Clock) -> OpRecord {
        let start_ms = clock.now_ms();
        let outcome = self.exchange().await;
        let mut record = OpRecord::new(OpKind::Handshake, start_ms, clock.now_ms());
        record.key_id = Some(self.setup.key_id.clone());
        match outcome {
            Ok(()) => record.succeeded(None, None),
            Err(failure) => record.failed_with(&failure.class, failure.message),
        }
        record
    }

    /// Connects from a port registered with the server first, so that a failure on the
    /// server's side reaches this client.
    async fn exchange(&self) -> Outcome {
        let socket = TcpSocket::new_v4()
            .and_then(|s| s.bind((Ipv4Addr::LOCALHOST, 0).into()).map(|()| s))
            .map_err(|err| Failure::new("connect", format!("client socket: {err}")))?;
        let port = socket
            .local_addr()
            .map_err(|err| Failure::new("connect", format!("client socket: {err}")))?
            .port();
        let (tx, server_side) = oneshot::channel();
        self.notes.register(port, tx);

        let exchange = self.client_side(socket);
        let client_side = match tokio::time::timeout(self.limit, exchange).await {
            Ok(outcome) => outcome,
            Err(_) => Err(Failure::timed_out(self.limit)),
        };
        let server_side = match &client_side {
            Ok(()) => None,
            Err(_) => tokio::time::timeout(SERVER_NOTE_WAIT, server_side)
                .await
                .ok()
                .and_then(Result::ok),
        };
        self.notes.forget(port);
        match (client_side, server_side) {
            (Ok(()), _) => Ok(()),
            (Err(client), Some(Err(server))) => Err(server.with_client(&client)),
            (Err(client), _) => Err(client),
        }
    }

    async fn client_side(&self, socket: TcpSocket) -> Outcome {
        let tcp = socket
            .connect(self.setup.addr)
            .await
            .map_err(|err| Failure::new("connect", format!("client: connect: {err}")))?;
        let name = ServerName::try_from(SERVER_NAME)
            .map_err(|err| Failure::new("tls", format!("client: {err}")))?;
        let mut tls = self
            .connector
            .connect(name, tcp)
            .await
            .map_err(|err| Failure::new("tls", format!("client: handshake: {err}")))?;
        let mut answer = Vec::new();
        match tls.read_to_end(&mut answer).await {
            Ok(_) => {}
            // The answer counts even if the server closed without close_notify.
            Err(err) if err.kind() == io::ErrorKind::UnexpectedEof && answer == ANSWER => {}
            Err(err) => return Err(Failure::new("answer", format!("client: reading: {err}"))),
        }
        if answer != ANSWER {
            let got = String::from_utf8_lossy(&answer);
            return Err(Failure::new(
                "answer",
                format!("client: unexpected answer {got:?}"),
            ));
        }
        Ok(())
    }
}

impl Drop for HandshakeServer {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

/// The client: trusts only the server's self-signed certificate, never resumes.
fn client_config(
    provider: Arc<CryptoProvider>,
    cert_pem: &[u8],
) -> Result<Arc<ClientConfig>, rustls::Error> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(cert_pem) {
        let cert = cert.map_err(|err| rustls::Error::General(err.to_string()))?;
        roots.add(cert)?;
    }
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.resumption = Resumption::disabled();
    Ok(Arc::new(config))
}

fn io_error(what: &str, source: io::Error) -> DrillError {
    DrillError::Io {
        what: what.to_owned(),
        source,
    }
}
