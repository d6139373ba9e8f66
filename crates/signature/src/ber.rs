//! A small BER reader: definite and indefinite lengths, constructed strings. Every length is
//! checked against the input and the nesting depth is bounded, so hostile input yields an
//! error, never a panic or an unbounded allocation. The reader borrows: every value keeps
//! the exact bytes it was read from, which the signature checks need (signed attributes and
//! certificates are verified over their bytes as stored).

use std::borrow::Cow;

use crate::Error;

/// Maximum nesting depth; real CMS/X.509 stays far below.
const MAX_DEPTH: usize = 64;

pub const BOOLEAN: u8 = 0x01;
pub const INTEGER: u8 = 0x02;
pub const BIT_STRING: u8 = 0x03;
pub const OCTET_STRING: u8 = 0x04;
pub const NULL: u8 = 0x05;
pub const OID: u8 = 0x06;
pub const SEQUENCE: u8 = 0x30;
pub const SET: u8 = 0x31;
pub const UTC_TIME: u8 = 0x17;
pub const GENERALIZED_TIME: u8 = 0x18;

/// Context-specific constructed tag `[n]`.
pub const fn ctx(n: u8) -> u8 {
    0xa0 | n
}

/// Context-specific primitive tag `[n]`.
pub const fn ctx_prim(n: u8) -> u8 {
    0x80 | n
}

/// One decoded TLV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// The identifier octet. High tag numbers (0x1f) are rejected: CMS, X.509 and
    /// RFC 3161 never use them.
    pub tag: u8,
    /// The whole encoding: identifier, length, content and (if indefinite) end-of-contents.
    pub raw: &'a [u8],
    /// The content octets (without end-of-contents).
    pub content: &'a [u8],
    pub indefinite: bool,
}

fn malformed(what: &str) -> Error {
    Error::Asn1(what.to_owned())
}

/// Reads one TLV from the start of `input`; returns it and the rest.
pub fn read(input: &[u8]) -> Result<(Tlv<'_>, &[u8]), Error> {
    read_depth(input, 0)
}

/// Reads exactly one TLV: trailing bytes are an error.
pub fn read_all(input: &[u8]) -> Result<Tlv<'_>, Error> {
    let (tlv, rest) = read(input)?;
    if !rest.is_empty() {
        return Err(malformed("trailing bytes after the value"));
    }
    Ok(tlv)
}

fn read_depth(input: &[u8], depth: usize) -> Result<(Tlv<'_>, &[u8]), Error> {
    if depth > MAX_DEPTH {
        return Err(malformed("nesting too deep"));
    }
    let tag = *input.first().ok_or_else(|| malformed("unexpected end of input"))?;
    if tag & 0x1f == 0x1f {
        return Err(malformed("high tag numbers are not supported"));
    }
    let first = *input.get(1).ok_or_else(|| malformed("missing length"))?;
    if first == 0x80 {
        // Indefinite length: only for constructed values; content runs to end-of-contents.
        if tag & 0x20 == 0 {
            return Err(malformed("indefinite length on a primitive value"));
        }
        let body = input.get(2..).ok_or_else(|| malformed("truncated"))?;
        let mut rest = body;
        loop {
            if rest.len() >= 2 && rest[0] == 0 && rest[1] == 0 {
                let content_len = body.len() - rest.len();
                let total = 2 + content_len + 2;
                let raw = input.get(..total).ok_or_else(|| malformed("truncated"))?;
                let content = body.get(..content_len).ok_or_else(|| malformed("truncated"))?;
                let after = input.get(total..).ok_or_else(|| malformed("truncated"))?;
                return Ok((Tlv { tag, raw, content, indefinite: true }, after));
            }
            if rest.is_empty() {
                return Err(malformed("missing end-of-contents"));
            }
            let (_, r) = read_depth(rest, depth + 1)?;
            rest = r;
        }
    }
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2usize)
    } else {
        let n = usize::from(first & 0x7f);
        if n > 4 {
            return Err(malformed("length too large"));
        }
        let bytes = input.get(2..2 + n).ok_or_else(|| malformed("truncated length"))?;
        let len = bytes.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, 2 + n)
    };
    let end = header.checked_add(len).ok_or_else(|| malformed("length overflow"))?;
    let raw = input.get(..end).ok_or_else(|| malformed("length runs past the end of the input"))?;
    let content = raw.get(header..).ok_or_else(|| malformed("truncated"))?;
    let rest = input.get(end..).ok_or_else(|| malformed("truncated"))?;
    Ok((Tlv { tag, raw, content, indefinite: false }, rest))
}

impl<'a> Tlv<'a> {
    pub fn is_constructed(&self) -> bool {
        self.tag & 0x20 != 0
    }

