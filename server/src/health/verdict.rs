//! The decision of `hsmd health`: from the node's own `ClusterStatus` answer to healthy or
//! one reason why not. Pure (no network), so every rule is a unit test; dialling the node
//! and turning the verdict into an exit code are left to `health` and `main`.

use std::fmt;

use keyhold_proto::v1::{ClusterStatusResponse, NodeStatus};

use crate::config::ConfigError;
use crate::tls::TlsError;

/// What the check asks of the node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Readiness: the API answers, the node is an unsealed member of an initialized
    /// cluster, and it sees a live leader and a quorum of members.
    Ready,
    /// Liveness: the API answers over mutual TLS, whatever the node's state.
    Live,
}

/// A passing check: the node as it described itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Healthy {
    /// The node that answered.
    pub node_id: u64,
    /// Its Raft role (leader, follower, ...), or `unknown` before it is a member.
    pub role: String,
    /// Its current term.
    pub term: u64,
    /// The leader it knows, if any.
    pub leader: Option<u64>,
}

impl fmt::Display for Healthy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (id, role, term) = (self.node_id, &self.role, self.term);
        match self.leader {
            Some(leader) => write!(f, "node {id} ({role}, term {term}, leader {leader})"),
            None => write!(f, "node {id} ({role}, term {term}, no leader)"),
        }
    }
}

