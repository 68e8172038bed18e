//! PKI tests, checked with the `openssl` command-line tool as an independent verifier.

use std::process::Command;

use super::*;

fn openssl(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn x509_text(dir: &Path, file: &str) -> String {
    let (ok, text) = openssl(dir, &["x509", "-in", file, "-noout", "-text"]);
    assert!(ok, "{text}");
    text
}

fn options(nodes: u32) -> InitOptions {
    InitOptions {
        nodes,
        sans: vec!["hsm.example.test".into(), "10.0.0.7".into()],
        client_name: DEFAULT_CLIENT_NAME.into(),
        force: false,
    }
}

#[test]
fn init_writes_a_ca_nodes_and_a_client_that_openssl_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let report = init(dir.path(), &options(3)).unwrap();

    assert_eq!(report.nodes.len(), 3);
    assert_eq!(report.nodes[2].cert, dir.path().join("node-3.pem"));
    assert_eq!(report.client.cert, dir.path().join("client.pem"));
    for file in ["node-1.pem", "node-2.pem", "node-3.pem", "client.pem"] {
        let (ok, text) = openssl(dir.path(), &["verify", "-CAfile", "ca.pem", file]);
        assert!(ok, "{file}: {text}");
        assert_eq!(text.trim(), format!("{file}: OK"));
    }
}

#[test]
fn node_certificate_has_the_sans_ekus_and_node_uri() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), &options(2)).unwrap();

    let text = x509_text(dir.path(), "node-2.pem");
    for needle in [
        "DNS:localhost",
        "DNS:node-2",
        "IP Address:127.0.0.1",
        "DNS:hsm.example.test",
        "IP Address:10.0.0.7",
        "URI:keyhold://node/2",
        "TLS Web Server Authentication, TLS Web Client Authentication",
        "Subject: CN = node-2, O = Keyhold",
        "ASN1 OID: prime256v1",
        "CA:FALSE",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    assert!(!text.contains("keyhold://node/1"));
}

#[test]
fn client_certificate_is_client_auth_only_with_its_uri() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(1);
    opts.client_name = "web-1".into();
    init(dir.path(), &opts).unwrap();

    let text = x509_text(dir.path(), "client.pem");
    assert!(text.contains("Subject: CN = web-1, O = Keyhold"), "{text}");
    assert!(text.contains("URI:keyhold://client/web-1"), "{text}");
    assert!(text.contains("TLS Web Client Authentication"), "{text}");
    assert!(!text.contains("TLS Web Server Authentication"), "{text}");
    assert!(!text.contains("DNS:"), "{text}");
}

#[test]
fn ca_certificate_is_a_ca_that_signs_certificates() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), &options(1)).unwrap();

    let text = x509_text(dir.path(), "ca.pem");
    assert!(text.contains("CA:TRUE, pathlen:0"), "{text}");
    assert!(text.contains("Certificate Sign, CRL Sign"), "{text}");
    assert!(
        text.contains("Subject: CN = Keyhold development CA, O = Keyhold"),
        "{text}"
    );
}

#[test]
fn private_keys_are_owner_only_and_match_their_certificates() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), &options(1)).unwrap();

    for stem in ["ca", "node-1", "client"] {
        let key = format!("{stem}.key");
        let cert = format!("{stem}.pem");
        assert_eq!(files::mode(&dir.path().join(&key)).unwrap(), 0o600, "{key}");
        let (ok, from_key) = openssl(dir.path(), &["pkey", "-in", &key, "-pubout"]);
        assert!(ok, "{from_key}");
        let (ok, from_cert) = openssl(dir.path(), &["x509", "-in", &cert, "-noout", "-pubkey"]);
        assert!(ok, "{from_cert}");
        assert_eq!(from_key, from_cert, "{stem}");
    }
}

#[test]
fn init_refuses_to_replace_a_ca_without_force() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), &options(1)).unwrap();
    let before = std::fs::read(dir.path().join("ca.pem")).unwrap();

    let err = init(dir.path(), &options(1)).unwrap_err();
    assert!(matches!(err, PkiError::CaExists { .. }), "{err}");
    assert!(err.to_string().contains("--force"));
    assert_eq!(std::fs::read(dir.path().join("ca.pem")).unwrap(), before);

    let mut forced = options(1);
    forced.force = true;
    init(dir.path(), &forced).unwrap();
    assert_ne!(std::fs::read(dir.path().join("ca.pem")).unwrap(), before);
}

#[test]
fn issue_client_adds_a_certificate_from_the_same_ca() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), &options(1)).unwrap();

    let issued = issue_client(dir.path(), "nginx-a", false).unwrap();
    assert_eq!(issued.cert, dir.path().join("client-nginx-a.pem"));
    assert_eq!(files::mode(&issued.key).unwrap(), 0o600);
    let (ok, text) = openssl(
        dir.path(),
        &["verify", "-CAfile", "ca.pem", "client-nginx-a.pem"],
    );
    assert!(ok, "{text}");
    let text = x509_text(dir.path(), "client-nginx-a.pem");
    assert!(text.contains("URI:keyhold://client/nginx-a"), "{text}");
    assert!(
        text.contains("Issuer: CN = Keyhold development CA, O = Keyhold"),
        "{text}"
    );

    let again = issue_client(dir.path(), "nginx-a", false).unwrap_err();
    assert!(matches!(again, PkiError::ClientExists { .. }), "{again}");
    issue_client(dir.path(), "nginx-a", true).unwrap();
}

#[test]
fn issue_client_without_a_ca_says_to_run_init() {
    let dir = tempfile::tempdir().unwrap();
    let err = issue_client(dir.path(), "web", false).unwrap_err();
    assert!(matches!(err, PkiError::NoCa { .. }), "{err}");
    assert!(err.to_string().contains("hsmctl pki init"));
}

#[test]
fn issue_client_rejects_a_ca_key_from_another_ca() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    init(a.path(), &options(1)).unwrap();
    init(b.path(), &options(1)).unwrap();
    std::fs::copy(b.path().join("ca.key"), a.path().join("ca.key")).unwrap();

    let err = issue_client(a.path(), "web", false).unwrap_err();
    assert!(
        err.to_string().contains("ca.key does not belong to ca.pem"),
        "{err}"
    );
}

#[test]
fn sans_parse_as_ip_or_dns_and_reject_junk() {
    assert_eq!(
        parse_san("::1").unwrap(),
        SanType::IpAddress("::1".parse().unwrap())
    );
    assert_eq!(
        parse_san("*.hsm.test").unwrap(),
        SanType::DnsName(ia5("*.hsm.test").unwrap())
    );
    for bad in ["", "a b", "-x.test", "x..test", "ünï.test", "https://x"] {
        assert!(
            matches!(parse_san(bad), Err(PkiError::InvalidSan { .. })),
            "{bad:?}"
        );
    }
}

#[test]
fn client_names_must_be_file_and_uri_safe() {
    for good in ["hsmctl", "web_1", "nginx.a"] {
        validate_client_name(good).unwrap();
    }
    for bad in ["", "../x", "a/b", ".hidden", "-x", "a b"] {
        assert!(validate_client_name(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn extra_sans_cannot_claim_another_nodes_name() {
    for bad in ["node-2", "NODE-3", "node-1.keyhold.internal"] {
        assert!(
            matches!(parse_san(bad), Err(PkiError::InvalidSan { .. })),
            "{bad:?}"
        );
    }
    assert!(parse_san("node-a.example").is_ok());
    assert!(parse_san("hsm-node-2").is_ok());
}
