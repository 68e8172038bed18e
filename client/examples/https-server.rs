//! An HTTPS server whose certificate key is a Keyhold cluster key: every handshake's
//! signature is made by the cluster, and no private key is on this machine. Answers
//! `GET /` (any path) with `hello from keyhold`.
//!
//! ```text
//! cargo run -p keyhold-client --example https-server -- \
//!     --config client.toml --key-id k-3f9a0c1e2b4d5f60 --cert www.pem --listen 127.0.0.1:8443
//! curl --cacert pki/ca.pem https://localhost:8443/
//! ```
//!
//! Options (each also read from the environment variable in brackets):
//! `--config` [KEYHOLD_CLIENT_CONFIG] client TOML; `--key-id` [KEYHOLD_KEY_ID];
//! `--cert` [KEYHOLD_CERT] certificate chain PEM, leaf first; `--listen` [KEYHOLD_LISTEN]
//! (default 127.0.0.1:8443); `--deadline-ms` signature deadline (default 2000);
//! `--runtime multi-thread|current-thread` (default multi-thread); `--accept lazy|plain`
//! (default lazy: `keyhold_client::tls::accept`; plain: `TlsAcceptor::accept`, which
//! signs on the runtime's own thread); `--tls 1.2|1.3|all` (default all);
//! `--no-check ALGORITHM`: use the key without asking the cluster (start while it is
//! down; a wrong id or usage then fails each handshake instead of the start).
//!
//! Logs go to stderr (`KEYHOLD_LOG`, default `info`). A failed handshake is logged with
//! its reason and the server goes on serving. The first line on stdout is
//! `listening on <addr>`.

#![allow(clippy::print_stdout)] // the listening line is for scripts

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use keyhold_client::ClientConfig;
use keyhold_client::rustls::crypto::aws_lc_rs;
use keyhold_client::rustls::server::ServerConfig;
use keyhold_client::rustls::sign::{CertifiedKey, SingleCertAndKey};
use keyhold_client::rustls::version::{TLS12, TLS13};
use keyhold_client::rustls::{self, SupportedProtocolVersion};
use keyhold_client::tls::{
    ClusterSigningKey, KeyAlgorithm, SignerOptions, TlsKeyError, TlsSigner, accept, certified_key,
};
use keyhold_client::tokio_rustls::TlsAcceptor;
use tokio::net::{TcpListener, TcpStream};

/// The body of every answer.
const BODY: &[u8] = b"hello from keyhold\n";
/// Bound on a whole handshake (the signature has its own, shorter, deadline).
const HANDSHAKE_LIMIT: Duration = Duration::from_secs(10);

static ONLY_TLS12: &[&SupportedProtocolVersion] = &[&TLS12];
static ONLY_TLS13: &[&SupportedProtocolVersion] = &[&TLS13];
static BOTH_VERSIONS: &[&SupportedProtocolVersion] = &[&TLS13, &TLS12];

type Failure = Box<dyn std::error::Error + Send + Sync>;

/// The command line.
struct Args {
    config: PathBuf,
    key_id: String,
    cert: PathBuf,
    listen: SocketAddr,
    deadline: Duration,
    current_thread: bool,
    lazy_accept: bool,
    versions: &'static [&'static SupportedProtocolVersion],
    no_check: Option<KeyAlgorithm>,
}

fn main() {
    if let Err(err) = run() {
        eprintln!("https-server: {err}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Failure> {
    let args = Args::parse(std::env::args().skip(1).collect())?;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KEYHOLD_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();

    // The signer's runtime is its own; the server's runtime below is the caller's choice.
    let options = SignerOptions {
        deadline: args.deadline,
        ..SignerOptions::default()
    };
    let signer = TlsSigner::connect_blocking(ClientConfig::from_file(&args.config)?, options)?;
    let runtime = if args.current_thread {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    }
    .enable_all()
    .build()?;
    runtime.block_on(serve(args, signer))
}

async fn serve(args: Args, signer: TlsSigner) -> Result<(), Failure> {
    let key = load_key(&args, &signer).await?;
    tracing::info!(key_id = %args.key_id, deadline = ?args.deadline, "cluster key ready");
    let mut tls = ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_protocol_versions(args.versions)?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SingleCertAndKey::from(key)));
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tls = Arc::new(tls);

    let listener = TcpListener::bind(args.listen).await?;
    let addr = listener.local_addr()?;
    println!("listening on {addr}");
    tracing::info!(%addr, runtime = if args.current_thread { "current-thread" }
        else { "multi-thread" }, lazy_accept = args.lazy_accept, "serving HTTPS");

    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    tracing::warn!(error = %err, "accept failed");
                    continue;
                }
            },
            _ = tokio::signal::ctrl_c() => {
                let peak_in_flight = signer.peak_in_flight();
                tracing::info!(peak_in_flight, "interrupted; stopping");
                return Ok(());
            }
        };
        tokio::spawn(connection(tcp, peer, tls.clone(), args.lazy_accept));
    }
}

