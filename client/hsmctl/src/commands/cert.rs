//! `hsmctl key csr`, `key self-sign` and `pki issue`: certificates for cluster keys, with
//! no private key on this machine. The signing and encoding are keyhold-client's `certs`
//! functions; this file reads and writes the files and describes what was made.

use std::path::{Path, PathBuf};

use keyhold_client::ClientConfig;
use keyhold_client::certs::{self, IssueOptions, Subject};
use keyhold_client::tls::{SignerOptions, TlsSigner};
use serde_json::{Value, json};
use x509_parser::prelude::{FromDer, GeneralName, ParsedExtension, X509Certificate};
use zeroize::Zeroizing;

use crate::cli::SubjectArgs;
use crate::error::CliError;
use crate::files;
use crate::pki::{CA_CERT, CA_KEY, PkiError};

/// A request or certificate that was made, printed or written to a file.
#[derive(Debug)]
pub(crate) struct Made {
    /// "certificate signing request" or "certificate".
    what: &'static str,
    /// The PEM text.
    pem: String,
    /// Where it was written, if anywhere.
    out: Option<PathBuf>,
    /// What the document says, for the summary line.
    names: Names,
}

/// The facts of a request or certificate that the summary shows.
#[derive(Debug, Default, PartialEq, Eq)]
struct Names {
    subject: String,
    sans: Vec<String>,
    issuer: Option<String>,
    not_after: Option<String>,
    serial: Option<String>,
}

/// `key csr`.
pub(crate) async fn csr(
    config: &Path,
    key_id: &str,
    subject: SubjectArgs,
    out: Option<PathBuf>,
) -> Result<Made, CliError> {
    let subject = to_subject(subject);
    let signer = signer(config).await?;
    let pem = certs::csr_pem(&signer, key_id, &subject).await?;
    let names = Names {
        subject: format!("CN={}", subject.common_name),
        sans: effective_sans(&subject),
        ..Names::default()
    };
    finish("certificate signing request", pem, out, names)
}

/// `key self-sign`.
pub(crate) async fn self_sign(
    config: &Path,
    key_id: &str,
    subject: SubjectArgs,
    days: u32,
    out: Option<PathBuf>,
) -> Result<Made, CliError> {
    let subject = to_subject(subject);
    let signer = signer(config).await?;
    let pem = certs::self_signed_pem(&signer, key_id, &subject, days).await?;
    let names = describe_certificate(&pem)?;
    finish("certificate", pem, out, names)
}

/// `pki issue`: the CA in `dir` signs the request in `csr`.
pub(crate) fn issue(
    dir: &Path,
    csr: &Path,
    options: &IssueOptions,
    chain: bool,
    out: Option<PathBuf>,
) -> Result<Made, CliError> {
    let (ca_cert, ca_key) = read_ca(dir)?;
    let request = text(csr, "a PEM certificate signing request")?;
    let issued = certs::issue_pem(&request, &ca_cert, &ca_key, options)?;
    let names = describe_certificate(&issued)?;
    let pem = if chain { issued + &ca_cert } else { issued };
    finish("certificate", pem, out, names)
}

/// A signer on the cluster the client config names, with the config's call timeout as
/// the deadline of each signature.
async fn signer(config_path: &Path) -> Result<TlsSigner, CliError> {
    let config = ClientConfig::from_file(config_path).map_err(|source| CliError::ClientConfig {
        path: config_path.to_path_buf(),
        source,
    })?;
    let options = SignerOptions {
        deadline: config.call_timeout,
        ..SignerOptions::default()
    };
    Ok(TlsSigner::connect(config, options)
        .await
        .map_err(certs::CertError::Key)?)
}

fn to_subject(args: SubjectArgs) -> Subject {
    // clap requires --cn or at least one --san.
    let common_name = args
        .common_name
        .or_else(|| args.sans.first().cloned())
        .unwrap_or_default();
    Subject {
        common_name,
        organization: args.organization,
        sans: args.sans,
    }
}

fn effective_sans(subject: &Subject) -> Vec<String> {
    if subject.sans.is_empty() {
        vec![subject.common_name.clone()]
    } else {
        subject.sans.clone()
    }
}

fn finish(
    what: &'static str,
    pem: String,
    out: Option<PathBuf>,
    names: Names,
) -> Result<Made, CliError> {
    if let Some(path) = &out {
        files::write_public(path, pem.as_bytes())?;
    }
    Ok(Made {
        what,
        pem,
        out,
        names,
    })
}

/// The CA certificate and key of a `pki init` directory; the key stays in a wiped buffer.
fn read_ca(dir: &Path) -> Result<(String, Zeroizing<String>), CliError> {
    let (cert_path, key_path) = (dir.join(CA_CERT), dir.join(CA_KEY));
    if !cert_path.exists() || !key_path.exists() {
        return Err(PkiError::NoCa {
            dir: dir.to_path_buf(),
        }
        .into());
    }
    let cert = text(&cert_path, "a PEM certificate")?;
    let key = Zeroizing::new(files::read(&key_path)?);
    let key = std::str::from_utf8(&key)
        .map(|key| Zeroizing::new(key.to_owned()))
        .map_err(|_| PkiError::BadCa {
            dir: dir.to_path_buf(),
            reason: "ca.key is not PEM text".into(),
        })?;
    Ok((cert, key))
}

