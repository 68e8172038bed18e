//! Bad input gets the right gRPC code with the field named, and changes nothing.

#![allow(clippy::unwrap_used)] // a test fails by panicking

use keyhold_cluster_tests::{Cluster, ClusterOptions};
use keyhold_proto::v1::sign_request::Input;
use keyhold_proto::v1::{
    DecryptRequest, DestroyKeyRequest, GenerateKeyRequest, GetKeyRequest, ImportKeyRequest,
    ListKeysRequest, SignRequest,
};
use tonic::Code;
use tonic_types::StatusExt;

fn assert_field(result: Result<impl std::fmt::Debug, tonic::Status>, field: &str) {
    let status = result.expect_err("request must be refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let details = status.get_error_details();
    let violations = &details
        .bad_request()
        .expect("bad request details")
        .field_violations;
    assert_eq!(violations[0].field, field, "{status:?}");
    assert!(
        status.message().contains(field),
        "message must name {field}: {}",
        status.message()
    );
}

fn generate(algorithm: &str, label: &str, usage: &str) -> GenerateKeyRequest {
    GenerateKeyRequest {
        algorithm: algorithm.into(),
        label: label.into(),
        usage: usage.into(),
    }
}

fn sign(key_id: &str, scheme: &str, input: Input) -> SignRequest {
    SignRequest {
        key_id: key_id.into(),
        scheme: scheme.into(),
        input: Some(input),
        min_index: 0,
    }
}

async fn key_count(cluster: &Cluster) -> usize {
    let req = ListKeysRequest {
        page_size: 1000,
        ..Default::default()
    };
    cluster
        .key_client(1)
        .list_keys(req)
        .await
        .unwrap()
        .into_inner()
        .keys
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_with_the_field_named_and_change_nothing() {
    let cluster = Cluster::start(ClusterOptions::default()).await;
    let mut c = cluster.key_client(2);
    let ed = c
        .generate_key(generate("ed25519", "ed", ""))
        .await
        .unwrap()
        .into_inner();
    let ed_id = ed.key.unwrap().id;
    let rsa = c
        .generate_key(generate("rsa-2048", "dec", "decrypt"))
        .await
        .unwrap()
        .into_inner();
    let rsa_id = rsa.key.unwrap().id;
    let ec = c
        .generate_key(generate("ec-p256", "ec", "sign"))
        .await
        .unwrap()
        .into_inner();
    let ec_id = ec.key.unwrap().id;
    let min_index = ec.index;
    let before = key_count(&cluster).await;

    // Key creation.
    assert_field(
        c.generate_key(generate("rsa-1024", "x", "")).await,
        "algorithm",
    );
    assert_field(c.generate_key(generate("", "x", "")).await, "algorithm");
    assert_field(c.generate_key(generate("ec-p256", "", "")).await, "label");
    assert_field(
        c.generate_key(generate("ec-p256", "   ", "")).await,
        "label",
    );
    assert_field(
        c.generate_key(generate("ec-p256", &"l".repeat(129), ""))
            .await,
        "label",
    );
    assert_field(
        c.generate_key(generate("ec-p256", "x", "wrap")).await,
        "usage",
    );
    assert_field(
        c.generate_key(generate("ec-p256", "x", "decrypt")).await,
        "usage",
    );
    let import = |bytes: Vec<u8>| ImportKeyRequest {
        private_key: bytes,
        label: "imp".into(),
        usage: String::new(),
    };
    assert_field(c.import_key(import(vec![])).await, "private_key");
    assert_field(
        c.import_key(import(b"not a key at all".to_vec())).await,
        "private_key",
    );
    assert_field(
        c.import_key(import(vec![0x30, 0x82, 0x01])).await,
        "private_key",
    );
    let pem = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
    assert_field(
        c.import_key(import(pem.as_bytes().to_vec())).await,
        "private_key",
    );
    let rsa1024 = openssl_key(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:1024",
    ]);
    assert_field(c.import_key(import(rsa1024)).await, "private_key");
    let p521 = openssl_key(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-521",
    ]);
    assert_field(c.import_key(import(p521)).await, "private_key");

    // Signing.
    let msg = || Input::Message(b"hello".to_vec());
    assert_field(c.sign(sign(&ed_id, "ecdsa-sha256", msg())).await, "scheme");
    assert_field(
        c.sign(sign(&ec_id, "rsa-pss-sha256", msg())).await,
        "scheme",
    );
    assert_field(c.sign(sign(&ec_id, "ecdsa-md5", msg())).await, "scheme");
    assert_field(
        c.sign(sign(&ec_id, "ecdsa-sha256", Input::Digest(vec![1; 31])))
            .await,
        "digest",
    );
    assert_field(
        c.sign(sign(&ec_id, "ecdsa-sha384", Input::Digest(vec![1; 32])))
            .await,
        "digest",
    );
    assert_field(
        c.sign(sign(&ed_id, "ed25519", Input::Digest(vec![1; 32])))
            .await,
        "digest",
    );
    assert_field(
        c.sign(sign(&ec_id, "ecdsa-sha256", Input::Message(vec![])))
            .await,
        "message",
    );
    let huge = Input::Message(vec![0u8; 1024 * 1024 + 1]);
    assert_field(c.sign(sign(&ec_id, "ecdsa-sha256", huge)).await, "message");
    let no_input = SignRequest {
        key_id: ec_id.clone(),
        scheme: "ecdsa-sha256".into(),
        input: None,
        min_index: 0,
    };
    assert_field(c.sign(no_input).await, "input");
    assert_field(c.sign(sign("", "ecdsa-sha256", msg())).await, "key_id");
    assert_field(
        c.sign(sign("../../etc/passwd", "ecdsa-sha256", msg()))
            .await,
        "key_id",
    );

    // Unknown key: NOT_FOUND on every operation.
    let unknown = "k-00000000000000ff";
    let status = c
        .sign(sign(unknown, "ecdsa-sha256", msg()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert!(status.message().contains(unknown));
    let get = GetKeyRequest {
        key_id: unknown.into(),
        min_index,
    };
    assert_eq!(c.get_key(get).await.unwrap_err().code(), Code::NotFound);
    let destroy = DestroyKeyRequest {
        key_id: unknown.into(),
    };
    assert_eq!(
        c.destroy_key(destroy).await.unwrap_err().code(),
        Code::NotFound
    );

    // Usage and decrypt.
    let status = c
        .sign(sign(&rsa_id, "rsa-pss-sha256", msg()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    let decrypt = |key: &str, scheme: &str, ct: Vec<u8>| DecryptRequest {
        key_id: key.into(),
        scheme: scheme.into(),
        ciphertext: ct,
        min_index: 0,
    };
    let status = c
        .decrypt(decrypt(&ec_id, "rsa-oaep-sha256", vec![1; 256]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert_field(
        c.decrypt(decrypt(&rsa_id, "rsa-none", vec![1; 256])).await,
        "scheme",
    );
    assert_field(
        c.decrypt(decrypt(&rsa_id, "rsa-oaep-sha256", vec![])).await,
        "ciphertext",
    );
    assert_field(
        c.decrypt(decrypt(&rsa_id, "rsa-oaep-sha256", vec![1; 256]))
            .await,
        "ciphertext",
    );

    // Listing.
    let list = ListKeysRequest {
        page_size: 5000,
        ..Default::default()
    };
    assert_field(c.list_keys(list).await, "page_size");
    let list = ListKeysRequest {
        page_token: "garbage".into(),
        ..Default::default()
    };
    assert_field(c.list_keys(list).await, "page_token");

    assert_eq!(
        key_count(&cluster).await,
        before,
        "a refused request must change nothing"
    );
    for id in 1..=3 {
        let log = cluster.log(id);
        assert!(!log.contains("panicked"), "node {id} panicked:\n{log}");
    }
}

fn openssl_key(args: &[&str]) -> Vec<u8> {
    let out = std::process::Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(out.status.success());
    out.stdout
}
