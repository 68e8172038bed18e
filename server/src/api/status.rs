//! The one conversion from [`Error`] to a gRPC status. Exhaustive on purpose: a new error
//! variant must choose its code here. Bad requests carry a `BadRequest` detail naming the
//! field; internal errors are logged and answered with a generic message.

use keyhold_proto::reasons;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::error::Error;

/// Maps an error to the status sent to the caller, logging it once.
pub fn to_status(err: Error) -> Status {
    let message = err.to_string();
    match err {
        Error::InvalidArgument { field, reason } => {
            tracing::debug!(field, %reason, "invalid request");
            let details = ErrorDetails::with_bad_request_violation(field, reason);
            Status::with_error_details(Code::InvalidArgument, message, details)
        }
        Error::KeyNotFound { .. } => Status::not_found(message),
        Error::Sealed { node_id, .. } => {
            // A machine-readable reason, so clients route around a sealed node without
            // matching message text.
            let info = [("node_id".to_owned(), node_id.to_string())];
            let details = ErrorDetails::with_error_info(reasons::SEALED, reasons::DOMAIN, info);
            Status::with_error_details(Code::FailedPrecondition, message, details)
        }
        Error::UsageNotPermitted { .. } | Error::NotInitialized => {
            Status::failed_precondition(message)
        }
        Error::AlreadyInitialized => Status::already_exists(message),
        Error::NoQuorum { leader_hint } => {
            tracing::warn!(?leader_hint, "write refused: no quorum");
            let mut status = Status::unavailable(message);
            if let Some(leader) = leader_hint
                && let Ok(value) = leader.to_string().parse()
            {
                status.metadata_mut().insert("keyhold-leader-hint", value);
            }
            status
        }
        Error::LostQuorum { node_id, .. } => {
            tracing::warn!(cause = %message, "write refused: quorum lost");
            // Machine-readable, so a client may send the write again elsewhere: it was
            // refused before it entered the log.
            let info = [("node_id".to_owned(), node_id.to_string())];
            let details =
                ErrorDetails::with_error_info(reasons::NOT_WRITTEN, reasons::DOMAIN, info);
            Status::with_error_details(Code::Unavailable, message, details)
        }
        Error::AuditUnavailable { .. } => {
            tracing::error!(cause = %message, "answer withheld: audit trail unavailable");
            Status::unavailable(message)
        }
        Error::NotApplied { .. } | Error::Stale { .. } | Error::PeerUnavailable { .. } => {
            tracing::warn!(cause = %message, "request refused: node not ready");
            Status::unavailable(message)
        }
        Error::Internal(detail) => {
            tracing::error!(cause = %detail, "internal error");
            Status::internal("internal error")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_argument_names_the_field_in_details() {
        let status = to_status(Error::invalid("scheme", "ed25519 does not fit"));
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().contains("scheme"));
        let details = status.get_error_details();
        let violations = &details.bad_request().unwrap().field_violations;
        assert_eq!(violations[0].field, "scheme");
    }

    #[test]
    fn internal_errors_hide_their_detail() {
        let status = to_status(Error::Internal("redb exploded at /var/x".into()));
        assert_eq!(status.code(), Code::Internal);
        assert_eq!(status.message(), "internal error");
    }

    #[test]
    fn no_quorum_carries_the_leader_hint() {
        let status = to_status(Error::NoQuorum {
            leader_hint: Some(2),
        });
        assert_eq!(status.code(), Code::Unavailable);
        assert_eq!(status.metadata().get("keyhold-leader-hint").unwrap(), "2");
        assert!(status.message().contains("node 2"));
    }

    #[test]
    fn sealed_is_failed_precondition_and_says_sealed() {
        let status = to_status(Error::Sealed {
            node_id: 3,
            reason: "x",
        });
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert!(status.message().contains("sealed"));
        let info = status.get_error_details().error_info().cloned().unwrap();
        assert_eq!(
            (info.reason.as_str(), info.domain.as_str()),
            ("SEALED", "keyhold")
        );
    }

    #[test]
    fn a_write_refused_for_a_lost_quorum_says_it_was_not_written() {
        let status = to_status(Error::LostQuorum {
            node_id: 1,
            millis: 2500,
        });
        assert_eq!(status.code(), Code::Unavailable);
        assert!(
            status.message().contains("not made"),
            "{}",
            status.message()
        );
        let info = status.get_error_details().error_info().cloned().unwrap();
        assert_eq!(
            (info.reason.as_str(), info.domain.as_str()),
            ("NOT_WRITTEN", "keyhold")
        );
        assert_eq!(info.metadata.get("node_id").map(String::as_str), Some("1"));
    }
}
