//! The client's error type: which node failed, how, and whether trying again may help.
//! Turning a `tonic::Status` into an [`Error`] is left to `status`; the retry loop in
//! `call` only reads the result.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use tonic::Code;

/// The node a failed request was sent to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The node's API endpoint, for example `https://127.0.0.1:7101`.
    pub endpoint: String,
    /// The node's id, when discovery has learned it.
    pub node_id: Option<u64>,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.node_id {
            Some(id) => write!(f, "node {id} at {}", self.endpoint),
            None => write!(f, "{}", self.endpoint),
        }
    }
}

/// Everything a client call can fail with.
///
/// Variants that come from a node carry its [`Origin`] and the message the server sent.
/// [`Error::is_retryable`] says whether the same request may succeed later.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request field is missing, malformed or out of range.
    #[error("{origin}: invalid argument{}: {message}", field_suffix(.field))]
    InvalidArgument {
        /// The node that answered.
        origin: Origin,
        /// The request field the server named, when it named one.
        field: Option<String>,
        /// The server's message.
        message: String,
    },
    /// The key (or other object) does not exist.
    #[error("{origin}: not found: {message}")]
    NotFound {
        /// The node that answered.
        origin: Origin,
        /// The server's message.
        message: String,
    },
    /// The object already exists, for example `InitCluster` on an initialized cluster.
    #[error("{origin}: already exists: {message}")]
    AlreadyExists {
        /// The node that answered.
        origin: Origin,
        /// The server's message.
        message: String,
    },
    /// The caller is not allowed to do this.
    #[error("{origin}: permission denied: {message}")]
    PermissionDenied {
        /// The node that answered.
        origin: Origin,
        /// The server's message.
        message: String,
    },
    /// The caller's credentials were refused.
    #[error("{origin}: unauthenticated: {message}")]
    Unauthenticated {
        /// The node that answered.
        origin: Origin,
        /// The server's message.
        message: String,
    },
    /// The system is not in a state for this call: the node is sealed (see
    /// [`Error::is_sealed`]), the cluster is not initialized, or the key's usage forbids
    /// the operation.
    #[error("{origin}: failed precondition: {message}")]
    FailedPrecondition {
        /// The node that answered.
        origin: Origin,
        /// The server's message.
        message: String,
    },
    /// The node could not serve the call now: no quorum, stale, or the requested index
    /// is not applied yet.
    #[error("{origin}: unavailable: {message}{}", leader_suffix(.leader_hint, .message))]
    Unavailable {
        /// The node that answered.
        origin: Origin,
        /// The last leader the node knew, when it said.
        leader_hint: Option<u64>,
        /// The server's message.
        message: String,
    },
    /// The node refused a write before it entered the log (it leads but has lost its
    /// quorum, so it may be cut off from the others): the write was not made, and
    /// sending it again, to another node, is safe. The client does so by itself within
    /// the call's deadline.
    #[error("{origin}: not written: {message}")]
    NotWritten {
        /// The node that refused.
        origin: Origin,
        /// The server's message.
        message: String,
    },
    /// The call's deadline passed, counting every attempt. For a write, whether it was
    /// applied is unknown.
    #[error(
        "deadline of {timeout:?} exceeded{}{}",
        origin_suffix(.origin),
        last_suffix(.last_error)
    )]
    DeadlineExceeded {
        /// The node of the attempt in flight when the deadline passed, if any.
        origin: Option<Origin>,
        /// The call's time budget.
        timeout: Duration,
        /// The failure of the previous attempt, if there was one.
        last_error: Option<Box<Error>>,
    },
    /// The client could not connect to the node (refused, TLS handshake failed, connect
    /// timeout). The request was never sent, so even a write may be retried.
    #[error("{origin}: cannot connect: {message}")]
    Connect {
        /// The node the client tried.
        origin: Origin,
        /// What failed.
        message: String,
    },
    /// The connection failed while the request was in flight. The server may or may not
    /// have received it: a write's outcome is unknown.
    #[error("{origin}: transport error: {message}")]
    Transport {
        /// The node the client used.
        origin: Origin,
        /// What failed.
        message: String,
    },
    /// The server failed; details are in its logs.
    #[error("{origin}: internal error: {message}")]
    Internal {
        /// The node that answered.
        origin: Origin,
        /// The server's message.
        message: String,
    },
    /// Any other gRPC status.
    #[error("{origin}: {code:?}: {message}")]
    Other {
        /// The node that answered.
        origin: Origin,
        /// The gRPC code.
        code: Code,
        /// The server's message.
        message: String,
    },
    /// A call for one node's own answer
    /// ([`Client::read_audit`](crate::Client::read_audit)) named a node id that none of
    /// the client's nodes has. Ids are learned by discovery; no other node can answer for
    /// that one, so nothing was sent.
    #[error("no known node has id {node_id} ({})", known_ids(.known))]
    UnknownNode {
        /// The id asked for.
        node_id: u64,
        /// The ids of the nodes the client knows, ascending; empty when discovery has
        /// named none (it is off, or has not succeeded yet).
        known: Vec<u64>,
    },
    /// The client configuration is unusable.
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
}

