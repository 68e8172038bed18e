//! The one conversion from a `tonic::Status` to an [`Error`]: a status the client built
//! from a local failure (it carries a source) becomes `Connect` or `Transport`; one a
//! server sent becomes the variant of its code, keeping the server's message, the field
//! of a `BadRequest` detail and the leader hint.

use std::error::Error as StdError;
use std::time::Duration;

use keyhold_proto::reasons;
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::error::{Error, Origin};

/// Metadata key in which a node names the last leader it knew when a write found no quorum.
const LEADER_HINT_KEY: &str = "keyhold-leader-hint";

impl Error {
    /// Converts the status of one attempt on `origin` into an error. A status built by the
    /// client from a local I/O failure carries a source; one sent by a server does not.
    pub(crate) fn from_status(status: Status, origin: Origin, timeout: Duration) -> Self {
        if let Some(source) = status.source() {
            let message = chain_message(&status, source);
            if chain_has_connect_error(source) {
                return Error::Connect { origin, message };
            }
            return Error::Transport { origin, message };
        }
        let message = status.message().to_owned();
        match status.code() {
            Code::InvalidArgument => {
                let field = status
                    .get_details_bad_request()
                    .and_then(|bad| bad.field_violations.into_iter().next())
                    .map(|violation| violation.field);
                Error::InvalidArgument {
                    origin,
                    field,
                    message,
                }
            }
            Code::NotFound => Error::NotFound { origin, message },
            Code::AlreadyExists => Error::AlreadyExists { origin, message },
            Code::PermissionDenied => Error::PermissionDenied { origin, message },
            Code::Unauthenticated => Error::Unauthenticated { origin, message },
            Code::FailedPrecondition => Error::FailedPrecondition { origin, message },
            Code::Unavailable if has_reason(&status, reasons::NOT_WRITTEN) => {
                Error::NotWritten { origin, message }
            }
            Code::Unavailable => {
                let leader_hint = leader_hint(&status);
                Error::Unavailable {
                    origin,
                    leader_hint,
                    message,
                }
            }
            Code::DeadlineExceeded => Error::DeadlineExceeded {
                origin: Some(origin),
                timeout,
                last_error: None,
            },
            Code::Internal => Error::Internal { origin, message },
            code => Error::Other {
                origin,
                code,
                message,
            },
        }
    }
}

/// True when the status carries Keyhold's `ErrorInfo` with `reason`.
fn has_reason(status: &Status, reason: &str) -> bool {
    let details = status.get_error_details();
    details
        .error_info()
        .is_some_and(|info| info.domain == reasons::DOMAIN && info.reason == reason)
}

fn leader_hint(status: &Status) -> Option<u64> {
    let value = status.metadata().get(LEADER_HINT_KEY)?;
    value.to_str().ok()?.parse().ok()
}

