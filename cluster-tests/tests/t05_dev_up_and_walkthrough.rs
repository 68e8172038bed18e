//! The README's main job: `hsmctl dev up` starts a working three-node cluster, the
//! walkthrough (generate, public key, sign, openssl verify) works through `hsmctl`,
//! Ctrl-C stops every node, and a second `dev up` on the same directory brings the same
//! cluster back with its keys.

#![allow(clippy::unwrap_used)] // a test fails by panicking

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use keyhold_cluster_tests::binaries::binaries;
use keyhold_cluster_tests::openssl::run;

/// A running `dev up`; if the test fails midway, dropping it still stops every process.
struct DevUp {
    child: Option<Child>,
    dir: std::path::PathBuf,
}

impl Drop for DevUp {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .arg("-INT")
            .arg(child.id().to_string())
            .status();
        let _ = child.wait();
        for pid in pids(&self.dir) {
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(pid.to_string())
                .status();
        }
    }
}

/// Starts `dev up` and waits (bounded) for its ready line.
fn dev_up(dir: &Path) -> DevUp {
    let mut child = Command::new(&binaries().hsmctl)
        .args(["dev", "up", "--base-port", "0", "--dir"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    // From here the guard stops `dev up` and its nodes even if the wait below fails.
    let guard = DevUp {
        child: Some(child),
        dir: dir.to_owned(),
    };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            eprintln!("dev up: {line}");
            let _ = tx.send(line);
        }
    });
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(90))
            .expect("dev up printed its ready line");
        if line.contains("ready") {
            assert!(
                line.contains("az-a") && line.contains("client.toml"),
                "{line}"
            );
            return guard;
        }
    }
}

fn hsmctl(dir: &Path, args: &[&str]) -> Output {
    let out = Command::new(&binaries().hsmctl)
        .arg("--config")
        .arg(dir.join("client.toml"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "hsmctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn pids(dir: &Path) -> Vec<u32> {
    (1..=3)
        .filter_map(|i| std::fs::read_to_string(dir.join(format!("node-{i}/hsmd.pid"))).ok())
        .map(|p| p.trim().parse().unwrap())
        .collect()
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

fn stop(mut dev: DevUp, dir: &Path) {
    let mut child = dev.child.take().unwrap();
    let node_pids = pids(dir);
    assert_eq!(node_pids.len(), 3);
    run(Command::new("kill").arg("-INT").arg(child.id().to_string()));
    let status = child.wait().unwrap();
    assert!(status.success(), "dev up exit: {status:?}");
    for pid in node_pids {
        assert!(!alive(pid), "node pid {pid} still running after Ctrl-C");
    }
}

/// `hsmctl sign` the message, then `openssl dgst -verify` the signature.
fn sign_and_verify(dir: &Path, key: &str, msg: &Path, pem: &Path) {
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
    hsmctl(dir, &args);
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
    let child = dev_up(&dir);
    let status =
        String::from_utf8(hsmctl(&dir, &["--output", "json", "cluster", "status"]).stdout).unwrap();
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    let nodes = status["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3, "{status}");
    assert!(
        nodes
            .iter()
            .all(|n| n["sealed"] == false && n["reachable"] == true),
        "{status}"
    );

    eprintln!("--- the README walkthrough");
    let out = hsmctl(
        &dir,
        &[
            "--output",
            "json",
            "key",
            "generate",
            "--algorithm",
            "ec-p256",
            "--label",
            "web",
        ],
    );
    let written: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let key = written["key"]["id"].as_str().unwrap().to_owned();
    let pem = root.path().join("web.pub.pem");
    hsmctl(
        &dir,
        &["key", "public", &key, "--out", pem.to_str().unwrap()],
    );
    let msg = root.path().join("msg.txt");
    std::fs::write(&msg, "hello keyhold\n").unwrap();
    sign_and_verify(&dir, &key, &msg, &pem);

    eprintln!("--- Ctrl-C stops every node");
    stop(child, &dir);

    eprintln!("--- second start on the same directory: same cluster, same key");
    let child = dev_up(&dir);
    let shown = hsmctl(&dir, &["--output", "json", "key", "show", &key]);
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(
        shown["id"].as_str().or(shown["key"]["id"].as_str()),
        Some(key.as_str()),
        "{shown}"
    );
    sign_and_verify(&dir, &key, &msg, &pem);
    stop(child, &dir);
}
