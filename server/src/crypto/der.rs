//! The few DER reading steps import needs to classify a private key before handing it to
//! aws-lc-rs: walk tag-length-value items, read small integers, measure an RSA modulus and
//! print an OID. Definite lengths only, one-byte tags only; anything else is malformed.
//! Full validation of the key stays with aws-lc-rs.

use std::fmt::Write;

use super::error::CryptoError;

/// Universal and context tags used by the private key formats.
pub(super) mod tag {
    pub(crate) const INTEGER: u8 = 0x02;
    pub(crate) const OCTET_STRING: u8 = 0x04;
    pub(crate) const OID: u8 = 0x06;
    pub(crate) const SEQUENCE: u8 = 0x30;
    /// `[0]` constructed: the parameters of a SEC1 `ECPrivateKey`.
    pub(crate) const CONTEXT_0: u8 = 0xA0;
}

/// The input is not the DER that was expected.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Malformed;

impl From<Malformed> for CryptoError {
    fn from(_: Malformed) -> Self {
        CryptoError::invalid_key("malformed DER (truncated or corrupt)")
    }
}

/// A cursor over consecutive DER items.
pub(super) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `input`.
    pub(super) fn new(input: &'a [u8]) -> Reader<'a> {
        Reader { rest: input }
    }

    /// True when every item has been read.
    pub(super) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The tag of the next item, if any.
    pub(super) fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// Reads the next item, which must carry `expected`; returns its contents.
    pub(super) fn expect(&mut self, expected: u8) -> Result<&'a [u8], Malformed> {
        let (tag, value) = self.next()?;
        if tag != expected {
            return Err(Malformed);
        }
        Ok(value)
    }

    /// Reads the next item: its tag and contents.
    pub(super) fn next(&mut self) -> Result<(u8, &'a [u8]), Malformed> {
        let [tag, first, rest @ ..] = self.rest else {
            return Err(Malformed);
        };

        // High tag numbers (0x1F) never occur in the formats read here.
        if tag & 0x1F == 0x1F {
            return Err(Malformed);
        }
        let (len, rest) = read_length(*first, rest)?;
        if len > rest.len() {
            return Err(Malformed);
        }

        let (value, after) = rest.split_at(len);
        self.rest = after;
        Ok((*tag, value))
    }
}

/// Decodes a length whose first octet is `first`; returns it and what follows.
fn read_length(first: u8, rest: &[u8]) -> Result<(usize, &[u8]), Malformed> {
    if first < 0x80 {
        return Ok((usize::from(first), rest));
    }

    // 0x80 is the indefinite form (BER only); more than 4 octets is never a key.
    let count = usize::from(first & 0x7F);
    if count == 0 || count > 4 || rest.len() < count {
        return Err(Malformed);
    }
    let (octets, rest) = rest.split_at(count);
    let len = octets
        .iter()
        .fold(0usize, |len, &octet| (len << 8) | usize::from(octet));
    Ok((len, rest))
}

/// Reads `input` as exactly one item carrying `expected`; returns its contents.
pub(super) fn single(input: &[u8], expected: u8) -> Result<&[u8], Malformed> {
    let mut reader = Reader::new(input);
    let value = reader.expect(expected)?;
    if !reader.is_empty() {
        return Err(Malformed);
    }
    Ok(value)
}

/// The value of a non-negative INTEGER's contents if it fits in a `u64`.
pub(super) fn small_uint(contents: &[u8]) -> Result<u64, Malformed> {
    let digits = strip_leading_zeros(contents)?;
    if digits.len() > 8 {
        return Err(Malformed);
    }
    Ok(digits
        .iter()
        .fold(0u64, |value, &octet| (value << 8) | u64::from(octet)))
}

/// The bit length of a positive INTEGER's contents (an RSA modulus).
pub(super) fn uint_bits(contents: &[u8]) -> Result<usize, Malformed> {
    let digits = strip_leading_zeros(contents)?;
    let Some(&top) = digits.first() else {
        return Err(Malformed);
    };
    let top_bits = 8 - top.leading_zeros() as usize;
    Ok((digits.len() - 1) * 8 + top_bits)
}