/// Why a [`ClientConfig`](crate::ClientConfig) cannot be loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The configuration file is not valid TOML for the client.
    #[error("cannot parse {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// No endpoint was given.
    #[error("no endpoints configured")]
    NoEndpoints,
    /// An endpoint is not a valid `https://host:port` address.
    #[error("invalid endpoint {endpoint:?}: {reason}")]
    InvalidEndpoint {
        /// The endpoint as given.
        endpoint: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `Client::connect` ran outside a tokio runtime.
    #[error("the client must be created within a tokio runtime")]
    NoRuntime,
    /// The CA, certificate or key could not be used for TLS.
    #[error("TLS setup failed: {message}")]
    Tls {
        /// The TLS library's message (never key material).
        message: String,
    },
}

impl Error {
    /// True when the same request may succeed if sent again, to another node or later:
    /// the failure is about a node or the network, not about the request.
    ///
    /// For writes this does not say whether the failed attempt took effect; only
    /// [`Error::Connect`] and [`Error::NotWritten`] prove that it did not.
    pub fn is_retryable(&self) -> bool {
        let transient = matches!(
            self,
            Error::Unavailable { .. }
                | Error::NotWritten { .. }
                | Error::DeadlineExceeded { .. }
                | Error::Connect { .. }
                | Error::Transport { .. }
        );
        transient || self.is_sealed()
    }

    /// True when a node refused because it is sealed (it cannot use the cluster key):
    /// another, unsealed node may serve the same request.
    pub fn is_sealed(&self) -> bool {
        // LIMITATION: recognized by the server's message ("node 3 is sealed: ...") until
        // the server sends a machine-readable reason with FAILED_PRECONDITION.
        matches!(self, Error::FailedPrecondition { message, .. } if message.contains(" is sealed"))
    }

    /// The node the failed request went to, when one was involved.
    pub fn origin(&self) -> Option<&Origin> {
        match self {
            Error::InvalidArgument { origin, .. }
            | Error::NotFound { origin, .. }
            | Error::AlreadyExists { origin, .. }
            | Error::PermissionDenied { origin, .. }
            | Error::Unauthenticated { origin, .. }
            | Error::FailedPrecondition { origin, .. }
            | Error::Unavailable { origin, .. }
            | Error::NotWritten { origin, .. }
            | Error::Connect { origin, .. }
            | Error::Transport { origin, .. }
            | Error::Internal { origin, .. }
            | Error::Other { origin, .. } => Some(origin),
            Error::DeadlineExceeded { origin, .. } => origin.as_ref(),
            Error::UnknownNode { .. } | Error::Config(_) => None,
        }
    }

