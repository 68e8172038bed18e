//! Writes: key generation, import and destruction, and cluster init. Key material is
//! wrapped on the node that received the request, before the command enters Raft; a
//! follower then forwards the (wrapped) command to the leader, so the caller makes one
//! call wherever it lands.

use std::time::Duration;

use keyhold_proto::raft::RaftPayload;
use openraft::errors::{ClientWriteError, RaftError};
use serde::{Deserialize, Serialize};

use super::Node;
use crate::crypto::{self, KeyMaterial};
use crate::error::Error;
use crate::keys::{Algorithm, Command, KeyRecord, Outcome, Usage};
use crate::seal::{ClusterKey, WrapContext};

/// How long a write may take to commit before the caller is told it is unconfirmed.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest single wait for a leader to be known, between two looks at the metrics.
const LEADER_WAIT: Duration = Duration::from_millis(500);
/// Time kept back from the caller's deadline to send a definite answer before it.
const REPLY_MARGIN: Duration = Duration::from_millis(250);
/// Longest wait for another leader between two such forwards.
const FORWARD_PAUSE: Duration = Duration::from_millis(300);
/// Longest label accepted.
pub(super) const MAX_LABEL_LEN: usize = 128;

/// Why a forwarded write failed on the receiving node.
#[derive(Debug, Serialize, Deserialize)]
pub enum ForwardError {
    /// The receiver is not the leader (any more).
    NotLeader {
        /// Who it thinks leads.
        leader_hint: Option<u64>,
    },
    /// The write did not commit in time.
    Timeout,
    /// The receiver leads but lost its quorum, and refused the write before making it.
    LostQuorum {
        /// Time since a quorum last acknowledged the receiver.
        millis: u64,
    },
    /// Anything else; logged on the receiver.
    Failed,
}

/// Why a forward failed, and whether the leader can have seen the write.
enum Forwarded {
    /// The write never reached a leader that could append it: safe to send again.
    Unsent(Error),
    /// The leader may have appended it: its outcome is unknown, never send it again.
    Failed(Error),
}

/// A key about to be stored, before it has an id.
struct NewRecord {
    algorithm: Algorithm,
    label: String,
    usage: Usage,
    public_key_der: Vec<u8>,
    imported: bool,
}

/// A committed write: its log index and what it did.
pub(crate) type Committed = (u64, Outcome);

/// A new key as the API returns it.
pub struct NewKey {
    /// The stored record (wrapped material).
    pub record: KeyRecord,
    /// Log index of the write.
    pub index: u64,
}

impl Node {
    /// Generates a key of `algorithm` inside the cluster.
    pub async fn generate_key(
        &self,
        algorithm: &str,
        label: &str,
        usage: &str,
        patience: Option<Duration>,
    ) -> Result<NewKey, Error> {
        let algorithm: Algorithm = algorithm.parse().map_err(|e| {
            Error::invalid(
                "algorithm",
                format!("{e}; expected one of {}", names(Algorithm::ALL)),
            )
        })?;
        let (label, usage) = check_label_usage(label, usage, algorithm)?;
        let key = self.writable_cluster_key()?;
        let (material, spki) = self.pool.run(move || crypto::generate(algorithm)).await??;
        let new = NewRecord {
            algorithm,
            label,
            usage,
            public_key_der: spki,
            imported: false,
        };
        self.store_key(&key, new, material, patience).await
    }

    /// Imports an existing private key.
    pub async fn import_key(
        &self,
        private_key: Vec<u8>,
        label: &str,
        usage: &str,
        patience: Option<Duration>,
    ) -> Result<NewKey, Error> {
        if private_key.is_empty() {
            return Err(Error::invalid("private_key", "must not be empty"));
        }
        let key = self.writable_cluster_key()?;
        let (algorithm, material, spki) = self
            .pool
            .run(move || crypto::import(&private_key))
            .await??;
        let (label, usage) = check_label_usage(label, usage, algorithm)?;
        let new = NewRecord {
            algorithm,
            label,
            usage,
            public_key_der: spki,
            imported: true,
        };
        self.store_key(&key, new, material, patience).await
    }

