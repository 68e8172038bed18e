//! CSRs and self-signed certificates signed by a cluster key: [`csr_pem`] and
//! [`self_signed_pem`]. Issuing from a CSR with a CA is left to `issue`.

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyUsagePurpose,
};

use super::error::CertError;
use super::names::check_name;
use super::remote::RemoteKey;
use super::{Subject, random_serial, validity};
use crate::tls::TlsSigner;

/// A PKCS#10 certificate signing request (PEM) for cluster key `key_id`, signed by that
/// key: subject from `subject`, subject alternative names from `subject.sans` (the common
/// name when there are none). No private key is on this machine at any point.
///
/// The request asks for no key usage or extended key usage: the CA decides those (see
/// [`issue_pem`](super::issue_pem)).
pub async fn csr_pem(
    signer: &TlsSigner,
    key_id: &str,
    subject: &Subject,
) -> Result<String, CertError> {
    let params = subject_params(subject)?;
    let key = RemoteKey::fetch(signer, key_id).await?;
    let signed = tokio::task::spawn_blocking(move || {
        let request = params.serialize_request(&key);
        request
            .and_then(|request| request.pem())
            .map_err(|err| key.error("certificate signing request", err))
    });
    signed.await.map_err(task_failed)?
}

/// A self-signed certificate (PEM) for cluster key `key_id`, signed by that key, valid
/// from a few minutes ago for `validity_days`: a TLS server certificate (digital signature,
/// serverAuth) with `subject`'s names. For tests and internal services; browsers need a
/// certificate from a CA they trust ([`csr_pem`], then a CA).
pub async fn self_signed_pem(
    signer: &TlsSigner,
    key_id: &str,
    subject: &Subject,
    validity_days: u32,
) -> Result<String, CertError> {
    let mut params = subject_params(subject)?;
    (params.not_before, params.not_after) = validity(validity_days);
    params.serial_number = Some(random_serial()?);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];

    let key = RemoteKey::fetch(signer, key_id).await?;
    let signed = tokio::task::spawn_blocking(move || {
        params
            .self_signed(&key)
            .map(|cert| cert.pem())
            .map_err(|err| key.error("certificate", err))
    });
    signed.await.map_err(task_failed)?
}

/// Certificate parameters with the subject's names and nothing else.
fn subject_params(subject: &Subject) -> Result<CertificateParams, CertError> {
    let invalid = |reason: String| CertError::Subject { reason };
    if subject.common_name.trim().is_empty() {
        return Err(invalid("the common name is empty".into()));
    }
    let sans = if subject.sans.is_empty() {
        vec![subject.common_name.clone()]
    } else {
        subject.sans.clone()
    };
    for san in &sans {
        check_name(san).map_err(|reason| invalid(format!("{san:?}: {reason}")))?;
    }
    let mut params = CertificateParams::new(sans)
        .map_err(|err| invalid(format!("a subject alternative name is unusable: {err}")))?;

    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, subject.common_name.as_str());
    if let Some(organization) = &subject.organization {
        name.push(DnType::OrganizationName, organization.as_str());
    }
    params.distinguished_name = name;
    Ok(params)
}

pub(super) fn task_failed(err: tokio::task::JoinError) -> CertError {
    CertError::Task {
        reason: err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::SanType;

    fn subject(cn: &str, sans: &[&str]) -> Subject {
        Subject {
            common_name: cn.into(),
            organization: None,
            sans: sans.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn the_common_name_is_the_san_when_none_is_given() {
        let params = subject_params(&subject("www.example.com", &[])).unwrap();
        let dns = params.subject_alt_names.first().cloned();
        let Some(SanType::DnsName(name)) = dns else {
            panic!("expected a DNS SAN, got {:?}", params.subject_alt_names);
        };
        assert_eq!(name.as_str(), "www.example.com");
    }

    #[test]
    fn ip_addresses_and_dns_names_are_told_apart() {
        let params = subject_params(&subject("svc", &["127.0.0.1", "localhost"])).unwrap();
        assert!(matches!(params.subject_alt_names[0], SanType::IpAddress(_)));
        assert!(matches!(params.subject_alt_names[1], SanType::DnsName(_)));
    }

    #[test]
    fn an_empty_common_name_is_refused() {
        let err = subject_params(&subject(" ", &["localhost"])).unwrap_err();
        assert!(matches!(err, CertError::Subject { .. }), "{err}");
    }

    #[test]
    fn a_san_with_spaces_is_refused_with_its_value() {
        let err = subject_params(&subject("svc", &["bad name!"])).unwrap_err();
        assert!(err.to_string().contains("\"bad name!\""), "{err}");
    }

    #[test]
    fn a_common_name_that_is_no_dns_name_needs_sans() {
        assert!(subject_params(&subject("Web tier", &[])).is_err());
        assert!(subject_params(&subject("Web tier", &["web.example"])).is_ok());
    }

    #[test]
    fn a_san_that_is_no_dns_name_is_refused() {
        let err = subject_params(&subject("svc", &["b\u{fc}cher.example"])).unwrap_err();
        assert!(matches!(err, CertError::Subject { .. }), "{err}");
    }
}
