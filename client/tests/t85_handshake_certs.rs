//! `certs::issue_pem` with local keys standing in for a cluster key: the issued
//! certificate carries the request's names, is an end-entity server certificate with a
//! fresh serial, never outlives the CA, and verifies under it; a request without names,
//! with a malformed, node or URI name, a tampered request, a CA key of another
//! certificate and an expired CA are refused. (CSRs and certificates signed by real
//! cluster keys are exercised in cluster-tests `t85_handshake_*`.)

#![cfg(feature = "certs")]
#![allow(clippy::unwrap_used)] // a test fails by panicking

use std::sync::Arc;

use keyhold_client::certs::{CertError, IssueOptions, issue_pem};
use keyhold_client::rustls::RootCertStore;
use keyhold_client::rustls::client::WebPkiServerVerifier;
use keyhold_client::rustls::client::danger::ServerCertVerifier;
use keyhold_client::rustls::crypto::aws_lc_rs;
use keyhold_client::rustls::pki_types::pem::PemObject;
use keyhold_client::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use x509_parser::prelude::{FromDer, X509Certificate};

struct Ca {
    cert: String,
    key: String,
}

fn ca() -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "test CA");
    let cert = params.self_signed(&key).unwrap();
    Ca {
        cert: cert.pem(),
        key: key.serialize_pem(),
    }
}

fn csr(names: &[&str]) -> String {
    let key = KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(names).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "www.example.com");
    params.serialize_request(&key).unwrap().pem().unwrap()
}

/// Verifies `cert_pem` for `name` as rustls clients do, trusting only `ca`.
fn verify(ca: &Ca, cert_pem: &str, name: &str) -> Result<(), String> {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca.cert.as_bytes()).unwrap())
        .unwrap();
    let provider = Arc::new(aws_lc_rs::default_provider());
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .unwrap();
    let leaf = CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap();
    let name = ServerName::try_from(name.to_owned()).unwrap();
    verifier
        .verify_server_cert(&leaf, &[], &name, &[], UnixTime::now())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[test]
fn an_issued_certificate_carries_the_request_names_and_verifies_under_the_ca() {
    let ca = ca();
    let request = csr(&["www.example.com", "127.0.0.1"]);
    let cert = issue_pem(&request, &ca.cert, &ca.key, &IssueOptions::default()).unwrap();

    verify(&ca, &cert, "www.example.com").unwrap();
    verify(&ca, &cert, "127.0.0.1").unwrap();
    assert!(verify(&ca, &cert, "other.example.com").is_err());

    let der = CertificateDer::from_pem_slice(cert.as_bytes()).unwrap();
    let (_, parsed) = x509_parser::parse_x509_certificate(&der).unwrap();
    let constraints = parsed.basic_constraints().unwrap().unwrap().value;
    assert!(!constraints.ca, "an issued certificate is never a CA");
    let cn = parsed.subject().iter_common_name().next().unwrap();
    assert_eq!(cn.as_str().unwrap(), "www.example.com");
    let usage = parsed.key_usage().unwrap().unwrap().value;
    assert!(usage.digital_signature() && !usage.key_cert_sign());

    let again = issue_pem(&request, &ca.cert, &ca.key, &IssueOptions::default()).unwrap();
    let serial = |pem: &str| {
        let der = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
        let (_, parsed) = x509_parser::parse_x509_certificate(&der).unwrap();
        parsed.raw_serial().to_vec()
    };
    assert_ne!(
        serial(&cert),
        serial(&again),
        "each issue gets a fresh serial"
    );
}

#[test]
fn a_certificate_without_server_auth_does_not_verify_as_a_server() {
    let ca = ca();
    let options = IssueOptions {
        server_auth: false,
        client_auth: true,
        ..IssueOptions::default()
    };
    let cert = issue_pem(&csr(&["www.example.com"]), &ca.cert, &ca.key, &options).unwrap();
    let err = verify(&ca, &cert, "www.example.com").unwrap_err();
    assert!(err.contains("Purpose") || err.contains("usage"), "{err}");
}

#[test]
fn a_request_without_names_is_refused() {
    let ca = ca();
    let err = issue_pem(&csr(&[]), &ca.cert, &ca.key, &IssueOptions::default()).unwrap_err();
    assert!(matches!(err, CertError::Request { .. }), "{err}");
    assert!(err.to_string().contains("subjectAltName"), "{err}");
}

