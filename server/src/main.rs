//! hsmd: the Keyhold node. `hsmd --config FILE` loads its config, unseals the cluster
//! key, joins Raft and serves the API until SIGTERM or SIGINT; `hsmd health --config FILE`
//! asks that running node, through its own API, whether it is ready (or with `--live`,
//! alive) and exits 0 or 1 with one line saying so, for container and Kubernetes probes.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand};
use keyhold_server::config::{Config, Overrides};
use keyhold_server::health::{self, HealthCheck, Mode, Unhealthy};
use keyhold_server::node::Node;
use tracing_subscriber::EnvFilter;

/// The Keyhold HSM node.
#[derive(Parser, Debug)]
#[command(name = "hsmd", version, about)]
struct Args {
    #[command(flatten)]
    node: NodeArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

/// Settings shared by the node and its health check (global: accepted before or after
/// the subcommand).
#[derive(clap::Args, Debug)]
struct NodeArgs {
    /// Config file (TOML). Required.
    #[arg(long, env = "KEYHOLD_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Override `node_id`.
    #[arg(long, env = "KEYHOLD_NODE_ID", global = true)]
    node_id: Option<u64>,
    /// Override `availability_zone`.
    #[arg(long, env = "KEYHOLD_AVAILABILITY_ZONE", global = true)]
    availability_zone: Option<String>,
    /// Override `api_addr`.
    #[arg(long, env = "KEYHOLD_API_ADDR", global = true)]
    api_addr: Option<String>,
    /// Override `raft_addr`.
    #[arg(long, env = "KEYHOLD_RAFT_ADDR", global = true)]
    raft_addr: Option<String>,
    /// Override `data_dir`.
    #[arg(long, env = "KEYHOLD_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// Override the unseal secret source with a file.
    #[arg(long, env = "KEYHOLD_UNSEAL_SECRET_FILE", global = true)]
    unseal_secret_file: Option<PathBuf>,
    /// Log format: text or json.
    #[arg(
        long,
        env = "KEYHOLD_LOG_FORMAT",
        default_value = "text",
        global = true
    )]
    log_format: String,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check the running node with this config through its own API, over mutual TLS
    /// with its node certificate. Exit 0 and one line on stdout when healthy; exit 1
    /// and one line on stderr saying why not (unreachable, sealed, no leader, ...).
    Health(HealthArgs),
}

#[derive(clap::Args, Debug)]
struct HealthArgs {
    /// Liveness only: pass when the API answers, even sealed or before `cluster init`.
    /// Without it, readiness: also initialized, unsealed, a leader and a quorum.
    #[arg(long)]
    live: bool,
    /// Give up after this many milliseconds (connect, TLS and the call together).
    #[arg(long, default_value_t = 3000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    timeout_ms: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let Some(config) = args.node.config.clone() else {
        let message = "the config file is required: --config <CONFIG> or KEYHOLD_CONFIG";
        let err = Args::command().error(clap::error::ErrorKind::MissingRequiredArgument, message);
        err.exit()
    };
    match &args.command {
        Some(Command::Health(health)) => run_health(&args.node, &config, health),
        None => run_node(args.node, config),
    }
}

fn run_node(args: NodeArgs, config: PathBuf) -> ExitCode {
    init_logging(&args.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hsmd: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&args, &config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("hsmd failed: {e:#}");
            eprintln!("hsmd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// No logging here: a probe prints exactly one line, and nothing it prints comes from
/// the key or the unseal secret (it reads neither the secret nor any key store).
fn run_health(args: &NodeArgs, config: &Path, health: &HealthArgs) -> ExitCode {
    let mode = if health.live { Mode::Live } else { Mode::Ready };
    let timeout = Duration::from_millis(health.timeout_ms);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let verdict = match runtime {
        Ok(rt) => rt.block_on(check(args, config, mode, timeout)),
        Err(e) => {
            eprintln!("hsmd health: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match verdict {
        Ok(healthy) if health.live => println!("live: {healthy}"),
        Ok(healthy) => println!("healthy: {healthy}"),
        Err(why) => {
            eprintln!("{}", health::one_line(&why.to_string()));
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

async fn check(
    args: &NodeArgs,
    path: &Path,
    mode: Mode,
    timeout: Duration,
) -> Result<health::Healthy, Unhealthy> {
    let config = Config::load(path, &overrides(args))?;
    HealthCheck::new(&config, timeout)?.run(mode).await
}

fn overrides(args: &NodeArgs) -> Overrides {
    Overrides {
        node_id: args.node_id,
        availability_zone: args.availability_zone.clone(),
        api_addr: args.api_addr.clone(),
        raft_addr: args.raft_addr.clone(),
        data_dir: args.data_dir.clone(),
        unseal_secret_file: args.unseal_secret_file.clone(),
    }
}

async fn run(args: &NodeArgs, path: &Path) -> anyhow::Result<()> {
    let config = Config::load(path, &overrides(args))?;
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
    // Colour only for a terminal: logs redirected to a file stay plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("hsmd").chain(args.iter().copied()))
    }

    #[test]
    fn config_alone_runs_the_node() {
        let args = parse(&["--config", "n.toml", "--node-id", "2"]).unwrap();
        assert!(args.command.is_none());
        assert_eq!(args.node.config, Some(PathBuf::from("n.toml")));
        assert_eq!(args.node.node_id, Some(2));
    }

    #[test]
    fn health_defaults_to_readiness_within_three_seconds() {
        let args = parse(&["health", "--config", "n.toml"]).unwrap();
        let Some(Command::Health(health)) = args.command else {
            panic!("no health command: {args:?}");
        };
        assert!(!health.live);
        assert_eq!(
            Duration::from_millis(health.timeout_ms),
            health::DEFAULT_TIMEOUT
        );
        assert_eq!(args.node.config, Some(PathBuf::from("n.toml")));
    }

    #[test]
    fn node_flags_reach_the_health_check_before_or_after_it() {
        let args = parse(&[
            "--config",
            "n.toml",
            "health",
            "--live",
            "--api-addr",
            "[::]:9",
        ])
        .unwrap();
        assert!(matches!(
            args.command,
            Some(Command::Health(HealthArgs { live: true, .. }))
        ));
        assert_eq!(overrides(&args.node).api_addr.as_deref(), Some("[::]:9"));
    }

    #[test]
    fn a_zero_timeout_is_refused() {
        let err = parse(&["health", "--config", "n.toml", "--timeout-ms", "0"]).unwrap_err();
        assert!(err.to_string().contains("timeout-ms"), "{err}");
    }
}
