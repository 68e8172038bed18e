//! [`issue_pem`]: a certificate for a CSR, signed with a CA certificate and key file (the
//! development CA that `hsmctl pki init` makes). The CA decides everything but the names:
//! the request's subject and subject alternative names are copied, its extensions are not.

use rcgen::{
    CertificateSigningRequestParams, DistinguishedName, DnType, DnValue, ExtendedKeyUsagePurpose,
    IsCa, Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SanType,
};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::server::ParsedCertificate;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::error::CertError;
use super::names::{check_name, is_node_name};
use super::{random_serial, validity};

/// Default validity of an issued certificate: the longest that browsers accept.
pub const DEFAULT_VALIDITY_DAYS: u32 = 397;

/// What an issued certificate allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IssueOptions {
    /// Days from now (minus a few minutes of clock skew) until it expires.
    pub validity_days: u32,
    /// Allow TLS server authentication (extended key usage serverAuth).
    pub server_auth: bool,
    /// Allow TLS client authentication (extended key usage clientAuth).
    pub client_auth: bool,
}

impl Default for IssueOptions {
    fn default() -> Self {
        IssueOptions {
            validity_days: DEFAULT_VALIDITY_DAYS,
            server_auth: true,
            client_auth: false,
        }
    }
}

/// Issues a certificate (PEM) for the CSR in `csr_pem`, signed by the CA in
/// `ca_cert_pem` and `ca_key_pem` (PKCS#8 PEM).
///
/// The CSR's signature must verify. The certificate is an end-entity certificate (never a
/// CA) with the request's subject and SANs, a random serial, digital signature (plus key
/// encipherment for RSA keys, which TLS 1.2 RSA key exchange needs) and the extended key
/// usages of `options`. Refuses a CSR without any SAN (TLS clients ignore the common
/// name), with a SAN that is not a well-formed DNS name or IP address, or with a Keyhold
/// node name (`node-<id>`, see [`is_node_name`](super::is_node_name)).
///
/// LIMITATION: rcgen keeps its parsed copy of the CA key in memory without wiping it;
/// the caller's `ca_key_pem` should be in a zeroizing buffer.
pub fn issue_pem(
    csr_pem: &str,
    ca_cert_pem: &str,
    ca_key_pem: &str,
    options: &IssueOptions,
) -> Result<String, CertError> {
    let request =
        CertificateSigningRequestParams::from_pem(csr_pem).map_err(|err| CertError::Request {
            reason: err.to_string(),
        })?;
    check_request_names(&request.params.subject_alt_names)?;
    check_common_name(&request.params.distinguished_name)?;
    let issuer = ca_issuer(ca_cert_pem, ca_key_pem)?;
    let ca_expires = ca_not_after(ca_cert_pem)?;

    let rsa = is_rsa(&request);
    let mut params = request.params.clone();
    params.is_ca = IsCa::ExplicitNoCa;
    (params.not_before, params.not_after) = validity(options.validity_days);
    // A certificate never outlives its issuer: clients would refuse it from then on.
    if ca_expires <= params.not_before {
        return Err(CertError::Ca {
            reason: format!("the CA certificate expired on {ca_expires}"),
        });
    }
    params.not_after = params.not_after.min(ca_expires);
    params.serial_number = Some(random_serial()?);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    if rsa {
        params.key_usages.push(KeyUsagePurpose::KeyEncipherment);
    }
    params.extended_key_usages = extended_usages(options);
    params.use_authority_key_identifier_extension = true;
    params.custom_extensions.clear();
    params.name_constraints = None;
    params.crl_distribution_points.clear();

    let cert = params
        .signed_by(&request.public_key, &issuer)
        .map_err(|source| CertError::Encode {
            what: "certificate",
            source,
        })?;
    Ok(cert.pem())
}

