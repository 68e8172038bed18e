//! The names a certificate may carry: [`check_name`] accepts an IP address or a DNS name
//! (a leading `*.` wildcard allowed) and says what is wrong with anything else;
//! [`is_node_name`] spots the names reserved for Keyhold nodes. Requests made here and
//! requests a CA issues for are both held to them.

use std::net::IpAddr;

/// Checks a subject alternative name: an IP address, or a DNS name of letters, digits
/// and hyphens in dot-separated labels of 1 to 63 characters (253 in all), optionally
/// starting with `*.`. The error says what is wrong, for a message that names the value.
pub fn check_name(value: &str) -> Result<(), &'static str> {
    if value.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    let name = value.strip_prefix("*.").unwrap_or(value);
    if name.is_empty() || name.len() > 253 {
        return Err("a DNS name has 1 to 253 characters");
    }
    if !name.split('.').all(label_ok) {
        return Err("not an IP address or a DNS name (letters, digits, '-', '.')");
    }
    // A top-level label is never all digits: such a name is a malformed IP address
    // (`256.1.1.1`), which TLS clients would not match as a DNS name either.
    let last = name.rsplit('.').next().unwrap_or_default();
    if last.bytes().all(|b| b.is_ascii_digit()) {
        return Err("not an IP address, and a DNS name cannot end in an all-digit label");
    }
    Ok(())
}

/// True for the names Keyhold nodes check each other by: `node-<id>`, as a whole name
/// or as its first label (`*.` ignored). A certificate from the cluster CA that carries
/// one could pass as that node, so only a node's own certificate may.
pub fn is_node_name(value: &str) -> bool {
    let name = value.strip_prefix("*.").unwrap_or(value);
    let first = name.split('.').next().unwrap_or_default();
    first
        .get(..5)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case("node-"))
        && first.len() > 5
        && first.bytes().skip(5).all(|b| b.is_ascii_digit())
}

fn label_ok(label: &str) -> bool {
    (1..=63).contains(&label.len())
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_wildcards_and_addresses_are_names() {
        for name in [
            "localhost",
            "www.example.com",
            "*.example.com",
            "10.0.0.1",
            "::1",
        ] {
            assert_eq!(check_name(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn spaces_punctuation_and_empty_labels_are_refused() {
        for name in [
            "bad name!",
            "",
            "a..b",
            "-a.example",
            "a-.example",
            "*.",
            "a.*.b",
            "256.1.1.1",
            "10.0.0",
            "example.123",
        ] {
            assert!(check_name(name).is_err(), "{name:?}");
        }
    }

    #[test]
    fn node_names_are_told_apart_from_names_that_merely_start_alike() {
        for name in ["node-1", "NODE-12.internal", "*.node-3.example"] {
            assert!(is_node_name(name), "{name}");
        }
        for name in ["node-", "node-a", "nodes-1", "web.node-1", "node-1a"] {
            assert!(!is_node_name(name), "{name}");
        }
    }

    #[test]
    fn overlong_labels_and_names_are_refused() {
        assert!(check_name(&"a".repeat(64)).is_err());
        let long = vec!["abcdefghi"; 26].join(".");
        assert!(long.len() > 253);
        assert!(check_name(&long).is_err());
    }
}
