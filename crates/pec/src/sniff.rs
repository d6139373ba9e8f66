//! What an input file is, told from its content (never from its name: a `.p7m` saved as
//! `.eml`, or a message saved as `.bin`, must be checked for what it is).

use crate::error::PecError;
use crate::mime;

/// The two kinds of input `sigillo check` understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// An RFC 5322 message (PEC envelope, receipt or plain mail).
    Message,
    /// A document to check for signatures: PDF, CMS (`.p7m`/`.p7s`/`.tsd`, binary, base64
    /// or PEM), XML. An M7M file looks like a MIME message and is recognised later, by
    /// [`looks_like_m7m`].
    Document,
}

/// Classifies `raw`. The only error is an empty input (nothing but white space): every
/// other file is either a message or a document to report on.
///
/// A message is what reads as an RFC 5322 message ([`mime::ensure_message`]: a header
/// block that starts with a field line, mostly fields) *and* names at least one field that
/// e-mail carries (`From:`, `Subject:`, `Content-Type:`, …, see [`has_message_field`]).
/// Everything else — a `.doc`, a `.txt`, an image, a broken `.p7m` — is a document, whose
/// report says what signature it carries: `NO_SIGNATURE_FOUND` for none, `TOTAL_FAILED` /
/// `FORMAT_FAILURE` for a broken signature container.
pub fn sniff(raw: &[u8]) -> Result<Content, PecError> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(PecError::Empty);
    }
    // DER/BER SEQUENCE with a long or indefinite length: every CMS object is longer than
    // 127 bytes, and no text file starts with '0' followed by a byte ≥ 0x80.
    if raw.len() >= 2 && raw[0] == 0x30 && (0x80..=0x84).contains(&raw[1]) {
        return Ok(Content::Document);
    }
    let text = raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw);
    let start = text.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(0);
    let text = &text[start..];
    if text.starts_with(b"%PDF-") || text.starts_with(b"-----BEGIN ") || text.starts_with(b"<") || is_base64_cms(text)
    {
        return Ok(Content::Document);
    }
    // A message may well carry an 8bit PDF in its first kilobyte: only its headers count.
    if mime::ensure_message(raw).is_ok() && has_message_field(raw) {
        Ok(Content::Message)
    } else {
        Ok(Content::Document)
    }
}

/// Whether the header block of `raw` names at least one field of e-mail (RFC 5322, MIME,
/// the PEC transport fields, or an extension field `X-…`). A text file that happens to
/// start with `Nota: …` or `Oggetto: …` is a document, not a message with no sender.
pub fn has_message_field(raw: &[u8]) -> bool {
    const FIELDS: [&[u8]; 22] = [
        b"from",
        b"sender",
        b"reply-to",
        b"to",
        b"cc",
        b"bcc",
        b"subject",
        b"date",
        b"message-id",
        b"in-reply-to",
        b"references",
        b"received",
        b"return-path",
        b"delivered-to",
        b"mime-version",
        b"comments",
        b"keywords",
        b"dkim-signature",
        b"authentication-results",
        b"user-agent",
        b"thread-topic",
        b"importance",
    ];
    const PREFIXES: [&[u8]; 5] = [b"content-", b"resent-", b"x-", b"list-", b"arc-"];
    let mut rest = raw;
    // mbox exports start with a "From " separator line.
    if rest.starts_with(b"From ") {
        let eol = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        rest = &rest[(eol + 1).min(rest.len())..];
    }
    for line in rest.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else { continue };
        let name = line[..colon].trim_ascii_end().to_ascii_lowercase();
        if FIELDS.iter().any(|f| name == *f) || PREFIXES.iter().any(|p| name.len() > p.len() && name.starts_with(p)) {
            return true;
        }
    }
    false
}

/// Base64 of a DER SEQUENCE with a long length starts `MI` (`0x30 0x8x`); the first line of a
/// base64 `.p7m` holds only the base64 alphabet.
fn is_base64_cms(text: &[u8]) -> bool {
    if !text.starts_with(b"MI") {
        return false;
    }
    let first_line = text.split(|&b| b == b'\n').next().unwrap_or_default();
    let first_line = first_line.strip_suffix(b"\r").unwrap_or(first_line);
    first_line.len() >= 16
        && first_line.iter().all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
}

