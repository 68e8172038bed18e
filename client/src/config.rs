//! Client configuration: seed endpoints, TLS material, zone preference, timeouts and the
//! ejection policy, built in code or loaded from a TOML file. Building channels from it is
//! left to `node`.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use zeroize::Zeroizing;

use crate::error::{ConfigError, Error};

/// Default deadline of one call, retries included.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Default bound on one attempt of an idempotent call, so a frozen or black-holed node
/// costs this much, not the whole deadline, before the call moves to another node.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// Default bound on opening a connection (TCP and TLS handshake).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Default interval between refreshes of the node list.
pub const DEFAULT_DISCOVERY_INTERVAL: Duration = Duration::from_secs(10);
/// Default TLS server name: every node certificate carries `localhost`.
pub const DEFAULT_TLS_SERVER_NAME: &str = "localhost";

/// How to reach a cluster and how to behave when nodes fail.
///
/// ```no_run
/// use keyhold_client::ClientConfig;
///
/// # fn main() -> Result<(), keyhold_client::Error> {
/// // From a file: endpoints = [...], ca = "ca.pem", cert = "client.pem", key = "client.key"
/// let config = ClientConfig::from_file("/etc/keyhold/client.toml".as_ref())?;
///
/// // Or in code.
/// let mut config = ClientConfig::new(
///     vec!["https://127.0.0.1:7101".into()],
///     std::fs::read("ca.pem").unwrap_or_default(),
///     std::fs::read("client.pem").unwrap_or_default(),
///     std::fs::read("client.key").unwrap_or_default(),
/// );
/// config.availability_zone = Some("az-a".into());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct ClientConfig {
    /// Seed endpoints (`https://host:port`; a bare `host:port` means https). Discovery
    /// adds every other node of the cluster.
    pub endpoints: Vec<String>,
    /// PEM of the cluster CA that signed the node certificates.
    pub ca_pem: Vec<u8>,
    /// PEM of this client's certificate, signed by the cluster CA.
    pub cert_pem: Vec<u8>,
    /// PEM of this client's private key; wiped from memory on drop, never printed.
    pub key_pem: Zeroizing<Vec<u8>>,
    /// Name checked against the node certificates; `localhost` when unset. Node
    /// certificates carry `localhost` and `node-<id>`.
    pub tls_server_name: Option<String>,
    /// Prefer nodes in this availability zone while one of them is healthy.
    pub availability_zone: Option<String>,
    /// Deadline of one call, retries included.
    pub call_timeout: Duration,
    /// Bound on one attempt of an idempotent call (sign, decrypt, reads) on one node;
    /// writes always get the whole `call_timeout`, since their outcome must not be
    /// guessed. Default 2 s.
    pub attempt_timeout: Duration,
    /// Bound on opening one connection (TCP connect and TLS handshake).
    pub connect_timeout: Duration,
    /// How often to refresh the node list from `ClusterStatus`; `None` uses the seed
    /// endpoints only and never asks for the node list.
    pub discovery_interval: Option<Duration>,
    /// When to stop sending requests to a failing node, and when to try it again.
    pub ejection: EjectionPolicy,
}

/// When a failing node is ejected and how long it stays out.
///
/// After `consecutive_failures` failures in a row (connection errors, `UNAVAILABLE`,
/// deadline) a node gets no requests for `base_backoff`; then a cheap `ClusterStatus`
/// probe decides whether it comes back. Each failed probe, and each failure right after a
/// node came back, doubles the time out up to `max_backoff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EjectionPolicy {
    /// Failures in a row that eject a node.
    pub consecutive_failures: u32,
    /// First time out of rotation.
    pub base_backoff: Duration,
    /// Longest time out of rotation.
    pub max_backoff: Duration,
}

impl Default for EjectionPolicy {
    fn default() -> Self {
        EjectionPolicy {
            consecutive_failures: 3,
            base_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
        }
    }
}

/// The TOML form read by [`ClientConfig::from_file`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    endpoints: Vec<String>,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    availability_zone: Option<String>,
    timeout_ms: Option<u64>,
    connect_timeout_ms: Option<u64>,
    attempt_timeout_ms: Option<u64>,
    tls_server_name: Option<String>,
    discovery: Option<bool>,
}

