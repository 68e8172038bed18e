//! A running node: Raft, the key store, custody of the cluster key, the key cache and the
//! crypto pool, assembled from the config. The gRPC services in `api` and `raft::service`
//! call into it; it knows nothing of tonic requests.

mod custody;
mod init;
mod pool;
mod reads;
mod status;
mod writes;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;

pub use custody::{Custody, KeyCache, SealReason};
pub use pool::CryptoPool;
pub use reads::{SignOutput, SignRequest};
pub use status::LocalStatus;

use crate::config::Config;
use crate::error::Error;
use crate::raft::network::{NetworkFactory, Peers};
use crate::raft::storage::{LogStore, StateMachineStore, open_database};
use crate::raft::types::{NodeInfo, Raft};
use crate::seal::{HandoffOffer, SealError, SealedClusterKey, UnsealSecret};
use crate::tls::TlsMaterial;

/// File in the data directory that holds the sealed cluster key.
pub const SEALED_KEY_FILE: &str = "cluster-key.sealed";

/// One Keyhold node.
pub struct Node {
    config: Config,
    raft: Raft,
    store: StateMachineStore,
    custody: Custody,
    cache: Arc<KeyCache>,
    pool: CryptoPool,
    peers: Arc<Peers>,
    tls: TlsMaterial,
    secret: UnsealSecret,
    offers: Mutex<HashMap<String, HandoffOffer>>,
    leader_contact: Mutex<Option<Instant>>,
}

impl Node {
    /// Opens the data directory, unseals the cluster key if it can, and starts Raft.
    pub async fn start(config: Config) -> anyhow::Result<Arc<Node>> {
        create_private_dir(&config.data_dir)?;
        let tls = TlsMaterial::load(&config.tls)?;
        let secret = load_secret(&config)?;
        let custody = unseal_at_start(&config, &secret)?;

        let db = open_database(&config.data_dir.join("raft.redb"))?;
        let cache = Arc::new(KeyCache::default());
        let log = LogStore::open(db.clone())?;
        let store = StateMachineStore::open(db, cache.clone())?;

        let dial = config
            .peers
            .iter()
            .map(|p| (p.id, p.raft_addr.clone()))
            .collect();
        let peers = Arc::new(Peers::new(tls.clone(), dial));
        let raft_config = raft_config(&config)?;
        let network = NetworkFactory::new(peers.clone());
        let raft = Raft::new(config.node_id, raft_config, network, log, store.clone())
            .await
            .context("starting raft")?;

        let pool = CryptoPool::new(config.limits.crypto_threads);
        Ok(Arc::new(Node {
            config,
            raft,
            store,
            custody,
            cache,
            pool,
            peers,
            tls,
            secret,
            offers: Mutex::new(HashMap::new()),
            leader_contact: Mutex::new(None),
        }))
    }

    /// This node's id.
    pub fn id(&self) -> u64 {
        self.config.node_id
    }

    /// The configuration the node runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The Raft handle (for the node-to-node service).
    pub fn raft(&self) -> &Raft {
        &self.raft
    }

    /// This node's TLS material.
    pub fn tls(&self) -> &TlsMaterial {
        &self.tls
    }

    /// A copy of the current Raft metrics.
    pub fn metrics(&self) -> crate::raft::types::RaftMetrics {
        use openraft::async_runtime::WatchReceiver;
        self.raft.metrics().borrow_watched().clone()
    }

    /// Records that a leader's append reached us (for the staleness bound).
    pub fn note_leader_contact(&self) {
        if let Ok(mut at) = self.leader_contact.lock() {
            *at = Some(Instant::now());
        }
    }

    /// The initial members from the config: this node and its peers.
    pub fn configured_members(&self) -> BTreeMap<u64, NodeInfo> {
        let c = &self.config;
        let mut members = BTreeMap::new();
        let me = NodeInfo {
            api_addr: c.advertised_api_addr().to_owned(),
            raft_addr: c.advertised_raft_addr().to_owned(),
            az: c.availability_zone.clone(),
        };
        members.insert(c.node_id, me);
        for p in &c.peers {
            let info = NodeInfo {
                api_addr: p.api_addr.clone(),
                raft_addr: p.raft_addr.clone(),
                az: p.availability_zone.clone(),
            };
            members.insert(p.id, info);
        }
        members
    }

    /// Current members from the Raft membership, or the configured ones before init.
    pub fn members(&self) -> BTreeMap<u64, NodeInfo> {
        let metrics = self.metrics();
        let members: BTreeMap<u64, NodeInfo> = metrics
            .membership_config
            .membership()
            .nodes()
            .map(|(id, node)| (*id, node.clone()))
            .collect();
        if members.is_empty() {
            self.configured_members()
        } else {
            members
        }
    }

    /// Stops Raft. Listeners are stopped by the caller.
    pub async fn shutdown(&self) {
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(cause = %e, "raft did not shut down cleanly");
        }
    }

    fn sealed_key_path(&self) -> PathBuf {
        self.config.data_dir.join(SEALED_KEY_FILE)
    }

    fn sealed_error(&self, reason: SealReason) -> Error {
        Error::Sealed {
            node_id: self.id(),
            reason: reason.text(),
        }
    }
}

fn create_private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating data directory {}", dir.display()))
}

fn load_secret(config: &Config) -> anyhow::Result<UnsealSecret> {
    let secret = match (&config.unseal.secret_file, &config.unseal.secret_env) {
        (Some(path), _) => UnsealSecret::from_file(path)?,
        (None, Some(var)) => UnsealSecret::from_env(var)?,
        (None, None) => anyhow::bail!("no unseal secret source configured"),
    };
    Ok(secret)
}

fn unseal_at_start(config: &Config, secret: &UnsealSecret) -> anyhow::Result<Custody> {
    let path = config.data_dir.join(SEALED_KEY_FILE);
    let Some(sealed) = SealedClusterKey::read(&path)? else {
        tracing::info!("no cluster key yet; sealed until the cluster is initialized");
        return Ok(Custody::sealed(SealReason::NoClusterKey));
    };
    match sealed.unseal(secret) {
        Ok(key) => {
            tracing::info!(cluster_id = sealed.cluster_id(), "unsealed the cluster key");
            Ok(Custody::unsealed(key, sealed.cluster_id()))
        }
        Err(SealError::WrongSecret) => {
            tracing::error!(
                "the unseal secret does not open the sealed cluster key; staying sealed"
            );
            Ok(Custody::sealed(SealReason::WrongSecret))
        }
        Err(e) => Err(e.into()),
    }
}

fn raft_config(config: &Config) -> anyhow::Result<Arc<openraft::Config>> {
    let r = &config.raft;
    let raft = openraft::Config {
        cluster_name: "keyhold".into(),
        heartbeat_interval: r.heartbeat_ms,
        election_timeout_min: r.election_min_ms,
        election_timeout_max: r.election_max_ms,
        snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(r.snapshot_after_logs),
        max_in_snapshot_log_to_keep: r.keep_logs_after_snapshot,
        enable_pre_vote: Some(true),
        ..Default::default()
    };
    Ok(Arc::new(raft.validate().context("raft settings")?))
}
