//! Why a drill could not run to its report. A drill that ran and found a problem is not an
//! error: its report says what failed.

use std::time::Duration;

use super::DrillName;

/// Why a drill could not run to its report. A drill that ran and found a problem is not
/// an error: its report says what failed.
#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    /// No drill has this name.
    #[error("unknown drill {name:?}; expected one of {}", drill_names())]
    UnknownDrill {
        /// The name given.
        name: String,
    },
    /// The cluster harness failed (building, starting or restarting a node).
    #[error("cluster harness failed while {what}: {message}")]
    Harness {
        /// What the runner was doing.
        what: String,
        /// The harness's message.
        message: String,
    },
    /// The load could not be prepared.
    #[error("load setup failed: {0}")]
    Setup(String),
    /// The load's client could not be built.
    #[error("load client: {0}")]
    Client(#[from] keyhold_client::Error),
    /// A bounded wait ran out.
    #[error("timed out after {limit:?} waiting for {what}")]
    Timeout {
        /// What the runner waited for.
        what: String,
        /// The bound.
        limit: Duration,
    },
    /// A signal could not be sent to a node.
    #[error("cannot send {signal} to node {node}: {source}")]
    Signal {
        /// The node.
        node: u64,
        /// The signal's name.
        signal: &'static str,
        /// The system's error.
        source: nix::Error,
    },
    /// A file could not be read or written.
    #[error("{what}: {source}")]
    Io {
        /// The file and the operation.
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The report could not be serialized.
    #[error("report serialization: {0}")]
    Json(#[from] serde_json::Error),
}

fn drill_names() -> String {
    let names: Vec<&str> = DrillName::ALL.iter().map(|d| d.as_str()).collect();
    names.join(", ")
}
