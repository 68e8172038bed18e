//! `hsmctl dev up` and `dev down`: a three-node cluster on this machine, one node per
//! simulated availability zone. `layout` writes the directory, `process` runs the hsmd
//! children, `wait` decides when the cluster is ready; this file runs the foreground
//! lifecycle (start, ready line, supervise, stop on Ctrl-C or SIGTERM).

mod layout;
mod process;
mod report;
mod wait;

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::files::FileError;
use crate::output::{self, OutputFormat};
use crate::pki::PkiError;
pub(crate) use process::find_hsmd;
pub(crate) use report::{Down, Ready};

/// What `dev up` was asked to do.
#[derive(Clone, Debug)]
pub(crate) struct UpOptions {
    /// The dev cluster directory, as the user gave it.
    pub(crate) dir: PathBuf,
    /// Port base for new node configs; 0 picks free ports.
    pub(crate) base_port: u16,
    /// The hsmd binary, when given.
    pub(crate) hsmd: Option<PathBuf>,
    /// How long to wait for the cluster to become ready.
    pub(crate) wait: Duration,
}

/// Why a dev cluster could not be started, run or stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DevError {
    /// No hsmd binary was found.
    #[error(
        "cannot find hsmd (looked at {looked}); build it with `cargo build -p keyhold-server` \
         or pass --hsmd PATH"
    )]
    HsmdNotFound {
        /// Where we looked.
        looked: String,
    },
    /// `--base-port` leaves no room for the node-to-node ports.
    #[error("--base-port {base} is too high: node-to-node ports are base+101..base+103")]
    BasePortTooHigh {
        /// The base given.
        base: u16,
    },
    /// The OS handed out fewer free ports than asked.
    #[error("could not find free ports on 127.0.0.1")]
    NoFreePorts,
    /// An address a node must listen on is taken.
    #[error(
        "{addr} is not free ({source}); is another cluster running? Try `hsmctl dev down` or \
         another --base-port"
    )]
    PortInUse {
        /// The address.
        addr: String,
        /// The bind error.
        source: io::Error,
    },
    /// An existing node config is not readable TOML.
    #[error("cannot reuse {}: {message}", path.display())]
    BadNodeConfig {
        /// The config file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A pid file names a running hsmd.
    #[error(
        "a dev cluster is already running in {} (hsmd pid {pid}); stop it with \
         `hsmctl dev down --dir {}`",
        dir.display(),
        dir.display()
    )]
    AlreadyRunning {
        /// The dev cluster directory.
        dir: PathBuf,
        /// The running hsmd.
        pid: u32,
    },
    /// hsmd could not be started.
    #[error("cannot start {}: {source}", path.display())]
    Spawn {
        /// The hsmd binary.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// Ctrl-C and SIGTERM handlers could not be installed.
    #[error("cannot install signal handlers: {0}")]
    Signals(io::Error),
    /// A node exited before the cluster was ready.
    #[error("node {id} exited during startup ({status}); see {}", log.display())]
    NodeExited {
        /// Node id.
        id: u64,
        /// How it exited.
        status: String,
        /// Its log file.
        log: PathBuf,
    },
    /// The cluster was not ready before the deadline.
    #[error(
        "the dev cluster was not ready after {secs} s: still waiting for {waiting_for}; see \
         the logs in {}/node-*/hsmd.log",
        dir.display()
    )]
    NotReady {
        /// How long we waited.
        secs: u64,
        /// The last thing missing.
        waiting_for: String,
        /// The dev cluster directory.
        dir: PathBuf,
    },
    /// `InitCluster` failed for a reason that waiting will not fix.
    #[error("cluster init failed: {source}; see the logs in {}/node-*/hsmd.log", dir.display())]
    Init {
        /// The client error.
        source: keyhold_client::Error,
        /// The dev cluster directory.
        dir: PathBuf,
    },
    /// The client for probing the nodes could not be made.
    #[error("cannot probe the nodes: {0}")]
    Client(keyhold_client::Error),
    /// Ctrl-C or SIGTERM arrived before the cluster was ready.
    #[error("interrupted before the cluster was ready; the nodes were stopped")]
    Interrupted,
    /// Every node exited on its own, at least one with a failure.
    #[error("every hsmd node has exited, not all cleanly; see {}/node-*/hsmd.log", dir.display())]
    AllExited {
        /// The dev cluster directory.
        dir: PathBuf,
    },
    /// `dev down` on a directory that does not exist.
    #[error("{} does not exist", dir.display())]
    NoDevDir {
        /// The directory given.
        dir: PathBuf,
    },
    /// The ready line could not be printed.
    #[error("cannot write to stdout: {0}")]
    Stdout(io::Error),
    /// A config could not be serialized.
    #[error("cannot write a config: {0}")]
    Toml(toml::ser::Error),
    /// The PKI could not be made.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// A file could not be read or written.
    #[error(transparent)]
    File(#[from] FileError),
}

