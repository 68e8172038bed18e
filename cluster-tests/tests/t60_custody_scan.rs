//! Import known private keys, then scan every file under every node's directory (Raft
//! log, snapshots, sealed key, logs) for their private bytes in any common encoding:
//! none may be found.

#![allow(clippy::unwrap_used)] // a test fails by panicking

use std::path::Path;
use std::process::Command;

use keyhold_cluster_tests::openssl::{run, spki_to_pem, verify};
use keyhold_cluster_tests::ops::sign;
use keyhold_cluster_tests::{Cluster, ClusterOptions};
use keyhold_proto::v1::ImportKeyRequest;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imported_private_key_bytes_never_reach_disk() {
    let raft = "snapshot_after_logs = 2\nkeep_logs_after_snapshot = 1".to_owned();
    let mut cluster = Cluster::start(ClusterOptions {
        raft,
        ..Default::default()
    })
    .await;
    let keys_dir = tempfile::tempdir().unwrap();
    let dir = keys_dir.path();

    eprintln!("--- make known keys with openssl");
    let rsa = dir.join("rsa.pem");
    run(Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&rsa));
    let rsa_pkcs1 = dir.join("rsa-pkcs1.pem");
    run(Command::new("openssl")
        .args(["rsa", "-traditional", "-in"])
        .arg(&rsa)
        .arg("-out")
        .arg(&rsa_pkcs1));
    let ec = dir.join("ec.pem");
    run(Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
        ])
        .arg(&ec));
    let ed = dir.join("ed.pem");
    run(Command::new("openssl")
        .args(["genpkey", "-algorithm", "ED25519", "-out"])
        .arg(&ed));

    let mut secrets: Vec<(String, Vec<u8>)> = Vec::new();
    for (name, pem) in [("rsa", &rsa), ("ec", &ec), ("ed", &ed)] {
        secrets.push((format!("{name} pkcs8 der"), der_of(pem)));
    }
    secrets.push(("rsa pkcs1 der".into(), pkcs1_der(&rsa)));
    secrets.push(("ec sec1 der".into(), sec1_der(&ec)));
    for field in ["privateExponent", "prime1", "prime2"] {
        secrets.push((format!("rsa {field}"), text_field(&rsa, "rsa", field)));
    }
    secrets.push(("ec scalar".into(), text_field(&ec, "ec", "priv")));
    secrets.push(("ed25519 seed".into(), text_field(&ed, "pkey", "priv")));
    for (what, bytes) in &secrets {
        assert!(
            bytes.len() >= 32,
            "{what} too short to scan for: {}",
            bytes.len()
        );
    }

    eprintln!("--- import them through different nodes, each signs");
    let imports = [
        (&rsa, "rsa-pss-sha256", 1),
        (&rsa_pkcs1, "rsa-pkcs1-sha256", 2),
        (&ec, "ecdsa-sha256", 3),
        (&ed, "ed25519", 1),
    ];
    for (i, (pem, scheme, via)) in imports.iter().enumerate() {
        let req = ImportKeyRequest {
            private_key: std::fs::read(pem).unwrap(),
            label: format!("imported-{i}"),
            usage: String::new(),
        };
        let written = cluster
            .key_client(*via)
            .import_key(req)
            .await
            .unwrap()
            .into_inner();
        let key = written.key.unwrap();
        assert!(key.imported);
        let public = spki_to_pem(dir, &key.id, &key.public_key_der);
        let expected = run(Command::new("openssl")
            .args(["pkey", "-pubout", "-in"])
            .arg(pem));
        assert_eq!(
            std::fs::read_to_string(&public).unwrap(),
            expected,
            "public key must match the imported key"
        );
        let sig = sign(&cluster, 2, &key.id, scheme, b"custody", written.index)
            .await
            .unwrap();
        assert!(verify(dir, &public, scheme, b"custody", &sig));
    }

    eprintln!("--- stop every node so everything is on disk, then scan");
    for id in 1..=3 {
        assert!(cluster.terminate(id).await);
    }
    let mut scanned = 0;
    let mut found = Vec::new();
    for node in &cluster.nodes {
        scanned += scan(&node.dir, &secrets, &mut found);
    }
    assert!(
        scanned >= 9,
        "expected raft databases, sealed keys and logs; scanned {scanned} files"
    );
    assert!(found.is_empty(), "private key bytes on disk: {found:#?}");

    eprintln!("--- control: the same scan finds the keys in the PEM files they came from");
    let mut control = Vec::new();
    scan(dir, &secrets, &mut control);
    for what in [
        "rsa pkcs8 der",
        "ec pkcs8 der",
        "ed pkcs8 der",
        "rsa pkcs1 der",
    ] {
        assert!(
            control.iter().any(|f| f.starts_with(what)),
            "control scan missed {what}: {control:?}"
        );
    }
}

/// Scans every file under `dir` for each secret (raw, hex and base64), recording each
/// hit in `found`; returns how many files were read.
fn scan(dir: &Path, secrets: &[(String, Vec<u8>)], found: &mut Vec<String>) -> usize {
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            count += scan(&path, secrets, found);
            continue;
        }
        let content = std::fs::read(&path).unwrap();
        count += 1;
        for (what, secret) in secrets {
            for (encoding, needle) in encodings(secret) {
                if contains(&content, &needle) {
                    found.push(format!("{what} ({encoding}) in {}", path.display()));
                }
            }
        }
    }
    count
}

fn encodings(secret: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    use base64::Engine;
    let window = &secret[secret.len() / 2 - 12..secret.len() / 2 + 12];
    let mut out = vec![
        ("raw", window.to_vec()),
        ("hex", hex::encode(window).into_bytes()),
        ("HEX", hex::encode_upper(window).into_bytes()),
    ];
    // Base64 of the secret at each of the three alignments it could have in a buffer.
    for shift in 0..3 {
        let text = base64::engine::general_purpose::STANDARD.encode(&secret[shift..]);
        // Skip the first group: it may merge with bytes before the secret.
        out.push(("base64", text.as_bytes()[4..28].to_vec()));
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn der_of(pem: &Path) -> Vec<u8> {
    let args = ["pkcs8", "-topk8", "-nocrypt", "-outform", "DER", "-in"];
    let out = Command::new("openssl")
        .args(args)
        .arg(pem)
        .output()
        .unwrap();
    assert!(out.status.success());
    out.stdout
}

fn sec1_der(pem: &Path) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(["ec", "-outform", "DER", "-in"])
        .arg(pem)
        .output()
        .unwrap();
    assert!(out.status.success());
    out.stdout
}

fn pkcs1_der(pem: &Path) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(["rsa", "-traditional", "-outform", "DER", "-in"])
        .arg(pem)
        .output()
        .unwrap();
    assert!(out.status.success());
    out.stdout
}

/// A hex field from `openssl <cmd> -text`, as bytes without the leading zero byte.
fn text_field(pem: &Path, cmd: &str, field: &str) -> Vec<u8> {
    let text = run(Command::new("openssl")
        .args([cmd, "-noout", "-text", "-in"])
        .arg(pem));
    let mut hex_digits = String::new();
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with(&format!("{field}:")) {
            inside = true;
            continue;
        }
        if inside {
            if !line.starts_with(' ') {
                break;
            }
            hex_digits.extend(line.trim().split(':').filter(|s| !s.is_empty()));
        }
    }
    let mut bytes = hex::decode(hex_digits).expect("hex field");
    if bytes.first() == Some(&0) {
        bytes.remove(0);
    }
    bytes
}
