//! Reads and private-key operations, served by any unsealed node from its applied state.
//! A request may carry `min_index`; the node then waits, bounded, until it has applied
//! that index (read-your-writes across nodes). Signing also refuses on a node that has
//! not heard from a leader within `max_staleness`, which bounds how long a destroyed key
//! can still sign anywhere.

use std::sync::Arc;
use std::time::Duration;

use super::Node;
use super::writes::{check_key_id, names};
use crate::crypto::{KeyMaterial, MAX_MESSAGE_LEN, PrivateKey, SignInput};
use crate::error::Error;
use crate::keys::{Algorithm, DecryptScheme, KeyRecord, SignScheme, Usage, WrappedKey};
use crate::seal::WrapContext;

/// Largest ciphertext accepted by decrypt (an RSA-4096 block).
const MAX_CIPHERTEXT_LEN: usize = 512;

/// A sign request after parsing.
pub struct SignRequest {
    /// Key id.
    pub key_id: String,
    /// Scheme name as sent.
    pub scheme: String,
    /// The message, or a precomputed digest when `is_digest`.
    pub input: Vec<u8>,
    /// True when `input` is a digest.
    pub is_digest: bool,
    /// Index to wait for, 0 for none.
    pub min_index: u64,
}

/// A signature and the node that made it.
pub struct SignOutput {
    /// The signature bytes.
    pub signature: Vec<u8>,
    /// This node.
    pub node_id: u64,
}

/// What the cache needs to know about a key before using it.
struct Usable {
    algorithm: Algorithm,
    usage: Usage,
    version: u32,
}

impl Node {
    /// Signs with a cluster key.
    pub async fn sign(&self, req: SignRequest) -> Result<SignOutput, Error> {
        check_key_id(&req.key_id)?;
        let scheme: SignScheme = req.scheme.parse().map_err(|e| {
            Error::invalid(
                "scheme",
                format!("{e}; expected one of {}", names(SignScheme::ALL)),
            )
        })?;
        let field = if req.is_digest { "digest" } else { "message" };
        if req.input.is_empty() {
            return Err(Error::invalid(field, "must not be empty"));
        }
        if req.input.len() > MAX_MESSAGE_LEN {
            return Err(Error::invalid(
                field,
                format!("longer than {MAX_MESSAGE_LEN} bytes"),
            ));
        }
        let key = self
            .usable_key(&req.key_id, req.min_index, Usage::Sign, "sign")
            .await?;
        if !scheme.fits(key.algorithm()) {
            let reason = format!("{scheme} does not fit a {} key", key.algorithm());
            return Err(Error::invalid("scheme", reason));
        }
        let (input, is_digest) = (req.input, req.is_digest);
        let signature = self
            .pool
            .run(move || {
                let input = if is_digest {
                    SignInput::Digest(&input)
                } else {
                    SignInput::Message(&input)
                };
                key.sign(scheme, input)
            })
            .await??;
        tracing::debug!(key_id = %req.key_id, %scheme, "signed");
        Ok(SignOutput {
            signature,
            node_id: self.id(),
        })
    }

