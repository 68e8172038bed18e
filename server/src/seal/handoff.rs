//! Handing the cluster key from one node to another (cluster init, join). Both sides make
//! an ephemeral X25519 key; HKDF-SHA256 turns the shared secret into an AES-256-GCM key
//! bound to the cluster id, both node certificates and both ephemeral public keys. The
//! transport (node-to-node mTLS, where the certificate hashes come from) is the caller's.

use std::fmt;

use aws_lc_rs::agreement::{self, EphemeralPrivateKey, UnparsedPublicKey, X25519};
use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};
use aws_lc_rs::rand::SystemRandom;
use zeroize::Zeroizing;

use super::aead::{self, KEY_LEN, Transcript};
use super::{ClusterKey, SealError};

/// Protocol label: the HKDF salt, and the first field of the HKDF info and the AAD.
const HANDOFF_LABEL: &str = "keyhold/cluster-key-handoff/v1";

/// Who hands the key to whom, for which cluster. Both sides must build the same binding
/// from what they saw in the mTLS handshake, or the handoff fails.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandoffBinding {
    /// The cluster whose key is handed over.
    pub cluster_id: String,
    /// SHA-256 of the sending node's certificate (DER).
    pub sender_cert_sha256: [u8; 32],
    /// SHA-256 of the receiving node's certificate (DER).
    pub receiver_cert_sha256: [u8; 32],
}

/// The receiving side of a handoff: holds the ephemeral private key until the package
/// arrives. Single use.
pub struct HandoffOffer {
    private: EphemeralPrivateKey,
    public: Vec<u8>,
}

/// What the sender returns: its ephemeral public key and the encrypted cluster key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandoffPackage {
    /// The sender's ephemeral X25519 public key (32 bytes).
    pub sender_public: Vec<u8>,
    /// AES-GCM nonce (12 bytes).
    pub nonce: Vec<u8>,
    /// The encrypted cluster key and its tag.
    pub ciphertext: Vec<u8>,
}

impl HandoffBinding {
    /// A binding from the two certificates (DER) as seen in the mTLS handshake.
    pub fn from_certificates(cluster_id: &str, sender_der: &[u8], receiver_der: &[u8]) -> Self {
        HandoffBinding {
            cluster_id: cluster_id.to_owned(),
            sender_cert_sha256: sha256(sender_der),
            receiver_cert_sha256: sha256(receiver_der),
        }
    }

    /// HKDF info and AES-GCM associated data: everything both sides must agree on.
    fn transcript(&self, sender_public: &[u8], receiver_public: &[u8]) -> Transcript {
        Transcript::new(HANDOFF_LABEL)
            .text(&self.cluster_id)
            .bytes(&self.sender_cert_sha256)
            .bytes(&self.receiver_cert_sha256)
            .bytes(sender_public)
            .bytes(receiver_public)
    }
}

impl HandoffOffer {
    /// A fresh offer and the public key to send to the node holding the cluster key.
    pub fn new() -> Result<(Self, Vec<u8>), SealError> {
        let private = EphemeralPrivateKey::generate(&X25519, &SystemRandom::new())
            .map_err(|_| SealError::crypto("x25519 key generation"))?;
        let public = public_key(&private)?;
        Ok((
            HandoffOffer {
                private,
                public: public.clone(),
            },
            public,
        ))
    }

    /// The public key of this offer (as returned by [`HandoffOffer::new`]).
    pub fn public_key(&self) -> &[u8] {
        &self.public
    }

    /// Opens what the sender sent, consuming the offer. Fails with
    /// [`SealError::HandoffFailed`] unless both sides used the same binding.
    pub fn accept(
        self,
        binding: &HandoffBinding,
        sender_public: &[u8],
        nonce: &[u8],
        ciphertext: &[u8],
    ) -> Result<ClusterKey, SealError> {
        let transcript = binding.transcript(sender_public, &self.public);
        let key = derive_key(self.private, sender_public, &transcript)?;
        let plaintext = aead::open(&key, transcript.as_bytes(), nonce, ciphertext)
            .ok_or(SealError::HandoffFailed)?;
        ClusterKey::from_slice(&plaintext).ok_or(SealError::HandoffFailed)
    }

    /// [`HandoffOffer::accept`] for a whole package.
    pub fn accept_package(
        self,
        binding: &HandoffBinding,
        package: &HandoffPackage,
    ) -> Result<ClusterKey, SealError> {
        self.accept(
            binding,
            &package.sender_public,
            &package.nonce,
            &package.ciphertext,
        )
    }
}

impl fmt::Debug for HandoffOffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HandoffOffer(public {})", hex::encode(&self.public))
    }
}

/// Encrypts the cluster key for the node that sent `receiver_public`.
pub fn handoff_send(
    key: &ClusterKey,
    binding: &HandoffBinding,
    receiver_public: &[u8],
) -> Result<HandoffPackage, SealError> {
    let private = EphemeralPrivateKey::generate(&X25519, &SystemRandom::new())
        .map_err(|_| SealError::crypto("x25519 key generation"))?;
    let sender_public = public_key(&private)?;
    let transcript = binding.transcript(&sender_public, receiver_public);

    let wrapping_key = derive_key(private, receiver_public, &transcript)?;
    let sealed = aead::seal(&wrapping_key, transcript.as_bytes(), key.expose())?;
    Ok(HandoffPackage {
        sender_public,
        nonce: sealed.nonce,
        ciphertext: sealed.ciphertext,
    })
}

