//! The CLI's error type: every failure a command can end with, each with a message that
//! fits on one line and names what failed. `main` prints it and exits 1.

use std::path::PathBuf;

use crate::dev::DevError;
use crate::files::FileError;
use crate::pki::PkiError;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// The client config file could not be loaded.
    #[error(
        "cannot load client config {}: {source}{}",
        path.display(),
        missing_config_hint(.source)
    )]
    ClientConfig {
        /// The config file.
        path: PathBuf,
        /// The client library's error.
        source: keyhold_client::Error,
    },
    /// A call to the cluster failed.
    #[error("{0}")]
    Client(#[from] keyhold_client::Error),
    /// The server answered without a field it always sends.
    #[error("the server's answer has no {field}")]
    IncompleteAnswer {
        /// The missing field.
        field: &'static str,
    },
    /// The server kept handing out the same page token.
    #[error("the server returned the page token {token:?} twice; stopping the listing")]
    PageLoop {
        /// The repeated token.
        token: String,
    },
    /// A PKI command failed.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// A dev cluster command failed.
    #[error(transparent)]
    Dev(#[from] DevError),
    /// A CSR or certificate could not be made or issued.
    #[error("{0}")]
    Cert(#[from] keyhold_client::certs::CertError),
    /// A file that must hold text (PEM) does not.
    #[error("{} is not {expected}", path.display())]
    NotText {
        /// The file.
        path: PathBuf,
        /// What it should hold.
        expected: &'static str,
    },
    /// A certificate just made could not be read back.
    #[error("cannot read the certificate back: {reason}")]
    UnreadableCertificate {
        /// The parser's reason.
        reason: String,
    },
    /// A local file could not be read or written.
    #[error(transparent)]
    File(#[from] FileError),
    /// A drill could not run to its report.
    #[error("drill: {0}")]
    Drill(#[from] keyhold_cluster_tests::DrillError),
    /// The drill's thread ended without a report.
    #[error("the drill was aborted: {0}")]
    DrillAborted(String),
    /// A drill ran and found a problem; the report says what.
    #[error("drill {drill} FAILED: {reasons}{}", report_hint(.report))]
    DrillFailed {
        /// The drill.
        drill: String,
        /// What did not hold.
        reasons: String,
        /// The JSON report, when one was written.
        report: Option<PathBuf>,
    },
    /// A node answered a call addressed to another one.
    #[error("asked node {asked}, but node {answered} answered")]
    OtherNodeAnswered {
        /// The node asked.
        asked: u64,
        /// The node that answered.
        answered: u64,
    },
    /// `audit verify --all` found no node id to verify.
    #[error(
        "the client knows no node ids: they come from discovery, which is off \
         (`discovery = false`) or reached no node"
    )]
    NoNodeIds,
    /// `audit verify` found a broken or unreadable trail; the report says where.
    #[error("audit verify FAILED: {reasons}")]
    AuditFailed {
        /// One line per node that failed.
        reasons: String,
    },
    /// The result could not be written to stdout.
    #[error("cannot write to stdout: {0}")]
    Stdout(#[source] std::io::Error),
}

fn report_hint(report: &Option<PathBuf>) -> String {
    report
        .as_ref()
        .map(|path| format!(" (report: {})", path.display()))
        .unwrap_or_default()
}

fn missing_config_hint(source: &keyhold_client::Error) -> &'static str {
    match source {
        keyhold_client::Error::Config(keyhold_client::ConfigError::Read { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            " (start a local cluster with `hsmctl dev up`, or pass --config)"
        }
        _ => "",
    }
}
