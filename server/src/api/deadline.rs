//! The caller's deadline, read from the `grpc-timeout` header a gRPC client sends with a
//! call, so that a write waiting out an election gives up (with a definite answer) just
//! before the caller would.

use std::time::Duration;

use tonic::metadata::MetadataMap;

/// The header every gRPC client sets from its call deadline.
const GRPC_TIMEOUT: &str = "grpc-timeout";

/// How long the caller will wait for this call, if it said.
pub fn caller_patience(metadata: &MetadataMap) -> Option<Duration> {
    let value = metadata.get(GRPC_TIMEOUT)?.to_str().ok()?;
    parse_grpc_timeout(value)
}

/// Parses the header's `<1 to 8 digits><unit>` form (units H, M, S, m, u, n).
fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let digits = value.get(..value.len().checked_sub(1)?)?;
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let amount: u64 = digits.parse().ok()?;
    let duration = match value.as_bytes().last()? {
        b'H' => Duration::from_secs(amount.checked_mul(3600)?),
        b'M' => Duration::from_secs(amount.checked_mul(60)?),
        b'S' => Duration::from_secs(amount),
        b'm' => Duration::from_millis(amount),
        b'u' => Duration::from_micros(amount),
        b'n' => Duration::from_nanos(amount),
        _ => return None,
    };
    Some(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_of_the_header_is_understood() {
        let cases = [
            ("2H", Duration::from_secs(7200)),
            ("3M", Duration::from_secs(180)),
            ("5S", Duration::from_secs(5)),
            ("4999m", Duration::from_millis(4999)),
            ("250u", Duration::from_micros(250)),
            ("99999999n", Duration::from_nanos(99_999_999)),
        ];
        for (text, want) in cases {
            assert_eq!(parse_grpc_timeout(text), Some(want), "{text}");
        }
    }

    #[test]
    fn malformed_headers_are_ignored() {
        for text in ["", "S", "5", "5s", "123456789S", "-5S", "5 S", "5ß"] {
            assert_eq!(parse_grpc_timeout(text), None, "{text:?}");
        }
    }

    #[test]
    fn the_header_is_read_from_request_metadata() {
        let mut metadata = MetadataMap::new();
        assert_eq!(caller_patience(&metadata), None);
        metadata.insert(GRPC_TIMEOUT, "1500m".parse().unwrap());
        assert_eq!(
            caller_patience(&metadata),
            Some(Duration::from_millis(1500))
        );
    }
}
