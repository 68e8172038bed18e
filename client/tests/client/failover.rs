//! Ejection and probing, the retry rules for reads and writes, and the call deadline.

use std::time::Duration;

use keyhold_client::{Client, Error};
use keyhold_proto::v1::GenerateKeyRequest;
use tokio::time::Instant;

use crate::mock::{MockNode, Mode, Pki, cluster, eventually};
use crate::sign_request;

fn generate_request() -> GenerateKeyRequest {
    GenerateKeyRequest {
        algorithm: "ec-p256".into(),
        label: "web".into(),
        usage: "sign".into(),
    }
}

#[tokio::test]
async fn a_failing_node_is_ejected_then_probed_back_into_rotation() {
    let pki = Pki::new();
    let nodes = cluster(&pki, &["az-a", "az-b"]).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    a.state.set_key_mode(Mode::Unavailable);
    a.state.set_status_mode(Mode::Unavailable);
    let config = pki.client_config(vec![a.endpoint(), b.endpoint()]);
    let client = Client::connect(config).await.unwrap();

    // Node 1 fails twice (the policy's threshold), then gets no more requests.
    for _ in 0..20 {
        assert_eq!(client.sign(sign_request()).await.unwrap().node_id, 2);
    }
    assert_eq!(a.state.calls("sign"), 2);
    let probed = eventually(Duration::from_secs(5), || {
        a.state.calls("cluster_status") >= 2
    });
    assert!(
        probed.await,
        "the ejected node is probed, again after a failed probe"
    );
    assert_eq!(
        a.state.calls("sign"),
        2,
        "probes are status calls, not real requests"
    );

    // Node 1 recovers: a probe succeeds and it serves again.
    a.state.set_key_mode(Mode::Serve);
    a.state.set_status_mode(Mode::Serve);
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut served_by_node_1 = false;
    while !served_by_node_1 && Instant::now() < deadline {
        served_by_node_1 = client.sign(sign_request()).await.unwrap().node_id == 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(served_by_node_1, "the recovered node is back in rotation");
    assert!(a.state.calls("sign") >= 3);
}

#[tokio::test]
async fn sign_is_retried_on_another_node_after_unavailable() {
    let pki = Pki::new();
    let nodes = cluster(&pki, &["az-a", "az-b"]).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    a.state.set_key_mode(Mode::Unavailable);
    let mut config = pki.client_config(vec![a.endpoint()]);
    config.availability_zone = Some("az-a".into());
    config.discovery_interval = Some(Duration::from_secs(60));
    let client = Client::connect(config).await.unwrap();

    let signed = client.sign(sign_request()).await.unwrap();
    assert_eq!(signed.node_id, 2);
    assert_eq!(a.state.calls("sign"), 1, "the local node was tried first");
    assert_eq!(b.state.calls("sign"), 1);
}

#[tokio::test]
async fn sign_avoids_a_node_that_says_it_is_sealed() {
    let pki = Pki::new();
    let nodes = cluster(&pki, &["az-a", "az-b"]).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    a.state.set_key_mode(Mode::Sealed);
    let mut config = pki.client_config(vec![a.endpoint()]);
    config.availability_zone = Some("az-a".into());
    config.discovery_interval = Some(Duration::from_secs(60));
    let client = Client::connect(config).await.unwrap();

    for _ in 0..5 {
        assert_eq!(client.sign(sign_request()).await.unwrap().node_id, 2);
    }
    assert_eq!(
        a.state.calls("sign"),
        1,
        "asked once, then avoided until rediscovered"
    );
    assert_eq!(b.state.calls("sign"), 5);
}

#[tokio::test]
async fn a_write_that_reached_a_node_is_not_retried() {
    let pki = Pki::new();
    let nodes = cluster(&pki, &["az-a", "az-b"]).await;
    for node in &nodes {
        node.state.set_key_mode(Mode::Unavailable);
    }
    let endpoints = nodes.iter().map(MockNode::endpoint).collect();
    let mut config = pki.client_config(endpoints);
    config.call_timeout = Duration::from_secs(1);
    let client = Client::connect(config).await.unwrap();

    let err = client.generate_key(generate_request()).await.unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
    assert!(err.is_retryable());
    let generated: usize = nodes.iter().map(|n| n.state.calls("generate_key")).sum();
    assert_eq!(generated, 1, "the write went out exactly once");
    let target = nodes
        .iter()
        .find(|n| n.state.calls("generate_key") == 1)
        .unwrap();
    assert_eq!(err.origin().unwrap().endpoint, target.endpoint());
    assert_eq!(
        err.message(),
        Some(format!("node {} is stale", target.id).as_str())
    );
    assert_eq!(client.last_write_index(), 0);

    // A read in the same situation is retried until its deadline.
    let err = client.sign(sign_request()).await.unwrap_err();
    let Error::DeadlineExceeded {
        last_error: Some(last),
        ..
    } = &err
    else {
        panic!("unexpected {err:?}");
    };
    assert!(matches!(**last, Error::Unavailable { .. }), "{last:?}");
    let signs: usize = nodes.iter().map(|n| n.state.calls("sign")).sum();
    assert!(signs >= 2, "sign was sent {signs} times");
}

#[tokio::test]
async fn a_write_refused_as_not_written_is_sent_to_another_node() {
    let pki = Pki::new();
    let nodes = cluster(&pki, &["az-a", "az-b"]).await;
    nodes[0].state.set_key_mode(Mode::NotWritten);
    let mut config = pki.client_config(vec![nodes[0].endpoint()]);
    // The refusing node is the client's own zone, so it is asked first.
    config.availability_zone = Some("az-a".into());
    config.discovery_interval = Some(Duration::from_secs(60));
    config.call_timeout = Duration::from_secs(1);
    let client = Client::connect(config).await.unwrap();

    client.generate_key(generate_request()).await.unwrap();
    assert_eq!(nodes[0].state.calls("generate_key"), 1);
    assert_eq!(nodes[1].state.calls("generate_key"), 1);

    // With every node refusing, the call ends at its deadline and says the write was
    // not made.
    nodes[1].state.set_key_mode(Mode::NotWritten);
    let err = client.generate_key(generate_request()).await.unwrap_err();
    let Error::DeadlineExceeded {
        last_error: Some(last),
        ..
    } = &err
    else {
        panic!("unexpected {err:?}");
    };
    assert!(matches!(**last, Error::NotWritten { .. }), "{last:?}");
}

#[tokio::test]
async fn a_write_is_retried_when_the_connection_was_refused() {
    let pki = Pki::new();
    let live = MockNode::start(&pki, 2).await;
    let closed = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        format!("https://{}", listener.local_addr().unwrap())
    };
    let config = pki.client_config(vec![closed.clone(), live.endpoint()]);
    let client = Client::connect(config).await.unwrap();

    for _ in 0..4 {
        let written = client.generate_key(generate_request()).await.unwrap();
        assert!(written.index > 200);
    }
    assert_eq!(live.state.calls("generate_key"), 4);

    // With only the closed port, the write keeps failing to connect until the deadline.
    let mut config = pki.client_config(vec![closed.clone()]);
    config.call_timeout = Duration::from_secs(1);
    let client = Client::connect(config).await.unwrap();
    let err = client.generate_key(generate_request()).await.unwrap_err();
    let Error::DeadlineExceeded {
        last_error: Some(last),
        ..
    } = &err
    else {
        panic!("unexpected {err:?}");
    };
    let Error::Connect { origin, .. } = &**last else {
        panic!("unexpected {last:?}")
    };
    assert_eq!(origin.endpoint, closed);
}

