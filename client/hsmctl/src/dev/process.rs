//! The hsmd child processes of a dev cluster: finding the binary, starting each node in
//! its own process group with its log file and pid file, noticing exits, and stopping
//! (SIGTERM, a bounded wait, then SIGKILL). Also `dev down`'s stop-by-pid-file.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep, timeout_at};

use super::DevError;
use super::layout::NodeLayout;
use crate::files::{self, FileError};

/// How long a node gets to stop after SIGTERM before SIGKILL.
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(10);

/// hsmd settings read from the environment that would override its config file.
const HSMD_OVERRIDE_ENV: [&str; 7] = [
    "KEYHOLD_CONFIG",
    "KEYHOLD_NODE_ID",
    "KEYHOLD_AVAILABILITY_ZONE",
    "KEYHOLD_API_ADDR",
    "KEYHOLD_RAFT_ADDR",
    "KEYHOLD_DATA_DIR",
    "KEYHOLD_UNSEAL_SECRET_FILE",
];

/// A node process that ended.
#[derive(Debug)]
pub(crate) struct Exit {
    /// Node id.
    pub(crate) id: u64,
    /// Its pid.
    pub(crate) pid: u32,
    /// How it ended, as text ("exit status: 1", "signal: 9 (SIGKILL)").
    pub(crate) status: String,
    /// True for a clean exit (status 0).
    pub(crate) success: bool,
}

/// The running hsmd children of `dev up`.
#[derive(Debug)]
pub(crate) struct Supervisor {
    running: BTreeMap<u64, (u32, PathBuf)>,
    exits_tx: mpsc::UnboundedSender<Exit>,
    exits: mpsc::UnboundedReceiver<Exit>,
}

impl Supervisor {
    /// No children yet.
    pub(crate) fn new() -> Self {
        let (exits_tx, exits) = mpsc::unbounded_channel();
        Supervisor {
            running: BTreeMap::new(),
            exits_tx,
            exits,
        }
    }

    /// Starts `hsmd --config <node>/hsmd.toml`, output appended to the node's log, and
    /// records its pid in the node's pid file.
    pub(crate) fn start(&mut self, hsmd: &Path, node: &NodeLayout) -> Result<u32, DevError> {
        let log_path = node.log_path();
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(FileError::on("open", &log_path))?;
        let log_err = log.try_clone().map_err(FileError::on("open", &log_path))?;
        let mut command = hsmd_command(hsmd, node);
        command.stdin(Stdio::null()).stdout(log).stderr(log_err);
        let spawn_error = |source| DevError::Spawn {
            path: hsmd.to_path_buf(),
            source,
        };
        let mut child = command.spawn().map_err(spawn_error)?;
        let pid = child
            .id()
            .ok_or_else(|| spawn_error(std::io::ErrorKind::NotFound.into()))?;
        files::write_public(&node.pid_path(), format!("{pid}\n").as_bytes())?;
        self.running.insert(node.id, (pid, node.pid_path()));

        let (id, tx) = (node.id, self.exits_tx.clone());
        tokio::spawn(async move {
            let (status, success) = match child.wait().await {
                Ok(status) => (describe(status), status.success()),
                Err(err) => (format!("unknown status ({err})"), false),
            };
            // The receiver is gone only when hsmctl is exiting anyway.
            let _ = tx.send(Exit {
                id,
                pid,
                status,
                success,
            });
        });
        Ok(pid)
    }

    /// How many nodes are still running.
    pub(crate) fn running(&self) -> usize {
        self.running.len()
    }

    /// The next node to exit; `None` when none is running.
    pub(crate) async fn next_exit(&mut self) -> Option<Exit> {
        if self.running.is_empty() {
            return None;
        }
        let exit = self.exits.recv().await?;
        self.forget(exit.id);
        Some(exit)
    }

    /// A node that has exited, if any, without waiting.
    pub(crate) fn try_exit(&mut self) -> Option<Exit> {
        let exit = self.exits.try_recv().ok()?;
        self.forget(exit.id);
        Some(exit)
    }

