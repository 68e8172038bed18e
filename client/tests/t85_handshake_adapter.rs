//! The rustls adapter without a cluster: the schemes each key type offers, the deadline
//! when no node answers (from a plain thread, a current-thread runtime and a multi-thread
//! worker), the in-flight bound, and the signer's runtime rules. Real handshakes against
//! real nodes are in cluster-tests (`t85_handshake_*`).

#![allow(clippy::unwrap_used)] // a test fails by panicking

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use keyhold_client::ClientConfig;
use keyhold_client::rustls::sign::SigningKey;
use keyhold_client::rustls::{SignatureAlgorithm, SignatureScheme};
use keyhold_client::tls::{ClusterSigningKey, KeyAlgorithm, SignerOptions, TlsKeyError, TlsSigner};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

const DEADLINE: Duration = Duration::from_millis(300);
/// The signer's grace after the deadline plus scheduling noise.
const MARGIN: Duration = Duration::from_millis(700);

/// A TCP port that accepts connections and never answers: a node that hangs.
struct Blackhole {
    listener: Arc<TcpListener>,
}

impl Blackhole {
    fn start() -> Self {
        let listener = Arc::new(TcpListener::bind("127.0.0.1:0").unwrap());
        let accepting = listener.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            while let Ok((stream, _)) = accepting.accept() {
                held.push(stream);
            }
        });
        Blackhole { listener }
    }

    fn endpoint(&self) -> String {
        format!("https://{}", self.listener.local_addr().unwrap())
    }
}

/// A client config for `endpoint` with throwaway TLS material and no discovery.
fn config(endpoint: String) -> ClientConfig {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["client".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let mut config = ClientConfig::new(
        vec![endpoint],
        ca.pem().into_bytes(),
        cert.pem().into_bytes(),
        key.serialize_pem().into_bytes(),
    );
    config.discovery_interval = None;
    config
}

fn options(max_in_flight: usize) -> SignerOptions {
    SignerOptions {
        deadline: DEADLINE,
        max_in_flight,
        ..SignerOptions::default()
    }
}

/// Signs once and returns the error and how long it took.
fn failed_signature(key: &ClusterSigningKey) -> (TlsKeyError, Duration) {
    let started = Instant::now();
    let err = key
        .sign_with(SignatureScheme::ECDSA_NISTP256_SHA256, b"hello")
        .unwrap_err();
    (err, started.elapsed())
}

fn assert_deadline(err: &TlsKeyError, elapsed: Duration) {
    assert!(elapsed < DEADLINE + MARGIN, "took {elapsed:?}: {err}");
    assert!(err.is_retryable(), "{err}");
    assert!(err.to_string().contains("deadline"), "{err}");
}

#[test]
fn a_signature_fails_within_the_deadline_from_any_thread_when_no_node_answers() {
    let node = Blackhole::start();
    let signer = TlsSigner::connect_blocking(config(node.endpoint()), options(8)).unwrap();
    let key = ClusterSigningKey::new(signer, "k-1", KeyAlgorithm::EcP256);

    let (err, elapsed) = failed_signature(&key);
    assert_deadline(&err, elapsed);

    let current = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (err, elapsed) = current.block_on(async { failed_signature(&key) });
    assert_deadline(&err, elapsed);

    let multi = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let on_worker = multi.spawn({
        let key = key.clone();
        async move { failed_signature(&key) }
    });
    let (err, elapsed) = multi.block_on(on_worker).unwrap();
    assert_deadline(&err, elapsed);
}

#[test]
fn a_signature_beyond_max_in_flight_fails_at_once() {
    let node = Blackhole::start();
    let signer = TlsSigner::connect_blocking(config(node.endpoint()), options(1)).unwrap();
    let key = ClusterSigningKey::new(signer.clone(), "k-1", KeyAlgorithm::EcP256);

    let waiting = std::thread::spawn({
        let key = key.clone();
        move || failed_signature(&key)
    });
    let started = Instant::now();
    while signer.in_flight() == 0 {
        assert!(
            started.elapsed() < DEADLINE,
            "the first signature never started"
        );
        std::thread::yield_now();
    }
    let (err, elapsed) = failed_signature(&key);
    assert!(
        matches!(err, TlsKeyError::Overloaded { limit: 1, .. }),
        "{err}"
    );
    assert!(elapsed < DEADLINE, "refused only after {elapsed:?}");

    let (first, _) = waiting.join().unwrap();
    assert!(first.to_string().contains("deadline"), "{first}");
    assert_eq!(signer.in_flight(), 0);
    assert_eq!(signer.peak_in_flight(), 1);
}

#[test]
fn each_key_type_offers_only_its_own_schemes() {
    let node = Blackhole::start();
    let signer = TlsSigner::connect_blocking(config(node.endpoint()), options(8)).unwrap();
    let key = |algorithm| ClusterSigningKey::new(signer.clone(), "k-1", algorithm);
    let all_offered = [
        SignatureScheme::ED25519,
        SignatureScheme::ECDSA_NISTP384_SHA384,
        SignatureScheme::ECDSA_NISTP256_SHA256,
        SignatureScheme::RSA_PKCS1_SHA512,
        SignatureScheme::RSA_PSS_SHA384,
    ];
    let chosen = |k: &ClusterSigningKey, offered: &[SignatureScheme]| {
        k.choose_scheme(offered).map(|signer| signer.scheme())
    };

    let p256 = key(KeyAlgorithm::EcP256);
    assert_eq!(
        chosen(&p256, &all_offered),
        Some(SignatureScheme::ECDSA_NISTP256_SHA256)
    );
    assert_eq!(
        chosen(&p256, &[SignatureScheme::ECDSA_NISTP384_SHA384]),
        None
    );
    assert_eq!(p256.algorithm(), SignatureAlgorithm::ECDSA);

    let p384 = key(KeyAlgorithm::EcP384);
    assert_eq!(
        chosen(&p384, &all_offered),
        Some(SignatureScheme::ECDSA_NISTP384_SHA384)
    );

    let ed = key(KeyAlgorithm::Ed25519);
    assert_eq!(chosen(&ed, &all_offered), Some(SignatureScheme::ED25519));
    assert_eq!(ed.algorithm(), SignatureAlgorithm::ED25519);

    let rsa = key(KeyAlgorithm::Rsa);
    assert_eq!(
        chosen(&rsa, &all_offered),
        Some(SignatureScheme::RSA_PSS_SHA384)
    );
    let pkcs1_only = [SignatureScheme::RSA_PKCS1_SHA256];
    assert_eq!(
        chosen(&rsa, &pkcs1_only),
        Some(SignatureScheme::RSA_PKCS1_SHA256)
    );
    assert_eq!(chosen(&rsa, &[SignatureScheme::ED25519]), None);
    assert_eq!(rsa.algorithm(), SignatureAlgorithm::RSA);

    assert!(
        rsa.public_key().is_none(),
        "an unchecked key knows no public key"
    );
    let debug = format!("{rsa:?}");
    assert!(debug.contains("k-1") && debug.contains("Rsa"), "{debug}");
}

#[tokio::test]
async fn the_signer_connects_and_drops_inside_a_current_thread_runtime() {
    let node = Blackhole::start();
    let err = TlsSigner::connect_blocking(config(node.endpoint()), options(8)).unwrap_err();
    assert!(matches!(err, TlsKeyError::Runtime { .. }), "{err}");

    let signer = TlsSigner::connect(config(node.endpoint()), options(8))
        .await
        .unwrap();
    assert_eq!(signer.options().deadline, DEADLINE);
    drop(signer);
}