/// A file that must be text (PEM); the error names the file and what it should hold.
fn text(path: &Path, expected: &'static str) -> Result<String, CliError> {
    String::from_utf8(files::read(path)?).map_err(|_| CliError::NotText {
        path: path.to_path_buf(),
        expected,
    })
}

/// Subject, SANs, issuer, expiry and serial of the first certificate in `pem`.
fn describe_certificate(pem: &str) -> Result<Names, CliError> {
    let unreadable = |reason: String| CliError::UnreadableCertificate { reason };
    let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .map_err(|err| unreadable(err.to_string()))?;
    let (_, cert) =
        X509Certificate::from_der(&block.contents).map_err(|err| unreadable(err.to_string()))?;
    let sans = cert
        .extensions()
        .iter()
        .filter_map(|ext| match ext.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(san) => Some(&san.general_names),
            _ => None,
        })
        .flatten()
        .filter_map(|name| match name {
            GeneralName::DNSName(dns) => Some((*dns).to_owned()),
            GeneralName::IPAddress(bytes) => ip_text(bytes),
            _ => None,
        })
        .collect();
    let not_after = cert
        .validity()
        .not_after
        .to_datetime()
        .format(&time::format_description::well_known::Rfc3339)
        .ok();
    Ok(Names {
        subject: cert.subject().to_string(),
        sans,
        issuer: Some(cert.issuer().to_string()),
        not_after,
        serial: Some(cert.raw_serial_as_string()),
    })
}

fn ip_text(bytes: &[u8]) -> Option<String> {
    let ip: std::net::IpAddr = match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok()?.into(),
        16 => <[u8; 16]>::try_from(bytes).ok()?.into(),
        _ => return None,
    };
    Some(ip.to_string())
}

impl crate::output::Render for Made {
    fn text(&self) -> String {
        let Some(path) = &self.out else {
            return self.pem.trim_end().to_owned();
        };
        let names = &self.names;
        let mut text = format!(
            "Wrote a {} for {} (SANs: {}) to {}",
            self.what,
            names.subject,
            names.sans.join(", "),
            path.display()
        );
        if let (Some(issuer), Some(not_after)) = (&names.issuer, &names.not_after) {
            text.push_str(&format!("\n  issuer {issuer}, valid until {not_after}"));
        }
        text
    }

    fn json(&self) -> Value {
        let names = &self.names;
        json!({
            "kind": self.what,
            "pem": self.pem,
            "out": self.out.as_ref().map(|p| p.to_string_lossy()),
            "subject": names.subject,
            "sans": names.sans,
            "issuer": names.issuer,
            "not_after": names.not_after,
            "serial": names.serial,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::Render;

    fn args(cn: Option<&str>, sans: &[&str]) -> SubjectArgs {
        SubjectArgs {
            common_name: cn.map(str::to_owned),
            sans: sans.iter().map(|s| s.to_string()).collect(),
            organization: None,
        }
    }

    #[test]
    fn the_first_san_is_the_common_name_when_none_is_given() {
        let subject = to_subject(args(None, &["www.example.com", "example.com"]));
        assert_eq!(subject.common_name, "www.example.com");
        assert_eq!(subject.sans, ["www.example.com", "example.com"]);
    }

    #[test]
    fn the_common_name_is_the_only_san_when_none_is_given() {
        let subject = to_subject(args(Some("api.internal"), &[]));
        assert_eq!(effective_sans(&subject), ["api.internal"]);
    }

    #[test]
    fn ip_addresses_of_both_families_are_printed_as_text() {
        assert_eq!(ip_text(&[127, 0, 0, 1]).as_deref(), Some("127.0.0.1"));
        let mut v6 = [0u8; 16];
        v6[15] = 1;
        assert_eq!(ip_text(&v6).as_deref(), Some("::1"));
        assert_eq!(ip_text(&[1, 2, 3]), None);
    }

    #[test]
    fn a_certificate_is_described_by_its_names_issuer_and_expiry() {
        let key = rcgen::KeyPair::generate().unwrap();
        let params =
            rcgen::CertificateParams::new(vec!["www.example.com".into(), "10.0.0.7".into()])
                .unwrap();
        let pem = params.self_signed(&key).unwrap().pem();

        let names = describe_certificate(&pem).unwrap();

        assert_eq!(names.sans, ["www.example.com", "10.0.0.7"]);
        assert!(names.issuer.is_some() && names.not_after.is_some());
        assert!(names.serial.is_some());
    }

    #[test]
    fn text_that_is_no_certificate_is_refused_with_a_reason() {
        let err = describe_certificate("hello").unwrap_err();
        assert!(
            err.to_string().starts_with("cannot read the certificate"),
            "{err}"
        );
    }

    #[test]
    fn without_out_the_text_output_is_the_pem_alone() {
        let made = Made {
            what: "certificate",
            pem: "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n".into(),
            out: None,
            names: Names::default(),
        };
        assert_eq!(made.text(), made.pem.trim_end());
        assert_eq!(made.json()["kind"], "certificate");
    }

    #[test]
    fn a_missing_ca_names_the_directory_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_ca(dir.path()).unwrap_err().to_string();
        assert!(err.contains("run `hsmctl pki init` first"), "{err}");
    }
}
