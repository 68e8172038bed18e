//! Tests of the dev cluster directory: configs hsmd and the client read, secrets, reuse.

use std::fs;

use toml::Value;

use super::*;

fn config(dir: &Path, id: u64) -> Value {
    let text = fs::read_to_string(dir.join(format!("node-{id}/hsmd.toml"))).unwrap();
    toml::from_str(&text).unwrap()
}

#[test]
fn prepare_writes_three_node_configs_on_the_base_ports() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = prepare(tmp.path(), 7100).unwrap();

    assert_eq!(layout.nodes[1].api_addr, "127.0.0.1:7102");
    let node2 = config(&layout.dir, 2);
    assert_eq!(node2["node_id"].as_integer(), Some(2));
    assert_eq!(node2["availability_zone"].as_str(), Some("az-b"));
    assert_eq!(node2["api_addr"].as_str(), Some("127.0.0.1:7102"));
    assert_eq!(node2["raft_addr"].as_str(), Some("127.0.0.1:7202"));
    assert_eq!(node2["data_dir"].as_str(), Some("data"));
    assert_eq!(node2["tls"]["ca"].as_str(), Some("../pki/ca.pem"));
    assert_eq!(node2["tls"]["cert"].as_str(), Some("../pki/node-2.pem"));
    assert_eq!(node2["tls"]["key"].as_str(), Some("../pki/node-2.key"));
    assert_eq!(
        node2["unseal"]["secret_file"].as_str(),
        Some("unseal.secret")
    );

    let peers = node2["peers"].as_array().unwrap();
    let ids: Vec<i64> = peers
        .iter()
        .map(|p| p["id"].as_integer().unwrap())
        .collect();
    assert_eq!(ids, vec![1, 3]);
    assert_eq!(peers[1]["availability_zone"].as_str(), Some("az-c"));
    assert_eq!(peers[1]["api_addr"].as_str(), Some("127.0.0.1:7103"));
    assert_eq!(peers[1]["raft_addr"].as_str(), Some("127.0.0.1:7203"));
}

#[test]
fn node_tls_paths_point_at_files_that_exist() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = prepare(tmp.path(), 7100).unwrap();
    for node in &layout.nodes {
        let tls = &config(&layout.dir, node.id)["tls"];
        for field in ["ca", "cert", "key"] {
            let path = node.dir.join(tls[field].as_str().unwrap());
            assert!(path.exists(), "{}", path.display());
        }
    }
}

#[test]
fn secrets_are_distinct_random_hex_readable_only_by_the_owner() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = prepare(tmp.path(), 7100).unwrap();

    let mut secrets = Vec::new();
    for node in &layout.nodes {
        let text = fs::read_to_string(node.secret_path()).unwrap();
        assert_eq!(text.len(), 65);
        assert!(text.ends_with('\n'));
        assert_eq!(hex::decode(text.trim_end()).unwrap().len(), 32);
        assert_eq!(files::mode(&node.secret_path()).unwrap(), 0o600);
        secrets.push(text);
    }
    secrets.dedup();
    assert_eq!(secrets.len(), 3);
}

#[test]
fn client_config_loads_with_every_endpoint_and_the_pki() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = prepare(tmp.path(), 7100).unwrap();

    let config = keyhold_client::ClientConfig::from_file(&layout.dir.join(CLIENT_CONFIG)).unwrap();
    assert_eq!(
        config.endpoints,
        vec![
            "https://127.0.0.1:7101",
            "https://127.0.0.1:7102",
            "https://127.0.0.1:7103"
        ]
    );
    assert_eq!(
        config.ca_pem,
        fs::read(layout.pki_dir().join("ca.pem")).unwrap()
    );
    assert_eq!(
        config.cert_pem,
        fs::read(layout.pki_dir().join("client.pem")).unwrap()
    );
}

#[test]
fn running_again_reuses_configs_secrets_and_the_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let first = prepare(tmp.path(), 0).unwrap();
    let read_all = |layout: &Layout| {
        let mut all = vec![fs::read(layout.pki_dir().join("ca.pem")).unwrap()];
        for node in &layout.nodes {
            all.push(fs::read(node.config_path()).unwrap());
            all.push(fs::read(node.secret_path()).unwrap());
        }
        all
    };
    let before = read_all(&first);

    let second = prepare(tmp.path(), 7100).unwrap();
    assert_eq!(second.nodes, first.nodes);
    assert_eq!(read_all(&second), before);
}

#[test]
fn base_port_zero_picks_distinct_ports() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = prepare(tmp.path(), 0).unwrap();
    let mut addrs: Vec<&String> = layout
        .nodes
        .iter()
        .flat_map(|n| [&n.api_addr, &n.raft_addr])
        .collect();
    assert!(
        addrs
            .iter()
            .all(|a| a.starts_with("127.0.0.1:") && !a.ends_with(":0"))
    );
    addrs.sort();
    addrs.dedup();
    assert_eq!(addrs.len(), 6);
}

#[test]
fn a_lost_node_config_is_rewritten_with_the_addresses_its_peers_know() {
    let tmp = tempfile::tempdir().unwrap();
    let first = prepare(tmp.path(), 0).unwrap();
    let original = fs::read(first.nodes[1].config_path()).unwrap();
    fs::remove_file(first.nodes[1].config_path()).unwrap();

    let second = prepare(tmp.path(), 0).unwrap();
    assert_eq!(second.nodes[1], first.nodes[1]);
    assert_eq!(fs::read(second.nodes[1].config_path()).unwrap(), original);
}

#[test]
fn a_base_port_without_room_for_the_raft_ports_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let err = prepare(tmp.path(), 65_500).unwrap_err();
    assert!(
        matches!(err, DevError::BasePortTooHigh { base: 65_500 }),
        "{err}"
    );
}

#[test]
fn a_taken_port_is_reported_before_anything_starts() {
    let tmp = tempfile::tempdir().unwrap();
    let mut layout = prepare(tmp.path(), 0).unwrap();
    check_ports_free(&layout.nodes).unwrap();

    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    layout.nodes[2].raft_addr = taken.local_addr().unwrap().to_string();
    let err = check_ports_free(&layout.nodes).unwrap_err();
    assert!(
        err.to_string().contains(&layout.nodes[2].raft_addr),
        "{err}"
    );
}
