//! Key accounting after a drill. A barrier write through the leader fixes a log index;
//! then every node lists its keys at that index and the lists are held against the
//! records: every acknowledged key is present on every node and signs there (the
//! signature verified against its public key), every acknowledged destroy stayed
//! destroyed, and every key present was made by an acknowledged write or by one whose
//! outcome the client could not know. The lists must also agree across nodes.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1, UnparsedPublicKey};
use keyhold_proto::v1::sign_request::Input;
use keyhold_proto::v1::{GenerateKeyRequest, KeyInfo, ListKeysRequest, SignRequest};
use serde::Serialize;

use super::record::{OpKind, OpRecord, Source};
use super::{Clock, LOAD_ALGORITHM, LOAD_SCHEME, observe};
use crate::Cluster;

/// Bound on one node's answers during the checks.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Message signed by the checks.
const MESSAGE: &[u8] = b"keyhold drill check";

/// What the key accounting found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Checks {
    /// Log index of the barrier write every node listed at.
    pub barrier_index: u64,
    /// Nodes whose keys were listed.
    pub nodes_checked: Vec<u64>,
    /// Acknowledged keys never destroyed: each must be on every node.
    pub acknowledged_keys: usize,
    /// Acknowledged keys missing somewhere, one line each.
    pub lost_keys: Vec<String>,
    /// Acknowledged destroys: each key must be gone everywhere.
    pub acknowledged_destroys: usize,
    /// Destroyed keys present somewhere, one line each.
    pub resurrected_keys: Vec<String>,
    /// Writes whose outcome the client could not know.
    pub in_doubt_writes: usize,
    /// Keys no acknowledged or in-doubt write made, one line each.
    pub unexplained_keys: Vec<String>,
    /// Signatures made and verified after the drill.
    pub signatures_checked: usize,
    /// Signatures that failed or did not verify, one line each.
    pub signature_failures: Vec<String>,
    /// Whether every node listed the same keys.
    pub nodes_agree: bool,
    /// Anything that kept a check from running.
    pub problems: Vec<String>,
}

impl Checks {
    /// True when nothing was lost, resurrected or unexplained, every signature verified
    /// and the nodes agree.
    pub fn passed(&self) -> bool {
        self.lost_keys.is_empty()
            && self.resurrected_keys.is_empty()
            && self.unexplained_keys.is_empty()
            && self.signature_failures.is_empty()
            && self.problems.is_empty()
            && self.nodes_agree
    }
}

/// az-partition's own findings.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PartitionChecks {
    /// The node whose zone was cut off.
    pub isolated_node: u64,
    /// It refused a write with UNAVAILABLE while cut off.
    pub isolated_write_refused: bool,
    /// How it answered that write.
    pub isolated_write_error: Option<String>,
    /// The other nodes accepted a write while it was cut off.
    pub majority_write_accepted: bool,
    /// From the cut to that write's acknowledgement.
    pub majority_write_after_ms: Option<f64>,
    /// After the heal, the cut-off node applied that write and served its key.
    pub caught_up: bool,
    /// From the heal to that moment.
    pub caught_up_after_ms: Option<f64>,
}

impl PartitionChecks {
    /// True when all three held.
    pub fn passed(&self) -> bool {
        self.isolated_write_refused && self.majority_write_accepted && self.caught_up
    }
}

/// What the records say should be in the cluster.
#[derive(Default)]
struct Expected<'a> {
    /// Acknowledged generates by key id.
    acknowledged: BTreeMap<&'a str, &'a OpRecord>,
    /// Keys with a destroy that may have applied (acknowledged or in doubt).
    destroy_attempted: BTreeSet<&'a str>,
    /// Keys whose destroy was acknowledged.
    destroyed: BTreeSet<&'a str>,
    /// Labels of generates that may have applied without an acknowledgement.
    in_doubt_labels: BTreeSet<&'a str>,
    in_doubt: usize,
}