/// `dev up`: runs in the foreground until Ctrl-C or SIGTERM.
pub(crate) async fn up(options: &UpOptions, format: OutputFormat) -> Result<(), DevError> {
    let hsmd = process::find_hsmd(options.hsmd.as_deref())?;
    let layout = layout::prepare(&options.dir, options.base_port)?;
    process::check_not_running(&layout.nodes, &layout.dir)?;
    layout::check_ports_free(&layout.nodes)?;
    let mut signals = Signals::install()?;

    eprintln!(
        "Starting {} hsmd nodes in {} (logs: node-*/hsmd.log) ...",
        layout.nodes.len(),
        options.dir.display()
    );
    let mut supervisor = process::Supervisor::new();
    let ready = match start_all(&mut supervisor, &hsmd, &layout) {
        Ok(pids) => tokio::select! {
            ready = wait::until_ready(&layout, &mut supervisor, options.wait) => {
                ready.map(|status| (status, pids))
            }
            () = signals.recv() => Err(DevError::Interrupted),
        },
        Err(err) => Err(err),
    };
    let printed = ready.and_then(|(status, pids)| {
        let ready = Ready {
            given_dir: options.dir.clone(),
            layout: &layout,
            status,
            pids,
        };
        output::print(format, &ready).map_err(DevError::Stdout)
    });
    if let Err(err) = printed {
        supervisor.stop().await;
        return Err(err);
    }

    let outcome = supervise(&mut supervisor, &mut signals, &layout.dir).await;
    supervisor.stop().await;
    eprintln!("Keyhold dev cluster stopped.");
    outcome
}

/// `dev down`: stops the nodes named by the pid files in `dir`.
pub(crate) async fn down(dir: &Path) -> Result<Down, DevError> {
    if !dir.is_dir() {
        return Err(DevError::NoDevDir {
            dir: dir.to_path_buf(),
        });
    }
    let mut nodes = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(FileError::on("list", dir))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(id) = name
            .strip_prefix("node-")
            .and_then(|id| id.parse::<u64>().ok())
        else {
            continue;
        };
        nodes.push((id, entry.path().join("hsmd.pid")));
    }
    nodes.sort();
    let stopped = process::stop_by_pid_files(&nodes).await;
    Ok(Down {
        dir: dir.to_path_buf(),
        stopped,
    })
}

/// Reports exits until a signal asks us to stop or no node is left.
async fn supervise(
    supervisor: &mut process::Supervisor,
    signals: &mut Signals,
    dir: &Path,
) -> Result<(), DevError> {
    let mut all_clean = true;
    loop {
        let exit = tokio::select! {
            () = signals.recv() => return Ok(()),
            exit = supervisor.next_exit() => exit,
        };
        let Some(exit) = exit else { return Ok(()) };
        all_clean &= exit.success;
        eprintln!(
            "hsmd node-{} (pid {}) exited with {}; see {}/node-{}/hsmd.log",
            exit.id,
            exit.pid,
            exit.status,
            dir.display(),
            exit.id
        );
        if supervisor.running() == 0 {
            eprintln!("Every hsmd node has exited.");
            return if all_clean {
                Ok(())
            } else {
                Err(DevError::AllExited { dir: dir.into() })
            };
        }
    }
}

fn start_all(
    supervisor: &mut process::Supervisor,
    hsmd: &Path,
    layout: &layout::Layout,
) -> Result<Vec<u32>, DevError> {
    layout
        .nodes
        .iter()
        .map(|node| supervisor.start(hsmd, node))
        .collect()
}

/// SIGINT (Ctrl-C) and SIGTERM.
struct Signals {
    interrupt: Signal,
    terminate: Signal,
}

impl Signals {
    fn install() -> Result<Self, DevError> {
        let interrupt = signal(SignalKind::interrupt()).map_err(DevError::Signals)?;
        let terminate = signal(SignalKind::terminate()).map_err(DevError::Signals)?;
        Ok(Signals {
            interrupt,
            terminate,
        })
    }

    async fn recv(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}
