//! The S/MIME `multipart/signed` entity of a PEC message, cut exactly as stored.
//!
//! mail-parser gives us where the entity is; the two parts are cut here by hand because the
//! signature covers the first part's bytes *exactly*, from the line after the first
//! delimiter up to (not including) the line break before the second one (RFC 1847 §2.1).

use std::borrow::Cow;

use mail_parser::{Message, MimeHeaders};

use crate::mime::{self, find};

/// The signed content and its detached signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedEntity<'a> {
    /// The first body part, headers included, in canonical CRLF form: borrowed from the
    /// stored bytes when they already are (the normal case: no copy of a large envelope).
    pub content: Cow<'a, [u8]>,
    /// True when the stored bytes were not already CRLF (e.g. a copy with bare LF).
    pub recanonicalised: bool,
    /// DER of the CMS SignedData found in the second part.
    pub signature: Vec<u8>,
    /// `protocol` parameter as written (`application/pkcs7-signature` or the `x-` form).
    pub protocol: String,
    /// Whether the signed entity is not the message itself but nested in it, as when a
    /// mailing list wraps the envelope in its own multipart/mixed.
    pub nested: bool,
}

/// What was found where a signature should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignedLookup<'a> {
    /// No `multipart/signed` entity at all.
    NotSigned,
    /// A `multipart/signed` entity that cannot be cut into content and S/MIME signature;
    /// the text says why (Italian, shown to the user).
    Malformed(String),
    Signed(SignedEntity<'a>),
}

/// Finds the first `multipart/signed` entity of `message` (the root first, then nested
/// parts in document order) and cuts it. `raw` is what `message` was parsed from (a
/// headers-only parse is enough when the root is the signed entity).
pub fn find_signed<'a>(raw: &'a [u8], message: &Message<'_>) -> SignedLookup<'a> {
    let found = message.parts.iter().enumerate().find(|(_, p)| {
        p.content_type().is_some_and(|ct| {
            ct.ctype().eq_ignore_ascii_case("multipart")
                && ct.subtype().is_some_and(|s| s.eq_ignore_ascii_case("signed"))
        })
    });
    let Some((index, part)) = found else {
        return SignedLookup::NotSigned;
    };
    let ct = part.content_type();
    let protocol = ct.and_then(|c| c.attribute("protocol")).unwrap_or_default().to_owned();
    let p = protocol.to_ascii_lowercase();
    if p != "application/pkcs7-signature" && p != "application/x-pkcs7-signature" {
        return SignedLookup::Malformed(format!("protocollo di firma non S/MIME: {protocol:?}"));
    }
    let Some(boundary) = ct.and_then(|c| c.attribute("boundary")) else {
        return SignedLookup::Malformed("multipart/signed senza boundary".to_owned());
    };
    match split(raw, part.offset_body as usize, boundary.as_bytes()) {
        Ok((content, sig_part)) => {
            let canonical = mime::to_crlf(content);
            let recanonicalised = matches!(canonical, Cow::Owned(_));
            match signature_der(sig_part) {
                Ok(signature) => SignedLookup::Signed(SignedEntity {
                    content: canonical,
                    recanonicalised,
                    signature,
                    protocol,
                    nested: index != 0,
                }),
                Err(why) => SignedLookup::Malformed(why),
            }
        }
        Err(why) => SignedLookup::Malformed(why.to_owned()),
    }
}

/// Cuts the body of a two-part multipart into its parts, as stored.
fn split<'a>(raw: &'a [u8], body_start: usize, boundary: &[u8]) -> Result<(&'a [u8], &'a [u8]), &'static str> {
    let mut delim = b"--".to_vec();
    delim.extend_from_slice(boundary);

    let first = next_delimiter(raw, &delim, body_start).ok_or("delimitatore iniziale mancante")?;
    if first.is_close {
        return Err("multipart/signed senza parti");
    }
    let content_start = first.line_end;
    let second = next_delimiter(raw, &delim, content_start).ok_or("parte della firma mancante")?;
    let content = &raw[content_start..second.break_start.max(content_start)];
    if second.is_close {
        return Err("parte della firma mancante");
    }
    let sig_start = second.line_end;
    let close = next_delimiter(raw, &delim, sig_start).ok_or("chiusura del multipart/signed mancante")?;
    Ok((content, &raw[sig_start..close.break_start.max(sig_start)]))
}

struct Delimiter {
    /// Where the line break before the delimiter starts (it belongs to the delimiter).
    break_start: usize,
    /// First byte after the delimiter line's own line break.
    line_end: usize,
    is_close: bool,
}

