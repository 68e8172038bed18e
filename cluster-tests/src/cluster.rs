//! A cluster of real `hsmd` processes in a temporary directory, one per simulated
//! availability zone, on free loopback ports.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use keyhold_proto::v1::cluster_service_client::ClusterServiceClient;
use keyhold_proto::v1::key_service_client::KeyServiceClient;
use keyhold_proto::v1::{ClusterStatusRequest, ClusterStatusResponse};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::binaries::{Binaries, binaries};
use crate::network::Network;
use crate::openssl::run;
use crate::wait::wait_until;

/// How a test cluster is made.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// Number of nodes (AZs az-a, az-b, ...).
    pub nodes: usize,
    /// Extra lines for each node's `[raft]` table.
    pub raft: String,
    /// Run `InitCluster` once the nodes answer.
    pub init: bool,
    /// Route every node-to-node link and every client link through a [`Network`] of
    /// proxies, for fault injection. Nodes advertise their client proxy as their API
    /// address, so discovering clients stay behind the proxies; the harness's own
    /// clients (`status`, `key_client`) connect directly.
    pub proxied: bool,
    /// The binaries to run; `None` builds this workspace's with cargo.
    pub binaries: Option<Binaries>,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            nodes: 3,
            raft: String::new(),
            init: true,
            proxied: false,
            binaries: None,
        }
    }
}

/// One node process.
#[derive(Debug)]
pub struct NodeHandle {
    /// Node id (1-based).
    pub id: u64,
    /// Availability zone.
    pub az: String,
    /// Client API port.
    pub api_port: u16,
    /// Node-to-node port.
    pub raft_port: u16,
    /// The node's directory (config, secret, log, data/).
    pub dir: PathBuf,
    child: Option<Child>,
}

impl NodeHandle {
    /// The node's data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// The node's log file.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("hsmd.log")
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

/// A running test cluster; dropping it kills every process it started.
pub struct Cluster {
    /// Root directory (removed on drop).
    pub dir: tempfile::TempDir,
    /// The nodes, index = id - 1.
    pub nodes: Vec<NodeHandle>,
    bins: Binaries,
    network: Option<Network>,
}

const AZS: [&str; 5] = ["az-a", "az-b", "az-c", "az-d", "az-e"];

impl Cluster {
    /// Makes the PKI and configs, starts every node and (by default) initializes.
    pub async fn start(options: ClusterOptions) -> Cluster {
        let bins = options
            .binaries
            .clone()
            .unwrap_or_else(|| binaries().clone());
        let dir = tempfile::tempdir().expect("tempdir");
        let pki = dir.path().join("pki");
        let nodes = options.nodes.to_string();
        run(Command::new(&bins.hsmctl)
            .args(["pki", "init", "--nodes", &nodes, "--dir"])
            .arg(&pki));

        let mut handles = Vec::new();
        // Hold every reserved port until all are chosen: a port released at once can be
        // handed out again by the next bind, and two listeners on one port kill a node.
        let mut reserved = Vec::new();
        let mut reserve = || {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let port = listener.local_addr().expect("addr").port();
            reserved.push(listener);
            port
        };
        for (i, az) in AZS.iter().take(options.nodes).enumerate() {
            let id = i as u64 + 1;
            let node_dir = dir.path().join(format!("node-{id}"));
            std::fs::create_dir_all(&node_dir).expect("node dir");
            let (api_port, raft_port) = (reserve(), reserve());
            let az = az.to_string();
            handles.push(NodeHandle {
                id,
                az,
                api_port,
                raft_port,
                dir: node_dir,
                child: None,
            });
        }
        drop(reserved);
        let network = options
            .proxied
            .then(|| Network::for_nodes(&handles).expect("link proxies"));
        let mut cluster = Cluster {
            dir,
            nodes: handles,
            bins,
            network,
        };
        for id in 1..=options.nodes as u64 {
            cluster.write_config(id, &options.raft);
            cluster.write_secret(id, &format!("secret-of-node-{id}-{}", std::process::id()));
            cluster.spawn(id);
        }
        for id in 1..=options.nodes as u64 {
            cluster.wait_answering(id).await;
        }
        if options.init {
            cluster.init().await;
        }
        cluster
    }

