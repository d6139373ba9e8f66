//! Small MIME helpers on top of mail-parser: raw header values, transfer decoding, CRLF
//! canonical form, and the checks that tell a message from something that is not one.

use std::borrow::Cow;

use base64::Engine as _;
use mail_parser::{Encoding, Message, MessagePart, MimeHeaders};

use crate::error::PecError;

/// Header fields of a part as `(name, unfolded raw value)`, names in their original case.
///
/// Raw values (not mail-parser's typed ones) because PEC fields are provider-specific
/// and their exact text matters.
pub fn raw_headers<'a>(raw: &'a [u8], part: &'a MessagePart<'_>) -> Vec<(&'a str, String)> {
    part.headers
        .iter()
        .map(|h| {
            let bytes = raw
                .get(h.offset_start as usize..h.offset_end as usize)
                .unwrap_or_default();
            (h.name.as_str(), unfold(&String::from_utf8_lossy(bytes)))
        })
        .collect()
}

fn unfold(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for (i, line) in v.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if i > 0 && !line.is_empty() {
            out.push(' ');
        }
        out.push_str(line.trim());
    }
    out.trim().to_owned()
}

/// First value of a header, name compared case-insensitively.
pub fn header<'a>(headers: &'a [(&str, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// `type/subtype`, lower case; `text/plain` when absent, as RFC 2045 says.
pub fn media_type(part: &MessagePart<'_>) -> String {
    match part.content_type() {
        Some(ct) => match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase(),
            None => ct.ctype().to_ascii_lowercase(),
        },
        None => "text/plain".to_owned(),
    }
}

/// The part's file name (Content-Disposition filename, else Content-Type name).
pub fn file_name(part: &MessagePart<'_>) -> Option<String> {
    part.attachment_name().map(str::to_owned).filter(|n| !n.trim().is_empty())
}

/// The part's body with the transfer encoding removed, charset untouched: hashes and
/// signatures are over these bytes, not over mail-parser's UTF-8 conversion of text parts.
pub fn decoded_body<'a>(message: &'a Message<'_>, part: &MessagePart<'_>) -> Cow<'a, [u8]> {
    let raw = message
        .raw_message
        .get(part.offset_body as usize..part.offset_end as usize)
        .unwrap_or_default();
    if part.is_encoding_problem {
        return Cow::Borrowed(raw);
    }
    match part.encoding {
        Encoding::Base64 => Cow::Owned(base64_lenient(raw)),
        Encoding::QuotedPrintable => mail_parser::decoders::quoted_printable::quoted_printable_decode(raw)
            .map_or(Cow::Borrowed(raw), Cow::Owned),
        Encoding::None => Cow::Borrowed(raw),
    }
}

/// Base64 as found in mail: line breaks, stray characters and missing padding are common and
/// harmless, so skip anything outside the alphabet and stop at the first `=`.
pub fn base64_lenient(input: &[u8]) -> Vec<u8> {
    let mut clean: Vec<u8> = Vec::with_capacity(input.len());
    for &b in input {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' => clean.push(b),
            b'=' => break,
            _ => {}
        }
    }
    if clean.len() % 4 == 1 {
        clean.pop();
    }
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireNone)
            .with_decode_allow_trailing_bits(true),
    );
    engine.decode(&clean).unwrap_or_default()
}

/// Canonical form for S/MIME (RFC 5751 §3.1.1): every line ends in CRLF. Files copied
/// through Git or Unix tools often have bare LF; the signature is over the CRLF form.
pub fn to_crlf(input: &[u8]) -> Cow<'_, [u8]> {
    // memchr: an envelope is hundreds of kilobytes of short lines, scanned on every message.
    let bare_lf = memchr::memchr_iter(b'\n', input).any(|i| i == 0 || input[i - 1] != b'\r');
    if !bare_lf {
        return Cow::Borrowed(input);
    }
    let mut out = Vec::with_capacity(input.len() + input.len() / 40);
    let mut prev = 0u8;
    for &b in input {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    Cow::Owned(out)
}

/// Position of `needle` in `hay`, from `from` on.
pub fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from > hay.len() {
        return None;
    }
    memchr::memmem::find(&hay[from..], needle).map(|i| from + i)
}

