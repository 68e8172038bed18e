//! Node configuration: a TOML file, overridden by `KEYHOLD_*` environment variables and
//! command-line flags (in that order of precedence, flags last). Relative paths in the
//! file resolve against the file's directory.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// A fully resolved node configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// This node's id (positive, unique in the cluster).
    pub node_id: u64,
    /// Availability zone name.
    pub availability_zone: String,
    /// Client API listen address, `IP:port` (also advertised unless `advertise_api_addr`).
    pub api_addr: String,
    /// Node-to-node listen address, `IP:port` (advertised unless `advertise_raft_addr`).
    pub raft_addr: String,
    /// Client API address other parties should use, `host:port`; default `api_addr`.
    /// Needed when listening on `0.0.0.0` (containers).
    #[serde(default)]
    pub advertise_api_addr: Option<String>,
    /// Node-to-node address peers should use, `host:port`; default `raft_addr`.
    #[serde(default)]
    pub advertise_raft_addr: Option<String>,
    /// Directory for the Raft database and the sealed cluster key.
    pub data_dir: PathBuf,
    /// Certificates.
    pub tls: TlsFiles,
    /// Where the unseal secret comes from.
    pub unseal: UnsealSource,
    /// The other initial members.
    #[serde(default)]
    pub peers: Vec<Peer>,
    /// Raft timing and snapshots.
    #[serde(default)]
    pub raft: RaftTuning,
    /// Signing limits.
    #[serde(default)]
    pub limits: Limits,
}

/// PEM files for mutual TLS.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// Cluster CA certificate.
    pub ca: PathBuf,
    /// This node's certificate (serverAuth + clientAuth, URI SAN `keyhold://node/<id>`).
    pub cert: PathBuf,
    /// This node's private key.
    pub key: PathBuf,
}

/// Source of the unseal secret: exactly one of the two.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnsealSource {
    /// A file holding the secret.
    pub secret_file: Option<PathBuf>,
    /// An environment variable holding the secret.
    pub secret_env: Option<String>,
}

/// Another initial member.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Peer {
    /// Its node id.
    pub id: u64,
    /// Its availability zone.
    pub availability_zone: String,
    /// Its client API address.
    pub api_addr: String,
    /// Its node-to-node address.
    pub raft_addr: String,
}

/// Raft timing. Defaults hold under a saturating sign load on two shared cores: crypto
/// runs on its own threads, and elections wait a full second (as etcd does) before
/// suspecting a leader.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RaftTuning {
    /// Leader heartbeat period.
    pub heartbeat_ms: u64,
    /// Lower bound of the randomized election timeout.
    pub election_min_ms: u64,
    /// Upper bound of the randomized election timeout.
    pub election_max_ms: u64,
    /// Build a snapshot (and purge the log) after this many applied entries.
    pub snapshot_after_logs: u64,
    /// Log entries kept behind a snapshot, so that a briefly absent follower catches up
    /// from the log instead of receiving a whole snapshot.
    pub keep_logs_after_snapshot: u64,
    /// A node that has not heard from a leader for this long stops signing, so that a
    /// destroyed key stops signing everywhere within a known time.
    pub max_staleness_ms: u64,
}

/// Limits on requests.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// How long a request carrying `min_index` may wait for this node to apply it.
    pub read_index_wait_ms: u64,
    /// Threads for private-key operations; 0 = one per CPU core.
    pub crypto_threads: usize,
}

impl Default for RaftTuning {
    fn default() -> Self {
        RaftTuning {
            heartbeat_ms: 250,
            election_min_ms: 1000,
            election_max_ms: 2000,
            snapshot_after_logs: 1000,
            keep_logs_after_snapshot: 100,
            max_staleness_ms: 10_000,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            read_index_wait_ms: 2000,
            crypto_threads: 0,
        }
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// A value is out of range or inconsistent; names the setting.
    #[error("invalid setting {field}: {reason}")]
    Invalid {
        /// The setting.
        field: &'static str,
        /// Why.
        reason: String,
    },
}

/// Values that override the file (from flags or `KEYHOLD_*` variables).
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// `--node-id` / `KEYHOLD_NODE_ID`.
    pub node_id: Option<u64>,
    /// `--availability-zone` / `KEYHOLD_AVAILABILITY_ZONE`.
    pub availability_zone: Option<String>,
    /// `--api-addr` / `KEYHOLD_API_ADDR`.
    pub api_addr: Option<String>,
    /// `--raft-addr` / `KEYHOLD_RAFT_ADDR`.
    pub raft_addr: Option<String>,
    /// `--data-dir` / `KEYHOLD_DATA_DIR`.
    pub data_dir: Option<PathBuf>,
    /// `--unseal-secret-file` / `KEYHOLD_UNSEAL_SECRET_FILE`.
    pub unseal_secret_file: Option<PathBuf>,
}

