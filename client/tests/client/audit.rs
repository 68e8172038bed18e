//! `read_audit`: addressed to one node by the id discovery learned, sent there only and
//! once, and refused before sending when no known node has the id.

use std::time::Duration;

use keyhold_client::{Client, Error};
use keyhold_proto::v1::{AuditEvent, ReadAuditRequest};

use crate::mock::{MockNode, Mode, Pki, cluster};

/// A client that has learned the ids of `nodes` from node 1.
async fn discovering_client(pki: &Pki, nodes: &[MockNode]) -> Client {
    let mut config = pki.client_config(vec![nodes[0].endpoint()]);
    config.discovery_interval = Some(Duration::from_secs(60));
    config.call_timeout = Duration::from_millis(500);
    Client::connect(config).await.unwrap()
}

/// Gives `node` the events 1..=count, each naming the node.
fn record(node: &MockNode, count: u64) {
    let events = (1..=count).map(|seq| AuditEvent {
        seq,
        node_id: node.id,
        action: "Sign".into(),
        ..AuditEvent::default()
    });
    node.state.audit.lock().unwrap().extend(events);
}

fn audit_calls(nodes: &[MockNode]) -> Vec<usize> {
    nodes.iter().map(|n| n.state.calls("read_audit")).collect()
}

#[tokio::test]
async fn read_audit_reaches_the_named_node_only() {
    let pki = Pki::new();
    let nodes = cluster(&pki, &["az-a", "az-b", "az-c"]).await;
    for node in &nodes {
        record(node, 5);
    }
    let client = discovering_client(&pki, &nodes).await;

    let request = ReadAuditRequest {
        from_seq: 2,
        limit: 3,
    };
    let page = client.read_audit(2, request).await.unwrap();
    assert_eq!(page.node_id, 2);
    assert_eq!(page.last_seq, 5);
    let seqs: Vec<u64> = page.events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [2, 3, 4]);
    assert!(page.events.iter().all(|e| e.node_id == 2));
    assert_eq!(audit_calls(&nodes), [0, 1, 0]);

    let page = client.read_audit(3, ReadAuditRequest::default()).await;
    assert_eq!(page.unwrap().node_id, 3);
    assert_eq!(audit_calls(&nodes), [0, 1, 1]);
}

#[tokio::test]
async fn read_audit_of_an_unknown_node_fails_naming_it_without_sending() {
    let pki = Pki::new();
    let nodes = cluster(&pki, &["az-a", "az-b", "az-c"]).await;
    let client = discovering_client(&pki, &nodes).await;
    assert_eq!(client.node_ids(), [1, 2, 3]);

    let err = client
        .read_audit(7, ReadAuditRequest::default())
        .await
        .unwrap_err();
    let Error::UnknownNode { node_id, known } = &err else {
        panic!("unexpected {err:?}")
    };
    assert_eq!((*node_id, known.as_slice()), (7, [1, 2, 3].as_slice()));
    assert_eq!(
        err.to_string(),
        "no known node has id 7 (known ids: 1, 2, 3)"
    );
    assert!(!err.is_retryable());
    assert_eq!(audit_calls(&nodes), [0, 0, 0]);
}

#[tokio::test]
async fn read_audit_without_discovery_knows_no_node_id() {
    let pki = Pki::new();
    let node = MockNode::start(&pki, 1).await;
    let client = Client::connect(pki.client_config(vec![node.endpoint()]))
        .await
        .unwrap();
    assert_eq!(client.node_ids(), Vec::<u64>::new());

    let err = client
        .read_audit(1, ReadAuditRequest::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::UnknownNode { node_id: 1, known } if known.is_empty()),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("ids are learned by discovery"),
        "{err}"
    );
    assert_eq!(node.state.calls("read_audit"), 0);
}

#[tokio::test]
async fn read_audit_is_not_sent_elsewhere_when_its_node_fails() {
    let pki = Pki::new();
    let nodes = cluster(&pki, &["az-a", "az-b", "az-c"]).await;
    let client = discovering_client(&pki, &nodes).await;
    nodes[1].state.set_key_mode(Mode::Unavailable);

    let err = client
        .read_audit(2, ReadAuditRequest::default())
        .await
        .unwrap_err();
    let Error::Unavailable { origin, .. } = &err else {
        panic!("unexpected {err:?}")
    };
    assert_eq!(origin.node_id, Some(2));
    assert_eq!(origin.endpoint, nodes[1].endpoint());
    assert_eq!(audit_calls(&nodes), [0, 1, 0]);
}

#[tokio::test]
async fn read_audit_of_a_hung_node_ends_at_the_call_deadline() {
    let pki = Pki::new();
    let nodes = cluster(&pki, &["az-a", "az-b"]).await;
    let client = discovering_client(&pki, &nodes).await;
    nodes[1].state.set_key_mode(Mode::Hang);

    let err = client
        .read_audit(2, ReadAuditRequest::default())
        .await
        .unwrap_err();
    let Error::DeadlineExceeded {
        origin, timeout, ..
    } = &err
    else {
        panic!("unexpected {err:?}")
    };
    assert_eq!(origin.as_ref().and_then(|o| o.node_id), Some(2));
    assert_eq!(*timeout, Duration::from_millis(500));
    assert_eq!(audit_calls(&nodes), [0, 1]);
}