/// An Italian `.m7m` (a MIME entity holding a `.p7m` and its time-stamp) rather than an
/// e-mail: a MIME multipart without any of the fields every message has, carrying a
/// `pkcs7-mime` part.
pub fn looks_like_m7m(raw: &[u8]) -> bool {
    // Decided on the raw header block first: a message is never parsed twice, and large
    // envelopes are the common case.
    const MESSAGE_FIELDS: [&[u8]; 8] =
        [b"from", b"to", b"subject", b"date", b"message-id", b"received", b"x-trasporto", b"x-ricevuta"];
    let mut has_content_type = false;
    for line in raw.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else { continue };
        let name = line[..colon].trim_ascii();
        if MESSAGE_FIELDS.iter().any(|f| name.eq_ignore_ascii_case(f)) {
            return false;
        }
        has_content_type |= name.eq_ignore_ascii_case(b"content-type");
    }
    if !has_content_type {
        return false;
    }
    let Some(message) = mime::parse_raw(raw) else { return false };
    message.parts.iter().skip(1).any(|p| {
        let t = mime::media_type(p);
        t == "application/pkcs7-mime" || t == "application/x-pkcs7-mime"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_content() {
        assert_eq!(sniff(b"Subject: x\r\n\r\nbody"), Ok(Content::Message));
        assert_eq!(sniff(b"%PDF-1.7\n\x00\x01"), Ok(Content::Document));
        assert_eq!(sniff(b"\x00junk\x00%PDF-1.4\n"), Ok(Content::Document));
        assert_eq!(sniff(b"Subject: x\r\n\r\n%PDF-1.4\n"), Ok(Content::Message));
        assert_eq!(sniff(b"\x30\x80\x06\x09\x2a\x86"), Ok(Content::Document));
        assert_eq!(sniff(b"\x30\x82\x05\x00"), Ok(Content::Document));
        assert_eq!(sniff(b"-----BEGIN PKCS7-----\nMIIB\n-----END PKCS7-----\n"), Ok(Content::Document));
        assert_eq!(sniff(b"\xEF\xBB\xBF<?xml version=\"1.0\"?><a/>"), Ok(Content::Document));
        assert_eq!(sniff(b"MIAGCSqGSIb3DQEHAqCAMIACAQEx\r\nDzANBglg\r\n"), Ok(Content::Document));
        // A header that happens to start with MI is still a message.
        assert_eq!(sniff(b"MIME-Version: 1.0\r\nSubject: x\r\n\r\nb"), Ok(Content::Message));
    }

    #[test]
    fn errors() {
        assert_eq!(sniff(b""), Err(PecError::Empty));
        assert_eq!(sniff(b"\n \r\n"), Err(PecError::Empty));
    }

    /// What is not a message is a document to report on, never an error.
    #[test]
    fn not_messages_are_documents() {
        for raw in [
            &b"PK\x03\x04\x14\x00\x00\x00"[..],
            b"\x89PNG\r\n\x1a\n\x00\x00",
            b"0 just text\n",
            b"hello world\nno headers\n",
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00junk",
            b"\x31\x82\x05\x00\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x02",
            // Field-like lines, but no field of e-mail: a note, not a message.
            b"Nota: da protocollare\nOggetto: richiesta\n\nGentile Sindaco,\n",
        ] {
            assert_eq!(sniff(raw), Ok(Content::Document), "{raw:?}");
        }
        // The same with one field of e-mail is a message (with no sender: not PEC).
        assert_eq!(sniff(b"Nota: x\nSubject: richiesta\n\nGentile Sindaco,\n"), Ok(Content::Message));
        assert_eq!(sniff(b"From a@b Mon Jan  1 00:00:00 2025\nX-Mailer: y\n\nb"), Ok(Content::Message));
    }

    #[test]
    fn m7m() {
        let m7m = b"Content-Type: multipart/mixed; boundary=\"b\"\r\nMIME-Version: 1.0\r\n\r\n--b\r\nContent-Type: application/pkcs7-mime; name=\"a.p7m\"\r\nContent-Transfer-Encoding: base64\r\n\r\nMAA=\r\n--b\r\nContent-Type: application/timestamp-reply; name=\"a.tsr\"\r\nContent-Transfer-Encoding: base64\r\n\r\nMAA=\r\n--b--\r\n";
        assert!(looks_like_m7m(m7m));
        let mut mail = b"From: a@b.it\r\n".to_vec();
        mail.extend_from_slice(m7m);
        assert!(!looks_like_m7m(&mail));
    }
}