/// Why a node is not healthy. Each message is one line that starts with a short reason
/// word a script can match (`config`, `unreachable`, `sealed`, `no leader`, ...); none
/// carries key material or secret text.
#[derive(Debug, thiserror::Error)]
pub enum Unhealthy {
    /// The config file could not be loaded; names the file or the setting.
    #[error("config: {0}")]
    Config(#[from] ConfigError),
    /// A TLS file named in the config could not be read; names the file.
    #[error("config: {0}")]
    TlsFiles(#[from] TlsError),
    /// The TLS files were read but do not form a usable client identity.
    #[error("config: tls.cert, tls.key or tls.ca is unusable: {reason}")]
    TlsSetup {
        /// What the TLS stack said.
        reason: String,
    },
    /// No answer: connection refused, TLS handshake failed, or the call failed.
    #[error("unreachable: {address}: {reason}")]
    Unreachable {
        /// The address dialled.
        address: String,
        /// What failed.
        reason: String,
    },
    /// No answer within the timeout.
    #[error("unreachable: {address}: no answer within {millis} ms")]
    Timeout {
        /// The address dialled.
        address: String,
        /// The timeout.
        millis: u64,
    },
    /// Another node answered at this node's address.
    #[error("wrong node: node {answered} answered, this config is node {expected}")]
    WrongNode {
        /// The node id in the answer.
        answered: u64,
        /// The node id in the config.
        expected: u64,
    },
    /// `cluster init` has not run (or this node missed it).
    #[error("not initialized: run `hsmctl cluster init` once all nodes are up")]
    NotInitialized,
    /// The node is not in the cluster membership it reports.
    #[error("not a member: node {node_id} is not in the cluster membership")]
    NotMember {
        /// This node.
        node_id: u64,
    },
    /// The node cannot use the cluster key and refuses crypto.
    #[error("sealed: node {node_id} refuses crypto (its log says why)")]
    Sealed {
        /// This node.
        node_id: u64,
    },
    /// The node knows no leader (an election is under way, or it is cut off).
    #[error("no leader: node {node_id} knows no leader ({role}, term {term})")]
    NoLeader {
        /// This node.
        node_id: u64,
        /// Its role.
        role: String,
        /// Its term.
        term: u64,
    },
    /// The leader this node knows did not answer it: its view may be stale.
    #[error("no leader: leader {leader} is unreachable from node {node_id}")]
    LeaderUnreachable {
        /// This node.
        node_id: u64,
        /// The leader it knows.
        leader: u64,
    },
    /// The node this one takes for leader says it is not leading.
    #[error("no leader: node {leader} does not lead any more ({role}, term {term})")]
    LeaderStepped {
        /// The node this one takes for leader.
        leader: u64,
        /// The role that node reports.
        role: String,
        /// The term that node reports.
        term: u64,
    },
    /// The node reaches no majority of the members.
    #[error("no quorum: node {node_id} reaches {reachable} of {members} members")]
    NoQuorum {
        /// This node.
        node_id: u64,
        /// Members it reached, itself included.
        reachable: usize,
        /// All members.
        members: usize,
    },
}

/// Judges node `expected`'s answer to `ClusterStatus` in `mode`.
pub fn judge(
    expected: u64,
    status: &ClusterStatusResponse,
    mode: Mode,
) -> Result<Healthy, Unhealthy> {
    if status.node_id != expected {
        return Err(Unhealthy::WrongNode {
            answered: status.node_id,
            expected,
        });
    }
    let me = status.nodes.iter().find(|n| n.id == expected);
    let healthy = Healthy {
        node_id: expected,
        role: me.map_or_else(|| "unknown".to_owned(), |n| n.role.clone()),
        term: me.map_or(0, |n| n.term),
        leader: (status.leader_id != 0).then_some(status.leader_id),
    };
    if mode == Mode::Live {
        return Ok(healthy);
    }
    ready(status, me, &healthy)?;
    Ok(healthy)
}

/// The readiness rules, in the order an operator would fix them.
fn ready(
    status: &ClusterStatusResponse,
    me: Option<&NodeStatus>,
    healthy: &Healthy,
) -> Result<(), Unhealthy> {
    let node_id = healthy.node_id;
    if !status.initialized {
        return Err(Unhealthy::NotInitialized);
    }
    let Some(me) = me else {
        return Err(Unhealthy::NotMember { node_id });
    };
    if me.sealed {
        return Err(Unhealthy::Sealed { node_id });
    }
    let Some(leader_id) = healthy.leader else {
        return Err(Unhealthy::NoLeader {
            node_id,
            role: me.role.clone(),
            term: me.term,
        });
    };
    // The status has no staleness field; a leader that answers this node, and says it
    // leads, is what "not stale" can be judged from here.
    let leader = status.nodes.iter().find(|n| n.id == leader_id);
    let Some(leader) = leader.filter(|l| l.reachable) else {
        return Err(Unhealthy::LeaderUnreachable {
            node_id,
            leader: leader_id,
        });
    };
    if leader.role != "leader" {
        return Err(Unhealthy::LeaderStepped {
            leader: leader_id,
            role: leader.role.clone(),
            term: leader.term,
        });
    }
    let reachable = status.nodes.iter().filter(|n| n.reachable).count();
    let members = status.nodes.len();
    if reachable * 2 <= members {
        return Err(Unhealthy::NoQuorum {
            node_id,
            reachable,
            members,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: u64, role: &str) -> NodeStatus {
        NodeStatus {
            id,
            role: role.into(),
            term: 4,
            reachable: true,
            ..Default::default()
        }
    }

    /// Node 2 answering in a healthy three-node cluster led by node 1.
    fn healthy_cluster() -> ClusterStatusResponse {
        ClusterStatusResponse {
            cluster_id: "c-1".into(),
            leader_id: 1,
            nodes: vec![node(1, "leader"), node(2, "follower"), node(3, "follower")],
            node_id: 2,
            initialized: true,
        }
    }

    fn ready_verdict(status: &ClusterStatusResponse) -> String {
        match judge(2, status, Mode::Ready) {
            Ok(h) => format!("healthy: {h}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_follower_with_a_reachable_leader_is_ready() {
        let verdict = ready_verdict(&healthy_cluster());
        assert_eq!(verdict, "healthy: node 2 (follower, term 4, leader 1)");
    }

    #[test]
    fn an_uninitialized_node_is_not_ready_but_live() {
        let mut status = healthy_cluster();
        status.initialized = false;
        status.leader_id = 0;
        assert!(ready_verdict(&status).starts_with("not initialized"));
        let live = judge(2, &status, Mode::Live).unwrap();
        assert_eq!(live.to_string(), "node 2 (follower, term 4, no leader)");
    }

    #[test]
    fn a_sealed_node_is_not_ready_but_live() {
        let mut status = healthy_cluster();
        status.nodes[1].sealed = true;
        assert_eq!(
            ready_verdict(&status),
            "sealed: node 2 refuses crypto (its log says why)"
        );
        assert!(judge(2, &status, Mode::Live).is_ok());
    }

    #[test]
    fn a_node_without_a_leader_is_not_ready() {
        let mut status = healthy_cluster();
        status.leader_id = 0;
        status.nodes[1].role = "candidate".into();
        let verdict = ready_verdict(&status);
        assert_eq!(
            verdict,
            "no leader: node 2 knows no leader (candidate, term 4)"
        );
    }

    #[test]
    fn an_unreachable_leader_makes_the_view_stale() {
        let mut status = healthy_cluster();
        status.nodes[0].reachable = false;
        let verdict = ready_verdict(&status);
        assert_eq!(verdict, "no leader: leader 1 is unreachable from node 2");
    }

    #[test]
    fn a_leader_that_stepped_down_is_not_a_leader() {
        let mut status = healthy_cluster();
        status.nodes[0].role = "follower".into();
        assert!(ready_verdict(&status).starts_with("no leader: node 1 does not lead"));
    }

    #[test]
    fn a_minority_is_not_ready() {
        let mut status = healthy_cluster();
        status.leader_id = 2;
        status.nodes[1].role = "leader".into();
        status.nodes[0].reachable = false;
        status.nodes[2].reachable = false;
        let verdict = ready_verdict(&status);
        assert_eq!(verdict, "no quorum: node 2 reaches 1 of 3 members");
    }

    #[test]
    fn one_unreachable_follower_leaves_the_others_ready() {
        let mut status = healthy_cluster();
        status.nodes[2].reachable = false;
        assert!(ready_verdict(&status).starts_with("healthy: node 2"));
    }

    #[test]
    fn a_node_missing_from_the_membership_is_not_ready() {
        let mut status = healthy_cluster();
        status.nodes.remove(1);
        assert!(ready_verdict(&status).starts_with("not a member: node 2"));
    }

    #[test]
    fn another_node_answering_fails_even_liveness() {
        let status = healthy_cluster();
        let err = judge(3, &status, Mode::Live).unwrap_err();
        assert!(matches!(
            err,
            Unhealthy::WrongNode {
                answered: 2,
                expected: 3
            }
        ));
    }
}
