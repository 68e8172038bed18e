//! The fault-injectable network of a test cluster: a [`LinkProxy`] for every directed
//! node-to-node link (node `a` dials node `b` through its own proxy, because each node
//! dials the `raft_addr` of its own `[[peers]]` entry) and one for the clients' link to
//! each node's API. An availability zone is one node, so isolating or slowing a zone acts
//! on every link that touches its node. Direct connections (the test harness's own
//! status and key clients) bypass the proxies: the test sees every node whatever happens.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use keyhold_client::ClientConfig;
use serde::Serialize;

use crate::proxy::{Direction, LinkProxy};
use crate::{Cluster, NodeHandle};

/// How an isolated node's links fail.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Isolation {
    /// Connections are reset at once (a refused or downed link): callers fail fast.
    #[default]
    Cut,
    /// Bytes stop moving in both directions (dropped packets): callers wait for their
    /// timeouts.
    Blackhole,
}

impl std::fmt::Display for Isolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Isolation::Cut => "cut",
            Isolation::Blackhole => "blackhole",
        })
    }
}

/// The proxies of a cluster's links.
#[derive(Debug)]
pub struct Network {
    raft: BTreeMap<(u64, u64), LinkProxy>,
    api: BTreeMap<u64, LinkProxy>,
}

impl Network {
    /// Starts the proxies for nodes given as `(id, api address, raft address)`. No proxy
    /// takes a port given for a node, even one that node has not bound yet.
    pub fn start(nodes: &[(u64, SocketAddr, SocketAddr)]) -> io::Result<Network> {
        let reserved: Vec<u16> = nodes
            .iter()
            .flat_map(|&(_, api, raft)| [api.port(), raft.port()])
            .collect();
        let mut skipped = Vec::new();
        let mut start = |name: String, target| -> io::Result<LinkProxy> {
            loop {
                let proxy = LinkProxy::start(&name, target)?;
                if !reserved.contains(&proxy.addr().port()) {
                    return Ok(proxy);
                }
                // Held until the end, so the next bind gets another port.
                skipped.push(proxy);
            }
        };
        let mut raft = BTreeMap::new();
        let mut api = BTreeMap::new();
        for &(to, api_addr, raft_addr) in nodes {
            api.insert(to, start(format!("client->node-{to}"), api_addr)?);
            for &(from, _, _) in nodes.iter().filter(|n| n.0 != to) {
                let name = format!("node-{from}->node-{to}");
                raft.insert((from, to), start(name, raft_addr)?);
            }
        }
        Ok(Network { raft, api })
    }

    /// The link node `from` uses to reach node `to`.
    pub fn raft_link(&self, from: u64, to: u64) -> Option<&LinkProxy> {
        self.raft.get(&(from, to))
    }

    /// The link clients use to reach node `to`'s API.
    pub fn client_link(&self, to: u64) -> Option<&LinkProxy> {
        self.api.get(&to)
    }

    /// Every link, node-to-node first.
    pub fn links(&self) -> impl Iterator<Item = &LinkProxy> {
        self.raft.values().chain(self.api.values())
    }

    /// The node-to-node links from and to `node`.
    pub fn peer_links_of(&self, node: u64) -> impl Iterator<Item = &LinkProxy> {
        self.raft
            .iter()
            .filter(move |((from, to), _)| *from == node || *to == node)
            .map(|(_, link)| link)
    }

    /// Every link that touches `node`: its node-to-node links both ways and its clients'.
    pub fn links_of(&self, node: u64) -> impl Iterator<Item = &LinkProxy> {
        self.peer_links_of(node).chain(self.api.get(&node))
    }

    /// Cuts `node`'s zone off: node-to-node links both ways and its clients' link.
    pub fn isolate_zone(&self, node: u64, how: Isolation) {
        self.links_of(node).for_each(|link| fail(link, how));
    }

    /// Cuts `node` off from the other nodes only; clients still reach it.
    pub fn isolate_from_peers(&self, node: u64, how: Isolation) {
        self.peer_links_of(node).for_each(|link| fail(link, how));
    }

    /// Node `from` can no longer reach node `to`; the other direction still works (a
    /// directed link is one node's connections, requests and responses alike).
    pub fn cut_one_way(&self, from: u64, to: u64) {
        if let Some(link) = self.raft_link(from, to) {
            link.cut();
        }
    }

    /// Adds `latency` to each direction of every link of `node`'s zone, so every byte
    /// to or from the node arrives that much later.
    pub fn slow_zone(&self, node: u64, latency: Duration) {
        for link in self.links_of(node) {
            link.set_latency(Direction::ToTarget, latency);
            link.set_latency(Direction::FromTarget, latency);
        }
    }