impl ClientConfig {
    /// A configuration with the given seeds and TLS material and default settings.
    pub fn new(
        endpoints: Vec<String>,
        ca_pem: Vec<u8>,
        cert_pem: Vec<u8>,
        key_pem: Vec<u8>,
    ) -> Self {
        ClientConfig {
            endpoints,
            ca_pem,
            cert_pem,
            key_pem: Zeroizing::new(key_pem),
            tls_server_name: None,
            availability_zone: None,
            call_timeout: DEFAULT_CALL_TIMEOUT,
            attempt_timeout: DEFAULT_ATTEMPT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            discovery_interval: Some(DEFAULT_DISCOVERY_INTERVAL),
            ejection: EjectionPolicy::default(),
        }
    }

    /// Loads a TOML file:
    ///
    /// ```toml
    /// endpoints = ["https://127.0.0.1:7101", "https://127.0.0.1:7102"]
    /// ca = "pki/ca.pem"             # relative paths start at this file's directory
    /// cert = "pki/client.pem"
    /// key = "pki/client.key"
    /// availability_zone = "az-a"    # optional
    /// timeout_ms = 5000             # optional, call deadline
    /// connect_timeout_ms = 2000     # optional
    /// attempt_timeout_ms = 2000     # optional, one attempt of a sign or read
    /// tls_server_name = "localhost" # optional
    /// discovery = false             # optional: use only these endpoints (NAT, port-forward)
    /// ```
    pub fn from_file(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let file: FileConfig = toml::from_str(&text).map_err(|err| ConfigError::Parse {
            path: path.to_owned(),
            message: err.message().to_owned(),
        })?;
        let base = path.parent().unwrap_or(Path::new(""));

        let mut config = ClientConfig::new(
            file.endpoints,
            read_file(&base.join(&file.ca))?,
            read_file(&base.join(&file.cert))?,
            Vec::new(),
        );
        config.key_pem = read_secret(&base.join(&file.key))?;
        config.availability_zone = file.availability_zone.filter(|az| !az.is_empty());
        config.tls_server_name = file.tls_server_name.filter(|name| !name.is_empty());
        if let Some(ms) = file.timeout_ms {
            config.call_timeout = Duration::from_millis(ms);
        }
        if let Some(ms) = file.connect_timeout_ms {
            config.connect_timeout = Duration::from_millis(ms);
        }
        if let Some(ms) = file.attempt_timeout_ms {
            config.attempt_timeout = Duration::from_millis(ms);
        }
        if file.discovery == Some(false) {
            config.discovery_interval = None;
        }
        Ok(config)
    }

    /// The TLS server name to verify node certificates against.
    pub(crate) fn server_name(&self) -> &str {
        self.tls_server_name
            .as_deref()
            .unwrap_or(DEFAULT_TLS_SERVER_NAME)
    }
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("endpoints", &self.endpoints)
            .field("ca_pem", &format_args!("<{} bytes>", self.ca_pem.len()))
            .field("cert_pem", &format_args!("<{} bytes>", self.cert_pem.len()))
            .field("key_pem", &format_args!("<redacted>"))
            .field("tls_server_name", &self.server_name())
            .field("availability_zone", &self.availability_zone)
            .field("call_timeout", &self.call_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("discovery_interval", &self.discovery_interval)
            .field("ejection", &self.ejection)
            .finish()
    }
}

/// Turns a configured endpoint or a node's `host:port` into `https://host:port`.
/// Plain http is refused: every node requires mutual TLS.
pub(crate) fn normalize_endpoint(endpoint: &str) -> Result<String, ConfigError> {
    let trimmed = endpoint.trim().trim_end_matches('/');
    let invalid = |reason: &str| ConfigError::InvalidEndpoint {
        endpoint: endpoint.to_owned(),
        reason: reason.to_owned(),
    };
    let authority = match trimmed.split_once("://") {
        Some(("https", rest)) => rest,
        Some(("http", _)) => return Err(invalid("plain http: nodes require https (mutual TLS)")),
        Some(_) => return Err(invalid("the scheme must be https")),
        None => trimmed,
    };
    if authority.is_empty() || authority.contains('/') {
        return Err(invalid("expected host:port"));
    }
    if let Ok(addr) = authority.parse::<SocketAddr>()
        && addr.ip().is_unspecified()
    {
        return Err(invalid(
            "an unspecified address (0.0.0.0 or ::) cannot be dialled",
        ));
    }
    Ok(format!("https://{authority}"))
}

fn read_file(path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })
}

