//! The set of known nodes and the choice of a node for each attempt: nodes in rotation
//! before ejected ones, the client's availability zone first, unsealed before sealed,
//! then the fewest calls in flight. Discovery replaces the set from a `ClusterStatus`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use keyhold_proto::v1::ClusterStatusResponse;

use crate::config::normalize_endpoint;
use crate::error::ConfigError;
use crate::node::{ChannelFactory, Node, NodeMeta, Standing};

/// Rank added to a node already tried by the current call, so that a retry goes to
/// another node whenever there is one.
const TRIED_PENALTY: u8 = 8;

/// The known nodes. Never empty: built from at least one seed, and discovery only
/// replaces it with a non-empty list.
pub(crate) struct Pool {
    nodes: RwLock<Arc<[Arc<Node>]>>,
    /// The configured seeds, kept whatever discovery reports: a cluster that advertises
    /// addresses this client cannot reach must not cut it off.
    seeds: Vec<Arc<Node>>,
    factory: ChannelFactory,
    availability_zone: Option<String>,
    /// Start of each scan, so that ties go round the nodes instead of to the first.
    rotor: AtomicUsize,
}

impl Pool {
    pub(crate) fn new(
        seeds: &[String],
        factory: ChannelFactory,
        availability_zone: Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut nodes: Vec<Arc<Node>> = Vec::new();
        for seed in seeds {
            let endpoint = normalize_endpoint(seed)?;
            if nodes.iter().any(|node| node.endpoint == endpoint) {
                continue;
            }
            let channel = factory.channel(&endpoint)?;
            nodes.push(Arc::new(Node::new(endpoint, channel)));
        }
        if nodes.is_empty() {
            return Err(ConfigError::NoEndpoints);
        }
        Ok(Pool {
            seeds: nodes.clone(),
            nodes: RwLock::new(nodes.into()),
            factory,
            availability_zone,
            rotor: AtomicUsize::new(0),
        })
    }

