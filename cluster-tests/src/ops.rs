//! Short forms of the API calls tests make over and over.

use keyhold_proto::v1::sign_request::Input;
use keyhold_proto::v1::{GenerateKeyRequest, KeyInfo, SignRequest};

use crate::Cluster;

/// Generates a sign key through node `via`; returns it and the write's log index.
pub async fn generate(cluster: &Cluster, via: u64, algorithm: &str, label: &str) -> (KeyInfo, u64) {
    let req = GenerateKeyRequest {
        algorithm: algorithm.into(),
        label: label.into(),
        usage: String::new(),
    };
    let written = cluster
        .key_client(via)
        .generate_key(req)
        .await
        .expect("generate")
        .into_inner();
    (written.key.expect("key info"), written.index)
}

/// Signs `message` with the key on node `via`, waiting for `min_index`.
pub async fn sign(
    cluster: &Cluster,
    via: u64,
    key_id: &str,
    scheme: &str,
    message: &[u8],
    min_index: u64,
) -> Result<Vec<u8>, tonic::Status> {
    let req = SignRequest {
        key_id: key_id.into(),
        scheme: scheme.into(),
        input: Some(Input::Message(message.to_vec())),
        min_index,
    };
    Ok(cluster
        .key_client(via)
        .sign(req)
        .await?
        .into_inner()
        .signature)
}

/// The default signature scheme Keyhold tests use for an algorithm.
pub fn scheme_for(algorithm: &str) -> &'static str {
    match algorithm {
        "ec-p256" => "ecdsa-sha256",
        "ec-p384" => "ecdsa-sha384",
        "ed25519" => "ed25519",
        _ => "rsa-pss-sha256",
    }
}
