//! Rendering tests for the key commands (no server needed).

use std::process::Command;

use rcgen::PublicKeyData;

use super::*;

fn key(id: &str, label: &str) -> KeyInfo {
    KeyInfo {
        id: id.into(),
        label: label.into(),
        algorithm: "ec-p256".into(),
        usage: "sign".into(),
        version: 1,
        public_key_der: vec![0x30, 0x03, 0x02, 0x01, 0x05],
        created_at: 1_700_000_000,
        created_index: 7,
        imported: false,
    }
}

#[test]
fn generate_text_prints_id_and_index() {
    let out = Written {
        verb: "Generated",
        key: key("k-1", "www"),
        index: 12,
    };
    assert_eq!(
        out.text(),
        "Generated key k-1 (ec-p256, sign, label \"www\") at index 12"
    );
    let json = out.json();
    assert_eq!(json["key"]["id"], "k-1");
    assert_eq!(json["index"], 12);
    assert_eq!(json["key"]["public_key_der_base64"], "MAMCAQU=");
}

#[test]
fn listing_is_a_table_with_a_hint_for_more_pages() {
    let page = Listing {
        keys: vec![key("k-1", "www"), key("k-22", "api")],
        next_page_token: "k-22".into(),
    };
    let text = page.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "ID    ALGORITHM  USAGE  VERSION  CREATED               LABEL"
    );
    assert_eq!(
        lines[1],
        "k-1   ec-p256    sign   1        2023-11-14T22:13:20Z  www"
    );
    assert_eq!(lines[3], "More keys: --page-token k-22 (or --all)");
    assert_eq!(page.json()["keys"][1]["label"], "api");
    assert_eq!(page.json()["next_page_token"], "k-22");
}

#[test]
fn empty_listing_says_so() {
    let page = Listing {
        keys: Vec::new(),
        next_page_token: String::new(),
    };
    assert_eq!(page.text(), "No keys.");
    assert_eq!(page.json()["keys"], json!([]));
}

#[test]
fn show_text_lists_every_field() {
    let text = Shown(key("k-1", "www")).text();
    assert!(text.contains("id             k-1\n"), "{text}");
    assert!(
        text.contains("created        2023-11-14T22:13:20Z\n"),
        "{text}"
    );
    assert!(text.ends_with("created index  7"), "{text}");
}

#[test]
fn public_key_pem_is_readable_by_openssl() {
    let pair = rcgen::KeyPair::generate().unwrap();
    let mut info = key("k-1", "www");
    info.public_key_der = pair.subject_public_key_info();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pub.pem");
    std::fs::write(&path, spki_pem(&info)).unwrap();

    let out = Command::new("openssl")
        .args(["pkey", "-pubin", "-noout", "-text", "-in"])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("ASN1 OID: prime256v1"), "{text}");
    assert_eq!(pair.public_key_pem(), spki_pem(&info));
}

#[test]
fn public_text_is_the_pem_or_where_it_went() {
    let printed = Public {
        key: key("k-1", "www"),
        out: None,
    };
    assert_eq!(
        printed.text(),
        "-----BEGIN PUBLIC KEY-----\nMAMCAQU=\n-----END PUBLIC KEY-----"
    );
    let saved = Public {
        key: key("k-1", "www"),
        out: Some(PathBuf::from("/tmp/k.pem")),
    };
    assert_eq!(saved.text(), "Wrote the public key of k-1 to /tmp/k.pem");
    assert_eq!(saved.json()["out"], "/tmp/k.pem");
}

#[test]
fn destroy_reports_the_index() {
    let gone = Destroyed {
        key_id: "k-1".into(),
        index: 30,
    };
    assert_eq!(gone.text(), "Destroyed key k-1 (log index 30)");
    assert_eq!(
        gone.json(),
        json!({"key_id": "k-1", "destroyed": true, "index": 30})
    );
}