    /// Runs `InitCluster` on node 1 and waits for a leader and every node unsealed.
    pub async fn init(&self) {
        let mut client = self.cluster_client(1);
        client
            .init_cluster(keyhold_proto::v1::InitClusterRequest {})
            .await
            .expect("init cluster");
        self.wait_healthy().await;
    }

    /// Waits until some node reports a leader and every node is reachable and unsealed.
    pub async fn wait_healthy(&self) {
        let ids: Vec<u64> = self.nodes.iter().map(|n| n.id).collect();
        wait_until(
            "a leader and every node unsealed",
            Duration::from_secs(30),
            || async {
                for &id in &ids {
                    let status = self.status(id).await?;
                    let all_ok = status.nodes.iter().all(|n| n.reachable && !n.sealed);
                    if status.leader_id == 0 || !all_ok || status.nodes.len() != ids.len() {
                        return None;
                    }
                }
                Some(())
            },
        )
        .await
    }

    /// The leader as reported by any running node that knows one.
    pub async fn leader(&self) -> u64 {
        wait_until("a leader", Duration::from_secs(30), || async {
            for node in self.nodes.iter().filter(|n| n.child.is_some()) {
                if let Some(s) = self.status(node.id).await
                    && s.leader_id != 0
                    && self.node(s.leader_id).child.is_some()
                {
                    return Some(s.leader_id);
                }
            }
            None
        })
        .await
    }

    /// Cluster status from node `id`, or `None` if it does not answer within 2 s.
    pub async fn status(&self, id: u64) -> Option<ClusterStatusResponse> {
        let mut client = self.cluster_client(id);
        let call = client.cluster_status(ClusterStatusRequest {});
        let reply = tokio::time::timeout(Duration::from_secs(2), call)
            .await
            .ok()?
            .ok()?;
        Some(reply.into_inner())
    }

    /// Waits until node `id` answers cluster status.
    pub async fn wait_answering(&self, id: u64) {
        let what = format!("node {id} to answer");
        wait_until(&what, Duration::from_secs(30), || async {
            self.status(id).await.map(|_| ())
        })
        .await;
    }

    /// Node `id`.
    pub fn node(&self, id: u64) -> &NodeHandle {
        &self.nodes[id as usize - 1]
    }

    /// Key service client for node `id` with the cluster's client certificate.
    pub fn key_client(&self, id: u64) -> KeyServiceClient<Channel> {
        KeyServiceClient::new(self.channel(id, &self.client_tls()))
            .max_decoding_message_size(8 * 1024 * 1024)
            .max_encoding_message_size(8 * 1024 * 1024)
    }

    /// Cluster service client for node `id`.
    pub fn cluster_client(&self, id: u64) -> ClusterServiceClient<Channel> {
        ClusterServiceClient::new(self.channel(id, &self.client_tls()))
    }

    /// A lazily connecting channel to node `id`'s API with the given TLS settings.
    pub fn channel(&self, id: u64, tls: &ClientTlsConfig) -> Channel {
        let url = format!("https://127.0.0.1:{}", self.node(id).api_port);
        Endpoint::from_shared(url)
            .expect("endpoint")
            .tls_config(tls.clone())
            .expect("tls config")
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(20))
            .connect_lazy()
    }

