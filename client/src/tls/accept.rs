//! [`accept`]: the server side of a handshake whose key is in the cluster, written so that
//! the signature's round trip never blocks the server's runtime, whatever its flavor.
//!
//! rustls signs while it processes the ClientHello. `tokio_rustls::LazyConfigAcceptor`
//! reads the ClientHello asynchronously; `StartHandshake::into_stream` then processes it,
//! signature included, synchronously. Running that one call on tokio's blocking pool
//! leaves the runtime free: handshakes wait for their signatures side by side, even on a
//! current-thread runtime. The rest of the handshake is async again.
//!
//! LIMITATION: after a HelloRetryRequest (the client's key share is for a group the
//! server does not offer) the signature is made while the second ClientHello is read, in
//! the async part: the calling thread then waits as described in the module
//! documentation (`block_in_place` on a multi-thread runtime, a plain wait on a
//! current-thread one). rustls offers no hook to move that step.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use rustls::server::Acceptor;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{Instant, timeout_at};
use tokio_rustls::LazyConfigAcceptor;
use tokio_rustls::server::TlsStream;

/// Runs a server-side TLS handshake on `stream` with `config`, the whole of it bounded by
/// `limit`, with the cluster signature on tokio's blocking pool.
///
/// Errors are `io::Error`s whose text says what failed: a timeout
/// (`ErrorKind::TimedOut`), the peer, or the signature (the cluster's reason, from
/// [`TlsKeyError`](super::TlsKeyError)).
///
/// ```no_run
/// # use std::sync::Arc;
/// # async fn serve(listener: tokio::net::TcpListener, tls: Arc<rustls::ServerConfig>) {
/// use std::time::Duration;
/// loop {
///     let Ok((tcp, peer)) = listener.accept().await else { continue };
///     let tls = tls.clone();
///     tokio::spawn(async move {
///         match keyhold_client::tls::accept(tcp, tls, Duration::from_secs(10)).await {
///             Ok(stream) => { /* serve HTTP on `stream` */ }
///             Err(err) => tracing::warn!(%peer, error = %err, "TLS handshake failed"),
///         }
///     });
/// }
/// # }
/// ```
pub async fn accept<IO>(
    stream: IO,
    config: Arc<ServerConfig>,
    limit: Duration,
) -> io::Result<TlsStream<IO>>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let deadline = Instant::now() + limit;
    let timed_out = |stage: &str| {
        let message = format!("TLS handshake not done within {limit:?} ({stage})");
        io::Error::new(io::ErrorKind::TimedOut, message)
    };

    let lazy = LazyConfigAcceptor::new(Acceptor::default(), stream);
    let start = timeout_at(deadline, lazy)
        .await
        .map_err(|_| timed_out("waiting for the ClientHello"))??;

    // The ClientHello is processed, and the handshake signed, inside `into_stream`.
    let signing = tokio::task::spawn_blocking(move || start.into_stream(config));
    let handshake = timeout_at(deadline, signing)
        .await
        .map_err(|_| timed_out("signing"))?
        .map_err(|err| io::Error::other(format!("the signing task failed: {err}")))?;

    timeout_at(deadline, handshake)
        .await
        .map_err(|_| timed_out("finishing"))?
}
