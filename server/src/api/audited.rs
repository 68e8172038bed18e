//! What the API records in the audit trail for each call, and the rules that bind a call
//! to its record: who called (the client certificate's CN and hash), the action, the key,
//! the gRPC code the caller gets, the log index of a write, and a detail that is never
//! secret. A node whose trail has stopped does nothing; a write is recorded as `STARTED`
//! before it is made, so no key is made or destroyed without a trace even if the final
//! record fails; every answer waits for its record. Writing the trail is `audit`'s.

use keyhold_proto::v1 as pb;
use tonic::{Code, Request, Response, Status};
use tonic_types::StatusExt;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::status::to_status;
use crate::audit::{AuditLog, Caller, Entry};
use crate::error::Error;
use crate::tls::sha256;

/// Facts of a successful answer that the trail keeps.
pub trait AuditFacts {
    /// The key the answer is about, when the request did not name it (a new key).
    fn key_id(&self) -> Option<&str> {
        None
    }
    /// Log index of a committed write.
    fn index(&self) -> u64 {
        0
    }
    /// A detail the request did not give (the algorithm of an imported key).
    fn detail(&self) -> Option<&str> {
        None
    }
}

impl AuditFacts for pb::KeyWriteResponse {
    fn key_id(&self) -> Option<&str> {
        self.key.as_ref().map(|k| k.id.as_str())
    }
    fn detail(&self) -> Option<&str> {
        self.key.as_ref().map(|k| k.algorithm.as_str())
    }
    fn index(&self) -> u64 {
        self.index
    }
}

impl AuditFacts for pb::DestroyKeyResponse {
    fn index(&self) -> u64 {
        self.index
    }
}

impl AuditFacts for pb::InitClusterResponse {
    fn index(&self) -> u64 {
        self.index
    }
}

impl AuditFacts for pb::GetKeyResponse {}
impl AuditFacts for pb::ListKeysResponse {}
impl AuditFacts for pb::SignResponse {}
impl AuditFacts for pb::DecryptResponse {}
impl AuditFacts for pb::ReadAuditResponse {}

/// Starts the record of `action` for `request`'s caller.
pub fn entry_for<T>(action: &'static str, request: &Request<T>) -> Entry {
    Entry {
        action,
        caller: caller_of(request),
        ..Entry::default()
    }
}

/// The calls that change keys or the cluster: recorded before they act, too.
const WRITES: [&str; 4] = ["GenerateKey", "ImportKey", "DestroyKey", "InitCluster"];

/// Runs `call` under the trail's rules: refused at once when the trail has stopped, a
/// write recorded as `STARTED` before it acts, and the answer held until the final
/// record is on disk.
pub async fn audited<T: AuditFacts>(
    audit: &AuditLog,
    node_id: u64,
    entry: Entry,
    call: impl Future<Output = Result<Response<T>, Status>>,
) -> Result<Response<T>, Status> {
    let refused = || {
        to_status(Error::AuditUnavailable {
            node_id,
            acted: false,
        })
    };
    if audit.is_stopped() {
        return Err(refused());
    }
    if WRITES.contains(&entry.action) {
        let started = Entry {
            outcome: "STARTED",
            ..entry.clone()
        };
        if let Err(err) = audit.record(started).await {
            tracing::error!(cause = %err, "call refused: its audit record was not written");
            return Err(refused());
        }
    }
    finish(audit, node_id, entry, call.await).await
}

/// Records the call's end and returns its result, once the record is on disk. When the
/// record cannot be written the caller gets `UNAVAILABLE` instead of the result: no
/// answer leaves this node unrecorded.
async fn finish<T: AuditFacts>(
    audit: &AuditLog,
    node_id: u64,
    mut entry: Entry,
    result: Result<Response<T>, Status>,
) -> Result<Response<T>, Status> {
    match &result {
        Ok(response) => {
            let facts = response.get_ref();
            if let Some(key_id) = facts.key_id() {
                entry.key_id = key_id.to_owned();
            }
            entry.index = facts.index();
            if let (true, Some(detail)) = (entry.detail.is_empty(), facts.detail()) {
                entry.detail = detail.to_owned();
            }
            entry.outcome = code_name(Code::Ok);
        }
        Err(status) => {
            entry.outcome = code_name(status.code());
            if let Some(field) = invalid_field(status) {
                entry.detail = format!("invalid {field}");
            }
        }
    }
    match audit.record(entry).await {
        Ok(_) => result,
        Err(err) => {
            tracing::error!(cause = %err, "call withheld: its audit record was not written");
            Err(to_status(Error::AuditUnavailable {
                node_id,
                acted: true,
            }))
        }
    }
}

/// The caller's certificate as the trail names it. The API listener requires a client
/// certificate, so a call without one does not get here; it is recorded as unnamed.
fn caller_of<T>(request: &Request<T>) -> Caller {
    let Some(leaf) = request
        .peer_certs()
        .and_then(|certs| certs.first().cloned())
    else {
        return Caller::default();
    };
    let der = leaf.as_ref();
    Caller {
        name: common_name(der).unwrap_or_default(),
        cert_sha256: sha256(der),
    }
}