#[test]
fn a_request_for_a_malformed_name_is_refused_with_the_name() {
    let ca = ca();
    let request = csr(&["www.example.com", "bad name!"]);
    let err = issue_pem(&request, &ca.cert, &ca.key, &IssueOptions::default()).unwrap_err();
    assert!(matches!(err, CertError::Request { .. }), "{err}");
    assert!(err.to_string().contains("\"bad name!\""), "{err}");
}

#[test]
fn a_request_for_a_node_name_is_refused() {
    let ca = ca();
    for name in ["node-1", "NODE-2.internal"] {
        let request = csr(&["www.example.com", name]);
        let err = issue_pem(&request, &ca.cert, &ca.key, &IssueOptions::default()).unwrap_err();
        assert!(err.to_string().contains("reserved"), "{name}: {err}");
    }
}

#[test]
fn a_request_for_a_uri_name_is_refused() {
    let ca = ca();
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["www.example.com".to_owned()]).unwrap();
    let uri = "keyhold://node/1".try_into().unwrap();
    params.subject_alt_names.push(rcgen::SanType::URI(uri));
    let request = params.serialize_request(&key).unwrap().pem().unwrap();

    let err = issue_pem(&request, &ca.cert, &ca.key, &IssueOptions::default()).unwrap_err();

    assert!(err.to_string().contains("not a DNS name or IP"), "{err}");
}

#[test]
fn a_tampered_request_is_refused() {
    let ca = ca();
    let request = csr(&["www.example.com"]);
    let mut body: Vec<&str> = request.lines().collect();
    // Change one base64 character in the middle of the request (its signed part).
    let line = body[3].to_owned();
    let flipped: String = line
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i == 10 {
                if c == 'A' { 'B' } else { 'A' }
            } else {
                c
            }
        })
        .collect();
    body[3] = &flipped;
    let tampered = body.join("\n");
    let err = issue_pem(&tampered, &ca.cert, &ca.key, &IssueOptions::default()).unwrap_err();
    assert!(matches!(err, CertError::Request { .. }), "{err}");
}

#[test]
fn a_ca_key_of_another_certificate_is_refused() {
    let (ca, other) = (ca(), ca());
    let request = csr(&["www.example.com"]);
    let err = issue_pem(&request, &ca.cert, &other.key, &IssueOptions::default()).unwrap_err();
    assert!(matches!(err, CertError::Ca { .. }), "{err}");
    assert!(
        err.to_string().contains("not the CA certificate's key"),
        "{err}"
    );
}

fn ca_valid_until(not_after: time::OffsetDateTime) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(400);
    params.not_after = not_after;
    let cert = params.self_signed(&key).unwrap();
    Ca {
        cert: cert.pem(),
        key: key.serialize_pem(),
    }
}

#[test]
fn an_issued_certificate_never_outlives_its_ca() {
    let expiry = time::OffsetDateTime::now_utc() + time::Duration::days(30);
    let ca = ca_valid_until(expiry);
    let request = csr(&["www.example.com"]);
    let pem = issue_pem(&request, &ca.cert, &ca.key, &IssueOptions::default()).unwrap();
    let der = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
    let (_, cert) = X509Certificate::from_der(&der).unwrap();
    let not_after = cert.validity().not_after.timestamp();
    assert!(
        (not_after - expiry.unix_timestamp()).abs() <= 1,
        "leaf expires at {not_after}, CA at {}",
        expiry.unix_timestamp()
    );
    verify(&ca, &pem, "www.example.com").unwrap();
}

#[test]
fn an_expired_ca_issues_nothing() {
    let ca = ca_valid_until(time::OffsetDateTime::now_utc() - time::Duration::days(1));
    let request = csr(&["www.example.com"]);
    let err = issue_pem(&request, &ca.cert, &ca.key, &IssueOptions::default()).unwrap_err();
    assert!(err.to_string().contains("expired"), "{err}");
}

#[test]
fn a_request_with_a_node_common_name_is_refused() {
    let ca = ca();
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["bob.example.com".to_owned()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, "node-1");
    let request = params.serialize_request(&key).unwrap().pem().unwrap();
    let err = issue_pem(&request, &ca.cert, &ca.key, &IssueOptions::default()).unwrap_err();
    assert!(
        err.to_string().contains("reserved for the cluster's nodes"),
        "{err}"
    );
}
