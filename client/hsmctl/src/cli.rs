//! The command line, declared with clap's derive API: global flags, commands and their
//! arguments. Parsing only; `main` dispatches and the `commands` and `dev` modules act.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use keyhold_cluster_tests::DrillName;

use crate::output::OutputFormat;

pub(crate) mod audit;

pub(crate) use audit::AuditCommand;

/// Key algorithms the server generates.
pub(crate) const ALGORITHMS: [&str; 6] = [
    "ec-p256", "ec-p384", "ed25519", "rsa-2048", "rsa-3072", "rsa-4096",
];
/// Signature schemes.
pub(crate) const SIGN_SCHEMES: [&str; 9] = [
    "ecdsa-sha256",
    "ecdsa-sha384",
    "ed25519",
    "rsa-pkcs1-sha256",
    "rsa-pkcs1-sha384",
    "rsa-pkcs1-sha512",
    "rsa-pss-sha256",
    "rsa-pss-sha384",
    "rsa-pss-sha512",
];
/// RSA decryption schemes.
pub(crate) const DECRYPT_SCHEMES: [&str; 2] = ["rsa-pkcs1", "rsa-oaep-sha256"];

/// Keyhold operator CLI: PKI, cluster, keys, signing, audit and a local dev cluster.
#[derive(Debug, Parser)]
#[command(name = "hsmctl", version, about, propagate_version = true)]
pub(crate) struct Cli {
    /// Client config file (TOML: endpoints, ca, cert, key).
    #[arg(
        long,
        global = true,
        env = "KEYHOLD_CONFIG",
        default_value = "keyhold-dev/client.toml",
        value_name = "PATH"
    )]
    pub(crate) config: PathBuf,
    /// Output format; json prints one machine-readable document.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub(crate) output: OutputFormat,
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Development PKI: CA, node and client certificates.
    #[command(subcommand)]
    Pki(PkiCommand),
    /// Cluster initialization and health.
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Key management.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Sign a file (or a precomputed digest) with a key.
    Sign(SignArgs),
    /// RSA-decrypt a file with a key.
    Decrypt(DecryptArgs),
    /// A local three-node cluster for development.
    #[command(subcommand)]
    Dev(DevCommand),
    /// Run a failover drill on a fresh local cluster under load and report on it.
    Drill(DrillArgs),
    /// Read and verify the audit trail of each node.
    ///
    /// Every node records each key operation and cluster init it serves, and each read of
    /// its trail, in a trail of its own numbered from seq 1 without gaps. The events form
    /// a hash chain: each carries the SHA-256 of its protobuf encoding (with the hash
    /// left empty) and the hash of the event before it (zeros for seq 1). Events hold no
    /// key material and no data: only who asked what about which key, and the outcome.
    ///
    /// `audit show` prints events; `audit verify` reads whole trails and exits 1 naming
    /// the node and the seq where a chain breaks. Node ids are those `cluster status`
    /// lists; the client learns them by discovery.
    #[command(subcommand)]
    Audit(AuditCommand),
}

/// `hsmctl drill ...`
#[derive(Debug, Args)]
pub(crate) struct DrillArgs {
    /// The drill.
    #[arg(value_parser = drill_names())]
    pub(crate) name: String,
    /// Also write the full JSON report, every operation included, to this file.
    #[arg(long, value_name = "FILE")]
    pub(crate) report: Option<PathBuf>,
    /// Copy each node's log into this directory.
    #[arg(long, value_name = "DIR")]
    pub(crate) logs: Option<PathBuf>,
    /// How long the fault lasts.
    #[arg(long, default_value_t = 6, value_name = "SECS")]
    pub(crate) hold_secs: u64,
    /// How cut links fail (az-partition, leader-isolation): reset at once, or black-holed.
    #[arg(long, value_parser = ["cut", "blackhole"], default_value = "cut")]
    pub(crate) isolation: String,
    /// Latency added to each direction of the slow zone's links (slow-az).
    #[arg(long, default_value_t = 50, value_name = "MS")]
    pub(crate) slow_ms: u64,
    /// The hsmd binary (default: next to hsmctl, then PATH).
    #[arg(long, value_name = "PATH")]
    pub(crate) hsmd: Option<PathBuf>,
}