impl Config {
    /// Reads `path`, applies `overrides`, resolves relative paths and validates.
    pub fn load(path: &Path, overrides: &Overrides) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut config: Config = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        config.apply(overrides);
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve_paths(base);
        config.validate()?;
        Ok(config)
    }

    fn apply(&mut self, o: &Overrides) {
        if let Some(v) = o.node_id {
            self.node_id = v;
        }
        if let Some(v) = &o.availability_zone {
            self.availability_zone = v.clone();
        }
        if let Some(v) = &o.api_addr {
            self.api_addr = v.clone();
        }
        if let Some(v) = &o.raft_addr {
            self.raft_addr = v.clone();
        }
        if let Some(v) = &o.data_dir {
            self.data_dir = v.clone();
        }
        if let Some(v) = &o.unseal_secret_file {
            self.unseal = UnsealSource {
                secret_file: Some(v.clone()),
                secret_env: None,
            };
        }
    }

    fn resolve_paths(&mut self, base: &Path) {
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        resolve(&mut self.data_dir);
        resolve(&mut self.tls.ca);
        resolve(&mut self.tls.cert);
        resolve(&mut self.tls.key);
        if let Some(p) = self.unseal.secret_file.as_mut() {
            resolve(p);
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field, reason: &str| ConfigError::Invalid {
            field,
            reason: reason.into(),
        };
        if self.node_id == 0 {
            return Err(invalid("node_id", "must be a positive integer"));
        }
        if self.availability_zone.trim().is_empty() {
            return Err(invalid("availability_zone", "must not be empty"));
        }
        for (field, addr) in [("api_addr", &self.api_addr), ("raft_addr", &self.raft_addr)] {
            if addr.parse::<std::net::SocketAddr>().is_err() {
                return Err(invalid(field, "must be an IP:port socket address"));
            }
        }
        match (&self.unseal.secret_file, &self.unseal.secret_env) {
            (Some(_), None) | (None, Some(_)) => {}
            _ => {
                return Err(invalid(
                    "unseal",
                    "set exactly one of secret_file or secret_env",
                ));
            }
        }
        let mut ids = vec![self.node_id];
        for peer in &self.peers {
            if ids.contains(&peer.id) || peer.id == 0 {
                return Err(invalid("peers.id", "peer ids must be positive and unique"));
            }
            ids.push(peer.id);
        }
        let r = &self.raft;
        if r.heartbeat_ms == 0 || r.election_min_ms <= r.heartbeat_ms * 2 {
            return Err(invalid(
                "raft.election_min_ms",
                "must exceed twice heartbeat_ms",
            ));
        }
        if r.election_max_ms <= r.election_min_ms {
            return Err(invalid(
                "raft.election_max_ms",
                "must exceed election_min_ms",
            ));
        }
        Ok(())
    }

    /// The API address peers and clients are told about.
    pub fn advertised_api_addr(&self) -> &str {
        self.advertise_api_addr.as_deref().unwrap_or(&self.api_addr)
    }

    /// The node-to-node address peers are told about.
    pub fn advertised_raft_addr(&self) -> &str {
        self.advertise_raft_addr
            .as_deref()
            .unwrap_or(&self.raft_addr)
    }

    /// The longest a request may wait for this node to apply its `min_index`.
    pub fn read_index_wait(&self) -> Duration {
        Duration::from_millis(self.limits.read_index_wait_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
node_id = 1
availability_zone = "az-a"
api_addr = "127.0.0.1:7101"
raft_addr = "127.0.0.1:7201"
data_dir = "data"
[tls]
ca = "pki/ca.pem"
cert = "pki/node-1.pem"
key = "/abs/node-1.key"
[unseal]
secret_file = "unseal.secret"
[[peers]]
id = 2
availability_zone = "az-b"
api_addr = "127.0.0.1:7102"
raft_addr = "127.0.0.1:7202"
"#;

    fn load(text: &str, overrides: &Overrides) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hsmd.toml");
        std::fs::write(&path, text).unwrap();
        Config::load(&path, overrides)
    }

    #[test]
    fn relative_paths_resolve_against_the_file() {
        let config = load(BASE, &Overrides::default()).unwrap();
        assert!(config.data_dir.ends_with("data") && config.data_dir.is_absolute());
        assert_eq!(config.tls.key, PathBuf::from("/abs/node-1.key"));
        assert_eq!(config.peers[0].id, 2);
        assert_eq!(config.raft.election_min_ms, 1000);
    }

    #[test]
    fn overrides_win_over_the_file() {
        let o = Overrides {
            node_id: Some(3),
            api_addr: Some("127.0.0.1:9".into()),
            ..Default::default()
        };
        let config = load(BASE, &o).unwrap();
        assert_eq!(
            (config.node_id, config.api_addr.as_str()),
            (3, "127.0.0.1:9")
        );
    }

    #[test]
    fn duplicate_peer_id_is_refused_naming_the_field() {
        let text = BASE.replace("id = 2", "id = 1");
        let err = load(&text, &Overrides::default()).unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::Invalid {
                    field: "peers.id",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn unknown_setting_is_refused() {
        let err = load(&format!("bogus = 1\n{BASE}"), &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("bogus"), "{err}");
    }

    #[test]
    fn bad_address_is_refused_naming_the_field() {
        let text = BASE.replace("127.0.0.1:7201", "nowhere");
        let err = load(&text, &Overrides::default()).unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::Invalid {
                    field: "raft_addr",
                    ..
                }
            ),
            "{err}"
        );
    }
}
