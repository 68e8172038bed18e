//! Development PKI for a Keyhold cluster: one CA, a certificate per node (serverAuth +
//! clientAuth, URI SAN `keyhold://node/<id>`, which the server uses to tell nodes from
//! clients) and client certificates (clientAuth, URI SAN `keyhold://client/<name>`). Keys
//! are ECDSA P-256; private keys are written mode 0600. Printing is left to `output`.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::string::Ia5String;
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use crate::files::{self, FileError};

/// CA certificate file name inside a PKI directory.
pub(crate) const CA_CERT: &str = "ca.pem";
/// CA private key file name inside a PKI directory.
pub(crate) const CA_KEY: &str = "ca.key";
/// Client name used by `pki init` when none is given.
pub(crate) const DEFAULT_CLIENT_NAME: &str = "hsmctl";

const CA_VALIDITY_DAYS: i64 = 3650;
const LEAF_VALIDITY_DAYS: i64 = 825;

/// What `pki init` makes.
#[derive(Clone, Debug)]
pub(crate) struct InitOptions {
    /// Node certificates `node-1` ..= `node-<nodes>`.
    pub(crate) nodes: u32,
    /// Extra SANs for every node certificate (DNS names or IP addresses).
    pub(crate) sans: Vec<String>,
    /// Common name of the client certificate written as `client.pem`.
    pub(crate) client_name: String,
    /// Replace an existing CA (and everything it issued).
    pub(crate) force: bool,
}

/// One certificate and key pair written to disk.
#[derive(Clone, Debug)]
pub(crate) struct Issued {
    /// Subject common name.
    pub(crate) name: String,
    /// The certificate (PEM).
    pub(crate) cert: PathBuf,
    /// The private key (PKCS#8 PEM, mode 0600).
    pub(crate) key: PathBuf,
}

/// Everything `pki init` wrote.
#[derive(Clone, Debug)]
pub(crate) struct PkiReport {
    /// The PKI directory.
    pub(crate) dir: PathBuf,
    /// The CA.
    pub(crate) ca: Issued,
    /// Node certificates, in id order.
    pub(crate) nodes: Vec<Issued>,
    /// The client certificate.
    pub(crate) client: Issued,
}