    /// RSA decryption with a cluster key.
    pub async fn decrypt(
        &self,
        key_id: &str,
        scheme: &str,
        ciphertext: Vec<u8>,
        min_index: u64,
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, Error> {
        check_key_id(key_id)?;
        let scheme: DecryptScheme = scheme.parse().map_err(|e| {
            Error::invalid(
                "scheme",
                format!("{e}; expected one of {}", names(DecryptScheme::ALL)),
            )
        })?;
        if ciphertext.is_empty() || ciphertext.len() > MAX_CIPHERTEXT_LEN {
            return Err(Error::invalid(
                "ciphertext",
                format!("must be 1 to {MAX_CIPHERTEXT_LEN} bytes"),
            ));
        }
        let key = self
            .usable_key(key_id, min_index, Usage::Decrypt, "decrypt")
            .await?;
        let plaintext = self
            .pool
            .run(move || key.decrypt(scheme, &ciphertext))
            .await??;
        tracing::debug!(%key_id, %scheme, "decrypted");
        Ok(plaintext)
    }

    /// One key's record (public parts are what the API returns).
    pub async fn key_info(&self, key_id: &str, min_index: u64) -> Result<KeyRecord, Error> {
        check_key_id(key_id)?;
        self.wait_applied(min_index).await?;
        let read = || self.store.read(|s| s.keys.get(key_id).cloned());
        let record = match read() {
            Some(record) => Some(record),
            None if self.catch_up_with_leader().await => read(),
            None => None,
        };
        record.ok_or_else(|| Error::KeyNotFound {
            id: key_id.to_owned(),
        })
    }

    /// A page of keys after `page_token`, optionally with exactly `label`.
    pub async fn list_keys(
        &self,
        page_size: u32,
        page_token: &str,
        label: &str,
        min_index: u64,
    ) -> Result<(Vec<KeyRecord>, String), Error> {
        let page_size = match page_size {
            0 => 100,
            n if n <= 1000 => n as usize,
            _ => return Err(Error::invalid("page_size", "at most 1000")),
        };
        if !page_token.is_empty() {
            check_key_id(page_token)
                .map_err(|_| Error::invalid("page_token", "not a token from this API"))?;
        }
        self.wait_applied(min_index).await?;
        let label = (!label.is_empty()).then_some(label);
        let mut page: Vec<KeyRecord> = self.store.read(|s| {
            s.list(page_token, label)
                .take(page_size + 1)
                .cloned()
                .collect()
        });
        let next = if page.len() > page_size {
            page.truncate(page_size);
            page.last().map(|r| r.id.clone()).unwrap_or_default()
        } else {
            String::new()
        };
        Ok((page, next))
    }

    /// Waits until this node has applied `index` (0: no wait), bounded by the config.
    pub async fn wait_applied(&self, index: u64) -> Result<(), Error> {
        if index == 0 {
            return Ok(());
        }
        let mut applied = self.store.applied();
        let wait = tokio::time::timeout(
            self.config.read_index_wait(),
            applied.wait_for(|a| *a >= index),
        );
        match wait.await {
            Ok(Ok(_)) => Ok(()),
            _ => Err(Error::NotApplied {
                node_id: self.id(),
                index,
            }),
        }
    }

    /// The parsed key for an operation: unsealed, fresh enough, right usage, cached.
    async fn usable_key(
        &self,
        id: &str,
        min_index: u64,
        usage: Usage,
        operation: &'static str,
    ) -> Result<Arc<PrivateKey>, Error> {
        let check = self.store.read(|s| s.key_check.clone());
        let cluster_key = self
            .custody
            .key(check.as_ref())
            .map_err(|r| self.sealed_error(r))?;
        self.wait_applied(min_index).await?;
        self.check_fresh()?;

        let read = || {
            self.store.read(|s| {
                s.keys.get(id).map(|r| Usable {
                    algorithm: r.algorithm,
                    usage: r.usage,
                    version: r.version,
                })
            })
        };
        let usable = match read() {
            Some(usable) => Some(usable),
            None if self.catch_up_with_leader().await => read(),
            None => None,
        };
        let Some(usable) = usable else {
            return Err(Error::KeyNotFound { id: id.to_owned() });
        };
        if usable.usage != usage {
            return Err(Error::UsageNotPermitted {
                id: id.to_owned(),
                usage: usable.usage,
                operation,
            });
        }
        if let Some(key) = self.cache.lookup(id, usable.version) {
            return Ok(key);
        }

        let wrapped: Option<WrappedKey> = self
            .store
            .read(|s| s.keys.get(id).map(|r| r.wrapped.clone()));
        let Some(wrapped) = wrapped else {
            return Err(Error::KeyNotFound { id: id.to_owned() });
        };
        let (owned_id, algorithm, version) = (id.to_owned(), usable.algorithm, usable.version);
        let parsed = self
            .pool
            .run(move || {
                let ctx = WrapContext {
                    key_id: &owned_id,
                    version,
                    algorithm,
                };
                let der = cluster_key
                    .unwrap_key(&ctx, &wrapped)
                    .map_err(|e| Error::Internal(e.to_string()))?;
                let material = KeyMaterial::from_der(der);
                PrivateKey::from_material(algorithm, &material)
                    .map_err(|e| Error::Internal(e.to_string()))
            })
            .await??;
        let parsed = Arc::new(parsed);
        self.cache.insert(id, version, parsed.clone());
        // A destroy may have applied while we parsed: never keep a destroyed key cached.
        if !self.store.read(|s| s.keys.contains_key(id)) {
            self.cache.remove(id);
            return Err(Error::KeyNotFound { id: id.to_owned() });
        }
        Ok(parsed)
    }

    /// Before a follower says a key does not exist: the key may have been committed a
    /// heartbeat ago and not yet applied here. Asks the leader for its commit index and
    /// waits (bounded) to apply it. True when this node applied more entries meanwhile,
    /// so a second look may find the key; false on the leader, whose applied state
    /// already holds every acknowledged write, or when the leader cannot be asked.
    async fn catch_up_with_leader(&self) -> bool {
        let leader = self.metrics().current_leader;
        let Some(leader) = leader.filter(|&leader| leader != self.id()) else {
            return false;
        };
        let members = self.members();
        let Some(info) = members.get(&leader) else {
            return false;
        };
        let Some(status) = self.peer_status(leader, info).await else {
            return false;
        };
        let before = *self.store.applied().borrow();
        if status.commit_index <= before {
            return false;
        }
        self.wait_applied(status.commit_index).await.is_ok()
    }

    /// Refuses when no leader has been heard from within `max_staleness`.
    fn check_fresh(&self) -> Result<(), Error> {
        let bound = Duration::from_millis(self.config.raft.max_staleness_ms);
        let since = self.since_leader_contact();
        match since {
            Some(elapsed) if elapsed <= bound => Ok(()),
            other => {
                let millis = other.map(|d| d.as_millis() as u64).unwrap_or(u64::MAX);
                Err(Error::Stale {
                    node_id: self.id(),
                    millis,
                })
            }
        }
    }

    /// Time since this node last had proof of a live leader: its own quorum ack when it
    /// leads, the last accepted append otherwise.
    pub fn since_leader_contact(&self) -> Option<Duration> {
        let metrics = self.metrics();
        if metrics.current_leader == Some(self.id())
            && let Some(at) = metrics.last_quorum_acked
        {
            use openraft::async_runtime::Instant;
            return Some(at.elapsed());
        }
        let at = *self.leader_contact.lock().ok()?;
        at.map(|t| t.elapsed())
    }
}