    /// The children of a constructed value.
    pub fn children(&self) -> Result<Vec<Tlv<'a>>, Error> {
        if !self.is_constructed() {
            return Err(malformed("expected a constructed value"));
        }
        let mut out = Vec::new();
        let mut rest = self.content;
        while !rest.is_empty() {
            let (tlv, r) = read(rest)?;
            out.push(tlv);
            rest = r;
        }
        Ok(out)
    }

    /// Checks the tag and returns self, for chaining.
    pub fn expect(self, tag: u8, what: &str) -> Result<Tlv<'a>, Error> {
        if self.tag == tag {
            Ok(self)
        } else {
            Err(Error::Asn1(format!("{what}: expected tag {tag:#04x}, found {:#04x}", self.tag)))
        }
    }

    /// Value of a string type (OCTET STRING, or a context tag holding one), concatenating the
    /// segments of a BER constructed encoding.
    pub fn octets(&self) -> Result<Cow<'a, [u8]>, Error> {
        if !self.is_constructed() {
            return Ok(Cow::Borrowed(self.content));
        }
        let mut out = Vec::new();
        for child in self.children()? {
            out.extend_from_slice(&child.octets()?);
        }
        Ok(Cow::Owned(out))
    }

    /// BIT STRING value bytes (unused-bits octet dropped; only 0 unused bits for keys and
    /// signatures, which is what callers need).
    pub fn bit_string_bytes(&self) -> Result<&'a [u8], Error> {
        if self.tag != BIT_STRING {
            return Err(malformed("expected a BIT STRING"));
        }
        match self.content.split_first() {
            Some((0, rest)) => Ok(rest),
            _ => Err(malformed("BIT STRING with unused bits")),
        }
    }

    /// Unsigned integer value as a u64 (small integers such as versions).
    pub fn small_uint(&self) -> Result<u64, Error> {
        if self.tag != INTEGER || self.content.is_empty() || self.content.len() > 9 {
            return Err(malformed("expected a small INTEGER"));
        }
        if self.content[0] & 0x80 != 0 {
            return Err(malformed("negative INTEGER"));
        }
        let mut v: u64 = 0;
        for b in self.content {
            v = v.checked_shl(8).ok_or_else(|| malformed("INTEGER too large"))? | u64::from(*b);
        }
        Ok(v)
    }
}

/// Re-encodes a BER value as DER-length form (definite lengths, constructed strings
/// flattened). Used for values that must be hashed in DER (e.g. a certificate inside an
/// indefinite container that itself was written indefinite). Set elements keep their order.
pub fn to_definite(tlv: &Tlv<'_>) -> Result<Vec<u8>, Error> {
    to_definite_depth(tlv, 0)
}

fn to_definite_depth(tlv: &Tlv<'_>, depth: usize) -> Result<Vec<u8>, Error> {
    if depth > MAX_DEPTH {
        return Err(malformed("nesting too deep"));
    }
    if !tlv.is_constructed() {
        return Ok(encode(tlv.tag, tlv.content));
    }
    // Constructed universal string types become primitive.
    let universal_string = tlv.tag & 0xc0 == 0 && matches!(tlv.tag & 0x1f, 0x03 | 0x04 | 0x0c | 0x13 | 0x16);
    if universal_string {
        return Ok(encode(tlv.tag & !0x20, &tlv.octets()?));
    }
    let mut body = Vec::with_capacity(tlv.content.len());
    for child in tlv.children()? {
        body.extend_from_slice(&to_definite_depth(&child, depth + 1)?);
    }
    Ok(encode(tlv.tag, &body))
}

/// Encodes one definite-length TLV.
pub fn encode(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(bytes.get(skip..).unwrap_or_default());
    }
    out.extend_from_slice(content);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indefinite_and_chunks() {
        // SEQUENCE(indef) { OCTET STRING(constructed, indef) { "ab", "c" } }
        let data = [0x30, 0x80, 0x24, 0x80, 0x04, 0x02, b'a', b'b', 0x04, 0x01, b'c', 0, 0, 0, 0];
        let t = read_all(&data).unwrap();
        assert!(t.indefinite);
        let kids = t.children().unwrap();
        assert_eq!(kids.len(), 1);
        assert_eq!(&*kids[0].octets().unwrap(), b"abc");
        assert_eq!(to_definite(&t).unwrap(), vec![0x30, 0x05, 0x04, 0x03, b'a', b'b', b'c']);
    }

    #[test]
    fn hostile_input_is_an_error() {
        for bad in [&[0x30u8, 0x85, 1, 1, 1, 1, 1][..], &[0x30, 0x80], &[0x04, 0x80, 0, 0], &[0x30, 0x05, 1], &[0x1f, 1, 0]]
        {
            assert!(read_all(bad).is_err(), "{bad:?}");
        }
        let deep: Vec<u8> = std::iter::repeat_n([0x30u8, 0x80], 200).flatten().collect();
        assert!(read(&deep).is_err());
    }
}