/// The names `hsmctl drill` accepts.
fn drill_names() -> clap::builder::PossibleValuesParser {
    DrillName::ALL.map(DrillName::as_str).into()
}

/// `hsmctl pki ...`
#[derive(Debug, Subcommand)]
pub(crate) enum PkiCommand {
    /// Create a CA, node certificates node-N.pem and a client certificate client.pem.
    Init {
        /// Directory for the PKI files.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// Number of node certificates.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=64))]
        nodes: u32,
        /// Extra subject alternative name for every node certificate (DNS name or IP).
        #[arg(long = "san", value_name = "NAME")]
        sans: Vec<String>,
        /// Common name of the client certificate.
        #[arg(long, default_value = crate::pki::DEFAULT_CLIENT_NAME, value_name = "NAME")]
        client_name: String,
        /// Replace an existing CA and every certificate in DIR.
        #[arg(long)]
        force: bool,
    },
    /// Issue a TLS server certificate for a CSR (from `key csr` or anywhere else) with the
    /// CA in DIR. The request's names are kept; the CA sets validity and usages.
    Issue {
        /// Directory holding ca.pem and ca.key.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// The certificate signing request (PEM).
        #[arg(long, value_name = "FILE")]
        csr: PathBuf,
        /// Write the certificate here instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Days the certificate is valid.
        #[arg(
            long,
            default_value_t = keyhold_client::certs::DEFAULT_VALIDITY_DAYS,
            value_parser = clap::value_parser!(u32).range(1..=3650),
            value_name = "DAYS"
        )]
        days: u32,
        /// Also allow TLS client authentication (extended key usage clientAuth).
        #[arg(long)]
        client_auth: bool,
        /// Append the CA certificate after the new one (a chain file for servers).
        #[arg(long)]
        chain: bool,
    },
    /// Issue another client certificate, client-NAME.pem, from the CA in DIR.
    IssueClient {
        /// Directory holding ca.pem and ca.key.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// Client name: certificate CN and URI SAN keyhold://client/NAME.
        #[arg(long)]
        name: String,
        /// Replace an existing certificate of that name.
        #[arg(long)]
        force: bool,
    },
}

/// `hsmctl cluster ...`
#[derive(Debug, Subcommand)]
pub(crate) enum ClusterCommand {
    /// Make the cluster key and form the group from the configured members.
    Init,
    /// Every node with its role, term, indexes and seal state.
    Status,
}

/// `sign` or `decrypt`, the two uses of a key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum Usage {
    /// Signing (every algorithm).
    #[default]
    Sign,
    /// RSA decryption (RSA keys only).
    Decrypt,
}

impl Usage {
    /// The name the API uses.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Usage::Sign => "sign",
            Usage::Decrypt => "decrypt",
        }
    }
}