impl<'a> Expected<'a> {
    fn from_records(records: &'a [OpRecord]) -> Self {
        let mut expected = Expected::default();
        for record in records {
            let key = record.key_id.as_deref();
            match (record.kind, key) {
                (OpKind::Generate, Some(id)) if record.ok => {
                    expected.acknowledged.insert(id, record);
                }
                (OpKind::Generate, _) if record.in_doubt => {
                    expected.in_doubt += 1;
                    if let Some(label) = record.label.as_deref() {
                        expected.in_doubt_labels.insert(label);
                    }
                }
                (OpKind::Destroy, Some(id)) if record.ok || record.in_doubt => {
                    expected.in_doubt += usize::from(!record.ok);
                    expected.destroy_attempted.insert(id);
                    if record.ok {
                        expected.destroyed.insert(id);
                    }
                }
                _ => {}
            }
        }
        expected
    }

    /// Acknowledged keys that no destroy may have touched.
    fn live(&self) -> impl Iterator<Item = (&'a str, &'a OpRecord)> + '_ {
        self.acknowledged
            .iter()
            .filter(|(id, _)| !self.destroy_attempted.contains(*id))
            .map(|(id, record)| (*id, *record))
    }

    fn explains(&self, key: &KeyInfo) -> bool {
        if let Some(record) = self.acknowledged.get(key.id.as_str()) {
            return record.label.as_deref() == Some(key.label.as_str());
        }
        let label_acknowledged = self
            .acknowledged
            .values()
            .any(|r| r.label.as_deref() == Some(key.label.as_str()));
        self.in_doubt_labels.contains(key.label.as_str()) && !label_acknowledged
    }
}

/// Runs the accounting. `records` holds every load operation and probe.
pub(crate) async fn run(
    cluster: &Cluster,
    clock: Clock,
    records: &[OpRecord],
    recovered: bool,
) -> Checks {
    let mut checks = Checks::default();
    let mut records = records.to_vec();
    if !recovered {
        checks
            .problems
            .push("checked a cluster that had not fully recovered".into());
    }
    match barrier(cluster, clock).await {
        Ok(record) => {
            checks.barrier_index = record.index.unwrap_or(0);
            records.push(record);
        }
        Err(problem) => checks.problems.push(problem),
    }
    let expected = Expected::from_records(&records);
    checks.acknowledged_keys = expected.live().count();
    checks.acknowledged_destroys = expected.destroyed.len();
    checks.in_doubt_writes = expected.in_doubt;
    for record in &records {
        if record.kind == OpKind::Destroy && record.error_class.as_deref() == Some("not-found") {
            let id = record.key_id.as_deref().unwrap_or_default();
            checks
                .lost_keys
                .push(format!("{id} was already gone when destroyed"));
        }
    }

    let mut listings = BTreeMap::new();
    for node in &cluster.nodes {
        match list_keys(cluster, node.id, checks.barrier_index).await {
            Ok(keys) => {
                listings.insert(node.id, keys);
            }
            Err(problem) => checks.problems.push(problem),
        }
    }
    checks.nodes_checked = listings.keys().copied().collect();
    let id_sets: BTreeSet<Vec<&String>> = listings.values().map(|k| k.keys().collect()).collect();
    checks.nodes_agree = id_sets.len() <= 1;

    for (node, keys) in &listings {
        account(&mut checks, &expected, *node, keys);
        sign_all(&mut checks, cluster, &expected, *node, keys).await;
    }
    checks
}

fn account(checks: &mut Checks, expected: &Expected, node: u64, keys: &BTreeMap<String, KeyInfo>) {
    for (id, record) in expected.live() {
        if !keys.contains_key(id) {
            let label = record.label.as_deref().unwrap_or_default();
            checks
                .lost_keys
                .push(format!("{id} ({label}) missing on node {node}"));
        }
    }
    for id in &expected.destroyed {
        if keys.contains_key(*id) {
            checks
                .resurrected_keys
                .push(format!("{id} present on node {node}"));
        }
    }
    for key in keys.values().filter(|key| !expected.explains(key)) {
        let (id, label) = (&key.id, &key.label);
        checks
            .unexplained_keys
            .push(format!("{id} ({label}) on node {node}"));
    }
}