    /// Destroys a key on every node; returns the log index.
    pub async fn destroy_key(&self, id: &str, patience: Option<Duration>) -> Result<u64, Error> {
        check_key_id(id)?;
        let (index, outcome) = self
            .propose(Command::DestroyKey { id: id.to_owned() }, patience)
            .await?;
        match outcome {
            Outcome::KeyDestroyed => Ok(index),
            Outcome::KeyNotFound => Err(Error::KeyNotFound { id: id.to_owned() }),
            other => Err(Error::Internal(format!("destroy applied as {other:?}"))),
        }
    }

    async fn store_key(
        &self,
        key: &ClusterKey,
        new: NewRecord,
        material: KeyMaterial,
        patience: Option<Duration>,
    ) -> Result<NewKey, Error> {
        let NewRecord {
            algorithm,
            label,
            usage,
            public_key_der,
            imported,
        } = new;
        let id = new_key_id()?;
        let ctx = WrapContext {
            key_id: &id,
            version: 1,
            algorithm,
        };
        let wrapped = key
            .wrap(&ctx, material.as_der())
            .map_err(|e| Error::Internal(e.to_string()))?;
        drop(material);
        let record = KeyRecord {
            id,
            label,
            algorithm,
            usage,
            version: 1,
            public_key_der,
            wrapped,
            created_at: unix_now(),
            created_index: 0,
            imported,
        };
        let command = Command::PutKey(record.clone());
        let (index, outcome) = self.propose(command, patience).await?;
        if outcome == Outcome::KeyExists {
            // The id is fresh and random, so an earlier attempt of this same write
            // committed (openraft can report a write lost in a leader change that a new
            // leader then committed, and the write is sent again).
            return self.stored_earlier(&record.id);
        }
        if outcome != Outcome::KeyStored {
            return Err(Error::Internal(format!("put applied as {outcome:?}")));
        }
        tracing::info!(key_id = %record.id, %algorithm, index, imported, "key stored");
        Ok(NewKey {
            record: KeyRecord {
                created_index: index,
                ..record
            },
            index,
        })
    }

    /// The answer to a put that found its key already made by an earlier attempt.
    fn stored_earlier(&self, id: &str) -> Result<NewKey, Error> {
        let stored = self.store.read(|s| s.keys.get(id).cloned());
        tracing::warn!(key_id = %id, live = stored.is_some(), "a write sent again found its key");
        match stored {
            Some(record) => Ok(NewKey {
                index: record.created_index,
                record,
            }),
            // Made, then destroyed before this answer: it is not there any more.
            None => Err(Error::KeyNotFound { id: id.to_owned() }),
        }
    }

    /// The cluster key, for a write that needs one: refuses when sealed or uninitialized.
    fn writable_cluster_key(&self) -> Result<std::sync::Arc<ClusterKey>, Error> {
        let check = self.store.read(|s| s.key_check.clone());
        if check.is_none() {
            return Err(Error::NotInitialized);
        }
        self.custody
            .key(check.as_ref())
            .map_err(|r| self.sealed_error(r))
    }