/// Rejects what is not an RFC 5322 message before handing it to the (very forgiving)
/// parser, which would otherwise turn any file into a message with an empty body.
pub fn ensure_message(raw: &[u8]) -> Result<(), PecError> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(PecError::Empty);
    }
    let mut rest = raw;
    // mbox exports start with a "From " separator line.
    if rest.starts_with(b"From ") {
        let eol = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        rest = &rest[(eol + 1).min(rest.len())..];
    }
    let header_end = find(rest, b"\n\n", 0)
        .or_else(|| find(rest, b"\n\r\n", 0))
        .unwrap_or(rest.len());
    let head = &rest[..header_end];
    if memchr::memchr(0, head).is_some() {
        return Err(PecError::NotAMessage("contenuto binario"));
    }
    let first = head.split(|&b| b == b'\n').next().unwrap_or_default();
    if !is_field_line(first) {
        return Err(PecError::NotAMessage("la prima riga non è un campo di intestazione"));
    }
    // A few junk lines are tolerated (real mail has them); mostly junk is not a message.
    let (mut good, mut bad) = (0usize, 0usize);
    for line in head.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() || line[0] == b' ' || line[0] == b'\t' || is_field_line(line) {
            good += 1;
        } else {
            bad += 1;
        }
    }
    if bad > good {
        return Err(PecError::NotAMessage("intestazioni non valide"));
    }
    Ok(())
}

fn is_field_line(line: &[u8]) -> bool {
    match line.iter().position(|&b| b == b':') {
        Some(0) | None => false,
        Some(colon) => line[..colon].iter().all(|&b| (33..=126).contains(&b)),
    }
}

/// A file cut short (interrupted download, full disk) must not pass as a message. Real
/// files also lack some closing delimiters (anonymised samples whose signature part was cut
/// out), so the test is: the last delimiter line of the message's multiparts must be a
/// closing one. A file that ends inside a part ends after an opening delimiter.
pub fn ensure_complete(message: &Message<'_>) -> Result<(), PecError> {
    ensure_complete_in(&message.raw_message, &message.parts)
}

/// [`ensure_complete`] for the bytes `raw` of a message whose parts are `parts` (a nested
/// message, or the root alone from a headers-only parse).
pub fn ensure_complete_in<'p, 'x: 'p>(
    raw: &[u8],
    parts: impl IntoIterator<Item = &'p MessagePart<'x>>,
) -> Result<(), PecError> {
    let mut boundaries = Vec::new();
    for part in parts {
        let Some(ct) = part.content_type() else { continue };
        if !ct.ctype().eq_ignore_ascii_case("multipart") {
            continue;
        }
        let Some(boundary) = ct.attribute("boundary") else {
            return Err(PecError::NotAMessage("parte multipart senza boundary"));
        };
        boundaries.push(format!("--{boundary}"));
    }
    if boundaries.is_empty() {
        return Ok(());
    }
    let mut end = raw.len();
    while end > 0 {
        let start = raw[..end - 1].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let line = &raw[start..end];
        end = start;
        if !line.starts_with(b"--") {
            continue;
        }
        let line = line.trim_ascii_end();
        for b in &boundaries {
            if let Some(rest) = line.strip_prefix(b.as_bytes()) {
                if rest == b"--" {
                    return Ok(());
                }
                if rest.is_empty() {
                    return Err(PecError::Truncated("il file termina dentro una parte MIME"));
                }
            }
        }
    }
    Err(PecError::Truncated("nessun delimitatore MIME trovato"))
}

/// mail-parser, shielded: a handful of malformed inputs (found by fuzzing) trip its
/// `debug_assert!`s and debug-build overflow checks. Release builds return a best-effort
/// parse, debug builds would panic; either way such bytes are not a usable message.
pub fn parse_raw(raw: &[u8]) -> Option<Message<'_>> {
    std::panic::catch_unwind(|| mail_parser::MessageParser::new().parse(raw)).ok().flatten()
}