    /// Every link back to a clean pass-through.
    pub fn heal(&self) {
        self.links().for_each(LinkProxy::pass);
    }
}

impl Network {
    /// Starts the proxies for a harness's nodes.
    pub(crate) fn for_nodes(nodes: &[NodeHandle]) -> io::Result<Network> {
        let loopback = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
        let addrs: Vec<_> = nodes
            .iter()
            .map(|n| (n.id, loopback(n.api_port), loopback(n.raft_port)))
            .collect();
        Network::start(&addrs)
    }
}

/// Addresses as the nodes' configs and the clients see them.
impl Cluster {
    /// A client configuration like a web server's: the harness's client certificate,
    /// and every node at its client address (through its client proxy when proxied).
    pub fn web_client_config(&self) -> io::Result<ClientConfig> {
        let pki = self.pki_dir();
        let read = |name: &str| {
            let path = pki.join(name);
            std::fs::read(&path)
                .map_err(|err| io::Error::new(err.kind(), format!("{}: {err}", path.display())))
        };
        let endpoints = self
            .nodes
            .iter()
            .map(|node| format!("https://{}", self.client_addr(node.id)))
            .collect();
        Ok(ClientConfig::new(
            endpoints,
            read("ca.pem")?,
            read("client.pem")?,
            read("client.key")?,
        ))
    }

    /// The address clients use for node `id`: its client proxy when proxied.
    pub fn client_addr(&self, id: u64) -> String {
        match self.network().and_then(|n| n.client_link(id)) {
            Some(link) => link.addr().to_string(),
            None => format!("127.0.0.1:{}", self.node(id).api_port),
        }
    }

    /// The address node `from` dials to reach node `to`: their link's proxy when proxied.
    pub fn peer_addr(&self, from: u64, to: u64) -> String {
        match self.network().and_then(|n| n.raft_link(from, to)) {
            Some(link) => link.addr().to_string(),
            None => format!("127.0.0.1:{}", self.node(to).raft_port),
        }
    }
}

fn fail(link: &LinkProxy, how: Isolation) {
    match how {
        Isolation::Cut => link.cut(),
        Isolation::Blackhole => link.blackhole(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn three() -> Network {
        let nodes = [
            (1, addr(1), addr(11)),
            (2, addr(2), addr(12)),
            (3, addr(3), addr(13)),
        ];
        Network::start(&nodes).unwrap()
    }

    #[tokio::test]
    async fn every_directed_link_gets_its_own_proxy() {
        let network = three();
        assert_eq!(network.links().count(), 9);
        let link = network.raft_link(1, 2).unwrap();
        assert_eq!(link.target(), addr(12));
        assert_eq!(link.name(), "node-1->node-2");
        assert_ne!(link.addr(), network.raft_link(3, 2).unwrap().addr());
        assert_eq!(network.client_link(3).unwrap().target(), addr(3));
    }

    #[tokio::test]
    async fn isolating_a_zone_cuts_exactly_the_links_that_touch_it() {
        let network = three();
        network.isolate_zone(2, Isolation::Cut);
        let cut: Vec<&str> = network
            .links()
            .filter(|l| l.control().cut)
            .map(LinkProxy::name)
            .collect();
        assert_eq!(
            cut,
            [
                "node-1->node-2",
                "node-2->node-1",
                "node-2->node-3",
                "node-3->node-2",
                "client->node-2"
            ]
        );
        network.heal();
        assert!(network.links().all(|l| l.control() == Default::default()));
    }

    #[tokio::test]
    async fn isolating_from_peers_keeps_the_client_link() {
        let network = three();
        network.isolate_from_peers(1, Isolation::Blackhole);
        assert_eq!(network.links().filter(|l| l.control().cut).count(), 0);
        let stalled = network.links().filter(|l| l.control().to_target.stalled);
        assert_eq!(stalled.count(), 4);
        assert!(!network.client_link(1).unwrap().control().to_target.stalled);
    }

    #[tokio::test]
    async fn a_slow_zone_delays_both_directions_of_its_links() {
        let network = three();
        network.slow_zone(3, Duration::from_millis(80));
        let slow = network
            .links()
            .filter(|l| l.control().from_target.latency == Duration::from_millis(80))
            .count();
        assert_eq!(slow, 5);
        assert_eq!(
            network.raft_link(1, 2).unwrap().control().to_target.latency,
            Duration::ZERO
        );
    }
}
