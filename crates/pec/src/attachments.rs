//! The citizen's documents: attachments of the original message with their hashes.
//!
//! Inline parts referenced by `cid:` from the HTML body are body (a logo in a signature),
//! not documents to register or to check for signatures.

use mail_parser::{Message, MimeHeaders, PartType};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::mime;

/// Also read back from a stored report ([`crate::report::AttachmentListing`]), without
/// its content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// File name as sent (`None` when the part has none).
    pub name: Option<String>,
    pub media_type: String,
    /// Size in bytes after removing the transfer encoding.
    pub size: u64,
    /// Lower-case hex SHA-256 of the same bytes.
    pub sha256: String,
    /// For a document with a detached signature beside it (`x.pdf` + `x.pdf.p7s`): the
    /// name of the signature file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detached_signature: Option<String>,
    /// For a detached signature file: the name of the document it signs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signs: Option<String>,
    /// The decoded bytes, for signature checks; never serialised.
    #[serde(skip)]
    pub content: Vec<u8>,
}

impl Attachment {
    fn new(name: Option<String>, media_type: String, content: Vec<u8>) -> Self {
        let sha256 = hex(&Sha256::digest(&content));
        Self {
            name,
            media_type,
            size: content.len() as u64,
            sha256,
            detached_signature: None,
            signs: None,
            content,
        }
    }
}

