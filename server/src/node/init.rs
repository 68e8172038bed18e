//! Cluster init: the node that receives `InitCluster` makes the cluster key, hands it to
//! every configured peer over node-to-node mTLS (ephemeral X25519 bound to both node
//! certificates), seals its own copy, forms the Raft group and records the cluster id
//! with a key check value.

use keyhold_proto::raft::{HandoffDeliverRequest, HandoffOfferRequest, HandoffOfferResponse};

use super::Node;
use crate::error::Error;
use crate::keys::{Command, Outcome};
use crate::seal::{ClusterKey, HandoffBinding, HandoffOffer, SealedClusterKey, handoff_send};

/// Most handoff offers a node keeps open at once.
const MAX_OPEN_OFFERS: usize = 16;

/// Result of a successful init.
pub struct Initialized {
    /// The new cluster id.
    pub cluster_id: String,
    /// Log index of the init record.
    pub index: u64,
    /// Member node ids.
    pub members: Vec<u64>,
}

impl Node {
    /// Initializes the cluster from the configured members.
    pub async fn init_cluster(&self) -> Result<Initialized, Error> {
        if self.store.read(|s| s.cluster_id.is_some()) {
            return Err(Error::AlreadyInitialized);
        }
        if self.is_initialized().await? {
            return self.finish_init().await;
        }
        let key = ClusterKey::generate().map_err(|e| Error::Internal(e.to_string()))?;
        let cluster_id = format!("c-{}", hex::encode(random_bytes::<8>()?));
        let members = self.configured_members();

        for (&peer, info) in members.iter().filter(|(id, _)| **id != self.id()) {
            self.hand_off(&key, &cluster_id, peer, &info.raft_addr)
                .await
                .map_err(|reason| Error::PeerUnavailable { peer, reason })?;
            tracing::info!(peer, "cluster key handed off");
        }
        self.seal_and_install(key, &cluster_id)?;

        if let Err(e) = self.raft.initialize(members).await {
            tracing::error!(cause = %e, "raft initialize failed");
            return Err(Error::AlreadyInitialized);
        }
        self.finish_init().await
    }

    /// Records the cluster identity and key check in the log. Also resumes an init that
    /// formed the group but stopped before this step (any member holding the key can).
    async fn finish_init(&self) -> Result<Initialized, Error> {
        let Some(cluster_id) = self.custody.cluster_id() else {
            return Err(self.sealed_error(super::SealReason::NoClusterKey));
        };
        let check = self.custody_check_value()?;
        let command = Command::InitCluster {
            cluster_id: cluster_id.clone(),
            key_check: check,
        };
        let (index, outcome) = self.propose(command, None).await?;
        if outcome != Outcome::Initialized {
            return Err(Error::AlreadyInitialized);
        }
        tracing::info!(%cluster_id, index, "cluster initialized");
        let members = self.members().keys().copied().collect();
        Ok(Initialized {
            cluster_id,
            index,
            members,
        })
    }

    /// Receiver, step 1: opens an offer with a fresh ephemeral key.
    pub async fn handoff_offer(
        &self,
        req: HandoffOfferRequest,
    ) -> Result<HandoffOfferResponse, Error> {
        if self.is_initialized().await? {
            return Err(Error::AlreadyInitialized);
        }
        let (offer, public) = HandoffOffer::new().map_err(|e| Error::Internal(e.to_string()))?;
        let offer_id = hex::encode(random_bytes::<16>()?);
        let mut offers = self
            .offers
            .lock()
            .map_err(|_| Error::Internal("offers poisoned".into()))?;
        if offers.len() >= MAX_OPEN_OFFERS {
            offers.clear();
        }
        offers.insert(offer_id.clone(), offer);
        tracing::debug!(cluster_id = %req.cluster_id, "handoff offer opened");
        Ok(HandoffOfferResponse {
            ephemeral_public: public,
            certificate_sha256: self.tls.cert_sha256().to_vec(),
            offer_id,
        })
    }

