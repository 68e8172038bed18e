//! RSA decryption (PKCS#1 v1.5 and OAEP-SHA256) of ciphertexts made by `openssl`, on
//! every node; and key listing in pages with a label filter.

#![allow(clippy::unwrap_used)] // a test fails by panicking

use std::process::Command;

use keyhold_cluster_tests::openssl::{run, spki_to_pem};
use keyhold_cluster_tests::ops::generate;
use keyhold_cluster_tests::{Cluster, ClusterOptions};
use keyhold_proto::v1::{DecryptRequest, GenerateKeyRequest, ListKeysRequest};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsa_decrypts_openssl_ciphertexts_on_every_node_and_lists_page_by_page() {
    let cluster = Cluster::start(ClusterOptions::default()).await;
    let scratch = tempfile::tempdir().unwrap();

    eprintln!("--- a decrypt key, ciphertexts from openssl");
    let req = GenerateKeyRequest {
        algorithm: "rsa-2048".into(),
        label: "tls12".into(),
        usage: "decrypt".into(),
    };
    let written = cluster
        .key_client(1)
        .generate_key(req)
        .await
        .unwrap()
        .into_inner();
    let key = written.key.unwrap();
    assert_eq!(key.usage, "decrypt");
    let pem = spki_to_pem(scratch.path(), &key.id, &key.public_key_der);
    let secret = b"48 bytes of TLS 1.2 premaster secret material!!".to_vec();
    let plain = scratch.path().join("plain.bin");
    std::fs::write(&plain, &secret).unwrap();
    for (scheme, opts) in [
        ("rsa-pkcs1", vec!["-pkeyopt", "rsa_padding_mode:pkcs1"]),
        (
            "rsa-oaep-sha256",
            vec![
                "-pkeyopt",
                "rsa_padding_mode:oaep",
                "-pkeyopt",
                "rsa_oaep_md:sha256",
            ],
        ),
    ] {
        let ct = scratch.path().join(format!("{scheme}.bin"));
        run(Command::new("openssl")
            .args(["pkeyutl", "-encrypt", "-pubin", "-inkey"])
            .arg(&pem)
            .args(&opts)
            .arg("-in")
            .arg(&plain)
            .arg("-out")
            .arg(&ct));
        let ciphertext = std::fs::read(&ct).unwrap();
        for node in 1..=3 {
            let req = DecryptRequest {
                key_id: key.id.clone(),
                scheme: scheme.into(),
                ciphertext: ciphertext.clone(),
                min_index: written.index,
            };
            let out = cluster
                .key_client(node)
                .decrypt(req)
                .await
                .unwrap()
                .into_inner();
            assert_eq!(out.plaintext, secret, "{scheme} on node {node}");
            assert_eq!(out.node_id, node);
        }
    }

    eprintln!("--- seven keys, listed two at a time with a label filter");
    let mut expected = Vec::new();
    let mut last_index = 0;
    for i in 0..7 {
        let label = if i % 2 == 0 { "even" } else { "odd" };
        let (info, index) = generate(&cluster, (i % 3) + 1, "ed25519", label).await;
        if label == "even" {
            expected.push(info.id);
        }
        last_index = index;
    }
    expected.sort();
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let req = ListKeysRequest {
            page_size: 2,
            page_token: token,
            label: "even".into(),
            min_index: last_index,
        };
        let page = cluster
            .key_client(3)
            .list_keys(req)
            .await
            .unwrap()
            .into_inner();
        assert!(page.keys.len() <= 2);
        assert!(page.keys.iter().all(|k| k.label == "even"));
        seen.extend(page.keys.into_iter().map(|k| k.id));
        pages += 1;
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(
        seen, expected,
        "pages must cover every match once, in id order"
    );
    assert_eq!(pages, 2);
}