/// The CA as rcgen's issuer, after checking that the key is the certificate's.
fn ca_issuer(ca_cert_pem: &str, ca_key_pem: &str) -> Result<Issuer<'static, KeyPair>, CertError> {
    let bad = |reason: String| CertError::Ca { reason };
    let key = KeyPair::from_pem(ca_key_pem)
        .map_err(|err| bad(format!("cannot read the CA key: {err}")))?;
    let der = CertificateDer::from_pem_slice(ca_cert_pem.as_bytes())
        .map_err(|err| bad(format!("cannot read the CA certificate: {err}")))?;
    let parsed = ParsedCertificate::try_from(&der)
        .map_err(|err| bad(format!("cannot parse the CA certificate: {err}")))?;
    if parsed.subject_public_key_info().as_ref() != key.subject_public_key_info().as_slice() {
        return Err(bad("the CA key is not the CA certificate's key".into()));
    }
    Issuer::from_ca_cert_der(&der, key)
        .map_err(|err| bad(format!("cannot use the CA certificate: {err}")))
}

/// A `node-<id>` common name would make the certificate look like a node's in logs and
/// in the audit trail (which names callers by CN), so the CA refuses it too.
fn check_common_name(name: &DistinguishedName) -> Result<(), CertError> {
    let cn: &str = match name.get(&DnType::CommonName) {
        Some(DnValue::Utf8String(text)) => text,
        Some(DnValue::PrintableString(text)) => text.as_ref(),
        Some(DnValue::Ia5String(text)) => text.as_ref(),
        _ => return Ok(()),
    };
    if !is_node_name(cn) {
        return Ok(());
    }
    Err(CertError::Request {
        reason: format!("common name {cn:?} is reserved for the cluster's nodes"),
    })
}

/// When the CA certificate expires.
fn ca_not_after(ca_cert_pem: &str) -> Result<OffsetDateTime, CertError> {
    let bad = |reason: String| CertError::Ca { reason };
    let der = CertificateDer::from_pem_slice(ca_cert_pem.as_bytes())
        .map_err(|err| bad(format!("cannot read the CA certificate: {err}")))?;
    let (_, cert) = X509Certificate::from_der(&der)
        .map_err(|err| bad(format!("cannot parse the CA certificate: {err}")))?;
    OffsetDateTime::from_unix_timestamp(cert.validity().not_after.timestamp())
        .map_err(|err| bad(format!("the CA certificate's expiry: {err}")))
}

/// The CA issues for DNS names and IP addresses only, each a well-formed name: TLS
/// clients ignore the common name, and other kinds (e-mail, URI) have no place in a
/// server certificate.
fn check_request_names(sans: &[SanType]) -> Result<(), CertError> {
    let refuse = |reason: String| Err(CertError::Request { reason });
    if sans.is_empty() {
        return refuse("it names no DNS name or IP address (subjectAltName)".into());
    }
    for san in sans {
        match san {
            SanType::IpAddress(_) => {}
            SanType::DnsName(name) => {
                let name = name.as_str();
                if let Err(reason) = check_name(name) {
                    return refuse(format!("subjectAltName {name:?}: {reason}"));
                }
                if is_node_name(name) {
                    return refuse(format!(
                        "subjectAltName {name:?}: node-<id> names are reserved for the \
                         cluster's node certificates"
                    ));
                }
            }
            other => return refuse(format!("subjectAltName {other:?} is not a DNS name or IP")),
        }
    }
    Ok(())
}

fn is_rsa(request: &CertificateSigningRequestParams) -> bool {
    let rsa: [&rcgen::SignatureAlgorithm; 3] = [
        &rcgen::PKCS_RSA_SHA256,
        &rcgen::PKCS_RSA_SHA384,
        &rcgen::PKCS_RSA_SHA512,
    ];
    rsa.contains(&request.public_key.algorithm())
}

fn extended_usages(options: &IssueOptions) -> Vec<ExtendedKeyUsagePurpose> {
    let mut usages = Vec::new();
    if options.server_auth {
        usages.push(ExtendedKeyUsagePurpose::ServerAuth);
    }
    if options.client_auth {
        usages.push(ExtendedKeyUsagePurpose::ClientAuth);
    }
    usages
}