fn chain_has_connect_error(source: &(dyn StdError + 'static)) -> bool {
    let mut next = Some(source);
    while let Some(err) = next {
        if err.is::<tonic::ConnectError>() {
            return true;
        }
        next = err.source();
    }
    false
}

/// The status message followed by each distinct cause, for example
/// "error trying to connect: tcp connect error: Connection refused (os error 111)".
fn chain_message(status: &Status, source: &(dyn StdError + 'static)) -> String {
    let mut message = status.message().to_owned();
    let mut next = Some(source);
    while let Some(err) = next {
        let text = err.to_string();
        if !message.contains(&text) {
            if !message.is_empty() {
                message.push_str(": ");
            }
            message.push_str(&text);
        }
        next = err.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_types::ErrorDetails;

    fn origin() -> Origin {
        Origin {
            endpoint: "https://127.0.0.1:7101".into(),
            node_id: Some(1),
        }
    }

    fn convert(status: Status) -> Error {
        Error::from_status(status, origin(), Duration::from_secs(5))
    }

    #[test]
    fn invalid_argument_keeps_the_field_from_bad_request_details() {
        let details = ErrorDetails::with_bad_request_violation("scheme", "unknown scheme");
        let status = Status::with_error_details(Code::InvalidArgument, "invalid scheme", details);
        let err = convert(status);
        let Error::InvalidArgument { field, message, .. } = &err else {
            panic!("unexpected {err:?}");
        };
        assert_eq!(field.as_deref(), Some("scheme"));
        assert_eq!(message, "invalid scheme");
        assert!(!err.is_retryable());
        let text = "node 1 at https://127.0.0.1:7101: invalid argument (scheme): invalid scheme";
        assert_eq!(err.to_string(), text);
    }

    #[test]
    fn unavailable_carries_the_leader_hint_and_is_retryable() {
        let mut status = Status::unavailable("no quorum");
        status
            .metadata_mut()
            .insert(LEADER_HINT_KEY, "3".parse().unwrap());
        let err = convert(status);
        assert!(matches!(
            err,
            Error::Unavailable {
                leader_hint: Some(3),
                ..
            }
        ));
        assert!(err.is_retryable());
        assert!(err.blames_node());
        assert_eq!(err.message(), Some("no quorum"));
        assert_eq!(err.origin(), Some(&origin()));
    }

    #[test]
    fn unavailable_with_the_not_written_reason_is_a_write_safe_to_send_again() {
        let info = [("node_id".to_owned(), "1".to_owned())];
        let details = ErrorDetails::with_error_info("NOT_WRITTEN", "keyhold", info);
        let status = Status::with_error_details(Code::Unavailable, "lost quorum", details);
        let err = convert(status);
        assert!(matches!(err, Error::NotWritten { .. }), "{err:?}");
        assert!(err.is_retryable());
        assert!(err.blames_node());
        assert_eq!(err.message(), Some("lost quorum"));
        assert_eq!(
            err.to_string(),
            "node 1 at https://127.0.0.1:7101: not written: lost quorum"
        );
    }

    #[test]
    fn the_not_written_reason_of_another_domain_is_plain_unavailable() {
        let details = ErrorDetails::with_error_info("NOT_WRITTEN", "example.com", []);
        let status = Status::with_error_details(Code::Unavailable, "lost quorum", details);
        assert!(matches!(convert(status), Error::Unavailable { .. }));
    }

    #[test]
    fn a_status_with_a_local_connect_error_is_a_connect_failure() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let status = Status::from_error(Box::new(tonic::ConnectError(Box::new(io))));
        let err = convert(status);
        assert!(matches!(err, Error::Connect { .. }), "{err:?}");
        assert!(err.message().unwrap().contains("refused"));
        assert!(err.is_retryable());
    }

    #[test]
    fn a_status_with_another_local_error_is_a_transport_failure() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
        let status = Status::from_error(Box::new(io));
        let err = convert(status);
        assert!(matches!(err, Error::Transport { .. }), "{err:?}");
        assert!(err.message().unwrap().contains("reset by peer"));
    }

    #[test]
    fn request_errors_are_not_retryable_and_do_not_blame_the_node() {
        for status in [
            Status::not_found("key k-1 not found"),
            Status::permission_denied("no"),
            Status::unauthenticated("who"),
            Status::failed_precondition("key k-1 has usage decrypt and cannot be used to sign"),
            Status::internal("internal error"),
        ] {
            let err = convert(status);
            assert!(!err.is_retryable(), "{err:?}");
            assert!(!err.blames_node(), "{err:?}");
        }
    }

    #[test]
    fn a_sealed_node_is_worth_retrying_elsewhere_without_blame() {
        let err = convert(Status::failed_precondition(
            "node 1 is sealed: no cluster key yet",
        ));
        assert!(err.is_sealed());
        assert!(err.is_retryable());
        assert!(!err.blames_node());
        let err = convert(Status::failed_precondition(
            "the cluster is not initialized",
        ));
        assert!(!err.is_sealed());
        assert!(!err.is_retryable());
    }
}
