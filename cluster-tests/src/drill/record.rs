//! One recorded operation of a drill: its kind, start, end and result, and how a client
//! failure is classified (a short class name, and whether a failed write may have been
//! applied all the same). Issuing operations is left to `load` and `handshake`, judging
//! them to `checks`.

use keyhold_client::Error;
use serde::Serialize;

/// The kind of an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OpKind {
    /// A signature.
    Sign,
    /// A key generation (a write).
    Generate,
    /// A key destruction (a write).
    Destroy,
    /// A full TLS handshake (no resumption) with a server whose key is a cluster key.
    Handshake,
}

impl OpKind {
    /// Whether the operation changes the cluster's keys.
    pub fn is_write(self) -> bool {
        match self {
            OpKind::Generate | OpKind::Destroy => true,
            OpKind::Sign | OpKind::Handshake => false,
        }
    }
}

/// One operation and its result.
#[derive(Clone, Debug, Serialize)]
pub struct OpRecord {
    /// What was asked.
    pub kind: OpKind,
    /// Start, in ms since the drill started.
    pub start_ms: f64,
    /// End, in ms since the drill started.
    pub end_ms: f64,
    /// True when the call succeeded (for a write: acknowledged).
    pub ok: bool,
    /// For a failed write: whether it may have been applied anyway.
    pub in_doubt: bool,
    /// The key signed with (a handshake's too), destroyed, or (once acknowledged) generated.
    pub key_id: Option<String>,
    /// The unique label of a generate, which finds its key even when the call failed.
    pub label: Option<String>,
    /// The node that signed, when the call succeeded.
    pub node: Option<u64>,
    /// The log index of an acknowledged write.
    pub index: Option<u64>,
    /// The failure's class (for example `unavailable`, `connect`, `deadline-exceeded`).
    pub error_class: Option<String>,
    /// The failure as the client reported it.
    pub error: Option<String>,
    /// Who issued it.
    pub source: Source,
}

/// Who issued an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// The load's preparation: the signers' keys, made before the drill starts.
    Setup,
    /// The load; only these count in the phase statistics.
    Load,
    /// The runner's own probes and barrier writes, sent directly to one node.
    Probe,
}

impl OpRecord {
    /// The call's duration in ms.
    pub fn latency_ms(&self) -> f64 {
        self.end_ms - self.start_ms
    }
}

impl OpRecord {
    pub(crate) fn new(kind: OpKind, start_ms: f64, end_ms: f64) -> Self {
        OpRecord {
            kind,
            start_ms,
            end_ms,
            ok: false,
            in_doubt: false,
            key_id: None,
            label: None,
            node: None,
            index: None,
            error_class: None,
            error: None,
            source: Source::Load,
        }
    }

    pub(crate) fn succeeded(&mut self, node: Option<u64>, index: Option<u64>) {
        self.ok = true;
        self.node = node;
        self.index = index;
    }

    pub(crate) fn failed(&mut self, err: &Error) {
        self.in_doubt = self.kind.is_write() && write_in_doubt(err);
        self.error_class = Some(error_class(err).to_owned());
        self.error = Some(err.to_string());
    }

    /// Records a failure that is not a client call's: a TLS handshake's.
    pub(crate) fn failed_with(&mut self, class: &str, error: String) {
        self.in_doubt = false;
        self.error_class = Some(class.to_owned());
        self.error = Some(error);
    }
}

impl OpRecord {
    /// Records a failure of a direct call (the runner's probes).
    pub(crate) fn failed_status(&mut self, status: &tonic::Status) {
        use tonic::Code;
        let refused = matches!(
            status.code(),
            Code::InvalidArgument
                | Code::PermissionDenied
                | Code::Unauthenticated
                | Code::FailedPrecondition
        );
        self.in_doubt = self.kind.is_write() && !refused;
        self.error_class = Some(format!("{:?}", status.code()).to_lowercase());
        self.error = Some(format!("{:?}: {}", status.code(), status.message()));
    }
}

/// A short, stable name for the kind of failure.
pub(crate) fn error_class(err: &Error) -> &'static str {
    match err {
        Error::InvalidArgument { .. } => "invalid-argument",
        Error::NotFound { .. } => "not-found",
        Error::AlreadyExists { .. } => "already-exists",
        Error::PermissionDenied { .. } => "permission-denied",
        Error::Unauthenticated { .. } => "unauthenticated",
        Error::FailedPrecondition { .. } => "failed-precondition",
        Error::Unavailable { .. } => "unavailable",
        Error::NotWritten { .. } => "not-written",
        Error::UnknownNode { .. } => "unknown-node",
        Error::DeadlineExceeded { .. } => "deadline-exceeded",
        Error::Connect { .. } => "connect",
        Error::Transport { .. } => "transport",
        Error::Internal { .. } => "internal",
        Error::Other { .. } => "other",
        Error::Config(_) => "config",
    }
}

/// Whether a failed write may have been applied: only a connection that never opened or
/// a request the server refused outright proves that it was not.
fn write_in_doubt(err: &Error) -> bool {
    !matches!(
        err,
        Error::Connect { .. }
            | Error::NotWritten { .. }
            | Error::InvalidArgument { .. }
            | Error::PermissionDenied { .. }
            | Error::Unauthenticated { .. }
            | Error::FailedPrecondition { .. }
            | Error::Config(_)
    )
}
