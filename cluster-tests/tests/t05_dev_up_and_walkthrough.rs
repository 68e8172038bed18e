//! The README's main job: `hsmctl dev up` starts a working three-node cluster, the
//! walkthrough (generate, public key, sign, openssl verify) works through `hsmctl`,
//! Ctrl-C stops every node, and a second `dev up` on the same directory brings the same
//! cluster back with its keys.

#![allow(clippy::unwrap_used)] // a test fails by panicking

use std::path::Path;
use std::process::Command;

use keyhold_cluster_tests::dev_up::DevUp;
use keyhold_cluster_tests::openssl::run;

/// `hsmctl sign` the message, then `openssl dgst -verify` the signature.
fn sign_and_verify(dev: &DevUp, key: &str, msg: &Path, pem: &Path) {
    let sig = msg.with_extension("sig");
    let (msg_arg, sig_arg) = (msg.to_str().unwrap(), sig.to_str().unwrap());
    let args = [
        "sign",
        "--key",
        key,
        "--scheme",
        "ecdsa-sha256",
        "--in",
        msg_arg,
        "--out",
        sig_arg,
    ];
    dev.hsmctl(&args);
    let verified = run(Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(pem)
        .arg("-signature")
        .arg(&sig)
        .arg(msg));
    assert!(verified.contains("Verified OK"), "{verified}");
}

#[test]
fn dev_up_runs_the_walkthrough_and_restarts_with_its_keys() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("keyhold-dev");

    eprintln!("--- first start: a fresh cluster");
    let dev = DevUp::start(&dir);
    let status = dev.hsmctl_json(&["cluster", "status"]);
    let nodes = status["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3, "{status}");
    assert!(
        nodes
            .iter()
            .all(|n| n["sealed"] == false && n["reachable"] == true),
        "{status}"
    );

    eprintln!("--- the README walkthrough");
    let key = dev.generate("ec-p256", "web", "sign");
    let pem = root.path().join("web.pub.pem");
    dev.hsmctl(&["key", "public", &key, "--out", pem.to_str().unwrap()]);
    let msg = root.path().join("msg.txt");
    std::fs::write(&msg, "hello keyhold\n").unwrap();
    sign_and_verify(&dev, &key, &msg, &pem);

    eprintln!("--- Ctrl-C stops every node");
    dev.stop();

    eprintln!("--- second start on the same directory: same cluster, same key");
    let dev = DevUp::start(&dir);
    let shown = dev.hsmctl_json(&["key", "show", &key]);
    assert_eq!(shown["id"].as_str(), Some(key.as_str()), "{shown}");
    sign_and_verify(&dev, &key, &msg, &pem);
    dev.stop();
}