/// Documents handed in outside a message (uploaded at the desk, sent through the API) as
/// attachments: hashed, and a detached `x.p7s` paired with the file it signs exactly as in a
/// message, so that the same signature check judges them.
pub fn from_files(files: Vec<(String, String, Vec<u8>)>) -> Vec<Attachment> {
    let mut atts: Vec<Attachment> =
        files.into_iter().map(|(name, media_type, content)| Attachment::new(Some(name), media_type, content)).collect();
    pair_detached_signatures(&mut atts);
    atts
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// The file name the register gives the text of a message with no attachment.
pub const BODY_TEXT_NAME: &str = "testo-del-messaggio.txt";
/// The same, when the message has only an HTML body.
pub const BODY_HTML_NAME: &str = "testo-del-messaggio.html";

/// The message text: the first `text/plain` body part, else the first `text/html` one, with
/// the transfer encoding removed and the charset untouched (the bytes as sent, as for
/// attachments). A PEC without attachments is an istanza written in its body: this is the
/// document the register keeps and hashes for it (AgID Linee Guida, Allegato 6: the
/// segnatura names a primary document). The media type keeps the charset, which is needed
/// to read the bytes back. `None` when the message has no text body at all.
pub fn body_text(message: &Message<'_>) -> Option<Attachment> {
    let find = |ids: &[u32], html: bool| {
        ids.iter().map(|&id| id as usize).find(|&id| {
            message.parts.get(id).is_some_and(|p| match &p.body {
                PartType::Text(_) => !html,
                PartType::Html(_) => html,
                _ => false,
            })
        })
    };
    let (id, name) = match find(&message.text_body, false) {
        Some(id) => (id, BODY_TEXT_NAME),
        None => (find(&message.html_body, true)?, BODY_HTML_NAME),
    };
    let part = &message.parts[id];
    let mut media_type = mime::media_type(part);
    if let Some(charset) = part.content_type().and_then(|ct| ct.attribute("charset")).filter(|c| {
        !c.is_empty() && c.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
    }) {
        media_type = format!("{media_type}; charset={}", charset.to_ascii_lowercase());
    }
    let content = mime::decoded_body(message, part).into_owned();
    Some(Attachment::new(Some(name.to_owned()), media_type, content))
}

/// Attachments of `message` (not of messages nested in it: an attached `.eml` is one
/// document), minus inline parts the HTML body references by `cid:`.
pub fn extract(message: &Message<'_>) -> Vec<Attachment> {
    let mut out: Vec<Attachment> = selected(message)
        .into_iter()
        .map(|(id, name, media_type)| {
            let part = &message.parts[id];
            let content = match &part.body {
                // Binary parts are already transfer-decoded by mail-parser and untouched otherwise.
                PartType::Binary(b) | PartType::InlineBinary(b) => b.to_vec(),
                // Text parts were charset-converted by mail-parser; hash the bytes as sent.
                PartType::Text(_) | PartType::Html(_) | PartType::Message(_) | PartType::Multipart(_) => {
                    mime::decoded_body(message, part).into_owned()
                }
            };
            Attachment::new(name, media_type, content)
        })
        .collect();
    pair_detached_signatures(&mut out);
    out
}

/// Like [`extract`], consuming the message: decoded binary bodies are moved out of the
/// parse instead of copied (a large attachment is then in memory once).
pub fn extract_owned(mut message: Message<'_>) -> Vec<Attachment> {
    let mut out = Vec::new();
    for (id, name, media_type) in selected(&message) {
        let content = match std::mem::take(&mut message.parts[id].body) {
            PartType::Binary(b) | PartType::InlineBinary(b) => b.into_owned(),
            PartType::Text(_) | PartType::Html(_) | PartType::Message(_) | PartType::Multipart(_) => {
                mime::decoded_body(&message, &message.parts[id]).into_owned()
            }
        };
        out.push(Attachment::new(name, media_type, content));
    }
    pair_detached_signatures(&mut out);
    out
}

/// The parts that are documents: `(part index, file name, media type)`.
fn selected(message: &Message<'_>) -> Vec<(usize, Option<String>, String)> {
    let cids = referenced_cids(message);
    let mut out = Vec::new();
    for &id in &message.attachments {
        let id = id as usize;
        let Some(part) = message.parts.get(id) else { continue };
        let name = mime::file_name(part);
        let media_type = mime::media_type(part);
        // mail-parser files undecodable body parts under attachments; an unnamed text part
        // not marked as attachment is body text, not a document.
        let marked_attachment = part.content_disposition().is_some_and(|d| d.is_attachment());
        if name.is_none() && !marked_attachment && (media_type == "text/plain" || media_type == "text/html") {
            continue;
        }
        if let Some(cid) = part.content_id() {
            let cid = normalise_cid(cid);
            if cids.iter().any(|c| c.eq_ignore_ascii_case(&cid)) {
                continue;
            }
        }
        out.push((id, name, media_type));
    }
    out
}

/// `x.pdf.p7s` (or `x.p7s` next to a single `x.*`) signs `x.pdf` (ARCHITECTURE §3).
fn pair_detached_signatures(atts: &mut [Attachment]) {
    let names: Vec<Option<String>> = atts.iter().map(|a| a.name.clone()).collect();
    for i in 0..atts.len() {
        let Some(sig_name) = names[i].as_deref() else { continue };
        let lower = sig_name.to_ascii_lowercase();
        let Some(stem_len) = lower.strip_suffix(".p7s").map(str::len) else { continue };
        let stem = &sig_name[..stem_len];
        let target = names
            .iter()
            .position(|n| n.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(stem)))
            .or_else(|| {
                // `x.p7s` beside exactly one `x.something`.
                let cands: Vec<usize> = names
                    .iter()
                    .enumerate()
                    .filter(|(j, n)| {
                        *j != i
                            && n.as_deref().is_some_and(|n| {
                                n.rsplit_once('.').is_some_and(|(s, _)| s.eq_ignore_ascii_case(stem))
                            })
                    })
                    .map(|(j, _)| j)
                    .collect();
                (cands.len() == 1).then(|| cands[0])
            });
        if let Some(t) = target.filter(|&t| t != i) {
            atts[t].detached_signature = Some(sig_name.to_owned());
            atts[i].signs = names[t].clone();
        }
    }
}

fn normalise_cid(cid: &str) -> String {
    cid.trim().trim_start_matches('<').trim_end_matches('>').trim().to_owned()
}

/// Every `cid:` reference in the HTML bodies (`src="cid:…"`, `url(cid:…)`).
fn referenced_cids(message: &Message<'_>) -> Vec<String> {
    let mut cids = Vec::new();
    for &id in &message.html_body {
        let Some(PartType::Html(html)) = message.parts.get(id as usize).map(|p| &p.body) else {
            continue;
        };
        let lower = html.to_ascii_lowercase();
        let mut from = 0;
        while let Some(rel) = lower[from..].find("cid:") {
            let start = from + rel + 4;
            let end = html[start..]
                .find(|c: char| c == '"' || c == '\'' || c == ')' || c == '>' || c.is_whitespace())
                .map_or(html.len(), |e| start + e);
            cids.push(percent_decode(&html[start..end]));
            from = end.max(start);
        }
    }
    cids
}

