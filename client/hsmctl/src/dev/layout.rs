//! The files of a dev cluster directory: `pki/`, `node-<i>/hsmd.toml`,
//! `node-<i>/unseal.secret` and `client.toml`. Existing node configs and secrets are kept,
//! so that running `dev up` again on the same directory brings back the same cluster.

use std::net::TcpListener;
use std::path::{Path, PathBuf};

use rand::RngCore;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::DevError;
use crate::files::{self, FileError};
use crate::pki::{self, InitOptions};

/// Availability zone of node `i` is `AZS[i - 1]`.
pub(crate) const AZS: [&str; 3] = ["az-a", "az-b", "az-c"];
/// The client config `dev up` writes.
pub(crate) const CLIENT_CONFIG: &str = "client.toml";
/// The PKI directory inside a dev cluster directory.
pub(crate) const PKI_DIR: &str = "pki";

/// One node of the dev cluster and where its files live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NodeLayout {
    /// Node id, 1-based.
    pub(crate) id: u64,
    /// Availability zone.
    pub(crate) az: String,
    /// Client API address, `127.0.0.1:port`.
    pub(crate) api_addr: String,
    /// Node-to-node address, `127.0.0.1:port`.
    pub(crate) raft_addr: String,
    /// The node's directory, `DIR/node-<id>`.
    pub(crate) dir: PathBuf,
}

impl NodeLayout {
    /// `node-<id>`.
    pub(crate) fn name(&self) -> String {
        format!("node-{}", self.id)
    }
    /// The hsmd config file.
    pub(crate) fn config_path(&self) -> PathBuf {
        self.dir.join("hsmd.toml")
    }
    /// The unseal secret file.
    pub(crate) fn secret_path(&self) -> PathBuf {
        self.dir.join("unseal.secret")
    }
    /// Where hsmd's stdout and stderr go.
    pub(crate) fn log_path(&self) -> PathBuf {
        self.dir.join("hsmd.log")
    }
    /// The running process's id.
    pub(crate) fn pid_path(&self) -> PathBuf {
        self.dir.join("hsmd.pid")
    }
    /// The client API endpoint.
    pub(crate) fn endpoint(&self) -> String {
        format!("https://{}", self.api_addr)
    }
}

/// A prepared dev cluster directory.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    /// The directory (absolute).
    pub(crate) dir: PathBuf,
    /// The nodes, index = id - 1.
    pub(crate) nodes: Vec<NodeLayout>,
}

impl Layout {
    /// The PKI directory.
    pub(crate) fn pki_dir(&self) -> PathBuf {
        self.dir.join(PKI_DIR)
    }
}

/// Makes whatever is missing in `dir`: PKI, node configs, unseal secrets; (re)writes
/// `client.toml`. `base_port` 0 picks free ports; it applies only to new node configs.
pub(crate) fn prepare(dir: &Path, base_port: u16) -> Result<Layout, DevError> {
    files::create_dir(dir)?;
    let dir = dir.canonicalize().map_err(FileError::on("resolve", dir))?;
    let pki_dir = dir.join(PKI_DIR);
    if !pki::has_ca(&pki_dir) {
        let options = InitOptions {
            nodes: AZS.len() as u32,
            sans: Vec::new(),
            client_name: pki::DEFAULT_CLIENT_NAME.to_string(),
            force: false,
        };
        pki::init(&pki_dir, &options)?;
    }

    let (nodes, missing) = plan_nodes(&dir, base_port)?;
    for node in &nodes {
        files::create_dir(&node.dir)?;
        if missing.contains(&node.id) {
            write_node_config(node, &nodes)?;
        }
        if !node.secret_path().exists() {
            write_secret(&node.secret_path())?;
        }
    }
    let layout = Layout { dir, nodes };
    write_client_config(&layout)?;
    Ok(layout)
}

/// Fails if an address a node listens on is taken, before any process starts.
pub(crate) fn check_ports_free(nodes: &[NodeLayout]) -> Result<(), DevError> {
    for addr in nodes.iter().flat_map(|n| [&n.api_addr, &n.raft_addr]) {
        TcpListener::bind(addr.as_str()).map_err(|source| DevError::PortInUse {
            addr: addr.clone(),
            source,
        })?;
    }
    Ok(())
}

/// The nodes with their addresses, taken from existing configs (a node's own, or a peer
/// entry naming it) and else assigned; and the ids whose config must be written.
fn plan_nodes(dir: &Path, base_port: u16) -> Result<(Vec<NodeLayout>, Vec<u64>), DevError> {
    let mut known: Vec<Option<(String, String)>> = vec![None; AZS.len()];
    let mut missing = Vec::new();
    for id in 1..=AZS.len() as u64 {
        let path = dir.join(format!("node-{id}")).join("hsmd.toml");
        if !path.exists() {
            missing.push(id);
            continue;
        }
        let existing = read_node_config(&path)?;
        remember(
            &mut known,
            existing.node_id,
            existing.api_addr,
            existing.raft_addr,
        );
        for peer in existing.peers {
            remember(&mut known, peer.id, peer.api_addr, peer.raft_addr);
        }
    }
    let mut free = match base_port {
        0 => free_ports(missing.len())?.into_iter(),
        _ => Vec::new().into_iter(),
    };
    let mut nodes = Vec::new();
    for (index, az) in AZS.iter().enumerate() {
        let id = index as u64 + 1;
        let (api_addr, raft_addr) = match known[index].take() {
            Some(addrs) => addrs,
            None if base_port == 0 => free.next().ok_or(DevError::NoFreePorts)?,
            None => fixed_ports(base_port, id)?,
        };
        let node_dir = dir.join(format!("node-{id}"));
        nodes.push(NodeLayout {
            id,
            az: az.to_string(),
            api_addr,
            raft_addr,
            dir: node_dir,
        });
    }
    Ok((nodes, missing))
}

