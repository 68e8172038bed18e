//! hsmd: the Keyhold node. Loads its config, unseals the cluster key, joins Raft and
//! serves the API until SIGTERM or SIGINT.

use std::path::PathBuf;

use clap::Parser;
use keyhold_server::config::{Config, Overrides};
use keyhold_server::node::Node;
use tracing_subscriber::EnvFilter;

/// The Keyhold HSM node.
#[derive(Parser, Debug)]
#[command(name = "hsmd", version, about)]
struct Args {
    /// Config file (TOML).
    #[arg(long, env = "KEYHOLD_CONFIG")]
    config: PathBuf,
    /// Override `node_id`.
    #[arg(long, env = "KEYHOLD_NODE_ID")]
    node_id: Option<u64>,
    /// Override `availability_zone`.
    #[arg(long, env = "KEYHOLD_AVAILABILITY_ZONE")]
    availability_zone: Option<String>,
    /// Override `api_addr`.
    #[arg(long, env = "KEYHOLD_API_ADDR")]
    api_addr: Option<String>,
    /// Override `raft_addr`.
    #[arg(long, env = "KEYHOLD_RAFT_ADDR")]
    raft_addr: Option<String>,
    /// Override `data_dir`.
    #[arg(long, env = "KEYHOLD_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Override the unseal secret source with a file.
    #[arg(long, env = "KEYHOLD_UNSEAL_SECRET_FILE")]
    unseal_secret_file: Option<PathBuf>,
    /// Log format: text or json.
    #[arg(long, env = "KEYHOLD_LOG_FORMAT", default_value = "text")]
    log_format: String,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    init_logging(&args.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hsmd: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("hsmd failed: {e:#}");
            eprintln!("hsmd: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let overrides = Overrides {
        node_id: args.node_id,
        availability_zone: args.availability_zone,
        api_addr: args.api_addr,
        raft_addr: args.raft_addr,
        data_dir: args.data_dir,
        unseal_secret_file: args.unseal_secret_file,
    };
    let config = Config::load(&args.config, &overrides)?;
    tracing::info!(node_id = config.node_id, az = %config.availability_zone, "hsmd starting");
    let node = Node::start(config).await?;
    keyhold_server::serve::serve(node, shutdown_signal()).await
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stop with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
}

fn init_logging(format: &str) {
    let filter = EnvFilter::try_from_env("KEYHOLD_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,openraft=warn,h2=warn,tower=warn,hyper=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}
