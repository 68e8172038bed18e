//! TLS handshake offload: a rustls signing key whose private half stays in the cluster.
//! A web server keeps its certificate; the one private-key operation of each handshake
//! is a `Sign` call to any node.
//!
//! - [`TlsSigner`] (`signer`): a cluster client on a runtime of its own, and the
//!   synchronous, deadline-bounded signature rustls needs;
//! - [`ClusterSigningKey`] (`key`): the `rustls::sign::SigningKey`, offering the TLS
//!   schemes of its key type (ECDSA P-256 and P-384, Ed25519, RSA-PSS and PKCS#1 v1.5);
//! - [`certified_key`] (`certified`): fetches the key and pairs it with a certificate
//!   chain, refusing a certificate of another key or a key that cannot sign;
//! - [`accept`] (`accept`): the recommended server-side handshake;
//! - [`TlsKeyError`] (`error`).
//!
//! # Runtime requirements
//!
//! rustls calls `Signer::sign` synchronously in the middle of a handshake; rustls 0.23
//! has no asynchronous signing. The adapter therefore sends each signature to the
//! [`TlsSigner`]'s own multi-thread runtime (where its cluster client lives) and blocks
//! the calling thread on a channel, at most [`SignerOptions::deadline`] plus 0.4 s.
//! Nothing it waits for runs on the caller's runtime, so it cannot deadlock, whatever
//! runtime drives the handshake. What the wait costs depends on that thread, while a
//! signature is in flight (one round trip):
//!
//! - handshake driven by [`accept`], any runtime: a blocking-pool thread waits; the
//!   runtime keeps serving and handshakes wait side by side;
//! - `TlsAcceptor::accept` on a multi-thread runtime: the worker calls `block_in_place`,
//!   its other tasks move to another thread; handshakes wait side by side;
//! - `TlsAcceptor::accept` on a current-thread runtime: the runtime's only thread blocks,
//!   so handshakes are signed one after another and nothing else runs meanwhile;
//! - a plain thread (a synchronous server): that thread blocks.
//!
//! Use [`accept`] (or its pattern: `LazyConfigAcceptor`, then `into_stream` inside
//! `spawn_blocking`) in servers. Each waiting handshake holds a thread; at most
//! [`SignerOptions::max_in_flight`] wait at once, and one more fails at once with
//! [`TlsKeyError::Overloaded`] instead of piling up threads. A `LocalSet` on a
//! multi-thread runtime is not supported by the `block_in_place` path: use [`accept`].
//!
//! # Deadline and failures
//!
//! Each signature is one `Sign` call with the client's failover: a node that fails is
//! skipped and the call retried on another, all within [`SignerOptions::deadline`]
//! (default 2 s). When the deadline passes, or the cluster refuses (unknown key, key
//! without sign usage, sealed everywhere), the signature fails, the adapter logs a
//! warning with the key id and the reason, and rustls aborts that handshake with an alert;
//! the server goes on serving other connections. With every node down, each handshake
//! fails after the deadline; once a node answers again, handshakes succeed again with
//! nothing to restart (ejected nodes are still tried when no other node is left).
//! Successful signatures are logged at `debug` only.
//!
//! A key made a moment ago through another client may not be applied on every node yet:
//! [`certified_key`] asks again for up to a second before it believes a NotFound, and
//! each signature carries the key's creation index, so a node that lags waits for it.
//!
//! ```no_run
//! use std::sync::Arc;
//! use keyhold_client::ClientConfig;
//! use keyhold_client::tls::{SignerOptions, TlsSigner, accept, certified_key};
//! use rustls::sign::SingleCertAndKey;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = ClientConfig::from_file("client.toml".as_ref())?;
//! let signer = TlsSigner::connect(config, SignerOptions::default()).await?;
//! let chain = std::fs::read("www.pem")?;
//! let key = certified_key(&signer, "k-3f9a0c1e2b4d5f60", &chain).await?;
//! let tls = Arc::new(
//!     rustls::ServerConfig::builder()
//!         .with_no_client_auth()
//!         .with_cert_resolver(Arc::new(SingleCertAndKey::from(key))),
//! );
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8443").await?;
//! let (tcp, _) = listener.accept().await?;
//! let stream = accept(tcp, tls, std::time::Duration::from_secs(10)).await?;
//! # drop(stream);
//! # Ok(())
//! # }
//! ```

mod accept;
mod certified;
mod error;
mod key;
mod signer;

pub use accept::accept;
pub use certified::{certified_key, fetch_signing_key};
pub use error::TlsKeyError;
pub use key::{ClusterSigningKey, KeyAlgorithm};
pub use signer::{
    DEFAULT_MAX_IN_FLIGHT, DEFAULT_SIGN_DEADLINE, DEFAULT_SIGNER_THREADS, SignerOptions, TlsSigner,
};