#[tokio::test]
async fn the_call_deadline_bounds_a_hanging_node() {
    let pki = Pki::new();
    let node = MockNode::start(&pki, 1).await;
    node.state.set_key_mode(Mode::Hang);
    let timeout = Duration::from_millis(500);
    let mut config = pki.client_config(vec![node.endpoint()]);
    config.call_timeout = timeout;
    let client = Client::connect(config).await.unwrap();

    let started = Instant::now();
    let err = client.sign(sign_request()).await.unwrap_err();
    let elapsed = started.elapsed();

    let Error::DeadlineExceeded {
        origin: Some(origin),
        timeout: reported,
        ..
    } = &err
    else {
        panic!("unexpected {err:?}");
    };
    assert_eq!(origin.endpoint, node.endpoint());
    assert_eq!(*reported, timeout);
    assert!(err.is_retryable());
    assert!(elapsed >= timeout, "{elapsed:?}");
    assert!(
        elapsed < timeout + Duration::from_millis(1500),
        "{elapsed:?}"
    );
    assert_eq!(node.state.calls("sign"), 1);
}

#[tokio::test]
async fn a_server_with_a_cluster_ca_certificate_that_is_not_a_node_gets_no_request() {
    let pki = Pki::new();
    let impostor = MockNode::start_impostor(&pki, 1).await;
    let mut config = pki.client_config(vec![impostor.endpoint()]);
    config.call_timeout = Duration::from_secs(1);
    let client = Client::connect(config).await.unwrap();

    let err = client.generate_key(generate_request()).await.unwrap_err();
    assert!(
        err.to_string().contains("not a Keyhold node certificate"),
        "{err}"
    );
    assert_eq!(impostor.state.calls("generate_key"), 0);
    assert_eq!(impostor.state.calls("sign"), 0);
}