/// The magnitude of a non-negative INTEGER: its contents without sign octets.
fn strip_leading_zeros(contents: &[u8]) -> Result<&[u8], Malformed> {
    match contents.first() {
        None => Err(Malformed),
        Some(first) if first & 0x80 != 0 => Err(Malformed),
        Some(_) => {
            let start = contents
                .iter()
                .position(|&octet| octet != 0)
                .unwrap_or(contents.len());
            Ok(&contents[start..])
        }
    }
}

/// Dotted form of an OID's contents, for error messages (`"1.3.132.0.35"`).
pub(super) fn oid_to_string(contents: &[u8]) -> String {
    let mut arcs: Vec<u64> = Vec::new();
    let mut value: u64 = 0;
    for &octet in contents {
        value = value.saturating_mul(128) | u64::from(octet & 0x7F);
        if octet & 0x80 == 0 {
            arcs.push(value);
            value = 0;
        }
    }

    let Some((&first, others)) = arcs.split_first() else {
        return String::from("(empty OID)");
    };
    let (top, second) = match first {
        0..40 => (0, first),
        40..80 => (1, first - 40),
        _ => (2, first - 80),
    };
    let mut dotted = format!("{top}.{second}");
    for arc in others {
        let _ = write!(dotted, ".{arc}");
    }
    dotted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_walks_a_sequence() {
        let input = [0x30, 0x06, 0x02, 0x01, 0x05, 0x04, 0x01, 0xAA];
        let body = single(&input, tag::SEQUENCE).unwrap();
        let mut reader = Reader::new(body);
        assert_eq!(reader.peek_tag(), Some(tag::INTEGER));
        assert_eq!(small_uint(reader.expect(tag::INTEGER).unwrap()), Ok(5));
        assert_eq!(reader.expect(tag::OCTET_STRING).unwrap(), &[0xAA]);
        assert!(reader.is_empty());
    }

    #[test]
    fn long_form_lengths_are_read() {
        let mut input = vec![0x04, 0x82, 0x01, 0x00];
        input.extend([7u8; 256]);
        assert_eq!(single(&input, tag::OCTET_STRING).unwrap().len(), 256);
    }

    #[test]
    fn truncated_or_trailing_input_is_malformed() {
        assert_eq!(
            single(&[0x30, 0x05, 0x02, 0x01], tag::SEQUENCE),
            Err(Malformed)
        );
        assert_eq!(
            single(&[0x05, 0x00, 0x00], tag::OCTET_STRING),
            Err(Malformed)
        );
        assert_eq!(
            single(&[0x04, 0x00, 0xFF], tag::OCTET_STRING),
            Err(Malformed)
        );
        assert_eq!(
            single(&[0x04, 0x80, 0x00, 0x00], tag::OCTET_STRING),
            Err(Malformed)
        );
        assert_eq!(single(&[0x04], tag::OCTET_STRING), Err(Malformed));
    }

    #[test]
    fn modulus_bits_ignore_the_sign_octet() {
        let mut modulus = vec![0x00, 0xC1];
        modulus.extend([0u8; 255]);
        assert_eq!(uint_bits(&modulus), Ok(2048));
        assert_eq!(uint_bits(&[0x01, 0x00]), Ok(9));
        assert_eq!(uint_bits(&[0x80]), Err(Malformed));
        assert_eq!(uint_bits(&[0x00]), Err(Malformed));
    }

    #[test]
    fn oids_print_dotted() {
        assert_eq!(
            oid_to_string(&[0x2B, 0x81, 0x04, 0x00, 0x23]),
            "1.3.132.0.35"
        );
        assert_eq!(
            oid_to_string(&[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07]),
            "1.2.840.10045.3.1.7"
        );
        assert_eq!(oid_to_string(&[]), "(empty OID)");
    }
}