fn read_secret(path: &Path) -> Result<Zeroizing<Vec<u8>>, ConfigError> {
    read_file(path).map(Zeroizing::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::create_dir_all(dir.join(name).parent().unwrap()).unwrap();
        std::fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn from_file_resolves_relative_paths_against_the_file_directory() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "pki/ca.pem", "CA");
        write(dir.path(), "pki/client.pem", "CERT");
        write(dir.path(), "pki/client.key", "SECRET-KEY");
        let toml = r#"
            endpoints = ["https://127.0.0.1:7101", "127.0.0.1:7102"]
            ca = "pki/ca.pem"
            cert = "pki/client.pem"
            key = "pki/client.key"
            availability_zone = "az-b"
            timeout_ms = 1500
            tls_server_name = "node-1"
            discovery = false
        "#;
        write(dir.path(), "client.toml", toml);

        let config = ClientConfig::from_file(&dir.path().join("client.toml")).unwrap();
        assert_eq!(
            config.endpoints,
            ["https://127.0.0.1:7101", "127.0.0.1:7102"]
        );
        assert_eq!(config.ca_pem, b"CA");
        assert_eq!(config.cert_pem, b"CERT");
        assert_eq!(config.key_pem.as_slice(), b"SECRET-KEY");
        assert_eq!(config.availability_zone.as_deref(), Some("az-b"));
        assert_eq!(config.call_timeout, Duration::from_millis(1500));
        assert_eq!(config.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
        assert_eq!(config.server_name(), "node-1");
        assert_eq!(
            config.discovery_interval, None,
            "discovery = false keeps the seeds only"
        );
    }

    #[test]
    fn from_file_accepts_absolute_paths_and_applies_defaults() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "ca.pem", "CA");
        write(dir.path(), "c.pem", "CERT");
        write(dir.path(), "c.key", "KEY");
        let abs = |name: &str| dir.path().join(name).display().to_string();
        let toml = format!(
            "endpoints = [\"127.0.0.1:7101\"]\nca = {:?}\ncert = {:?}\nkey = {:?}\n",
            abs("ca.pem"),
            abs("c.pem"),
            abs("c.key"),
        );
        write(dir.path(), "sub/client.toml", &toml);

        let config = ClientConfig::from_file(&dir.path().join("sub/client.toml")).unwrap();
        assert_eq!(config.ca_pem, b"CA");
        assert_eq!(config.availability_zone, None);
        assert_eq!(config.call_timeout, DEFAULT_CALL_TIMEOUT);
        assert_eq!(config.server_name(), DEFAULT_TLS_SERVER_NAME);
        assert_eq!(config.discovery_interval, Some(DEFAULT_DISCOVERY_INTERVAL));
    }

    #[test]
    fn from_file_names_the_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let toml = "endpoints = [\"127.0.0.1:1\"]\nca = \"nope.pem\"\ncert = \"c\"\nkey = \"k\"\n";
        write(dir.path(), "client.toml", toml);
        let err = ClientConfig::from_file(&dir.path().join("client.toml")).unwrap_err();
        let Error::Config(ConfigError::Read { path, .. }) = &err else {
            panic!("unexpected {err:?}");
        };
        assert_eq!(path, &dir.path().join("nope.pem"));
    }

    #[test]
    fn from_file_rejects_unknown_fields() {
        let dir = tempfile::tempdir().unwrap();
        let toml = "endpoints = []\nca = \"a\"\ncert = \"c\"\nkey = \"k\"\ntimeout = 3\n";
        write(dir.path(), "client.toml", toml);
        let err = ClientConfig::from_file(&dir.path().join("client.toml")).unwrap_err();
        let Error::Config(ConfigError::Parse { message, .. }) = &err else {
            panic!("unexpected {err:?}");
        };
        assert!(message.contains("timeout"), "{message}");
    }

    #[test]
    fn debug_output_never_shows_the_private_key() {
        let config = ClientConfig::new(
            vec!["https://127.0.0.1:7101".into()],
            b"CA".to_vec(),
            b"CERT".to_vec(),
            b"-----BEGIN PRIVATE KEY----- SECRET".to_vec(),
        );
        let text = format!("{config:?}");
        assert!(!text.contains("SECRET"), "{text}");
        assert!(text.contains("<redacted>"), "{text}");
    }

    #[test]
    fn endpoints_are_normalized_to_https() {
        assert_eq!(
            normalize_endpoint("127.0.0.1:7101").unwrap(),
            "https://127.0.0.1:7101"
        );
        assert_eq!(
            normalize_endpoint("https://node-1:7101/").unwrap(),
            "https://node-1:7101"
        );
        for bad in [
            "http://127.0.0.1:7101",
            "ftp://x:1",
            "",
            "0.0.0.0:7101",
            "[::]:7101",
        ] {
            assert!(normalize_endpoint(bad).is_err(), "{bad}");
        }
    }
}