    /// The message text as the server (or transport) reported it, without decoration.
    pub fn message(&self) -> Option<&str> {
        match self {
            Error::InvalidArgument { message, .. }
            | Error::NotFound { message, .. }
            | Error::AlreadyExists { message, .. }
            | Error::PermissionDenied { message, .. }
            | Error::Unauthenticated { message, .. }
            | Error::FailedPrecondition { message, .. }
            | Error::Unavailable { message, .. }
            | Error::NotWritten { message, .. }
            | Error::Connect { message, .. }
            | Error::Transport { message, .. }
            | Error::Internal { message, .. }
            | Error::Other { message, .. } => Some(message),
            Error::DeadlineExceeded { .. } | Error::UnknownNode { .. } | Error::Config(_) => None,
        }
    }

    /// True when this failure says the node, not the request, is in trouble: it counts
    /// towards ejecting the node.
    pub(crate) fn blames_node(&self) -> bool {
        matches!(
            self,
            Error::Unavailable { .. }
                | Error::NotWritten { .. }
                | Error::Connect { .. }
                | Error::Transport { .. }
                | Error::DeadlineExceeded { .. }
        )
    }

    /// True for a cancellation, which a server reports when the call's own deadline ran out.
    pub(crate) fn is_cancelled(&self) -> bool {
        matches!(
            self,
            Error::Other {
                code: Code::Cancelled,
                ..
            }
        )
    }
}

fn field_suffix(field: &Option<String>) -> String {
    field
        .as_ref()
        .map(|f| format!(" ({f})"))
        .unwrap_or_default()
}

fn leader_suffix(leader: &Option<u64>, message: &str) -> String {
    // The server names the leader in its own text already; say it once.
    if message.contains("leader: node") {
        return String::new();
    }
    leader
        .map(|l| format!(" (last known leader: node {l})"))
        .unwrap_or_default()
}

fn known_ids(known: &[u64]) -> String {
    if known.is_empty() {
        return "no node id known yet: ids are learned by discovery".to_owned();
    }
    let ids: Vec<String> = known.iter().map(u64::to_string).collect();
    format!("known ids: {}", ids.join(", "))
}

fn origin_suffix(origin: &Option<Origin>) -> String {
    origin
        .as_ref()
        .map(|o| format!(" waiting for {o}"))
        .unwrap_or_default()
}

fn last_suffix(last: &Option<Box<Error>>) -> String {
    last.as_ref()
        .map(|e| format!("; last failure: {e}"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Origin {
        Origin {
            endpoint: "https://127.0.0.1:7101".into(),
            node_id: Some(1),
        }
    }

    #[test]
    fn deadline_exceeded_names_the_node_and_the_last_failure() {
        let last = Error::Unavailable {
            origin: origin(),
            leader_hint: None,
            message: "stale".into(),
        };
        let err = Error::DeadlineExceeded {
            origin: Some(origin()),
            timeout: Duration::from_millis(500),
            last_error: Some(Box::new(last)),
        };
        let text = err.to_string();
        assert!(
            text.starts_with("deadline of 500ms exceeded waiting for node 1"),
            "{text}"
        );
        assert!(text.ends_with("unavailable: stale"), "{text}");
        assert!(err.is_retryable());
    }

    #[test]
    fn unknown_node_names_the_id_and_the_known_ids_and_is_final() {
        let err = Error::UnknownNode {
            node_id: 7,
            known: vec![1, 2, 3],
        };
        assert_eq!(
            err.to_string(),
            "no known node has id 7 (known ids: 1, 2, 3)"
        );
        assert!(!err.is_retryable());
        assert!(err.origin().is_none());

        let none = Error::UnknownNode {
            node_id: 2,
            known: Vec::new(),
        };
        assert_eq!(
            none.to_string(),
            "no known node has id 2 (no node id known yet: ids are learned by discovery)"
        );
    }
}
