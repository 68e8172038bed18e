//! Keyhold client: a thin async client for a Keyhold cluster, the library a web server or
//! a tool links to sign, decrypt and manage keys.
//!
//! - [`Client`] (`client`): the calls, with read-your-writes;
//! - [`ClientConfig`] (`config`): seeds, TLS material, zone preference, timeouts;
//! - [`Error`] (`error`, `status`): typed failures that name the node and say if a retry
//!   may help;
//! - [`tls`]: the rustls signing key for TLS handshake offload;
//! - `certs` (feature `certs`): CSRs and certificates for cluster keys;
//! - `call`: the retry loop and its rule; `pool`: node choice; `node`: one node's channel
//!   and ejection state; `connector`: TLS that accepts only node certificates; `discovery`: node-list refresh and probes of ejected nodes.
//!
//! ```no_run
//! use keyhold_client::{Client, ClientConfig};
//! use keyhold_proto::v1::ListKeysRequest;
//!
//! # async fn run() -> Result<(), keyhold_client::Error> {
//! let client = Client::connect(ClientConfig::from_file("client.toml".as_ref())?).await?;
//! let page = client.list_keys(ListKeysRequest::default()).await?;
//! for key in page.keys {
//!     println!("{} {} {}", key.id, key.algorithm, key.label);
//! }
//! # Ok(())
//! # }
//! ```

mod call;
#[cfg(feature = "certs")]
pub mod certs;
mod client;
mod config;
mod connector;
mod discovery;
mod error;
mod node;
mod pool;
mod status;
#[cfg(test)]
mod testkit;
pub mod tls;

pub use client::Client;
pub use config::{
    ClientConfig, DEFAULT_ATTEMPT_TIMEOUT, DEFAULT_CALL_TIMEOUT, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_DISCOVERY_INTERVAL, DEFAULT_TLS_SERVER_NAME, EjectionPolicy,
};
pub use error::{ConfigError, Error, Origin};
/// The wire types, re-exported so callers need not depend on `keyhold-proto` directly.
pub use keyhold_proto::v1;
/// rustls and tokio-rustls as the adapter uses them, so that a server links the same
/// versions.
pub use {rustls, tokio_rustls};