    /// SIGTERM to every running node, up to [`STOP_GRACE`] for them to exit, SIGKILL to
    /// the rest; removes the pid files. Returns the exits seen.
    pub(crate) async fn stop(&mut self) -> Vec<Exit> {
        let mut exits = Vec::new();
        while let Some(exit) = self.try_exit() {
            exits.push(exit);
        }
        for (pid, _) in self.running.values() {
            signal(*pid, Signal::SIGTERM);
        }
        let deadline = Instant::now() + STOP_GRACE;
        while !self.running.is_empty() {
            match timeout_at(deadline, self.next_exit()).await {
                Ok(Some(exit)) => exits.push(exit),
                Ok(None) | Err(_) => break,
            }
        }
        for (pid, _) in self.running.values() {
            signal(*pid, Signal::SIGKILL);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while let Ok(Some(exit)) = timeout_at(deadline, self.next_exit()).await {
            exits.push(exit);
        }
        exits
    }

    fn forget(&mut self, id: u64) {
        if let Some((_, pid_path)) = self.running.remove(&id) {
            let _ = std::fs::remove_file(pid_path);
        }
    }
}

/// `hsmd --config <node>/hsmd.toml`, in its own process group, with none of the
/// environment variables that would override the config file.
fn hsmd_command(hsmd: &Path, node: &NodeLayout) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(hsmd);
    command.arg("--config").arg(node.config_path());
    for var in HSMD_OVERRIDE_ENV {
        command.env_remove(var);
    }
    // Its own process group: Ctrl-C reaches only hsmctl, which stops the nodes in order.
    command.process_group(0);
    command
}

/// Finds hsmd: the given path, else next to this executable, else on `PATH`.
pub(crate) fn find_hsmd(explicit: Option<&Path>) -> Result<PathBuf, DevError> {
    if let Some(path) = explicit {
        if path.is_file() {
            return Ok(path.to_path_buf());
        }
        return Err(DevError::HsmdNotFound {
            looked: path.display().to_string(),
        });
    }
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join("hsmd")));
    if let Some(path) = beside.as_ref().filter(|p| p.is_file()) {
        return Ok(path.clone());
    }
    let on_path = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("hsmd"))
        .find(|candidate| candidate.is_file());
    let looked = match &beside {
        Some(path) => format!("{} and PATH", path.display()),
        None => "PATH".to_string(),
    };
    on_path.ok_or(DevError::HsmdNotFound { looked })
}

/// Fails if a node's pid file names a running hsmd; removes stale pid files.
pub(crate) fn check_not_running(nodes: &[NodeLayout], dir: &Path) -> Result<(), DevError> {
    for node in nodes {
        let Some(pid) = read_pid(&node.pid_path()) else {
            continue;
        };
        if is_running_hsmd(pid) {
            return Err(DevError::AlreadyRunning {
                dir: dir.to_path_buf(),
                pid,
            });
        }
        let _ = std::fs::remove_file(node.pid_path());
    }
    Ok(())
}

/// What `dev down` did to one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stopped {
    /// It was running and has stopped (`killed` after the grace period).
    Stopped {
        /// Node id.
        id: u64,
        /// Its pid.
        pid: u32,
        /// SIGKILL was needed.
        killed: bool,
    },
    /// Its pid file named no running hsmd; the file was removed.
    Stale {
        /// Node id.
        id: u64,
        /// The pid in the file.
        pid: u32,
    },
}

/// `dev down`: SIGTERM to each node whose pid file names a running hsmd.
pub(crate) async fn stop_by_pid_files(nodes: &[(u64, PathBuf)]) -> Vec<Stopped> {
    let mut report = Vec::new();
    let mut signalled = Vec::new();
    for (id, pid_path) in nodes {
        let Some(pid) = read_pid(pid_path) else {
            continue;
        };
        if is_running_hsmd(pid) {
            signal(pid, Signal::SIGTERM);
            signalled.push((*id, pid));
        } else {
            report.push(Stopped::Stale { id: *id, pid });
        }
        let _ = std::fs::remove_file(pid_path);
    }
    let deadline = Instant::now() + STOP_GRACE;
    while signalled.iter().any(|(_, pid)| is_running_hsmd(*pid)) && Instant::now() < deadline {
        sleep(Duration::from_millis(100)).await;
    }
    for (id, pid) in signalled {
        let killed = is_running_hsmd(pid);
        if killed {
            signal(pid, Signal::SIGKILL);
        }
        report.push(Stopped::Stopped { id, pid, killed });
    }
    report.sort_by_key(|s| match s {
        Stopped::Stopped { id, .. } | Stopped::Stale { id, .. } => *id,
    });
    report
}

fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path)
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|pid| *pid > 1)
}

/// True when `pid` is a live (not zombie) process whose command name is `hsmd`.
// LIMITATION: reads /proc, so on systems without it no process counts as hsmd and
// `dev down` signals nothing.
pub(crate) fn is_running_hsmd(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
        return false;
    };
    let command = &stat[open + 1..close];
    let state = stat[close + 1..].trim_start().chars().next();
    command == "hsmd" && !matches!(state, Some('Z' | 'X'))
}

fn signal(pid: u32, signal: Signal) {
    let Ok(raw) = i32::try_from(pid) else { return };
    // ESRCH means it is already gone, which is what we want.
    let _ = kill(Pid::from_raw(raw), signal);
}

fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(number)) => match Signal::try_from(number) {
            Ok(sig) => format!("signal {number} ({sig})"),
            Err(_) => format!("signal {number}"),
        },
        (None, None) => status.to_string(),
    }
}

#[cfg(test)]
mod tests;