/// The certified key: checked against the cluster, or (`--no-check`) taken on trust.
async fn load_key(args: &Args, signer: &TlsSigner) -> Result<Arc<CertifiedKey>, Failure> {
    let chain_pem = std::fs::read(&args.cert)
        .map_err(|err| format!("cannot read --cert {}: {err}", args.cert.display()))?;
    let Some(algorithm) = args.no_check else {
        return Ok(certified_key(signer, &args.key_id, &chain_pem).await?);
    };
    tracing::warn!(key_id = %args.key_id, "--no-check: the key is not checked against the cluster");
    let chain = rustls::pki_types::pem::PemObject::pem_slice_iter(&chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| TlsKeyError::Certificate {
            reason: err.to_string(),
        })?;
    let key = ClusterSigningKey::new(signer.clone(), &args.key_id, algorithm);
    Ok(Arc::new(CertifiedKey::new(chain, Arc::new(key))))
}

/// One connection: the handshake, then HTTP/1.1 until the client closes.
async fn connection(tcp: TcpStream, peer: SocketAddr, tls: Arc<ServerConfig>, lazy: bool) {
    let started = Instant::now();
    let handshake = if lazy {
        accept(tcp, tls, HANDSHAKE_LIMIT).await
    } else {
        match tokio::time::timeout(HANDSHAKE_LIMIT, TlsAcceptor::from(tls).accept(tcp)).await {
            Ok(done) => done,
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "TLS handshake timed out",
            )),
        }
    };
    let stream = match handshake {
        Ok(stream) => stream,
        Err(err) => {
            let elapsed_ms = started.elapsed().as_millis() as u64;
            tracing::warn!(%peer, elapsed_ms, error = %err, "TLS handshake failed");
            return;
        }
    };
    let version = stream.get_ref().1.protocol_version();
    tracing::debug!(%peer, ?version, "TLS handshake done");

    let service = service_fn(|_request: Request<hyper::body::Incoming>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(BODY))))
    });
    let http = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
    if let Err(err) = http {
        tracing::debug!(%peer, error = %err, "connection ended with an error");
    }
}

impl Args {
    fn parse(argv: Vec<String>) -> Result<Self, Failure> {
        if argv.iter().any(|a| a == "--help" || a == "-h") {
            // The options are documented once, at the top of this file.
            let usage = include_str!("https-server.rs")
                .lines()
                .take_while(|line| line.starts_with("//!"))
                .map(|line| line.trim_start_matches("//!").trim_start_matches(' '))
                .collect::<Vec<_>>()
                .join("\n");
            println!("{usage}");
            std::process::exit(0);
        }
        let mut get = Flags::new(argv)?;
        let env = |name: &str| std::env::var(name).ok();
        let required =
            |value: Option<String>, flag: &str| value.ok_or_else(|| format!("missing --{flag}"));
        let config = required(
            get.take("config").or_else(|| env("KEYHOLD_CLIENT_CONFIG")),
            "config",
        )?;
        let key_id = required(
            get.take("key-id").or_else(|| env("KEYHOLD_KEY_ID")),
            "key-id",
        )?;
        let cert = required(get.take("cert").or_else(|| env("KEYHOLD_CERT")), "cert")?;
        let listen = get
            .take("listen")
            .or_else(|| env("KEYHOLD_LISTEN"))
            .unwrap_or_else(|| "127.0.0.1:8443".into());
        let deadline_ms: u64 = get
            .take("deadline-ms")
            .unwrap_or_else(|| "2000".into())
            .parse()?;
        let runtime = get.take("runtime").unwrap_or_else(|| "multi-thread".into());
        let accept = get.take("accept").unwrap_or_else(|| "lazy".into());
        let versions: &'static [&'static SupportedProtocolVersion] =
            match get.take("tls").as_deref().unwrap_or("all") {
                "1.2" => ONLY_TLS12,
                "1.3" => ONLY_TLS13,
                "all" => BOTH_VERSIONS,
                other => return Err(format!("--tls {other}: expected 1.2, 1.3 or all").into()),
            };
        let no_check = match get.take("no-check") {
            None => None,
            Some(name) => Some(
                KeyAlgorithm::from_name(&name)
                    .ok_or_else(|| format!("--no-check {name}: unknown algorithm"))?,
            ),
        };
        get.finish()?;
        Ok(Args {
            config: config.into(),
            key_id,
            cert: cert.into(),
            listen: listen.parse()?,
            deadline: Duration::from_millis(deadline_ms),
            current_thread: match runtime.as_str() {
                "current-thread" => true,
                "multi-thread" => false,
                other => {
                    return Err(format!(
                        "--runtime {other}: expected multi-thread or current-thread"
                    )
                    .into());
                }
            },
            lazy_accept: match accept.as_str() {
                "lazy" => true,
                "plain" => false,
                other => return Err(format!("--accept {other}: expected lazy or plain").into()),
            },
            versions,
            no_check,
        })
    }
}

/// `--name value` pairs.
struct Flags(Vec<(String, String)>);

impl Flags {
    fn new(argv: Vec<String>) -> Result<Self, Failure> {
        let mut pairs = Vec::new();
        let mut words = argv.into_iter();
        while let Some(word) = words.next() {
            let Some(name) = word.strip_prefix("--") else {
                return Err(format!("unexpected argument {word:?}").into());
            };
            let value = words
                .next()
                .ok_or_else(|| format!("--{name} needs a value"))?;
            pairs.push((name.to_owned(), value));
        }
        Ok(Flags(pairs))
    }

    fn take(&mut self, name: &str) -> Option<String> {
        let index = self.0.iter().position(|(flag, _)| flag == name)?;
        Some(self.0.remove(index).1)
    }

    fn finish(self) -> Result<(), Failure> {
        match self.0.first() {
            Some((name, _)) => Err(format!("unknown option --{name}").into()),
            None => Ok(()),
        }
    }
}