/// X25519 with `peer_public`, then HKDF-SHA256 (salt: the protocol label; info: the
/// transcript). A malformed or low-order peer key fails here.
fn derive_key(
    private: EphemeralPrivateKey,
    peer_public: &[u8],
    transcript: &Transcript,
) -> Result<Zeroizing<[u8; KEY_LEN]>, SealError> {
    let peer = UnparsedPublicKey::new(&X25519, peer_public);
    agreement::agree_ephemeral(private, peer, SealError::HandoffFailed, |shared| {
        let prk = Salt::new(HKDF_SHA256, HANDOFF_LABEL.as_bytes()).extract(shared);
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        prk.expand(&[transcript.as_bytes()], HKDF_SHA256)
            .and_then(|okm| okm.fill(&mut key[..]))
            .map_err(|_| SealError::crypto("hkdf expand"))?;
        Ok(key)
    })
}

fn public_key(private: &EphemeralPrivateKey) -> Result<Vec<u8>, SealError> {
    let public = private
        .compute_public_key()
        .map_err(|_| SealError::crypto("x25519 public key"))?;
    Ok(public.as_ref().to_vec())
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, bytes).as_ref());
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test fails by panicking
mod tests {
    use super::*;

    fn binding() -> HandoffBinding {
        HandoffBinding::from_certificates("c-1234", b"sender cert der", b"receiver cert der")
    }

    #[test]
    fn handoff_delivers_the_cluster_key() {
        let key = ClusterKey::generate().unwrap();
        let (offer, receiver_public) = HandoffOffer::new().unwrap();
        assert_eq!(receiver_public.len(), 32);
        assert_eq!(offer.public_key(), receiver_public.as_slice());

        let package = handoff_send(&key, &binding(), &receiver_public).unwrap();
        assert_eq!(package.sender_public.len(), 32);
        assert!(
            !package
                .ciphertext
                .windows(KEY_LEN)
                .any(|w| w == key.expose())
        );
        let received = offer.accept_package(&binding(), &package).unwrap();
        assert_eq!(received.expose(), key.expose());
    }

    #[test]
    fn handoff_with_a_mismatched_binding_fails() {
        let key = ClusterKey::generate().unwrap();
        let mismatched = [
            HandoffBinding {
                cluster_id: "c-9999".into(),
                ..binding()
            },
            HandoffBinding {
                sender_cert_sha256: [0; 32],
                ..binding()
            },
            HandoffBinding {
                receiver_cert_sha256: sha256(b"another node"),
                ..binding()
            },
            HandoffBinding {
                sender_cert_sha256: binding().receiver_cert_sha256,
                receiver_cert_sha256: binding().sender_cert_sha256,
                ..binding()
            },
        ];
        for other in mismatched {
            let (offer, receiver_public) = HandoffOffer::new().unwrap();
            let package = handoff_send(&key, &binding(), &receiver_public).unwrap();
            let result = offer.accept_package(&other, &package);
            assert!(matches!(result, Err(SealError::HandoffFailed)), "{other:?}");
        }
    }

    #[test]
    fn package_for_another_offer_or_altered_package_fails() {
        let key = ClusterKey::generate().unwrap();
        let (offer, _) = HandoffOffer::new().unwrap();
        let (_, other_public) = HandoffOffer::new().unwrap();
        let package = handoff_send(&key, &binding(), &other_public).unwrap();
        assert!(matches!(
            offer.accept_package(&binding(), &package),
            Err(SealError::HandoffFailed)
        ));

        let alterations: [fn(&mut HandoffPackage); 3] = [
            |p| p.ciphertext[0] ^= 1,
            |p| p.nonce[0] ^= 1,
            |p| p.sender_public[0] ^= 1,
        ];
        for alter in alterations {
            let (offer, receiver_public) = HandoffOffer::new().unwrap();
            let mut package = handoff_send(&key, &binding(), &receiver_public).unwrap();
            alter(&mut package);
            assert!(matches!(
                offer.accept_package(&binding(), &package),
                Err(SealError::HandoffFailed)
            ));
        }
    }

    #[test]
    fn malformed_or_low_order_public_keys_are_refused() {
        let key = ClusterKey::generate().unwrap();
        for bad in [vec![], vec![9; 31], vec![0; 32], {
            let mut one = vec![0; 32];
            one[0] = 1;
            one
        }] {
            let result = handoff_send(&key, &binding(), &bad);
            assert!(
                matches!(result, Err(SealError::HandoffFailed)),
                "{}",
                hex::encode(&bad)
            );
        }
        let (offer, _) = HandoffOffer::new().unwrap();
        let result = offer.accept(&binding(), &[0; 32], &[0; 12], &[0; 48]);
        assert!(matches!(result, Err(SealError::HandoffFailed)));
    }

    #[test]
    fn binding_hashes_the_certificates_with_sha256() {
        let binding = HandoffBinding::from_certificates("c-1", b"abc", b"");
        assert_eq!(
            hex::encode(binding.sender_cert_sha256),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex::encode(binding.receiver_cert_sha256),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