async fn sign_all(
    checks: &mut Checks,
    cluster: &Cluster,
    expected: &Expected<'_>,
    node: u64,
    keys: &BTreeMap<String, KeyInfo>,
) {
    let mut client = cluster.key_client(node);
    for (id, _) in expected.live() {
        let Some(key) = keys.get(id) else {
            continue;
        };
        let request = SignRequest {
            key_id: id.to_owned(),
            scheme: LOAD_SCHEME.into(),
            input: Some(Input::Message(MESSAGE.to_vec())),
            min_index: checks.barrier_index,
        };
        checks.signatures_checked += 1;
        let reply = tokio::time::timeout(CALL_TIMEOUT, client.sign(request)).await;
        let failure = match reply {
            Err(_) => "timed out".to_owned(),
            Ok(Err(status)) => format!("{:?}: {}", status.code(), status.message()),
            Ok(Ok(signed)) if verifies(key, &signed.get_ref().signature) => continue,
            Ok(Ok(_)) => "the signature does not verify".to_owned(),
        };
        checks
            .signature_failures
            .push(format!("{id} on node {node}: {failure}"));
    }
}

/// Whether `signature` over the check message verifies with the key's public key.
fn verifies(key: &KeyInfo, signature: &[u8]) -> bool {
    // A P-256 SubjectPublicKeyInfo ends with the 65-byte uncompressed point.
    let spki = &key.public_key_der;
    if key.algorithm != LOAD_ALGORITHM || spki.len() < 65 {
        return false;
    }
    let point = &spki[spki.len() - 65..];
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, point)
        .verify(MESSAGE, signature)
        .is_ok()
}

/// A write through the current leader; its index is where every node lists.
async fn barrier(cluster: &Cluster, clock: Clock) -> Result<OpRecord, String> {
    let (leader, _) = observe::leader(cluster, CALL_TIMEOUT)
        .await
        .map_err(|err| format!("no leader for the barrier write: {err}"))?;
    let label = "drill-barrier".to_owned();
    let request = GenerateKeyRequest {
        algorithm: LOAD_ALGORITHM.into(),
        label: label.clone(),
        usage: "sign".into(),
    };
    let start_ms = clock.now_ms();
    let mut client = cluster.key_client(leader);
    let call = client.generate_key(request);
    let reply = tokio::time::timeout(CALL_TIMEOUT, call).await;
    let mut record = OpRecord::new(OpKind::Generate, start_ms, clock.now_ms());
    record.label = Some(label);
    record.source = Source::Probe;
    match reply {
        Ok(Ok(written)) => {
            let written = written.into_inner();
            record.key_id = written.key.map(|k| k.id);
            record.succeeded(Some(leader), Some(written.index));
            Ok(record)
        }
        Ok(Err(status)) => Err(format!("the barrier write failed: {status:?}")),
        Err(_) => Err("the barrier write timed out".into()),
    }
}

/// Every key node `id` holds at `min_index`, by id.
async fn list_keys(
    cluster: &Cluster,
    id: u64,
    min_index: u64,
) -> Result<BTreeMap<String, KeyInfo>, String> {
    let mut client = cluster.key_client(id);
    let mut keys = BTreeMap::new();
    let mut page_token = String::new();
    loop {
        let request = ListKeysRequest {
            page_size: 1000,
            page_token: page_token.clone(),
            label: String::new(),
            min_index,
        };
        let reply = tokio::time::timeout(CALL_TIMEOUT, client.list_keys(request))
            .await
            .map_err(|_| format!("node {id} did not list its keys in time"))?
            .map_err(|status| format!("node {id} could not list its keys: {status:?}"))?
            .into_inner();
        keys.extend(reply.keys.into_iter().map(|key| (key.id.clone(), key)));
        if reply.next_page_token.is_empty() {
            return Ok(keys);
        }
        page_token = reply.next_page_token;
    }
}