    /// TLS settings with the cluster CA and its client certificate.
    pub fn client_tls(&self) -> ClientTlsConfig {
        let pki = self.pki_dir();
        let read = |name: &str| std::fs::read(pki.join(name)).expect("pki file");
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(read("ca.pem")))
            .identity(Identity::from_pem(read("client.pem"), read("client.key")))
            .domain_name("localhost")
    }

    /// The proxies of every link, when the cluster was started `proxied`.
    pub fn network(&self) -> Option<&Network> {
        self.network.as_ref()
    }

    /// The PKI directory.
    pub fn pki_dir(&self) -> PathBuf {
        self.dir.path().join("pki")
    }

    /// Writes a client config for `hsmctl` and returns its path.
    pub fn client_config(&self) -> PathBuf {
        let endpoints: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("\"https://127.0.0.1:{}\"", n.api_port))
            .collect();
        let text = format!(
            "endpoints = [{}]\nca = \"pki/ca.pem\"\ncert = \"pki/client.pem\"\nkey = \"pki/client.key\"\n",
            endpoints.join(", ")
        );
        let path = self.dir.path().join("client.toml");
        std::fs::write(&path, text).expect("client config");
        path
    }

    /// Runs `hsmctl --config <client config> <args>`.
    pub fn hsmctl(&self, args: &[&str]) -> Output {
        let config = self.client_config();
        Command::new(&self.bins.hsmctl)
            .arg("--config")
            .arg(config)
            .args(args)
            .output()
            .expect("hsmctl runs")
    }

    /// Starts node `id` (it must not be running).
    pub fn spawn(&mut self, id: u64) {
        let hsmd = self.bins.hsmd.clone();
        let node = &mut self.nodes[id as usize - 1];
        assert!(node.child.is_none(), "node {id} is already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(node.log_path())
            .expect("log");
        let child = Command::new(hsmd)
            .arg("--config")
            .arg(node.dir.join("hsmd.toml"))
            .env("KEYHOLD_LOG", "info,openraft=warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("hsmd starts");
        node.child = Some(child);
    }

    /// kill -9 node `id` and reap it.
    pub fn kill(&mut self, id: u64) {
        if let Some(mut child) = self.nodes[id as usize - 1].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM node `id` and wait (bounded) for a clean exit; returns whether it exited 0.
    pub async fn terminate(&mut self, id: u64) -> bool {
        let Some(mut child) = self.nodes[id as usize - 1].child.take() else {
            return true;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        for _ in 0..150 {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    /// Restarts node `id` after a kill or terminate and waits until it answers.
    pub async fn restart(&mut self, id: u64) {
        self.spawn(id);
        self.wait_answering(id).await;
    }

    /// Replaces node `id`'s unseal secret file.
    pub fn write_secret(&self, id: u64, secret: &str) {
        let path = self.node(id).dir.join("unseal.secret");
        std::fs::write(&path, secret).expect("secret");
        set_mode(&path, 0o600);
    }

    /// The node's log so far (for assertion messages and scans).
    pub fn log(&self, id: u64) -> String {
        std::fs::read_to_string(self.node(id).log_path()).unwrap_or_default()
    }

    fn write_config(&self, id: u64, raft_extra: &str) {
        let me = self.node(id);
        let mut text = format!(
            "node_id = {id}\navailability_zone = \"{}\"\napi_addr = \"127.0.0.1:{}\"\n\
             raft_addr = \"127.0.0.1:{}\"\ndata_dir = \"data\"\nadvertise_api_addr = \"{}\"\n\
             [tls]\nca = \"../pki/ca.pem\"\ncert = \"../pki/node-{id}.pem\"\nkey = \"../pki/node-{id}.key\"\n\
             [unseal]\nsecret_file = \"unseal.secret\"\n[raft]\n{raft_extra}\n",
            me.az,
            me.api_port,
            me.raft_port,
            self.client_addr(id)
        );
        for peer in self.nodes.iter().filter(|n| n.id != id) {
            text.push_str(&format!(
                "[[peers]]\nid = {}\navailability_zone = \"{}\"\napi_addr = \"{}\"\nraft_addr = \"{}\"\n",
                peer.id,
                peer.az,
                self.client_addr(peer.id),
                self.peer_addr(id, peer.id)
            ));
        }
        std::fs::write(me.dir.join("hsmd.toml"), text).expect("config");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}
