//! The README's TLS walkthrough on a `hsmctl dev up` cluster, command by command: a key
//! generated in the cluster, a CSR it signs (`hsmctl key csr`), a certificate from the
//! dev CA (`hsmctl pki issue`), the example HTTPS server on that key, and `curl
//! --cacert` over TLS 1.3 and 1.2. Also `hsmctl key self-sign`, and the requests the CA
//! or the cluster must refuse. openssl checks every request and certificate on its own.
//! A server with a certificate the dev CA issued, for the nodes' own names but without a
//! node identity, gets no request from hsmctl.

#![allow(clippy::unwrap_used)] // a test fails by panicking

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use keyhold_cluster_tests::binaries::binaries;
use keyhold_cluster_tests::cluster::free_port;
use keyhold_cluster_tests::dev_up::DevUp;
use keyhold_cluster_tests::https::HttpsServer;
use keyhold_cluster_tests::openssl::run;
use keyhold_cluster_tests::tls_clients::{Tls, curl_get};

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The public key openssl reads out of a CSR or certificate, as PEM.
fn openssl_pubkey(kind: &str, file: &Path) -> String {
    run(Command::new("openssl")
        .args([kind, "-noout", "-pubkey", "-in"])
        .arg(file))
}

/// The subjectAltName extension as openssl prints it.
fn openssl_sans(file: &Path) -> String {
    run(Command::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
        .arg(file))
}

/// Stderr of a hsmctl command that must fail with exit code 1.
fn refused(dev: &DevUp, args: &[&str]) -> String {
    let out = dev.try_hsmctl(args);
    assert_eq!(out.status.code(), Some(1), "hsmctl {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_cluster_key_serves_https_through_a_csr_issued_by_the_dev_ca() {
    let root = tempfile::tempdir().unwrap();
    let dev = DevUp::start(&root.path().join("keyhold-dev"));
    let ca = dev.dir().join("pki/ca.pem");
    let key = dev.generate("ec-p256", "www", "sign");
    let public = root.path().join("www.pub.pem");
    dev.hsmctl(&["key", "public", &key, "--out", path(&public)]);
    let public = std::fs::read_to_string(&public).unwrap();

    eprintln!("--- a CSR signed by the cluster key: openssl verifies it and sees the key");
    let csr = root.path().join("www.csr");
    let args = [
        "key",
        "csr",
        &key,
        "--cn",
        "localhost",
        "--san",
        "localhost",
    ];
    dev.hsmctl(&[&args[..], &["--san", "127.0.0.1", "--out", path(&csr)]].concat());
    let checked = Command::new("openssl")
        .args(["req", "-noout", "-verify", "-in"])
        .arg(&csr)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&checked.stderr);
    assert!(
        checked.status.success() && said.contains("verify OK"),
        "{said}"
    );
    assert_eq!(openssl_pubkey("req", &csr), public);

    eprintln!("--- the dev CA issues the certificate; openssl verifies the chain");
    let cert = root.path().join("www.pem");
    let issued = dev.hsmctl_json(&[
        "pki",
        "issue",
        "--dir",
        path(&dev.dir().join("pki")),
        "--csr",
        path(&csr),
        "--out",
        path(&cert),
    ]);
    assert_eq!(
        issued["sans"],
        serde_json::json!(["localhost", "127.0.0.1"])
    );
    let verified = run(Command::new("openssl")
        .args(["verify", "-CAfile"])
        .arg(&ca)
        .arg(&cert));
    assert!(verified.trim_end().ends_with(": OK"), "{verified}");
    assert_eq!(openssl_pubkey("x509", &cert), public);
    let sans = openssl_sans(&cert);
    assert!(sans.contains("DNS:localhost") && sans.contains("IP Address:127.0.0.1"));

    eprintln!("--- the example server on the cluster key answers curl over TLS 1.3 and 1.2");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let config = dev.client_config();
    let mut server = runtime.block_on(HttpsServer::start_with_config(&config, &key, &cert, &[]));
    for version in [Tls::V13, Tls::V12] {
        let body = curl_get(server.addr, &ca, version).unwrap();
        assert_eq!(body, "hello from keyhold\n", "{version:?}");
    }

    runtime.block_on(server.interrupt());

    eprintln!("--- a client sends nothing to a server whose certificate is not a node's");
    impostor_gets_no_request(&dev, root.path());

    eprintln!("--- a self-signed certificate for the key, valid for the days asked");
    let own = root.path().join("self.pem");
    let args = [
        "key",
        "self-sign",
        &key,
        "--san",
        "localhost",
        "--days",
        "7",
    ];
    dev.hsmctl(&[&args[..], &["--out", path(&own)]].concat());
    let verified = run(Command::new("openssl")
        .args(["verify", "-CAfile"])
        .arg(&own)
        .arg(&own));
    assert!(verified.trim_end().ends_with(": OK"), "{verified}");
    assert_eq!(openssl_pubkey("x509", &own), public);
    let lasts = |secs: u32| {
        Command::new("openssl")
            .args(["x509", "-noout", "-checkend", &secs.to_string(), "-in"])
            .arg(&own)
            .status()
            .unwrap()
            .success()
    };
    assert!(lasts(6 * 86_400) && !lasts(8 * 86_400));

    eprintln!("--- refused: a decrypt key, a malformed name, a node name, a file that is no CSR");
    let decrypt = dev.generate("rsa-2048", "kx", "decrypt");
    let err = refused(&dev, &["key", "csr", &decrypt, "--cn", "localhost"]);
    assert!(err.contains("usage \"decrypt\""), "{err}");
    let err = refused(&dev, &["key", "csr", &key, "--san", "bad name!"]);
    assert!(err.contains("\"bad name!\""), "{err}");
    let node_csr = root.path().join("node.csr");
    dev.hsmctl(&[
        "key",
        "csr",
        &key,
        "--san",
        "node-1",
        "--out",
        path(&node_csr),
    ]);
    let pki = dev.dir().join("pki");
    let err = refused(
        &dev,
        &[
            "pki",
            "issue",
            "--dir",
            path(&pki),
            "--csr",
            path(&node_csr),
        ],
    );
    assert!(err.contains("reserved"), "{err}");
    let err = refused(
        &dev,
        &["pki", "issue", "--dir", path(&pki), "--csr", path(&ca)],
    );
    assert!(err.contains("certificate signing request"), "{err}");

    dev.stop();
}