fn next_delimiter(raw: &[u8], delim: &[u8], from: usize) -> Option<Delimiter> {
    let mut pos = from;
    loop {
        let at = find(raw, delim, pos)?;
        pos = at + 1;
        // A delimiter starts a line: either at `from` itself (start of the body) or after LF.
        let line_start = at == from || (at > 0 && raw[at - 1] == b'\n');
        if !line_start {
            continue;
        }
        let after = &raw[at + delim.len()..];
        let is_close = after.starts_with(b"--");
        let tail_start = if is_close { 2 } else { 0 };
        // Only linear white space may follow the boundary on its line; otherwise it is a
        // longer boundary that merely starts with ours.
        let eol = after.iter().position(|&b| b == b'\n').unwrap_or(after.len());
        let tail = &after[tail_start.min(eol)..eol];
        if !tail.iter().all(|&b| b == b' ' || b == b'\t' || b == b'\r') {
            continue;
        }
        let break_start = if at == from {
            at
        } else if at >= 2 && raw[at - 2] == b'\r' {
            at - 2
        } else {
            at - 1
        };
        let line_end = (at + delim.len() + eol + 1).min(raw.len());
        return Some(Delimiter { break_start, line_end, is_close });
    }
}

/// DER of the CMS object in the signature part (base64 in practice; binary accepted).
fn signature_der(part: &[u8]) -> Result<Vec<u8>, String> {
    let header_end = find(part, b"\r\n\r\n", 0)
        .map(|i| (i, i + 4))
        .or_else(|| find(part, b"\n\n", 0).map(|i| (i, i + 2)));
    let Some((hend, body_start)) = header_end else {
        return Err("parte della firma senza intestazioni".to_owned());
    };
    let headers = String::from_utf8_lossy(&part[..hend]).to_ascii_lowercase();
    let body = &part[body_start..];
    let is_pkcs7 = headers.contains("application/pkcs7-signature")
        || headers.contains("application/x-pkcs7-signature");
    if !is_pkcs7 {
        return Err("la seconda parte non è una firma application/pkcs7-signature".to_owned());
    }
    let der = if headers.contains("base64") {
        mime::base64_lenient(body)
    } else {
        body.to_vec()
    };
    if der.is_empty() {
        return Err("firma vuota".to_owned());
    }
    Ok(der)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(raw: &[u8]) -> SignedLookup<'_> {
        match mail_parser::MessageParser::new().parse(raw) {
            Some(m) => find_signed(raw, &m),
            None => SignedLookup::NotSigned,
        }
    }

    const SIGNED: &str = "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=\"XX\"\r\n\r\nThis is an S/MIME signed message\r\n--XX\r\nContent-Type: text/plain\r\n\r\nhello\r\n--XX\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n--XX--\r\n";

    #[test]
    fn cuts_exact_content() {
        let SignedLookup::Signed(s) = msg(SIGNED.as_bytes()) else { panic!("not signed") };
        assert_eq!(&*s.content, b"Content-Type: text/plain\r\n\r\nhello");
        assert!(matches!(s.content, Cow::Borrowed(_)));
        assert_eq!(s.signature, b"hello");
        assert!(!s.recanonicalised);
        assert!(!s.nested);
    }

    #[test]
    fn lf_copy_is_canonicalised() {
        let lf = SIGNED.replace("\r\n", "\n");
        let SignedLookup::Signed(s) = msg(lf.as_bytes()) else { panic!("not signed") };
        assert_eq!(&*s.content, b"Content-Type: text/plain\r\n\r\nhello");
        assert!(s.recanonicalised);
    }

    #[test]
    fn longer_boundary_is_not_ours() {
        let raw = SIGNED.replace("hello\r\n--XX\r\nContent-Type: app", "hello\r\n--XXY\r\n--XX\r\nContent-Type: app");
        let SignedLookup::Signed(s) = msg(raw.as_bytes()) else { panic!("not signed") };
        assert_eq!(&*s.content, b"Content-Type: text/plain\r\n\r\nhello\r\n--XXY");
    }

    #[test]
    fn missing_signature_part() {
        let raw = SIGNED.split("--XX\r\nContent-Type: application").next().unwrap_or_default().to_owned() + "--XX--\r\n";
        assert!(matches!(msg(raw.as_bytes()), SignedLookup::Malformed(_)));
        let pgp = SIGNED.replace("protocol=\"application/pkcs7-signature\"", "protocol=\"application/pgp-signature\"");
        assert!(matches!(msg(pgp.as_bytes()), SignedLookup::Malformed(_)));
        assert_eq!(msg(b"Subject: x\r\n\r\nhi"), SignedLookup::NotSigned);
    }
}