fn common_name(der: &[u8]) -> Option<String> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_owned)
}

fn invalid_field(status: &Status) -> Option<String> {
    if status.code() != Code::InvalidArgument {
        return None;
    }
    let bad = status.get_details_bad_request()?;
    bad.field_violations.into_iter().next().map(|v| v.field)
}

/// The canonical gRPC name of a code, as the trail stores it.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test fails by panicking
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_invalid_argument_is_recorded_with_its_field_and_returned() {
        let dir = tempfile::tempdir().unwrap();
        let audit = AuditLog::open(dir.path(), 1).unwrap();
        let status = to_status(Error::invalid("scheme", "unknown scheme"));
        let entry = Entry {
            action: "Sign",
            key_id: "k-1".into(),
            ..Entry::default()
        };
        let result: Result<Response<pb::SignResponse>, Status> = Err(status);
        let back = finish(&audit, 1, entry, result).await.unwrap_err();
        assert_eq!(back.code(), Code::InvalidArgument);

        let (events, _) = audit.read(1, 10).await.unwrap();
        assert_eq!(events.len(), 1);
        let event = &events[0];
        assert_eq!(
            (
                event.action.as_str(),
                event.outcome.as_str(),
                event.detail.as_str()
            ),
            ("Sign", "INVALID_ARGUMENT", "invalid scheme")
        );
        assert_eq!(event.key_id, "k-1");
    }

    #[tokio::test]
    async fn a_node_whose_trail_stopped_does_not_act() {
        let dir = tempfile::tempdir().unwrap();
        let audit = AuditLog::open(dir.path(), 1).unwrap();
        audit.stop_for_test();
        let acted = std::sync::atomic::AtomicBool::new(false);
        let call = async {
            acted.store(true, std::sync::atomic::Ordering::SeqCst);
            Ok(Response::new(pb::DestroyKeyResponse { index: 9 }))
        };
        let entry = Entry {
            action: "DestroyKey",
            ..Entry::default()
        };
        let err = audited(&audit, 1, entry, call).await.unwrap_err();
        assert_eq!(err.code(), Code::Unavailable);
        assert!(
            err.message().contains("did not carry out"),
            "{}",
            err.message()
        );
        assert!(!acted.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[tokio::test]
    async fn a_write_is_on_disk_as_started_before_it_acts() {
        let dir = tempfile::tempdir().unwrap();
        let audit = AuditLog::open(dir.path(), 1).unwrap();
        let call = async {
            let (events, _) = audit.read(1, 10).await.unwrap();
            assert_eq!(events.len(), 1, "the intent is on disk first");
            assert_eq!(
                (events[0].action.as_str(), events[0].outcome.as_str()),
                ("DestroyKey", "STARTED")
            );
            Ok(Response::new(pb::DestroyKeyResponse { index: 9 }))
        };
        let entry = Entry {
            action: "DestroyKey",
            key_id: "k-1".into(),
            ..Entry::default()
        };
        audited(&audit, 1, entry, call).await.unwrap();
        let (events, _) = audit.read(1, 10).await.unwrap();
        let outcomes: Vec<&str> = events.iter().map(|e| e.outcome.as_str()).collect();
        assert_eq!(outcomes, ["STARTED", "OK"]);
        assert_eq!(events[1].index, 9);
    }

    #[tokio::test]
    async fn a_read_is_recorded_once_after_it_is_served() {
        let dir = tempfile::tempdir().unwrap();
        let audit = AuditLog::open(dir.path(), 1).unwrap();
        let call = async { Ok(Response::new(pb::SignResponse::default())) };
        let entry = Entry {
            action: "Sign",
            ..Entry::default()
        };
        audited(&audit, 1, entry, call).await.unwrap();
        let (events, _) = audit.read(1, 10).await.unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].outcome, "OK");
    }

    #[tokio::test]
    async fn a_new_key_is_recorded_with_its_id_and_index() {
        let dir = tempfile::tempdir().unwrap();
        let audit = AuditLog::open(dir.path(), 1).unwrap();
        let response = pb::KeyWriteResponse {
            key: Some(pb::KeyInfo {
                id: "k-00000000000000ab".into(),
                ..pb::KeyInfo::default()
            }),
            index: 42,
        };
        let entry = Entry {
            action: "GenerateKey",
            detail: "ec-p256".into(),
            ..Entry::default()
        };
        finish(&audit, 1, entry, Ok(Response::new(response)))
            .await
            .unwrap();
        let (events, _) = audit.read(1, 10).await.unwrap();
        assert_eq!(events[0].key_id, "k-00000000000000ab");
        assert_eq!((events[0].index, events[0].outcome.as_str()), (42, "OK"));
    }
}