/// Why the PKI could not be made or extended.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PkiError {
    /// `pki init` found a CA and was not told to replace it.
    #[error(
        "{} already holds a CA; pass --force to replace it and every certificate it issued",
        dir.display()
    )]
    CaExists {
        /// The PKI directory.
        dir: PathBuf,
    },
    /// `pki issue-client` found no CA.
    #[error("no CA in {} (ca.pem and ca.key); run `hsmctl pki init` first", dir.display())]
    NoCa {
        /// The PKI directory.
        dir: PathBuf,
    },
    /// A client certificate of that name exists and was not to be replaced.
    #[error("{} already exists; pass --force to replace it", path.display())]
    ClientExists {
        /// The existing certificate.
        path: PathBuf,
    },
    /// A `--san` value is neither an IP address nor a DNS name.
    #[error("invalid SAN {value:?}: {reason}")]
    InvalidSan {
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A client name is not usable in a file name and a URI.
    #[error("invalid client name {name:?}: {reason}")]
    InvalidName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The CA files could not be used to issue.
    #[error("cannot use the CA in {}: {reason}", dir.display())]
    BadCa {
        /// The PKI directory.
        dir: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// rcgen refused to make a key or certificate.
    #[error("cannot issue the certificate for {subject}: {source}")]
    Issue {
        /// Subject being issued.
        subject: String,
        /// The rcgen error.
        #[source]
        source: rcgen::Error,
    },
    /// A file could not be read or written.
    #[error(transparent)]
    File(#[from] FileError),
}

/// True when `dir` holds a CA certificate or key.
pub(crate) fn has_ca(dir: &Path) -> bool {
    dir.join(CA_CERT).exists() || dir.join(CA_KEY).exists()
}

/// Makes a CA, node certificates and a client certificate in `dir`.
pub(crate) fn init(dir: &Path, options: &InitOptions) -> Result<PkiReport, PkiError> {
    if has_ca(dir) && !options.force {
        return Err(PkiError::CaExists {
            dir: dir.to_path_buf(),
        });
    }
    let extra_sans = options
        .sans
        .iter()
        .map(|s| parse_san(s))
        .collect::<Result<Vec<_>, _>>()?;
    validate_client_name(&options.client_name)?;
    files::create_dir(dir)?;

    let now = OffsetDateTime::now_utc();
    let ca_key = new_key("the CA")?;
    let ca_params = ca_params(now);
    let ca_cert = ca_params
        .self_signed(&ca_key)
        .map_err(issue_error("the CA"))?;
    let ca = write_pair(dir, "ca", "Keyhold development CA", &ca_cert, &ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let mut nodes = Vec::new();
    for id in 1..=options.nodes {
        let name = format!("node-{id}");
        let key = new_key(&name)?;
        let cert = node_params(id, &extra_sans, now)?
            .signed_by(&key, &issuer)
            .map_err(issue_error(&name))?;
        nodes.push(write_pair(dir, &name, &name, &cert, &key)?);
    }

    let client = issue_client_with(dir, "client", &options.client_name, &issuer, now)?;
    Ok(PkiReport {
        dir: dir.to_path_buf(),
        ca,
        nodes,
        client,
    })
}

/// Issues another client certificate, `client-<name>.pem`/`.key`, from the CA in `dir`.
pub(crate) fn issue_client(dir: &Path, name: &str, force: bool) -> Result<Issued, PkiError> {
    validate_client_name(name)?;
    let stem = format!("client-{name}");
    let cert_path = dir.join(format!("{stem}.pem"));
    if cert_path.exists() && !force {
        return Err(PkiError::ClientExists { path: cert_path });
    }
    let issuer = load_issuer(dir)?;
    issue_client_with(dir, &stem, name, &issuer, OffsetDateTime::now_utc())
}

/// Parses a SAN given on the command line: an IP address, else a DNS name.
pub(crate) fn parse_san(value: &str) -> Result<SanType, PkiError> {
    let invalid = |reason| PkiError::InvalidSan {
        value: value.to_string(),
        reason,
    };
    if let Ok(ip) = value.parse::<IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    // Nodes check a peer by its `node-<id>` name: an extra SAN of that form, copied into
    // every node certificate, would let one node pass as another.
    if keyhold_client::certs::is_node_name(value) {
        return Err(invalid(
            "node-<id> names are reserved for each node's own certificate",
        ));
    }
    keyhold_client::certs::check_name(value).map_err(invalid)?;
    Ok(SanType::DnsName(ia5(value)?))
}

fn validate_client_name(name: &str) -> Result<(), PkiError> {
    let invalid = |reason| PkiError::InvalidName {
        name: name.to_string(),
        reason,
    };
    if name.is_empty() || name.len() > 64 {
        return Err(invalid("a name has 1 to 64 characters"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Err(invalid("use letters, digits, '-', '_' and '.'"));
    }
    if name.starts_with(['.', '-']) {
        return Err(invalid("a name starts with a letter, a digit or '_'"));
    }
    Ok(())
}

fn ca_params(now: OffsetDateTime) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, "Keyhold development CA");
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Keyhold");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    set_validity(&mut params, now, CA_VALIDITY_DAYS);
    params
}

fn node_params(
    id: u32,
    extra_sans: &[SanType],
    now: OffsetDateTime,
) -> Result<CertificateParams, PkiError> {
    let name = format!("node-{id}");
    let mut params = leaf_params(&name, now);
    params.subject_alt_names = vec![
        SanType::DnsName(ia5("localhost")?),
        SanType::DnsName(ia5(&name)?),
        SanType::IpAddress(IpAddr::from([127, 0, 0, 1])),
    ];
    params.subject_alt_names.extend(extra_sans.iter().cloned());
    params
        .subject_alt_names
        .push(SanType::URI(ia5(&format!("keyhold://node/{id}"))?));
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    Ok(params)
}

fn client_params(name: &str, now: OffsetDateTime) -> Result<CertificateParams, PkiError> {
    let mut params = leaf_params(name, now);
    params.subject_alt_names = vec![SanType::URI(ia5(&format!("keyhold://client/{name}"))?)];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    Ok(params)
}

fn leaf_params(common_name: &str, now: OffsetDateTime) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Keyhold");
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.use_authority_key_identifier_extension = true;
    set_validity(&mut params, now, LEAF_VALIDITY_DAYS);
    params
}

fn set_validity(params: &mut CertificateParams, now: OffsetDateTime, days: i64) {
    // An hour of slack for clocks that are a little behind.
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(days);
}

fn issue_client_with(
    dir: &Path,
    stem: &str,
    name: &str,
    issuer: &Issuer<'_, KeyPair>,
    now: OffsetDateTime,
) -> Result<Issued, PkiError> {
    let key = new_key(name)?;
    let cert = client_params(name, now)?
        .signed_by(&key, issuer)
        .map_err(issue_error(name))?;
    write_pair(dir, stem, name, &cert, &key)
}

fn load_issuer(dir: &Path) -> Result<Issuer<'static, KeyPair>, PkiError> {
    let (cert_path, key_path) = (dir.join(CA_CERT), dir.join(CA_KEY));
    if !cert_path.exists() || !key_path.exists() {
        return Err(PkiError::NoCa {
            dir: dir.to_path_buf(),
        });
    }
    let bad = |reason: String| PkiError::BadCa {
        dir: dir.to_path_buf(),
        reason,
    };
    let cert_pem = String::from_utf8(files::read(&cert_path)?)
        .map_err(|_| bad("ca.pem is not PEM text".into()))?;
    let key_pem = Zeroizing::new(
        String::from_utf8(files::read(&key_path)?)
            .map_err(|_| bad("ca.key is not PEM text".into()))?,
    );
    // rcgen's own error for a bad key names no key bytes, but say only which file failed.
    let key = KeyPair::from_pem(&key_pem).map_err(|_| bad("ca.key is not a private key".into()))?;
    check_key_matches(&cert_pem, &key).map_err(bad)?;
    Issuer::from_ca_cert_pem(&cert_pem, key).map_err(|e| bad(format!("ca.pem: {e}")))
}

fn check_key_matches(cert_pem: &str, key: &KeyPair) -> Result<(), String> {
    use rcgen::PublicKeyData;
    let (_, pem) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes())
        .map_err(|_| "ca.pem holds no PEM certificate".to_string())?;
    let cert = pem
        .parse_x509()
        .map_err(|_| "ca.pem is not a certificate".to_string())?;
    if cert.public_key().raw != key.subject_public_key_info().as_slice() {
        return Err("ca.key does not belong to ca.pem".into());
    }
    Ok(())
}

fn new_key(subject: &str) -> Result<KeyPair, PkiError> {
    KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(issue_error(subject))
}

fn write_pair(
    dir: &Path,
    stem: &str,
    name: &str,
    cert: &Certificate,
    key: &KeyPair,
) -> Result<Issued, PkiError> {
    let cert_path = dir.join(format!("{stem}.pem"));
    let key_path = dir.join(format!("{stem}.key"));
    let key_pem = Zeroizing::new(key.serialize_pem());
    files::write_private(&key_path, key_pem.as_bytes())?;
    files::write_public(&cert_path, cert.pem().as_bytes())?;
    Ok(Issued {
        name: name.to_string(),
        cert: cert_path,
        key: key_path,
    })
}

fn ia5(value: &str) -> Result<Ia5String, PkiError> {
    Ia5String::try_from(value).map_err(|_| PkiError::InvalidSan {
        value: value.to_string(),
        reason: "only ASCII characters are allowed",
    })
}

fn issue_error(subject: &str) -> impl FnOnce(rcgen::Error) -> PkiError {
    let subject = subject.to_string();
    move |source| PkiError::Issue { subject, source }
}

#[cfg(test)]
mod tests;