/// `openssl s_server`, stopped (by its pid) when dropped.
struct OpensslServer(std::process::Child);

impl Drop for OpensslServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A server with a certificate the dev CA issued for the nodes' own names (localhost,
/// 127.0.0.1), speaking HTTP/2 like a node, but without a node identity: hsmctl must
/// refuse it during the handshake, before a request (an imported key, say) is sent.
fn impostor_gets_no_request(dev: &DevUp, dir: &Path) {
    let (key, csr, cert) = (
        dir.join("impostor.key"),
        dir.join("impostor.csr"),
        dir.join("impostor.pem"),
    );
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl").args(args).output().unwrap();
        assert!(out.status.success(), "openssl {args:?}: {out:?}");
    };
    openssl(
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ]
        .iter()
        .copied()
        .chain(["-out", path(&key)])
        .collect::<Vec<_>>(),
    );
    openssl(&[
        "req",
        "-new",
        "-key",
        path(&key),
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=DNS:localhost,IP:127.0.0.1",
        "-out",
        path(&csr),
    ]);
    let pki = dev.dir().join("pki");
    dev.hsmctl(&[
        "pki",
        "issue",
        "--dir",
        path(&pki),
        "--csr",
        path(&csr),
        "--out",
        path(&cert),
    ]);

    let port = free_port();
    let accept = format!("127.0.0.1:{port}");
    // stdin stays open (a pipe held here): s_server ends its connection on stdin's EOF.
    let mut child = Command::new("openssl")
        .args([
            "s_server",
            "-accept",
            &accept,
            "-cert",
            path(&cert),
            "-key",
            path(&key),
        ])
        .args(["-alpn", "h2", "-msg"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    let _stdin = child.stdin.take();
    let server = OpensslServer(child);
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let ready = Instant::now() + Duration::from_secs(10);
    loop {
        let left = ready.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .expect("openssl s_server printed ACCEPT");
        if line.starts_with("ACCEPT") {
            break;
        }
    }

    let config = dir.join("impostor.toml");
    let text = format!(
        "endpoints = [\"https://{accept}\"]\nca = \"{}\"\ncert = \"{}\"\nkey = \"{}\"\n\
         discovery = false\ntimeout_ms = 1000\n",
        path(&pki.join("ca.pem")),
        path(&pki.join("client.pem")),
        path(&pki.join("client.key")),
    );
    std::fs::write(&config, text).unwrap();
    let out = Command::new(&binaries().hsmctl)
        .args(["--config", path(&config), "key", "list"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("not a Keyhold node certificate"),
        "{stderr}"
    );

    // What the server saw: a handshake, never an HTTP/2 request (its preface).
    drop(server);
    reader.join().unwrap();
    let seen: Vec<String> = rx.try_iter().collect();
    let seen = seen.join("\n");
    assert!(
        seen.contains("ClientHello"),
        "s_server saw no handshake: {seen}"
    );
    assert!(
        !seen.contains("PRI * HTTP"),
        "a request reached the impostor: {seen}"
    );
}
