//! `hsmctl cluster init` and `cluster status`.

use keyhold_client::Client;
use keyhold_client::v1::{ClusterStatusResponse, InitClusterResponse, NodeStatus};
use serde_json::{Value, json};

use crate::error::CliError;
use crate::output::{Render, table};

/// `cluster init`.
pub(crate) async fn init(client: &Client) -> Result<InitClusterResponse, CliError> {
    Ok(client.init_cluster().await?)
}

/// `cluster status`.
pub(crate) async fn status(client: &Client) -> Result<ClusterStatusResponse, CliError> {
    Ok(client.cluster_status().await?)
}

impl Render for InitClusterResponse {
    fn text(&self) -> String {
        let members: Vec<String> = self.members.iter().map(u64::to_string).collect();
        format!(
            "Cluster {} initialized with members {} (log index {})",
            self.cluster_id,
            members.join(", "),
            self.index
        )
    }

    fn json(&self) -> Value {
        json!({ "cluster_id": self.cluster_id, "index": self.index, "members": self.members })
    }
}

impl Render for ClusterStatusResponse {
    fn text(&self) -> String {
        let leader = match self.leader_id {
            0 => "no leader".to_string(),
            id => format!("leader {id}"),
        };
        let head = if self.initialized {
            format!(
                "Cluster {}: {leader}; answered by node {}",
                self.cluster_id, self.node_id
            )
        } else {
            format!(
                "Cluster not initialized (run `hsmctl cluster init`); answered by node {}",
                self.node_id
            )
        };
        let headers = [
            "ID",
            "AZ",
            "API ADDR",
            "ROLE",
            "TERM",
            "COMMIT",
            "APPLIED",
            "SEALED",
            "REACHABLE",
        ];
        let rows: Vec<Vec<String>> = self.nodes.iter().map(node_row).collect();
        format!("{head}\n{}", table(&headers, &rows))
    }

    fn json(&self) -> Value {
        json!({
            "cluster_id": self.cluster_id,
            "initialized": self.initialized,
            "leader_id": self.leader_id,
            "node_id": self.node_id,
            "nodes": self.nodes.iter().map(node_json).collect::<Vec<_>>(),
        })
    }
}

fn node_row(node: &NodeStatus) -> Vec<String> {
    let yes_no = |flag: bool| if flag { "yes" } else { "no" }.to_string();
    vec![
        node.id.to_string(),
        node.availability_zone.clone(),
        node.api_addr.clone(),
        node.role.clone(),
        node.term.to_string(),
        node.commit_index.to_string(),
        node.applied_index.to_string(),
        yes_no(node.sealed),
        yes_no(node.reachable),
    ]
}

fn node_json(node: &NodeStatus) -> Value {
    json!({
        "id": node.id,
        "availability_zone": node.availability_zone,
        "api_addr": node.api_addr,
        "raft_addr": node.raft_addr,
        "role": node.role,
        "term": node.term,
        "commit_index": node.commit_index,
        "applied_index": node.applied_index,
        "sealed": node.sealed,
        "reachable": node.reachable,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: u64, role: &str, sealed: bool, reachable: bool) -> NodeStatus {
        NodeStatus {
            id,
            availability_zone: format!("az-{}", (b'a' + id as u8 - 1) as char),
            api_addr: format!("127.0.0.1:710{id}"),
            raft_addr: format!("127.0.0.1:720{id}"),
            role: role.into(),
            term: 3,
            commit_index: 42,
            applied_index: 41,
            sealed,
            reachable,
        }
    }

    fn status() -> ClusterStatusResponse {
        ClusterStatusResponse {
            cluster_id: "c-1234".into(),
            leader_id: 1,
            nodes: vec![
                node(1, "leader", false, true),
                node(2, "unreachable", true, false),
            ],
            node_id: 1,
            initialized: true,
        }
    }

    #[test]
    fn status_text_is_a_headed_table() {
        let text = status().text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Cluster c-1234: leader 1; answered by node 1");
        assert_eq!(
            lines[1],
            "ID  AZ    API ADDR        ROLE         TERM  COMMIT  APPLIED  SEALED  REACHABLE"
        );
        assert_eq!(
            lines[2],
            "1   az-a  127.0.0.1:7101  leader       3     42      41       no      yes"
        );
        assert_eq!(
            lines[3],
            "2   az-b  127.0.0.1:7102  unreachable  3     42      41       yes     no"
        );
    }

    #[test]
    fn status_text_says_when_not_initialized() {
        let mut uninitialized = status();
        uninitialized.initialized = false;
        uninitialized.leader_id = 0;
        assert!(
            uninitialized
                .text()
                .starts_with("Cluster not initialized (run `hsmctl")
        );
    }

    #[test]
    fn status_json_keeps_every_field() {
        let json = status().json();
        assert_eq!(json["leader_id"], 1);
        assert_eq!(json["initialized"], true);
        assert_eq!(json["nodes"][1]["raft_addr"], "127.0.0.1:7202");
        assert_eq!(json["nodes"][1]["sealed"], true);
        assert_eq!(json["nodes"][0]["applied_index"], 41);
    }

    #[test]
    fn init_text_names_cluster_members_and_index() {
        let init = InitClusterResponse {
            cluster_id: "c-9".into(),
            index: 4,
            members: vec![1, 2, 3],
        };
        assert_eq!(
            init.text(),
            "Cluster c-9 initialized with members 1, 2, 3 (log index 4)"
        );
        assert_eq!(init.json()["members"], json!([1, 2, 3]));
    }
}
