//! What `dev up` prints once the cluster is ready (one line, or one JSON document) and
//! what `dev down` reports.

use std::path::PathBuf;

use keyhold_client::v1::ClusterStatusResponse;
use serde_json::{Value, json};

use super::layout::{CLIENT_CONFIG, Layout};
use super::process::Stopped;
use crate::output::Render;

/// The cluster is ready.
#[derive(Debug)]
pub(crate) struct Ready<'a> {
    /// The directory as the user gave it (so the hint reads as they typed it).
    pub(crate) given_dir: PathBuf,
    /// The prepared directory.
    pub(crate) layout: &'a Layout,
    /// The status that showed it ready.
    pub(crate) status: ClusterStatusResponse,
    /// Pids, in node order.
    pub(crate) pids: Vec<u32>,
}

impl Render for Ready<'_> {
    fn text(&self) -> String {
        let azs: Vec<&str> = self.layout.nodes.iter().map(|n| n.az.as_str()).collect();
        format!(
            "Keyhold dev cluster ready: {} nodes in {}. Try: hsmctl --config {} cluster status \
             (Ctrl-C stops the cluster)",
            self.layout.nodes.len(),
            azs.join(", "),
            self.given_dir.join(CLIENT_CONFIG).display()
        )
    }

    fn json(&self) -> Value {
        let nodes: Vec<Value> = self
            .layout
            .nodes
            .iter()
            .zip(&self.pids)
            .map(|(node, pid)| {
                json!({
                    "id": node.id,
                    "availability_zone": node.az,
                    "api_addr": node.api_addr,
                    "raft_addr": node.raft_addr,
                    "pid": pid,
                    "log": node.log_path().to_string_lossy(),
                })
            })
            .collect();
        json!({
            "ready": true,
            "dir": self.layout.dir.to_string_lossy(),
            "client_config": self.layout.dir.join(CLIENT_CONFIG).to_string_lossy(),
            "cluster_id": self.status.cluster_id,
            "leader_id": self.status.leader_id,
            "nodes": nodes,
        })
    }
}

/// What `dev down` did.
#[derive(Debug)]
pub(crate) struct Down {
    /// The dev cluster directory.
    pub(crate) dir: PathBuf,
    /// One entry per pid file found.
    pub(crate) stopped: Vec<Stopped>,
}

impl Render for Down {
    fn text(&self) -> String {
        if self.stopped.is_empty() {
            return format!(
                "No hsmd pid files in {}; nothing to stop.",
                self.dir.display()
            );
        }
        let lines: Vec<String> = self
            .stopped
            .iter()
            .map(|s| match s {
                Stopped::Stopped {
                    id,
                    pid,
                    killed: false,
                } => {
                    format!("Stopped hsmd node-{id} (pid {pid}).")
                }
                Stopped::Stopped {
                    id,
                    pid,
                    killed: true,
                } => {
                    format!("Killed hsmd node-{id} (pid {pid}): it ignored SIGTERM.")
                }
                Stopped::Stale { id, pid } => {
                    format!("node-{id} was not running (stale pid {pid}); removed its pid file.")
                }
            })
            .collect();
        lines.join("\n")
    }

    fn json(&self) -> Value {
        let nodes: Vec<Value> = self
            .stopped
            .iter()
            .map(|s| match s {
                Stopped::Stopped { id, pid, killed } => {
                    let state = if *killed { "killed" } else { "stopped" };
                    json!({ "id": id, "pid": pid, "state": state })
                }
                Stopped::Stale { id, pid } => json!({ "id": id, "pid": pid, "state": "stale" }),
            })
            .collect();
        json!({ "dir": self.dir.to_string_lossy(), "nodes": nodes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dev::layout::NodeLayout;

    fn layout() -> Layout {
        let nodes = (1..=3u64)
            .map(|id| NodeLayout {
                id,
                az: format!("az-{}", ["a", "b", "c"][id as usize - 1]),
                api_addr: format!("127.0.0.1:710{id}"),
                raft_addr: format!("127.0.0.1:720{id}"),
                dir: PathBuf::from(format!("/abs/dev/node-{id}")),
            })
            .collect();
        Layout {
            dir: PathBuf::from("/abs/dev"),
            nodes,
        }
    }

    #[test]
    fn ready_is_one_line_with_the_command_to_try() {
        let layout = layout();
        let status = ClusterStatusResponse {
            cluster_id: "c-1".into(),
            leader_id: 2,
            ..Default::default()
        };
        let ready = Ready {
            given_dir: PathBuf::from("dev"),
            layout: &layout,
            status,
            pids: vec![10, 11, 12],
        };
        let text = ready.text();
        assert_eq!(
            text,
            "Keyhold dev cluster ready: 3 nodes in az-a, az-b, az-c. Try: hsmctl --config \
             dev/client.toml cluster status (Ctrl-C stops the cluster)"
        );
        assert!(!text.contains('\n'));

        let json = ready.json();
        assert_eq!(json["client_config"], "/abs/dev/client.toml");
        assert_eq!(json["leader_id"], 2);
        assert_eq!(json["nodes"][2]["pid"], 12);
        assert_eq!(json["nodes"][1]["log"], "/abs/dev/node-2/hsmd.log");
    }

    #[test]
    fn down_reports_each_node() {
        let down = Down {
            dir: PathBuf::from("dev"),
            stopped: vec![
                Stopped::Stopped {
                    id: 1,
                    pid: 10,
                    killed: false,
                },
                Stopped::Stopped {
                    id: 2,
                    pid: 11,
                    killed: true,
                },
                Stopped::Stale { id: 3, pid: 12 },
            ],
        };
        let lines: Vec<String> = down.text().lines().map(str::to_string).collect();
        assert_eq!(lines[0], "Stopped hsmd node-1 (pid 10).");
        assert_eq!(lines[1], "Killed hsmd node-2 (pid 11): it ignored SIGTERM.");
        assert_eq!(
            lines[2],
            "node-3 was not running (stale pid 12); removed its pid file."
        );
        assert_eq!(down.json()["nodes"][1]["state"], "killed");
        let nothing = Down {
            dir: PathBuf::from("dev"),
            stopped: Vec::new(),
        };
        assert_eq!(nothing.text(), "No hsmd pid files in dev; nothing to stop.");
    }
}