/// The header fields of the root only (no body parsed, nothing decoded): enough to classify
/// and to cut the signed entity when the root is `multipart/signed`, without decoding a
/// large envelope's attachments one more time.
pub fn parse_headers_raw(raw: &[u8]) -> Option<Message<'_>> {
    let mut m = std::panic::catch_unwind(|| mail_parser::MessageParser::new().parse_headers(raw)).ok().flatten()?;
    // A headers-only parse leaves the root's body offset at the end of the input; the body
    // starts after the blank line that follows the last field.
    let root = m.parts.first_mut()?;
    let last = root.headers.iter().map(|h| h.offset_end as usize).max().unwrap_or(0).min(raw.len());
    let rest = &raw[last..];
    let skip = if rest.starts_with(b"\r\n") {
        2
    } else if rest.starts_with(b"\n") {
        1
    } else {
        0
    };
    root.offset_body = (last + skip) as u32;
    Some(m)
}

/// Whether the root of a headers-only parse is `multipart/signed`.
pub fn root_is_signed(message: &Message<'_>) -> bool {
    message.parts.first().and_then(|p| p.content_type()).is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("multipart") && ct.subtype().is_some_and(|s| s.eq_ignore_ascii_case("signed"))
    })
}

/// Parses raw bytes into a message after the sanity checks above.
pub fn parse_message(raw: &[u8]) -> Result<Message<'_>, PecError> {
    ensure_message(raw)?;
    let message = parse_raw(raw).ok_or(PecError::NotAMessage("struttura MIME non interpretabile"))?;
    ensure_complete(&message)?;
    Ok(message)
}

/// Like [`parse_message`], but a cut-short message is still returned (with the error) so
/// that what it holds can be shown: used for the original inside an envelope, where the
/// envelope itself already passed the checks.
pub fn parse_message_lenient(raw: &[u8]) -> Result<(Message<'_>, Option<PecError>), PecError> {
    ensure_message(raw)?;
    let message = parse_raw(raw).ok_or(PecError::NotAMessage("struttura MIME non interpretabile"))?;
    let truncated = ensure_complete(&message).err();
    Ok((message, truncated))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf() {
        assert_eq!(&*to_crlf(b"a\nb\r\nc\n"), b"a\r\nb\r\nc\r\n");
        assert!(matches!(to_crlf(b"a\r\nb"), Cow::Borrowed(_)));
        assert_eq!(&*to_crlf(b"\n"), b"\r\n");
    }

    #[test]
    fn base64() {
        assert_eq!(base64_lenient(b"aGVs\r\nbG8=\r\n"), b"hello");
        assert_eq!(base64_lenient(b"aGVsbG8"), b"hello");
        assert_eq!(base64_lenient(b""), b"");
    }

    #[test]
    fn not_messages() {
        assert_eq!(ensure_message(b""), Err(PecError::Empty));
        assert_eq!(ensure_message(b" \r\n"), Err(PecError::Empty));
        assert!(ensure_message(b"%PDF-1.4\n\x00\x01").is_err());
        assert!(ensure_message(b"\x89PNG\r\n\x1a\n\x00").is_err());
        assert!(ensure_message(b"hello world\nthis is text\n").is_err());
        assert!(ensure_message(b"Subject: x\r\n\r\nbody").is_ok());
        assert!(ensure_message(b"From x@y Mon Jan 1\nSubject: x\n\nbody").is_ok());
    }

    #[test]
    fn truncated_multipart() {
        let raw = b"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n";
        assert!(matches!(parse_message(raw), Err(PecError::Truncated(_))));
        let mut full = raw.to_vec();
        full.extend_from_slice(b"--b--\r\n");
        assert!(parse_message(&full).is_ok());
    }

    #[test]
    fn headers_only_parse_knows_where_the_body_starts() {
        for raw in [
            &b"Subject: x\r\nContent-Type: text/plain\r\n\r\nbody\r\n"[..],
            b"Subject: x\nX-Long: a\n b\n\nbody\n",
        ] {
            let full = parse_raw(raw).map(|m| m.parts[0].offset_body);
            let head = parse_headers_raw(raw).map(|m| m.parts[0].offset_body);
            assert_eq!(head, full, "{:?}", String::from_utf8_lossy(raw));
            assert!(head.is_some_and(|o| raw[o as usize..].starts_with(b"body")));
        }
    }

    #[test]
    fn find_works() {
        assert_eq!(find(b"abcabc", b"ca", 0), Some(2));
        assert_eq!(find(b"abc", b"abcd", 0), None);
        assert_eq!(find(b"abc", b"c", 5), None);
    }
}
