//! TLS handshake offload under test: builds and runs keyhold-client's `https-server`
//! example against a test cluster, and makes certificates for cluster keys with the
//! client's `certs` functions (a CSR signed by the cluster key, issued by the cluster's
//! development CA). Connecting to the server is left to `tls_clients`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use keyhold_client::ClientConfig;
use keyhold_client::certs::{IssueOptions, Subject, csr_pem, issue_pem};
use keyhold_client::tls::{SignerOptions, TlsSigner};

use crate::Cluster;
use crate::binaries::{cargo_build, target_dir};
use crate::wait::wait_until;

/// The `https-server` example, built once per test process.
pub fn https_server_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let args = ["-p", "keyhold-client", "--example", "https-server"];
        cargo_build(&args, "the https-server example");
        let binary = target_dir().join("examples").join("https-server");
        assert!(binary.exists(), "missing {}", binary.display());
        binary
    })
}

/// A signer for the test cluster with the harness's client certificate.
pub async fn test_signer(cluster: &Cluster, options: SignerOptions) -> TlsSigner {
    let config = ClientConfig::from_file(&cluster.client_config()).expect("client config");
    TlsSigner::connect(config, options).await.expect("signer")
}

/// Issues a certificate for `localhost` and `127.0.0.1` to cluster key `key_id` from the
/// cluster's CA, through a CSR the key signs; writes it to `dir` and returns the path.
pub async fn issue_for_key(
    cluster: &Cluster,
    signer: &TlsSigner,
    key_id: &str,
    dir: &Path,
) -> PathBuf {
    let subject = Subject::new("localhost").with_sans(["localhost", "127.0.0.1"]);
    let csr = csr_pem(signer, key_id, &subject).await.expect("CSR");
    let pki = cluster.pki_dir();
    let ca = std::fs::read_to_string(pki.join("ca.pem")).expect("ca.pem");
    let ca_key = std::fs::read_to_string(pki.join("ca.key")).expect("ca.key");
    let cert = issue_pem(&csr, &ca, &ca_key, &IssueOptions::default()).expect("issue");
    let path = dir.join(format!("{key_id}.pem"));
    std::fs::write(&path, cert).expect("write certificate");
    path
}

/// A running `https-server` example; killed when dropped.
pub struct HttpsServer {
    /// Where it listens.
    pub addr: SocketAddr,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl HttpsServer {
    /// Starts the example with the cluster's client config, `key_id` and the chain in
    /// `cert`, on a free loopback port, plus `extra` arguments; waits until it listens.
    pub async fn start(cluster: &Cluster, key_id: &str, cert: &Path, extra: &[&str]) -> Self {
        HttpsServer::start_with_config(&cluster.client_config(), key_id, cert, extra).await
    }

    /// Like [`HttpsServer::start`], for any cluster the client config file names (a
    /// `hsmctl dev up` cluster, say).
    pub async fn start_with_config(
        config: &Path,
        key_id: &str,
        cert: &Path,
        extra: &[&str],
    ) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let stdout = std::fs::File::create(dir.path().join("stdout")).expect("stdout");
        let stderr = std::fs::File::create(dir.path().join("stderr")).expect("stderr");
        let child = Command::new(https_server_binary())
            .arg("--config")
            .arg(config)
            .args(["--key-id", key_id, "--listen", "127.0.0.1:0", "--cert"])
            .arg(cert)
            .args(extra)
            .env("KEYHOLD_LOG", "info")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("https-server starts");
        let mut server = HttpsServer {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            child: Some(child),
            dir,
        };
        server.addr = wait_until(
            "the https server to listen",
            Duration::from_secs(30),
            || {
                let listening = server.listening();
                async move { listening }
            },
        )
        .await;
        server
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default()
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        let Some(child) = self.child.as_mut() else {
            return false;
        };
        matches!(child.try_wait(), Ok(None))
    }

    /// SIGINT, then waits (bounded) for a clean exit; returns the whole log.
    pub async fn interrupt(&mut self) -> String {
        let child = self.child.take().expect("server running");
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("SIGINT");
        let mut child = Some(child);
        let exited = wait_until("the https server to exit", Duration::from_secs(15), || {
            let status = child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            async move { status }
        })
        .await;
        assert!(
            exited.success(),
            "https-server exited with {exited}\n{}",
            self.log()
        );
        self.log()
    }

    /// The address from the `listening on` line; panics if the server died first.
    fn listening(&mut self) -> Option<SocketAddr> {
        let out = std::fs::read_to_string(self.dir.path().join("stdout")).unwrap_or_default();
        if let Some(addr) = out.lines().find_map(|l| l.strip_prefix("listening on ")) {
            return Some(addr.trim().parse().expect("listening address"));
        }
        assert!(
            self.is_running(),
            "https-server exited before listening\n{}",
            self.log()
        );
        None
    }
}

impl Drop for HttpsServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