/// `cid:` URLs are URL-encoded (RFC 2392).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hexval = std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(v) = hexval {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &[u8]) -> Vec<Attachment> {
        let borrowed = mail_parser::MessageParser::new().parse(raw).map(|m| extract(&m)).unwrap_or_default();
        let owned = mail_parser::MessageParser::new().parse(raw).map(extract_owned).unwrap_or_default();
        assert_eq!(borrowed, owned);
        borrowed
    }

    const MSG: &str = "From: a@b.it\r\nSubject: t\r\nContent-Type: multipart/mixed; boundary=\"m\"\r\n\r\n--m\r\nContent-Type: multipart/related; boundary=\"r\"\r\n\r\n--r\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>ciao <img src=\"cid:logo%40x\"></p>\r\n--r\r\nContent-Type: image/png; name=\"logo.png\"\r\nContent-ID: <logo@x>\r\nContent-Disposition: inline; filename=\"logo.png\"\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n--r--\r\n--m\r\nContent-Type: text/plain; charset=iso-8859-1; name=\"nota.txt\"\r\nContent-Disposition: attachment; filename=\"nota.txt\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nperch=E8\r\n--m\r\nContent-Type: application/pdf; name=\"a.pdf\"\r\nContent-Disposition: attachment; filename=\"a.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERg==\r\n--m\r\nContent-Type: application/pkcs7-signature; name=\"a.pdf.p7s\"\r\nContent-Disposition: attachment; filename=\"a.pdf.p7s\"\r\nContent-Transfer-Encoding: base64\r\n\r\nMAA=\r\n--m--\r\n";

    #[test]
    fn cid_inline_is_body_and_bytes_are_as_sent() {
        let a = parse(MSG.as_bytes());
        let names: Vec<_> = a.iter().map(|a| a.name.clone().unwrap_or_default()).collect();
        assert_eq!(names, ["nota.txt", "a.pdf", "a.pdf.p7s"]);
        // Latin-1 "perchè": one byte 0xE8, not the two UTF-8 bytes.
        assert_eq!(a[0].content, b"perch\xe8");
        assert_eq!(a[0].size, 6);
        assert_eq!(a[1].content, b"%PDF");
        assert_eq!(a[1].sha256, hex(&Sha256::digest(b"%PDF")));
        assert_eq!(a[1].detached_signature.as_deref(), Some("a.pdf.p7s"));
        assert_eq!(a[2].signs.as_deref(), Some("a.pdf"));
    }

    #[test]
    fn unreferenced_inline_image_is_an_attachment() {
        let raw = MSG.replace("cid:logo%40x", "https://example.com/x.png");
        assert_eq!(parse(raw.as_bytes()).len(), 4);
    }

    #[test]
    fn body_text_is_the_plain_part_as_sent_else_the_html() {
        let plain = b"From: a@b.it\r\nSubject: t\r\nContent-Type: text/plain; charset=ISO-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nChiedo il rilascio del certificato, perch=E8 ...\r\n";
        let m = mail_parser::MessageParser::new().parse(&plain[..]).unwrap();
        let body = body_text(&m).unwrap();
        assert_eq!(body.name.as_deref(), Some(BODY_TEXT_NAME));
        assert_eq!(body.media_type, "text/plain; charset=iso-8859-1");
        assert_eq!(body.content, b"Chiedo il rilascio del certificato, perch\xe8 ...\r\n");
        assert_eq!(body.sha256, hex(&Sha256::digest(&body.content)));
        assert!(extract(&m).is_empty(), "the text is not an attachment");

        let alternative = MSG.replace("cid:logo%40x", "x");
        let m = mail_parser::MessageParser::new().parse(alternative.as_bytes()).unwrap();
        let body = body_text(&m).unwrap();
        assert_eq!(body.name.as_deref(), Some(BODY_HTML_NAME));
        assert_eq!(body.media_type, "text/html; charset=utf-8");
        assert_eq!(body.content, b"<p>ciao <img src=\"x\"></p>");
    }

    #[test]
    fn percent() {
        assert_eq!(percent_decode("a%40b"), "a@b");
        assert_eq!(percent_decode("a%4"), "a%4");
        assert_eq!(percent_decode("%"), "%");
    }
}
