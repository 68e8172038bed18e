//! Custody of the cluster key on this node (sealed or unsealed) and the cache of parsed
//! private keys, so that a signature does not pay for AES-GCM and PKCS#8 parsing.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::crypto::PrivateKey;
use crate::keys::WrappedKey;
use crate::raft::storage::ApplyObserver;
use crate::seal::ClusterKey;

/// Why a node cannot use the cluster key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SealReason {
    /// The node never received the cluster key (cluster not initialized, or the node
    /// was not part of the init).
    NoClusterKey,
    /// The sealed cluster key on disk did not open with this node's unseal secret.
    WrongSecret,
    /// The unsealed key does not match the cluster's check value.
    ForeignKey,
}

impl SealReason {
    /// Text for the caller.
    pub fn text(self) -> &'static str {
        match self {
            SealReason::NoClusterKey => "it holds no cluster key",
            SealReason::WrongSecret => "its unseal secret does not open the sealed cluster key",
            SealReason::ForeignKey => "its cluster key does not belong to this cluster",
        }
    }
}

enum KeyState {
    Sealed(SealReason),
    /// Unsealed; `checked` once the key matched the replicated check value.
    Unsealed {
        key: Arc<ClusterKey>,
        checked: bool,
    },
}

/// The cluster key as this node holds it.
pub struct Custody {
    state: RwLock<KeyState>,
    /// Cluster id the key was sealed or handed off with.
    cluster_id: RwLock<Option<String>>,
}

impl Custody {
    /// Starts sealed for `reason`.
    pub fn sealed(reason: SealReason) -> Self {
        Custody {
            state: RwLock::new(KeyState::Sealed(reason)),
            cluster_id: RwLock::new(None),
        }
    }

    /// Starts unsealed with `key` (not yet compared with the check value).
    pub fn unsealed(key: ClusterKey, cluster_id: &str) -> Self {
        let custody = Custody::sealed(SealReason::NoClusterKey);
        custody.install(key, cluster_id);
        custody
    }

    /// Installs a cluster key made or received at init.
    pub fn install(&self, key: ClusterKey, cluster_id: &str) {
        if let Ok(mut state) = self.state.write() {
            *state = KeyState::Unsealed {
                key: Arc::new(key),
                checked: false,
            };
        }
        if let Ok(mut id) = self.cluster_id.write() {
            *id = Some(cluster_id.to_owned());
        }
    }

    /// The cluster id that came with the key, if the node holds one.
    pub fn cluster_id(&self) -> Option<String> {
        self.cluster_id.read().ok().and_then(|id| id.clone())
    }

    /// The cluster key, after checking it once against the replicated `check` value (when
    /// the cluster has one yet).
    pub fn key(&self, check: Option<&WrappedKey>) -> Result<Arc<ClusterKey>, SealReason> {
        {
            let state = self.state.read().map_err(|_| SealReason::NoClusterKey)?;
            match &*state {
                KeyState::Sealed(reason) => return Err(*reason),
                KeyState::Unsealed { key, checked: true } => return Ok(key.clone()),
                KeyState::Unsealed { key, .. } if check.is_none() => return Ok(key.clone()),
                KeyState::Unsealed { .. } => {}
            }
        }
        let mut state = self.state.write().map_err(|_| SealReason::NoClusterKey)?;
        let KeyState::Unsealed { key, checked } = &mut *state else {
            return Err(SealReason::NoClusterKey);
        };
        let Some(check) = check else {
            return Ok(key.clone());
        };
        if key.matches_check(check) {
            *checked = true;
            return Ok(key.clone());
        }
        tracing::error!("cluster key does not match the cluster's check value; sealing");
        *state = KeyState::Sealed(SealReason::ForeignKey);
        Err(SealReason::ForeignKey)
    }

    /// True unless the node is sealed.
    pub fn is_unsealed(&self) -> bool {
        self.state
            .read()
            .is_ok_and(|s| matches!(&*s, KeyState::Unsealed { .. }))
    }
}

/// Parsed private keys by id, with the material version they were parsed from.
#[derive(Default)]
pub struct KeyCache {
    keys: RwLock<HashMap<String, (u32, Arc<PrivateKey>)>>,
}

impl KeyCache {
    /// The parsed key for `id` at `version`, if cached.
    pub fn lookup(&self, id: &str, version: u32) -> Option<Arc<PrivateKey>> {
        let keys = self.keys.read().ok()?;
        keys.get(id)
            .filter(|(v, _)| *v == version)
            .map(|(_, key)| key.clone())
    }

    /// Caches a parsed key.
    pub fn insert(&self, id: &str, version: u32, key: Arc<PrivateKey>) {
        if let Ok(mut keys) = self.keys.write() {
            keys.insert(id.to_owned(), (version, key));
        }
    }

    /// Drops a key (destroyed, or raced with a destroy).
    pub fn remove(&self, id: &str) {
        if let Ok(mut keys) = self.keys.write() {
            keys.remove(id);
        }
    }

    /// Number of cached keys.
    pub fn len(&self) -> usize {
        self.keys.read().map(|k| k.len()).unwrap_or(0)
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl ApplyObserver for KeyCache {
    fn key_removed(&self, id: &str) {
        self.remove(id);
    }

    fn state_replaced(&self) {
        if let Ok(mut keys) = self.keys.write() {
            keys.clear();
        }
    }
}
