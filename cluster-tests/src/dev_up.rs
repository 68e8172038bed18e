//! `hsmctl dev up` under test, as a user runs it: [`DevUp`] starts it in a directory,
//! waits for its ready line, runs `hsmctl` commands against it, and stops it with Ctrl-C.
//! If a test fails midway, dropping the guard still stops `dev up` and every node it
//! started, by pid.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::binaries::binaries;
use crate::openssl::run;

/// Bound on `dev up` printing its ready line.
const READY_LIMIT: Duration = Duration::from_secs(90);

/// A running `hsmctl dev up`.
pub struct DevUp {
    child: Option<Child>,
    dir: PathBuf,
}

impl DevUp {
    /// Starts `dev up --base-port 0` in `dir` and waits (bounded) for its ready line.
    pub fn start(dir: &Path) -> DevUp {
        let mut child = Command::new(&binaries().hsmctl)
            .args(["dev", "up", "--base-port", "0", "--dir"])
            .arg(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("hsmctl dev up starts");
        let stdout = child.stdout.take().expect("piped stdout");
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
                .recv_timeout(READY_LIMIT)
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

    /// The dev cluster's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The client config `dev up` wrote.
    pub fn client_config(&self) -> PathBuf {
        self.dir.join("client.toml")
    }

    /// Runs `hsmctl --config <dir>/client.toml ARGS`, whatever its exit status.
    pub fn try_hsmctl(&self, args: &[&str]) -> Output {
        Command::new(&binaries().hsmctl)
            .arg("--config")
            .arg(self.client_config())
            .args(args)
            .output()
            .expect("hsmctl runs")
    }

    /// Runs `hsmctl ARGS` and asserts that it succeeded.
    pub fn hsmctl(&self, args: &[&str]) -> Output {
        let out = self.try_hsmctl(args);
        assert!(
            out.status.success(),
            "hsmctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Runs `hsmctl --output json ARGS` and parses what it printed.
    pub fn hsmctl_json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--output", "json"];
        all.extend_from_slice(args);
        let out = self.hsmctl(&all);
        serde_json::from_slice(&out.stdout).expect("hsmctl printed JSON")
    }

    /// Generates a key and returns its id.
    pub fn generate(&self, algorithm: &str, label: &str, usage: &str) -> String {
        let written = self.hsmctl_json(&[
            "key",
            "generate",
            "--algorithm",
            algorithm,
            "--label",
            label,
            "--usage",
            usage,
        ]);
        let id = written["key"]["id"].as_str().expect("key id");
        id.to_owned()
    }

    /// The pids of the nodes, from their pid files.
    pub fn node_pids(&self) -> Vec<u32> {
        (1..=3)
            .filter_map(|i| {
                std::fs::read_to_string(self.dir.join(format!("node-{i}/hsmd.pid"))).ok()
            })
            .map(|p| p.trim().parse().expect("pid file holds a pid"))
            .collect()
    }

    /// Ctrl-C: asserts that `dev up` exits cleanly and that no node is left running.
    pub fn stop(mut self) {
        let mut child = self.child.take().expect("dev up running");
        let node_pids = self.node_pids();
        assert_eq!(node_pids.len(), 3);
        run(Command::new("kill").arg("-INT").arg(child.id().to_string()));
        let status = child.wait().expect("dev up exit status");
        assert!(status.success(), "dev up exit: {status:?}");
        for pid in node_pids {
            assert!(!alive(pid), "node pid {pid} still running after Ctrl-C");
        }
    }
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
        for pid in self.node_pids() {
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(pid.to_string())
                .status();
        }
    }
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}