    pub(crate) fn nodes(&self) -> Arc<[Arc<Node>]> {
        match self.nodes.read() {
            Ok(nodes) => nodes.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The known node that discovery named `id`, if any.
    pub(crate) fn node_with_id(&self, id: u64) -> Option<Arc<Node>> {
        let nodes = self.nodes();
        let node = nodes.iter().find(|node| node.meta().id == Some(id))?;
        Some(Arc::clone(node))
    }

    /// The ids discovery has named among the known nodes, ascending. Seeds the cluster
    /// did not name have none.
    pub(crate) fn ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self.nodes().iter().filter_map(|n| n.meta().id).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    pub(crate) fn contains(&self, node: &Arc<Node>) -> bool {
        self.nodes().iter().any(|known| Arc::ptr_eq(known, node))
    }

    /// The best node for the next attempt, avoiding those in `tried` when possible.
    pub(crate) fn pick(&self, tried: &[Arc<Node>]) -> Option<Arc<Node>> {
        let nodes = self.nodes();
        let count = nodes.len();
        let start = self.rotor.fetch_add(1, Ordering::Relaxed);
        let mut best: Option<((u8, usize), &Arc<Node>)> = None;
        for offset in 0..count {
            let node = &nodes[(start + offset) % count];
            let mut rank = self.rank(node);
            if tried.iter().any(|t| Arc::ptr_eq(t, node)) {
                rank += TRIED_PENALTY;
            }
            let key = (rank, node.outstanding());
            if best.is_none_or(|(best_key, _)| key < best_key) {
                best = Some((key, node));
            }
        }
        best.map(|(_, node)| Arc::clone(node))
    }

    /// Lower is better. Ejected nodes come last: a call still has somewhere to go when
    /// every node is out.
    fn rank(&self, node: &Node) -> u8 {
        if node.standing() == Standing::Ejected {
            return 4;
        }
        let meta = node.meta();
        let local = match (&self.availability_zone, &meta.availability_zone) {
            (Some(mine), Some(theirs)) => mine == theirs,
            _ => false,
        };
        match (meta.sealed, local) {
            (false, true) => 0,
            (false, false) => 1,
            (true, _) => 2,
        }
    }

    /// Replaces the node list with the one in `status` plus the seeds it does not name,
    /// keeping the channel and health of every node already known. Keeps the current list
    /// when `status` names no usable node. Returns the number of nodes now known.
    pub(crate) fn apply(&self, status: &ClusterStatusResponse) -> usize {
        let current = self.nodes();
        let mut next: Vec<Arc<Node>> = Vec::new();
        for reported in &status.nodes {
            let Ok(endpoint) = normalize_endpoint(&reported.api_addr) else {
                tracing::debug!(node = reported.id, addr = %reported.api_addr, "unusable api_addr");
                continue;
            };
            if next.iter().any(|node| node.endpoint == endpoint) {
                continue;
            }
            let Some(node) = self.known_or_new(&current, endpoint) else {
                continue;
            };
            node.set_meta(NodeMeta {
                id: Some(reported.id),
                availability_zone: Some(reported.availability_zone.clone())
                    .filter(|az| !az.is_empty()),
                sealed: reported.sealed,
            });
            next.push(node);
        }
        if next.is_empty() {
            return current.len();
        }
        for seed in &self.seeds {
            if !next.iter().any(|node| node.endpoint == seed.endpoint) {
                next.push(Arc::clone(seed));
            }
        }
        let count = next.len();
        match self.nodes.write() {
            Ok(mut nodes) => *nodes = next.into(),
            Err(poisoned) => *poisoned.into_inner() = next.into(),
        }
        count
    }

    fn known_or_new(&self, current: &[Arc<Node>], endpoint: String) -> Option<Arc<Node>> {
        if let Some(node) = current.iter().find(|node| node.endpoint == endpoint) {
            return Some(Arc::clone(node));
        }
        match self.factory.channel(&endpoint) {
            Ok(channel) => Some(Arc::new(Node::new(endpoint, channel))),
            Err(err) => {
                tracing::warn!(%endpoint, error = %err, "cannot use discovered node");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EjectionPolicy;
    use crate::testkit;
    use keyhold_proto::v1::NodeStatus;
    use tokio::runtime::Handle;

    fn pool(seeds: &[&str], az: Option<&str>) -> Pool {
        let seeds: Vec<String> = seeds.iter().map(|s| s.to_string()).collect();
        let config = testkit::config(seeds.clone());
        Pool::new(
            &seeds,
            ChannelFactory::new(&config, Handle::current()).unwrap(),
            az.map(str::to_owned),
        )
        .unwrap()
    }

    fn status(nodes: &[(u64, &str, &str, bool)]) -> ClusterStatusResponse {
        let nodes = nodes
            .iter()
            .map(|&(id, az, addr, sealed)| NodeStatus {
                id,
                availability_zone: az.into(),
                api_addr: addr.into(),
                sealed,
                ..NodeStatus::default()
            })
            .collect();
        ClusterStatusResponse {
            nodes,
            ..ClusterStatusResponse::default()
        }
    }

    fn eject(node: &Node) {
        let policy = EjectionPolicy {
            consecutive_failures: 1,
            ..EjectionPolicy::default()
        };
        node.record_failure(&policy);
    }

    #[tokio::test]
    async fn seeds_are_normalized_and_deduplicated() {
        let pool = pool(
            &[
                "127.0.0.1:7101",
                "https://127.0.0.1:7101/",
                "127.0.0.1:7102",
            ],
            None,
        );
        let endpoints: Vec<_> = pool.nodes().iter().map(|n| n.endpoint.clone()).collect();
        assert_eq!(
            endpoints,
            ["https://127.0.0.1:7101", "https://127.0.0.1:7102"]
        );
    }

    #[tokio::test]
    async fn an_empty_seed_list_is_a_config_error() {
        let config = testkit::config(Vec::new());
        let result = Pool::new(
            &[],
            ChannelFactory::new(&config, Handle::current()).unwrap(),
            None,
        );
        assert!(matches!(result, Err(ConfigError::NoEndpoints)));
    }

    #[tokio::test]
    async fn discovery_keeps_known_nodes_and_adds_new_ones() {
        let pool = pool(&["127.0.0.1:7101"], None);
        let seed = Arc::clone(&pool.nodes()[0]);
        let count = pool.apply(&status(&[
            (1, "az-a", "127.0.0.1:7101", false),
            (2, "az-b", "127.0.0.1:7102", false),
            (3, "az-c", "0.0.0.0:7103", false),
        ]));
        assert_eq!(count, 2);
        let nodes = pool.nodes();
        assert!(Arc::ptr_eq(&nodes[0], &seed));
        assert_eq!(nodes[0].meta().id, Some(1));
        assert_eq!(nodes[1].meta().availability_zone.as_deref(), Some("az-b"));
    }

    #[tokio::test]
    async fn nodes_are_found_by_the_ids_discovery_named() {
        let pool = pool(&["localhost:7101"], None);
        assert_eq!(pool.ids(), Vec::<u64>::new(), "seeds have no id");
        assert!(pool.node_with_id(1).is_none());

        pool.apply(&status(&[
            (3, "az-c", "127.0.0.1:7103", false),
            (1, "az-a", "127.0.0.1:7101", false),
        ]));
        assert_eq!(pool.ids(), [1, 3]);
        let node = pool.node_with_id(3).unwrap();
        assert_eq!(node.endpoint, "https://127.0.0.1:7103");
        assert!(pool.node_with_id(2).is_none());
    }

    #[tokio::test]
    async fn discovery_keeps_seeds_the_cluster_does_not_name() {
        let pool = pool(&["localhost:7101"], None);
        let count = pool.apply(&status(&[(1, "az-a", "127.0.0.1:7101", false)]));
        assert_eq!(count, 2);
        let endpoints: Vec<_> = pool.nodes().iter().map(|n| n.endpoint.clone()).collect();
        assert_eq!(
            endpoints,
            ["https://127.0.0.1:7101", "https://localhost:7101"]
        );
    }

    #[tokio::test]
    async fn discovery_without_usable_nodes_keeps_the_seeds() {
        let pool = pool(&["127.0.0.1:7101"], None);
        assert_eq!(pool.apply(&status(&[])), 1);
        assert_eq!(pool.apply(&status(&[(1, "", "", false)])), 1);
        assert_eq!(pool.nodes()[0].endpoint, "https://127.0.0.1:7101");
    }

    #[tokio::test]
    async fn pick_prefers_the_local_zone_then_unsealed_then_fewest_in_flight() {
        let pool = pool(&["127.0.0.1:7101"], Some("az-b"));
        pool.apply(&status(&[
            (1, "az-a", "127.0.0.1:7101", false),
            (2, "az-b", "127.0.0.1:7102", false),
            (3, "az-b", "127.0.0.1:7103", true),
        ]));
        let nodes = pool.nodes();
        for _ in 0..4 {
            assert_eq!(pool.pick(&[]).unwrap().meta().id, Some(2));
        }

        let _busy = nodes[1].begin();
        assert_eq!(
            pool.pick(&[]).unwrap().meta().id,
            Some(2),
            "local beats idle"
        );
        eject(&nodes[1]);
        assert_eq!(
            pool.pick(&[]).unwrap().meta().id,
            Some(1),
            "unsealed beats local"
        );
        assert_eq!(
            pool.pick(&[Arc::clone(&nodes[0])]).unwrap().meta().id,
            Some(3)
        );
    }

    #[tokio::test]
    async fn pick_spreads_ties_and_avoids_tried_nodes() {
        let pool = pool(&["127.0.0.1:7101", "127.0.0.1:7102"], None);
        let first = pool.pick(&[]).unwrap();
        let second = pool.pick(&[]).unwrap();
        assert!(!Arc::ptr_eq(&first, &second));
        for _ in 0..4 {
            let retry = pool.pick(std::slice::from_ref(&first)).unwrap();
            assert!(Arc::ptr_eq(&retry, &second));
        }
    }

    #[tokio::test]
    async fn pick_uses_an_ejected_node_when_every_node_is_out() {
        let pool = pool(&["127.0.0.1:7101"], None);
        eject(&pool.nodes()[0]);
        assert!(pool.pick(&[]).is_some());
    }
}