fn remember(known: &mut [Option<(String, String)>], id: u64, api: String, raft: String) {
    let Some(slot) = id.checked_sub(1).and_then(|i| known.get_mut(i as usize)) else {
        return;
    };
    if slot.is_none() {
        *slot = Some((api, raft));
    }
}

/// Node `id`'s `(api, raft)` addresses for a fixed base: `base+id` and `base+100+id`.
fn fixed_ports(base: u16, id: u64) -> Result<(String, String), DevError> {
    let port = |offset: u64| {
        u16::try_from(u64::from(base) + offset).map_err(|_| DevError::BasePortTooHigh { base })
    };
    Ok((addr(port(id)?), addr(port(100 + id)?)))
}

/// `count` pairs of ports that were free on 127.0.0.1 a moment ago.
fn free_ports(count: usize) -> Result<Vec<(String, String)>, DevError> {
    // Hold every listener until all are chosen, so the ports differ from each other.
    let mut listeners = Vec::new();
    for _ in 0..count * 2 {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|source| DevError::PortInUse {
            addr: "127.0.0.1:0".into(),
            source,
        })?;
        listeners.push(listener);
    }
    let ports: Vec<u16> = listeners
        .iter()
        .filter_map(|l| l.local_addr().ok())
        .map(|a| a.port())
        .collect();
    Ok(ports
        .chunks_exact(2)
        .map(|pair| (addr(pair[0]), addr(pair[1])))
        .collect())
}

fn addr(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

/// The parts of an existing hsmd config that `dev up` reuses.
#[derive(Debug, Deserialize)]
struct ExistingConfig {
    node_id: u64,
    api_addr: String,
    raft_addr: String,
    #[serde(default)]
    peers: Vec<PeerEntry>,
}

fn read_node_config(path: &Path) -> Result<ExistingConfig, DevError> {
    let text = String::from_utf8_lossy(&files::read(path)?).into_owned();
    toml::from_str(&text).map_err(|err| DevError::BadNodeConfig {
        path: path.to_path_buf(),
        message: err.message().to_string(),
    })
}

/// `hsmd.toml`, in the schema hsmd reads.
#[derive(Debug, Serialize)]
struct HsmdConfig {
    node_id: u64,
    availability_zone: String,
    api_addr: String,
    raft_addr: String,
    data_dir: String,
    tls: TlsSection,
    unseal: UnsealSection,
    peers: Vec<PeerEntry>,
}

#[derive(Debug, Serialize)]
struct TlsSection {
    ca: String,
    cert: String,
    key: String,
}

#[derive(Debug, Serialize)]
struct UnsealSection {
    secret_file: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct PeerEntry {
    id: u64,
    availability_zone: String,
    api_addr: String,
    raft_addr: String,
}

fn write_node_config(node: &NodeLayout, all: &[NodeLayout]) -> Result<(), DevError> {
    let peers = all
        .iter()
        .filter(|peer| peer.id != node.id)
        .map(|peer| PeerEntry {
            id: peer.id,
            availability_zone: peer.az.clone(),
            api_addr: peer.api_addr.clone(),
            raft_addr: peer.raft_addr.clone(),
        })
        .collect();
    // Paths are relative to the config file's directory, so the tree can be moved.
    let config = HsmdConfig {
        node_id: node.id,
        availability_zone: node.az.clone(),
        api_addr: node.api_addr.clone(),
        raft_addr: node.raft_addr.clone(),
        data_dir: "data".into(),
        tls: TlsSection {
            ca: format!("../{PKI_DIR}/ca.pem"),
            cert: format!("../{PKI_DIR}/{}.pem", node.name()),
            key: format!("../{PKI_DIR}/{}.key", node.name()),
        },
        unseal: UnsealSection {
            secret_file: "unseal.secret".into(),
        },
        peers,
    };
    let text = toml::to_string(&config).map_err(DevError::Toml)?;
    let header = "# Written by `hsmctl dev up`; kept when it runs again.\n";
    Ok(files::write_public(
        &node.config_path(),
        format!("{header}{text}").as_bytes(),
    )?)
}

/// 32 random bytes, hex, mode 0600.
fn write_secret(path: &Path) -> Result<(), DevError> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(bytes.as_mut());
    let mut text = Zeroizing::new(hex::encode(bytes.as_ref()));
    text.push('\n');
    Ok(files::write_private(path, text.as_bytes())?)
}

/// `client.toml`, in the schema `ClientConfig::from_file` reads.
#[derive(Debug, Serialize)]
struct ClientFile {
    endpoints: Vec<String>,
    ca: String,
    cert: String,
    key: String,
}

fn write_client_config(layout: &Layout) -> Result<(), DevError> {
    let file = ClientFile {
        endpoints: layout.nodes.iter().map(NodeLayout::endpoint).collect(),
        ca: format!("{PKI_DIR}/ca.pem"),
        cert: format!("{PKI_DIR}/client.pem"),
        key: format!("{PKI_DIR}/client.key"),
    };
    let text = toml::to_string(&file).map_err(DevError::Toml)?;
    Ok(files::write_public(
        &layout.dir.join(CLIENT_CONFIG),
        text.as_bytes(),
    )?)
}

#[cfg(test)]
mod tests;
