//! The audit trail on real nodes: each node records the calls it served (who, what, which
//! key, the outcome, a write's log index) before answering, `hsmctl audit show` reads
//! them back and `hsmctl audit verify` checks every node's hash chain. The trail holds no
//! message, signature or key bytes; an edited event is found, naming its seq; a restarted
//! node continues its chain.

#![allow(clippy::unwrap_used)] // a test fails by panicking

use keyhold_cluster_tests::ops::{generate, sign};
use keyhold_cluster_tests::{Cluster, ClusterOptions};
use keyhold_proto::v1::{DestroyKeyRequest, GetKeyRequest};
use serde_json::Value;

/// A message that must appear in no audit file, in any form.
const MESSAGE: &[u8] = b"audit-must-not-keep-this-message-7f3a";

/// `hsmctl audit show --node ID --json`: one event per line.
fn events(cluster: &Cluster, id: u64) -> Vec<Value> {
    let node = id.to_string();
    let out = cluster.hsmctl(&[
        "audit", "show", "--node", &node, "--limit", "1000", "--json",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "audit show --node {id}: {stderr}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// The one event of `action` on `key_id` with `outcome`.
fn find<'a>(events: &'a [Value], action: &str, key_id: &str, outcome: &str) -> &'a Value {
    let found: Vec<&Value> = events
        .iter()
        .filter(|e| e["action"] == action && e["key_id"] == key_id && e["outcome"] == outcome)
        .collect();
    assert_eq!(found.len(), 1, "{action} {key_id} {outcome} in {events:#?}");
    found[0]
}

fn audit_files_text(cluster: &Cluster) -> String {
    (1..=3)
        .map(|id| std::fs::read_to_string(cluster.node(id).data_dir().join("audit.jsonl")))
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_records_the_calls_it_served_in_a_chain_that_verifies() {
    let mut cluster = Cluster::start(ClusterOptions::default()).await;

    eprintln!("--- calls on different nodes: generate, sign, bad sign, unknown key, destroy");
    let (key, index) = generate(&cluster, 1, "ec-p256", "audited").await;
    sign(&cluster, 2, &key.id, "ecdsa-sha256", MESSAGE, index)
        .await
        .unwrap();
    let bad = sign(&cluster, 2, &key.id, "no-such-scheme", MESSAGE, index).await;
    assert_eq!(bad.unwrap_err().code(), tonic::Code::InvalidArgument);
    let missing = GetKeyRequest {
        key_id: "k-00000000000000aa".into(),
        min_index: 0,
    };
    let missing = cluster.key_client(3).get_key(missing).await.unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);
    let destroyed = cluster
        .key_client(3)
        .destroy_key(DestroyKeyRequest {
            key_id: key.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();

    eprintln!("--- each node's trail names the caller, the key, the outcome and the index");
    let node1 = events(&cluster, 1);
    let made = find(&node1, "GenerateKey", &key.id, "OK");
    assert_eq!(
        (made["index"].as_u64(), made["detail"].as_str()),
        (Some(index), Some("ec-p256"))
    );
    assert_eq!(made["caller"], "hsmctl", "the client certificate's CN");
    assert_eq!(made["caller_cert_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(made["node_id"], 1);

    let node2 = events(&cluster, 2);
    let signed = find(&node2, "Sign", &key.id, "OK");
    assert_eq!(signed["detail"], "ecdsa-sha256");
    let refused = find(&node2, "Sign", &key.id, "INVALID_ARGUMENT");
    assert_eq!(refused["detail"], "invalid scheme");
    assert!(refused["seq"].as_u64() > signed["seq"].as_u64());

    let node3 = events(&cluster, 3);
    find(&node3, "GetKey", "k-00000000000000aa", "NOT_FOUND");
    let gone = find(&node3, "DestroyKey", &key.id, "OK");
    assert_eq!(gone["index"].as_u64(), Some(destroyed.index));

    eprintln!("--- every chain verifies; no message or signature bytes are kept");
    let out = cluster.hsmctl(&["audit", "verify", "--all"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.matches("chain intact").count(), 3, "{stdout}");
    let text = audit_files_text(&cluster);
    let message = String::from_utf8_lossy(MESSAGE);
    assert!(!text.contains(message.as_ref()));
    assert!(!text.contains(&hex_of(MESSAGE)));

    eprintln!("--- an anchor (seq and hash) written down now holds");
    let seq = refused["seq"].as_u64().unwrap();
    let anchor = format!("{seq}:{}", refused["hash"].as_str().unwrap());
    let out = cluster.hsmctl(&["audit", "verify", "--node", "2", "--expect", &anchor]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    eprintln!("--- an event edited on disk is found, by its seq, after a restart");
    assert!(cluster.terminate(2).await, "node 2 stopped cleanly");
    let path = cluster.node(2).data_dir().join("audit.jsonl");
    let original = std::fs::read_to_string(&path).unwrap();
    let edited = original.replace("\"outcome\":\"INVALID_ARGUMENT\"", "\"outcome\":\"OK\"");
    assert_ne!(edited, original);
    std::fs::write(&path, edited).unwrap();
    cluster.restart(2).await;

    let out = cluster.hsmctl(&["audit", "verify", "--node", "2"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("BROKEN at seq {seq}")), "{stderr}");
    assert!(stderr.contains("hash mismatch"), "{stderr}");

    eprintln!("--- the restarted node continues its chain");
    let before = events(&cluster, 2).last().unwrap()["seq"].as_u64().unwrap();
    let (fresh, index) = generate(&cluster, 1, "ec-p256", "after-restart").await;
    sign(&cluster, 2, &fresh.id, "ecdsa-sha256", b"again", index)
        .await
        .unwrap();
    let after = events(&cluster, 2);
    let again = find(&after, "Sign", &fresh.id, "OK");
    assert!(again["seq"].as_u64().unwrap() > before);
    let previous = after
        .iter()
        .find(|e| e["seq"].as_u64() == Some(again["seq"].as_u64().unwrap() - 1))
        .unwrap();
    assert_eq!(again["prev_hash"], previous["hash"]);
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
