//! The server side of the load's handshakes: the rustls configuration (the cluster key's
//! certificate, nothing to resume a session with), the accept loop with one task per
//! connection, and how a failed handshake is classified. The server's outcome of each
//! handshake goes to the client that registered its port in [`Notes`].

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use keyhold_client::rustls::crypto::CryptoProvider;
use keyhold_client::rustls::server::NoServerSessionStorage;
use keyhold_client::rustls::sign::{CertifiedKey, SingleCertAndKey};
use keyhold_client::rustls::{self, ServerConfig};
use keyhold_client::tls::{TlsKeyError, accept};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use super::ANSWER;
use crate::drill::record;

/// Pause after a failed accept before the next.
const ACCEPT_RETRY: Duration = Duration::from_millis(10);

/// Why a handshake failed: a class like a client error's, and the text.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Failure {
    pub(super) class: String,
    pub(super) message: String,
}

/// How one handshake ended on one side.
pub(super) type Outcome = Result<(), Failure>;

/// The server's outcome of each handshake, sent to the client that registered its port.
#[derive(Default)]
pub(super) struct Notes(Mutex<HashMap<u16, oneshot::Sender<Outcome>>>);

impl Failure {
    pub(super) fn new(class: &str, message: String) -> Self {
        Failure {
            class: class.to_owned(),
            message,
        }
    }

    pub(super) fn timed_out(limit: Duration) -> Self {
        Failure::new(
            "timeout",
            format!("no handshake and answer within {limit:?}"),
        )
    }

    /// The server's failure, which names the cause, with what the client saw.
    pub(super) fn with_client(self, client: &Failure) -> Self {
        let message = format!("{}; {}", self.message, client.message);
        Failure { message, ..self }
    }

    /// Classifies a failed server-side handshake: the signer's reason when the
    /// signature failed, else a timeout or a TLS error.
    fn from_server(err: &io::Error) -> Self {
        if let Some(key_err) = signing_error(err) {
            let class = match key_err {
                TlsKeyError::Cluster { source, .. } => record::error_class(source),
                TlsKeyError::DeadlineExceeded { .. } => "deadline-exceeded",
                TlsKeyError::Overloaded { .. } => "overloaded",
                _ => "signature",
            };
            return Failure::new(class, format!("server: signature: {key_err}"));
        }
        let class = match err.kind() {
            io::ErrorKind::TimedOut => "timeout",
            _ => "tls",
        };
        Failure::new(class, format!("server: {err}"))
    }
}

impl Notes {
    pub(super) fn register(&self, port: u16, tx: oneshot::Sender<Outcome>) {
        self.lock().insert(port, tx);
    }

    pub(super) fn forget(&self, port: u16) {
        self.lock().remove(&port);
    }

    pub(super) fn tell(&self, port: u16, outcome: Outcome) {
        if let Some(tx) = self.lock().remove(&port) {
            let _ = tx.send(outcome);
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u16, oneshot::Sender<Outcome>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The signer's error inside a failed handshake, if the signature is what failed:
/// rustls carries it as `Error::Other`, tokio-rustls wraps that in an `io::Error`.
fn signing_error(err: &io::Error) -> Option<&TlsKeyError> {
    let tls = err.get_ref()?.downcast_ref::<rustls::Error>()?;
    let rustls::Error::Other(other) = tls else {
        return None;
    };
    other.0.downcast_ref::<TlsKeyError>()
}

/// Accepts connections until aborted; each handshake on its own task, as a server would.
pub(super) async fn serve(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    limit: Duration,
    notes: Arc<Notes>,
) {
    loop {
        let Ok((tcp, peer)) = listener.accept().await else {
            // Out of descriptors, say: the client's connect fails and is recorded.
            tokio::time::sleep(ACCEPT_RETRY).await;
            continue;
        };
        tokio::spawn(connection(tcp, peer, config.clone(), limit, notes.clone()));
    }
}

async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    config: Arc<ServerConfig>,
    limit: Duration,
    notes: Arc<Notes>,
) {
    let outcome = match accept(tcp, config, limit).await {
        Ok(mut stream) => {
            let answered = async {
                stream.write_all(ANSWER).await?;
                stream.shutdown().await
            };
            let answered = answered.await;
            answered.map_err(|err| Failure::new("answer", format!("server: writing: {err}")))
        }
        Err(err) => Err(Failure::from_server(&err)),
    };
    notes.tell(peer.port(), outcome);
}

/// The server: the cluster key's certificate, no session tickets or cache, so a client
/// cannot resume and skip the signature.
pub(super) fn server_config(
    provider: Arc<CryptoProvider>,
    key: Arc<CertifiedKey>,
) -> Result<Arc<ServerConfig>, rustls::Error> {
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SingleCertAndKey::from(key)));
    config.session_storage = Arc::new(NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyhold_client::rustls::OtherError;

    fn wrapped(err: TlsKeyError) -> io::Error {
        let tls = rustls::Error::Other(OtherError(Arc::new(err)));
        io::Error::new(io::ErrorKind::InvalidData, tls)
    }

    #[test]
    fn a_failed_signature_is_classified_by_the_signers_reason() {
        let late = wrapped(TlsKeyError::DeadlineExceeded {
            key_id: "k-1".into(),
            deadline: Duration::from_secs(2),
        });
        let failure = Failure::from_server(&late);
        assert_eq!(failure.class, "deadline-exceeded");
        assert!(
            failure.message.starts_with("server: signature: key k-1"),
            "{failure:?}"
        );

        let busy = wrapped(TlsKeyError::Overloaded {
            key_id: "k-1".into(),
            limit: 256,
        });
        assert_eq!(Failure::from_server(&busy).class, "overloaded");
    }

    #[test]
    fn a_server_timeout_or_tls_error_keeps_its_own_class() {
        let slow = io::Error::new(io::ErrorKind::TimedOut, "TLS handshake not done");
        assert_eq!(Failure::from_server(&slow).class, "timeout");
        let tls = io::Error::new(io::ErrorKind::InvalidData, rustls::Error::DecryptError);
        assert_eq!(Failure::from_server(&tls).class, "tls");
    }

    #[test]
    fn the_servers_reason_leads_and_keeps_what_the_client_saw() {
        let server = Failure::new("unavailable", "server: signature: no quorum".into());
        let client = Failure::new("tls", "client: handshake: alert".into());
        let merged = server.with_client(&client);
        assert_eq!(merged.class, "unavailable");
        assert_eq!(
            merged.message,
            "server: signature: no quorum; client: handshake: alert"
        );
    }

    #[test]
    fn a_registered_port_hears_the_servers_outcome_once() {
        let notes = Notes::default();
        let (tx, mut rx) = oneshot::channel();
        notes.register(4242, tx);
        notes.tell(4242, Err(Failure::new("tls", "server: bad".into())));
        notes.tell(4242, Ok(()));
        let heard = rx.try_recv().unwrap();
        assert_eq!(heard, Err(Failure::new("tls", "server: bad".into())));
        assert!(notes.lock().is_empty());
    }
}