/// `hsmctl key ...`
#[derive(Debug, Subcommand)]
pub(crate) enum KeyCommand {
    /// Generate a key inside the cluster.
    Generate {
        /// Key algorithm.
        #[arg(long, value_parser = ALGORITHMS)]
        algorithm: String,
        /// Label (1 to 128 characters).
        #[arg(long)]
        label: String,
        /// What the key is for.
        #[arg(long, value_enum, default_value_t = Usage::Sign)]
        usage: Usage,
    },
    /// Import a private key (PKCS#8 DER or PEM, PKCS#1 RSA PEM, SEC1 EC PEM).
    Import {
        /// The private key file.
        #[arg(long, value_name = "PATH")]
        file: PathBuf,
        /// Label (1 to 128 characters).
        #[arg(long)]
        label: String,
        /// What the key is for.
        #[arg(long, value_enum, default_value_t = Usage::Sign)]
        usage: Usage,
    },
    /// List keys in id order.
    List {
        /// Only keys with exactly this label.
        #[arg(long)]
        label: Option<String>,
        /// Keys per page (server default 100, at most 1000).
        #[arg(long, value_name = "N")]
        page_size: Option<u32>,
        /// Start after this token (next_page_token of the previous page).
        #[arg(long, value_name = "TOKEN", conflicts_with = "all")]
        page_token: Option<String>,
        /// Fetch every page.
        #[arg(long)]
        all: bool,
    },
    /// Metadata of one key.
    Show {
        /// Key id.
        id: String,
    },
    /// The public key as PEM (SubjectPublicKeyInfo).
    Public {
        /// Key id.
        id: String,
        /// Write the PEM to this file instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Destroy a key on every node.
    Destroy {
        /// Key id.
        id: String,
    },
    /// A certificate signing request (PKCS#10) signed by the cluster key, for any CA.
    Csr {
        /// Key id (a key with usage sign).
        id: String,
        /// Names the request carries.
        #[command(flatten)]
        subject: SubjectArgs,
        /// Write the request here instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// A self-signed TLS server certificate for the cluster key, signed by that key.
    SelfSign {
        /// Key id (a key with usage sign).
        id: String,
        /// Names the certificate carries.
        #[command(flatten)]
        subject: SubjectArgs,
        /// Days the certificate is valid.
        #[arg(
            long,
            default_value_t = 90,
            value_parser = clap::value_parser!(u32).range(1..=3650),
            value_name = "DAYS"
        )]
        days: u32,
        /// Write the certificate here instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

/// The subject of `key csr` and `key self-sign`.
#[derive(Debug, Args)]
pub(crate) struct SubjectArgs {
    /// Subject common name (CN); default: the first --san.
    #[arg(long = "cn", value_name = "NAME", required_unless_present = "sans")]
    pub(crate) common_name: Option<String>,
    /// Subject alternative name, a DNS name (`*.example.com` allowed) or an IP address;
    /// repeat for more. Default: the common name.
    #[arg(long = "san", value_name = "NAME")]
    pub(crate) sans: Vec<String>,
    /// Subject organization (O).
    #[arg(long = "org", value_name = "NAME")]
    pub(crate) organization: Option<String>,
}

/// `hsmctl sign ...`
#[derive(Debug, Args)]
pub(crate) struct SignArgs {
    /// Key id.
    #[arg(long = "key", value_name = "ID")]
    pub(crate) key_id: String,
    /// Signature scheme.
    #[arg(long, value_parser = SIGN_SCHEMES)]
    pub(crate) scheme: String,
    /// The message to sign (at most 1 MiB), or the digest with --digest.
    #[arg(long = "in", value_name = "FILE")]
    pub(crate) input: PathBuf,
    /// Where to write the raw signature bytes.
    #[arg(long, value_name = "FILE")]
    pub(crate) out: PathBuf,
    /// The input file holds a digest computed with the scheme's hash.
    #[arg(long)]
    pub(crate) digest: bool,
}

/// `hsmctl decrypt ...`
#[derive(Debug, Args)]
pub(crate) struct DecryptArgs {
    /// Key id (an RSA key with usage decrypt).
    #[arg(long = "key", value_name = "ID")]
    pub(crate) key_id: String,
    /// Decryption scheme.
    #[arg(long, value_parser = DECRYPT_SCHEMES)]
    pub(crate) scheme: String,
    /// The ciphertext.
    #[arg(long = "in", value_name = "FILE")]
    pub(crate) input: PathBuf,
    /// Where to write the plaintext (created mode 0600).
    #[arg(long, value_name = "FILE")]
    pub(crate) out: PathBuf,
}

/// `hsmctl dev ...`
#[derive(Debug, Subcommand)]
pub(crate) enum DevCommand {
    /// Run a three-node cluster (az-a, az-b, az-c) in the foreground until Ctrl-C.
    Up {
        /// Directory for PKI, node configs, secrets, data and logs; reused when run again.
        #[arg(long, default_value = "keyhold-dev", value_name = "DIR")]
        dir: PathBuf,
        /// API ports are base+1..base+3, node-to-node ports base+101..base+103; 0 picks
        /// free ports. Ignored for nodes whose config already exists.
        #[arg(long, default_value_t = 7100)]
        base_port: u16,
        /// The hsmd binary (default: next to hsmctl, else on PATH).
        #[arg(long, value_name = "PATH")]
        hsmd: Option<PathBuf>,
        /// How long to wait for the cluster to become ready.
        #[arg(long, default_value_t = 60, value_name = "SECONDS")]
        wait_secs: u64,
    },
    /// Stop the hsmd processes of a dev cluster (SIGTERM to the pids in DIR/node-*/hsmd.pid).
    Down {
        /// The dev cluster's directory.
        #[arg(long, default_value = "keyhold-dev", value_name = "DIR")]
        dir: PathBuf,
    },
}

#[cfg(test)]
mod tests;