    /// Receiver, step 2: opens the delivered cluster key, seals it and installs it.
    /// `sender_cert_sha256` comes from the TLS session, not from the message.
    pub async fn handoff_deliver(
        &self,
        req: HandoffDeliverRequest,
        sender_cert_sha256: [u8; 32],
    ) -> Result<(), Error> {
        if self.is_initialized().await? {
            return Err(Error::AlreadyInitialized);
        }
        let offer = {
            let mut offers = self
                .offers
                .lock()
                .map_err(|_| Error::Internal("offers poisoned".into()))?;
            offers
                .remove(&req.offer_id)
                .ok_or_else(|| Error::invalid("offer_id", "unknown or used offer"))?
        };
        let binding = HandoffBinding {
            cluster_id: req.cluster_id.clone(),
            sender_cert_sha256,
            receiver_cert_sha256: self.tls.cert_sha256(),
        };
        let key = offer
            .accept(&binding, &req.ephemeral_public, &req.nonce, &req.ciphertext)
            .map_err(|_| {
                Error::invalid(
                    "ciphertext",
                    "the cluster key did not open under this binding",
                )
            })?;
        self.seal_and_install(key, &req.cluster_id)?;
        tracing::info!(cluster_id = %req.cluster_id, "received the cluster key");
        Ok(())
    }

    async fn hand_off(
        &self,
        key: &ClusterKey,
        cluster_id: &str,
        peer: u64,
        addr: &str,
    ) -> Result<(), String> {
        let mut client = self.peers.client(peer, addr)?;
        let offer = client
            .handoff_offer(HandoffOfferRequest {
                cluster_id: cluster_id.to_owned(),
            })
            .await
            .map_err(|s| s.message().to_owned())?
            .into_inner();
        let receiver_cert_sha256: [u8; 32] = offer
            .certificate_sha256
            .as_slice()
            .try_into()
            .map_err(|_| "peer sent a malformed certificate hash".to_owned())?;
        let binding = HandoffBinding {
            cluster_id: cluster_id.to_owned(),
            sender_cert_sha256: self.tls.cert_sha256(),
            receiver_cert_sha256,
        };
        let package =
            handoff_send(key, &binding, &offer.ephemeral_public).map_err(|e| e.to_string())?;
        let deliver = HandoffDeliverRequest {
            offer_id: offer.offer_id,
            cluster_id: cluster_id.to_owned(),
            ephemeral_public: package.sender_public,
            nonce: package.nonce,
            ciphertext: package.ciphertext,
        };
        client
            .handoff_deliver(deliver)
            .await
            .map_err(|s| s.message().to_owned())?;
        Ok(())
    }

    fn seal_and_install(&self, key: ClusterKey, cluster_id: &str) -> Result<(), Error> {
        let sealed = SealedClusterKey::seal(&key, &self.secret, cluster_id, self.id())
            .map_err(|e| Error::Internal(e.to_string()))?;
        // Durable before use: a key we sign with must survive our restart.
        sealed
            .write(&self.sealed_key_path())
            .map_err(|e| Error::Internal(e.to_string()))?;
        self.custody.install(key, cluster_id);
        Ok(())
    }

    fn custody_check_value(&self) -> Result<crate::keys::WrappedKey, Error> {
        let key = self.custody.key(None).map_err(|r| self.sealed_error(r))?;
        key.key_check().map_err(|e| Error::Internal(e.to_string()))
    }

    /// True once the Raft group has been formed (membership known).
    pub async fn is_initialized(&self) -> Result<bool, Error> {
        self.raft
            .is_initialized()
            .await
            .map_err(|e| Error::Internal(e.to_string()))
    }
}

fn random_bytes<const N: usize>() -> Result<[u8; N], Error> {
    let mut bytes = [0u8; N];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| Error::Internal("random source failed".into()))?;
    Ok(bytes)
}
