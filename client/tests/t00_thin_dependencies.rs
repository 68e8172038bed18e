//! The client is what a web server links: its dependency tree (normal edges, default
//! features) must hold no server, Raft, storage, password-hashing or CLI crate. Asked of
//! `cargo tree` itself, so a new dependency that drags one in fails here.

#![allow(clippy::unwrap_used)] // a test fails by panicking

use std::process::Command;

/// Crates that belong to the node or the CLI, never to a web server's client.
const FORBIDDEN: [&str; 7] = [
    "keyhold-server",
    "keyhold-hsmctl",
    "openraft",
    "redb",
    "argon2",
    "clap",
    "rcgen",
];

#[test]
fn the_client_pulls_in_no_server_raft_or_cli_crate() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "tree",
            "-p",
            "keyhold-client",
            "-e",
            "normal",
            "--prefix",
            "none",
        ])
        .args(["--offline", "--locked"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "cargo tree: {stderr}");
    let tree = String::from_utf8(out.stdout).unwrap();
    let crates: Vec<&str> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    assert!(crates.contains(&"tonic"), "the tree was read: {tree}");
    for name in FORBIDDEN {
        assert!(
            !crates.contains(&name),
            "keyhold-client depends on {name}:\n{tree}"
        );
    }
}