    /// Commits `command` through Raft, forwarding to the leader when this node is not it.
    ///
    /// A forward that provably never reached the leader (no connection, or the node
    /// answered that it no longer leads, which it says before appending anything) is
    /// tried again as the election settles: a write that lands on a follower while the
    /// leader dies then waits for the new leader instead of failing. It keeps trying for
    /// three election timeouts (a candidate's votes are refused for one while the old
    /// leader's lease runs, and a vote may be split), or until just before the caller's
    /// `patience` runs out, so that the caller still gets a definite "not written". A
    /// forward that may have reached the leader is never repeated.
    pub async fn propose(
        &self,
        command: Command,
        patience: Option<Duration>,
    ) -> Result<Committed, Error> {
        let start = tokio::time::Instant::now();
        let window = self.forward_window(patience);
        loop {
            let err = match self.propose_local(command.clone()).await {
                Ok(done) => return Ok(done),
                Err(ForwardError::NotLeader {
                    leader_hint: Some(leader),
                }) if leader != self.id() => match self.forward(leader, &command).await {
                    Ok(done) => return Ok(done),
                    Err(Forwarded::Unsent(_)) if start.elapsed() < window => {
                        self.wait_for_other_leader(leader).await;
                        continue;
                    }
                    Err(Forwarded::Unsent(err) | Forwarded::Failed(err)) => return Err(err),
                },
                // No leader yet, or this node is still taking office: wait for the election.
                Err(ForwardError::NotLeader { .. }) if start.elapsed() < window => {
                    self.wait_for_leader().await;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                // Cut off while leading: answer at once, so the caller can go elsewhere.
                Err(ForwardError::LostQuorum { millis }) => Error::LostQuorum {
                    node_id: self.id(),
                    millis,
                },
                Err(ForwardError::NotLeader { .. } | ForwardError::Timeout) => self.no_quorum(),
                Err(ForwardError::Failed) => Error::Internal("write failed".into()),
            };
            return Err(err);
        }
    }

    /// How long a write may wait for a leader and retry forwards that never arrived.
    fn forward_window(&self, patience: Option<Duration>) -> Duration {
        let elections = Duration::from_millis(3 * self.config.raft.election_max_ms);
        match patience {
            Some(patience) => elections.min(patience.saturating_sub(REPLY_MARGIN)),
            None => elections,
        }
    }

    /// Commits `command` if this node leads and a quorum acknowledged it recently.
    pub async fn propose_local(&self, command: Command) -> Result<Committed, ForwardError> {
        if let Some(silence) = self.quorum_silence() {
            return Err(ForwardError::LostQuorum {
                millis: silence.as_millis() as u64,
            });
        }
        let write = tokio::time::timeout(WRITE_TIMEOUT, self.raft.client_write(command)).await;
        match write {
            Err(_) => Err(ForwardError::Timeout),
            Ok(Ok(resp)) => Ok((resp.log_id.index, resp.data)),
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => {
                Err(ForwardError::NotLeader {
                    leader_hint: f.leader_id,
                })
            }
            Ok(Err(e)) => {
                tracing::error!(cause = %e, "raft write failed");
                Err(ForwardError::Failed)
            }
        }
    }

    /// Sends `command` to `leader` to commit there.
    async fn forward(&self, leader: u64, command: &Command) -> Result<Committed, Forwarded> {
        let members = self.members();
        let Some(info) = members.get(&leader) else {
            return Err(Forwarded::Unsent(self.no_quorum()));
        };
        let unavailable = |reason: String| {
            Error::NoQuorum {
                leader_hint: Some(leader),
            }
            .with_log(reason)
        };
        let mut client = self
            .peers
            .client(leader, &info.raft_addr)
            .map_err(|reason| Forwarded::Unsent(unavailable(reason)))?;
        let data = serde_json::to_vec(command)
            .map_err(|e| Forwarded::Failed(Error::Internal(e.to_string())))?;
        let mut request = tonic::Request::new(RaftPayload { data });
        request.set_timeout(WRITE_TIMEOUT + Duration::from_secs(1));
        let reply = client.forward_write(request).await.map_err(|status| {
            let unsent = never_sent(&status);
            let err = unavailable(status.to_string());
            if unsent {
                Forwarded::Unsent(err)
            } else {
                Forwarded::Failed(err)
            }
        })?;
        let result: Result<Committed, ForwardError> =
            serde_json::from_slice(&reply.into_inner().data).map_err(|e| {
                Forwarded::Failed(Error::Internal(format!("bad forward reply: {e}")))
            })?;
        result.map_err(|e| match e {
            ForwardError::NotLeader { leader_hint } => {
                Forwarded::Unsent(Error::NoQuorum { leader_hint })
            }
            // The leader refused before appending: wait for the majority's new leader.
            ForwardError::LostQuorum { .. } => {
                Forwarded::Unsent(Error::NoQuorum { leader_hint: None })
            }
            ForwardError::Timeout => Forwarded::Failed(Error::NoQuorum {
                leader_hint: Some(leader),
            }),
            ForwardError::Failed => {
                Forwarded::Failed(Error::Internal("forwarded write failed".into()))
            }
        })
    }

    /// How long this node has led without a quorum acknowledging it, once that is longer
    /// than the longest election timeout: by then the other nodes may have elected a new
    /// leader, and a write appended here would only wait for the heal or its timeout, its
    /// outcome unknown. Refusing it before the append lets the caller send it elsewhere.
    /// A single-node cluster is its own quorum and never refuses.
    fn quorum_silence(&self) -> Option<Duration> {
        // LIMITATION: the leader does not step down; writes in the first election timeout
        // after a cut are still appended and end as unknown outcome.
        let metrics = self.metrics();
        if metrics.current_leader != Some(self.id()) {
            return None;
        }
        let voters = metrics.membership_config.membership().voter_ids().count();
        let acked = metrics.last_quorum_acked?;
        let silence = openraft::Instant::elapsed(&*acked);
        let bound = Duration::from_millis(self.config.raft.election_max_ms);
        (voters > 1 && silence > bound).then_some(silence)
    }

    /// Waits (briefly) for the leader to be someone other than `old`: after a failed
    /// forward, the next attempt should go to whoever leads once the election settles.
    async fn wait_for_other_leader(&self, old: u64) {
        let _ = self
            .raft
            .wait(Some(FORWARD_PAUSE))
            .metrics(
                |m| m.current_leader.is_some_and(|leader| leader != old),
                "another leader",
            )
            .await;
    }

    async fn wait_for_leader(&self) {
        let _ = self
            .raft
            .wait(Some(LEADER_WAIT))
            .metrics(|m| m.current_leader.is_some(), "leader known")
            .await;
    }

    fn no_quorum(&self) -> Error {
        let leader_hint = self.metrics().current_leader;
        Error::NoQuorum { leader_hint }
    }
}

/// True when tonic failed to connect, so the request never left this node.
fn never_sent(status: &tonic::Status) -> bool {
    let mut next = std::error::Error::source(status);
    while let Some(err) = next {
        if err.is::<tonic::ConnectError>() {
            return true;
        }
        next = err.source();
    }
    false
}

trait WithLog {
    fn with_log(self, reason: String) -> Self;
}

impl WithLog for Error {
    fn with_log(self, reason: String) -> Self {
        tracing::warn!(cause = %reason, "forwarding a write to the leader failed");
        self
    }
}

fn check_label_usage(
    label: &str,
    usage: &str,
    algorithm: Algorithm,
) -> Result<(String, Usage), Error> {
    if label.trim().is_empty() {
        return Err(Error::invalid("label", "must not be empty"));
    }
    if label.chars().count() > MAX_LABEL_LEN || label.chars().any(char::is_control) {
        return Err(Error::invalid(
            "label",
            format!("at most {MAX_LABEL_LEN} printable characters"),
        ));
    }
    let usage = match usage {
        "" => Usage::Sign,
        text => text
            .parse()
            .map_err(|e| Error::invalid("usage", format!("{e}; expected sign or decrypt")))?,
    };
    if !algorithm.allows(usage) {
        return Err(Error::invalid(
            "usage",
            format!("{algorithm} keys cannot be used to {usage}"),
        ));
    }
    Ok((label.to_owned(), usage))
}

/// Checks the shape of a key id (`k-` and 16 lowercase hex digits).
pub(super) fn check_key_id(id: &str) -> Result<(), Error> {
    let ok = id.len() == 18
        && id.starts_with("k-")
        && id[2..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if id.is_empty() {
        return Err(Error::invalid("key_id", "must not be empty"));
    }
    if !ok {
        return Err(Error::invalid(
            "key_id",
            "expected k- followed by 16 hex digits",
        ));
    }
    Ok(())
}

fn new_key_id() -> Result<String, Error> {
    let mut bytes = [0u8; 8];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| Error::Internal("random source failed".into()))?;
    Ok(format!("k-{}", hex::encode(bytes)))
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub(crate) fn names<T: std::fmt::Display>(all: &[T]) -> String {
    all.iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
