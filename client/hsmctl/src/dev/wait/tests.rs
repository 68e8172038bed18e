//! Readiness rules, judged on hand-made status answers.

use keyhold_client::v1::NodeStatus;
use keyhold_client::{Error, Origin};

use super::*;

fn node(id: u64) -> NodeStatus {
    NodeStatus {
        id,
        role: "follower".into(),
        reachable: true,
        ..Default::default()
    }
}

fn status(by: u64) -> ClusterStatusResponse {
    ClusterStatusResponse {
        cluster_id: "c-1".into(),
        leader_id: 1,
        nodes: vec![node(1), node(2), node(3)],
        node_id: by,
        initialized: true,
    }
}

fn all(statuses: [ClusterStatusResponse; 3]) -> Vec<Result<ClusterStatusResponse, Error>> {
    statuses.into_iter().map(Ok).collect()
}

#[test]
fn a_healthy_cluster_is_ready() {
    let ready = readiness(&all([status(1), status(2), status(3)]));
    assert_eq!(ready, Readiness::Ready(status(1)));
}

#[test]
fn a_silent_node_is_waited_for() {
    let mut statuses = all([status(1), status(2), status(3)]);
    statuses[1] = Err(Error::Connect {
        origin: Origin {
            endpoint: "https://127.0.0.1:7102".into(),
            node_id: None,
        },
        message: "connection refused".into(),
    });
    let Readiness::Waiting(what) = readiness(&statuses) else {
        panic!("not waiting")
    };
    assert!(what.starts_with("node 2 to answer ("), "{what}");
    assert!(what.contains("connection refused"), "{what}");
}

#[test]
fn a_new_cluster_needs_init() {
    let fresh = |by| ClusterStatusResponse {
        initialized: false,
        leader_id: 0,
        ..status(by)
    };
    assert_eq!(
        readiness(&all([fresh(1), fresh(2), fresh(3)])),
        Readiness::NeedsInit
    );
}

#[test]
fn a_node_that_has_not_caught_up_with_init_is_waited_for() {
    let lagging = ClusterStatusResponse {
        initialized: false,
        leader_id: 0,
        ..status(3)
    };
    let ready = readiness(&all([status(1), status(2), lagging]));
    let expected = "node 3 to learn that the cluster is initialized".to_string();
    assert_eq!(ready, Readiness::Waiting(expected));
}

#[test]
fn no_leader_sealed_or_unreachable_nodes_are_not_ready() {
    let leaderless = ClusterStatusResponse {
        leader_id: 0,
        ..status(2)
    };
    let ready = readiness(&all([status(1), leaderless, status(3)]));
    assert_eq!(ready, Readiness::Waiting("node 2 to know a leader".into()));

    let mut sealed = status(1);
    sealed.nodes[2].sealed = true;
    let ready = readiness(&all([sealed, status(2), status(3)]));
    assert_eq!(ready, Readiness::Waiting("node 3 to unseal".into()));

    let mut cut_off = status(1);
    cut_off.nodes[1].reachable = false;
    let ready = readiness(&all([cut_off, status(2), status(3)]));
    assert_eq!(ready, Readiness::Waiting("node 1 to reach node 2".into()));

    let mut partial = status(1);
    partial.nodes.pop();
    let ready = readiness(&all([partial, status(2), status(3)]));
    assert_eq!(
        ready,
        Readiness::Waiting("node 1 to see all 3 members".into())
    );
}
