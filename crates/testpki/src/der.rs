//! A minimal DER writer. The test PKI assembles certificates and CMS by hand so that tests
//! can produce exactly the odd encodings real files have (BER indefinite lengths, unsorted
//! signed attributes, missing fields), which a typed builder would refuse to emit.

use chrono::{DateTime, Datelike, Utc};
use const_oid::ObjectIdentifier;

pub const SEQUENCE: u8 = 0x30;
pub const SET: u8 = 0x31;
pub const INTEGER: u8 = 0x02;
pub const BIT_STRING: u8 = 0x03;
pub const OCTET_STRING: u8 = 0x04;
pub const NULL: u8 = 0x05;
pub const OID: u8 = 0x06;
pub const UTF8_STRING: u8 = 0x0c;
pub const PRINTABLE_STRING: u8 = 0x13;
pub const IA5_STRING: u8 = 0x16;
pub const UTC_TIME: u8 = 0x17;
pub const GENERALIZED_TIME: u8 = 0x18;
pub const BOOLEAN: u8 = 0x01;

/// Context-specific constructed tag `[n]`.
pub const fn ctx(n: u8) -> u8 {
    0xa0 | n
}

/// Context-specific primitive tag `[n]`.
pub const fn ctx_prim(n: u8) -> u8 {
    0x80 | n
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// One definite-length TLV.
pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    push_len(&mut out, content.len());
    out.extend_from_slice(content);
    out
}

/// One indefinite-length (BER) constructed TLV, terminated by end-of-contents.
pub fn tlv_indefinite(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 4);
    out.push(tag);
    out.push(0x80);
    out.extend_from_slice(content);
    out.extend_from_slice(&[0, 0]);
    out
}

pub fn seq(parts: &[&[u8]]) -> Vec<u8> {
    tlv(SEQUENCE, &parts.concat())
}

/// DER SET OF: elements sorted by their encodings.
pub fn set_of_sorted(mut parts: Vec<Vec<u8>>) -> Vec<u8> {
    parts.sort();
    tlv(SET, &parts.concat())
}

pub fn oid(dotted: &str) -> Vec<u8> {
    let oid = ObjectIdentifier::new(dotted).unwrap_or_else(|e| panic!("bad OID {dotted}: {e}"));
    tlv(OID, oid.as_bytes())
}

/// INTEGER from an unsigned big-endian magnitude.
pub fn uint(be: &[u8]) -> Vec<u8> {
    let skip = be.iter().take_while(|b| **b == 0).count();
    let mut v = be[skip..].to_vec();
    if v.first().is_none_or(|b| b & 0x80 != 0) {
        v.insert(0, 0);
    }
    tlv(INTEGER, &v)
}

pub fn small_int(n: u64) -> Vec<u8> {
    uint(&n.to_be_bytes())
}

pub fn octets(b: &[u8]) -> Vec<u8> {
    tlv(OCTET_STRING, b)
}

pub fn bits(b: &[u8]) -> Vec<u8> {
    let mut v = vec![0u8];
    v.extend_from_slice(b);
    tlv(BIT_STRING, &v)
}

pub fn null() -> Vec<u8> {
    vec![NULL, 0]
}

pub fn utf8(s: &str) -> Vec<u8> {
    tlv(UTF8_STRING, s.as_bytes())
}

pub fn printable(s: &str) -> Vec<u8> {
    tlv(PRINTABLE_STRING, s.as_bytes())
}

/// X.509/CMS Time: UTCTime through 2049, GeneralizedTime afterwards (RFC 5280 4.1.2.5).
pub fn time(t: DateTime<Utc>) -> Vec<u8> {
    if (1950..2050).contains(&t.year()) {
        tlv(UTC_TIME, t.format("%y%m%d%H%M%SZ").to_string().as_bytes())
    } else {
        tlv(GENERALIZED_TIME, t.format("%Y%m%d%H%M%SZ").to_string().as_bytes())
    }
}

pub fn generalized_time(t: DateTime<Utc>) -> Vec<u8> {
    tlv(GENERALIZED_TIME, t.format("%Y%m%d%H%M%SZ").to_string().as_bytes())
}

/// AlgorithmIdentifier with optional parameters.
pub fn alg(dotted: &str, params: Option<&[u8]>) -> Vec<u8> {
    match params {
        Some(p) => seq(&[&oid(dotted), p]),
        None => seq(&[&oid(dotted)]),
    }
}

/// Splits the first TLV off `input` (DER only; test helper for our own output).
/// Returns (tag, header length, total length).
pub fn peek(input: &[u8]) -> (u8, usize, usize) {
    let tag = input[0];
    let first = input[1];
    if first < 0x80 {
        (tag, 2, 2 + first as usize)
    } else {
        let n = (first & 0x7f) as usize;
        let mut len = 0usize;
        for b in &input[2..2 + n] {
            len = (len << 8) | *b as usize;
        }
        (tag, 2 + n, 2 + n + len)
    }
}

/// The content octets of a DER TLV.
pub fn content(input: &[u8]) -> &[u8] {
    let (_, h, total) = peek(input);
    &input[h..total]
}

/// The encoded children of a constructed DER TLV.
pub fn children(input: &[u8]) -> Vec<&[u8]> {
    let mut rest = content(input);
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (_, _, total) = peek(rest);
        out.push(&rest[..total]);
        rest = &rest[total..];
    }
    out
}
