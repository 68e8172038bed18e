//! Test helpers shared by the crypto tests: one generated key per algorithm (RSA-4096
//! generation is slow, so it happens once per test binary), independent signature
//! verification with aws-lc-rs's public APIs, and an `openssl` CLI runner in a temp dir.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};

use super::der::{self, Reader, tag};
use super::{PrivateKey, generate};
use crate::keys::{Algorithm, SignScheme};

/// `openssl genpkey` options for the supported algorithms.
pub(super) const P256: &[&str] = &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"];
pub(super) const P384: &[&str] = &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"];
pub(super) const ED25519: &[&str] = &["-algorithm", "ED25519"];
pub(super) const RSA2048: &[&str] = &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"];

/// A key per algorithm, generated once and shared by every test.
pub(super) fn key(algorithm: Algorithm) -> &'static PrivateKey {
    static KEYS: OnceLock<Vec<PrivateKey>> = OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        Algorithm::ALL
            .iter()
            .map(|&algorithm| {
                let (material, _) = generate(algorithm).unwrap();
                PrivateKey::from_material(algorithm, &material).unwrap()
            })
            .collect()
    });
    keys.iter()
        .find(|key| key.algorithm() == algorithm)
        .unwrap()
}

/// The aws-lc-rs verification algorithm for a key algorithm and scheme.
pub(super) fn verification(
    algorithm: Algorithm,
    scheme: SignScheme,
) -> &'static dyn VerificationAlgorithm {
    use SignScheme as S;
    match (algorithm, scheme) {
        (Algorithm::EcP256, S::EcdsaSha256) => &signature::ECDSA_P256_SHA256_ASN1,
        (Algorithm::EcP256, S::EcdsaSha384) => &signature::ECDSA_P256_SHA384_ASN1,
        (Algorithm::EcP384, S::EcdsaSha256) => &signature::ECDSA_P384_SHA256_ASN1,
        (Algorithm::EcP384, S::EcdsaSha384) => &signature::ECDSA_P384_SHA384_ASN1,
        (Algorithm::Ed25519, S::Ed25519) => &signature::ED25519,
        (_, S::RsaPkcs1Sha256) => &signature::RSA_PKCS1_2048_8192_SHA256,
        (_, S::RsaPkcs1Sha384) => &signature::RSA_PKCS1_2048_8192_SHA384,
        (_, S::RsaPkcs1Sha512) => &signature::RSA_PKCS1_2048_8192_SHA512,
        (_, S::RsaPssSha256) => &signature::RSA_PSS_2048_8192_SHA256,
        (_, S::RsaPssSha384) => &signature::RSA_PSS_2048_8192_SHA384,
        (_, S::RsaPssSha512) => &signature::RSA_PSS_2048_8192_SHA512,
        _ => panic!("{scheme} does not fit {algorithm}"),
    }
}

/// Whether `signature` verifies over `message` under the SPKI `public_key`.
pub(super) fn verifies(
    algorithm: Algorithm,
    scheme: SignScheme,
    public_key: &[u8],
    message: &[u8],
    signature: &[u8],
) -> bool {
    let key = UnparsedPublicKey::new(verification(algorithm, scheme), public_key);
    key.verify(message, signature).is_ok()
}

/// The version field of a PKCS#8 document (0 for v1).
pub(super) fn pkcs8_version(pkcs8: &[u8]) -> u64 {
    let mut fields = Reader::new(der::single(pkcs8, tag::SEQUENCE).unwrap());
    der::small_uint(fields.expect(tag::INTEGER).unwrap()).unwrap()
}

/// Runs the `openssl` CLI inside a temporary directory.
pub(super) struct OpenSsl {
    dir: tempfile::TempDir,
}

impl OpenSsl {
    pub(super) fn new() -> OpenSsl {
        OpenSsl {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// Path of a file in the temporary directory.
    pub(super) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `openssl args...` in the directory, asserts success, returns stdout.
    pub(super) fn run(&self, args: &[&str]) -> Vec<u8> {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "openssl {args:?} failed: {stderr}");
        output.stdout
    }

    /// Contents of a file in the directory.
    pub(super) fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap()
    }

    /// Writes a file in the directory.
    pub(super) fn write(&self, name: &str, contents: &[u8]) {
        std::fs::write(self.path(name), contents).unwrap();
    }

    /// `openssl genpkey options -out name.pem`; returns the PEM.
    pub(super) fn genpkey(&self, name: &str, options: &[&str]) -> Vec<u8> {
        let out = format!("{name}.pem");
        self.run(&[&["genpkey", "-out", &out], options].concat());
        self.read(&out)
    }

    /// `openssl <command> -in name.pem -outform DER options`; returns the DER.
    pub(super) fn to_der(&self, command: &str, name: &str, options: &[&str]) -> Vec<u8> {
        let input = format!("{name}.pem");
        self.run(&[&[command, "-in", &input, "-outform", "DER"], options].concat())
    }

    /// The public key openssl derives from `name.pem`, as SPKI DER.
    pub(super) fn spki(&self, name: &str) -> Vec<u8> {
        self.to_der("pkey", name, &["-pubout"])
    }
}
