//! Reading a message as PEC without any cryptography: classification, the signed entity,
//! `daticert.xml`, the original message (`postacert.eml`) and its attachments.
//!
//! Everything PEC-specific is taken from *inside* the signed entity when there is one, so
//! that once the signature is verified, every value reported here is covered by it.

use mail_parser::{Message, MimeHeaders};
use serde::Serialize;

use crate::attachments::{self, Attachment};
use crate::daticert::{self, Daticert, Tipo};
use crate::error::PecError;
use crate::kind::{self, Classification, PecType};
use crate::mime;
use crate::signed::{self, SignedLookup};

/// A few header fields of the citizen's original message, for the register and the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Original {
    pub from: Option<String>,
    /// The display name of `from` ("Mario Rossi"), as the sender wrote it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_name: Option<String>,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub subject: Option<String>,
    /// RFC 3339, as written in the Date header.
    pub date: Option<String>,
    pub message_id: Option<String>,
    /// Header fields that mark automatic mail (RFC 3834 `Auto-Submitted`, `Precedence`,
    /// `List-Id`, an empty `Return-Path`, the `report-type` of a `multipart/report` root):
    /// the notifier never answers such a message. Raw values, absent when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_submitted: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub precedence: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report_type: Option<String>,
}

/// The message read as PEC, before any signature check. It borrows the stored bytes: the
/// signed content is not copied unless it has to be re-canonicalised to CRLF.
#[derive(Debug, Clone)]
pub struct Envelope<'a> {
    pub classification: Classification,
    pub signed: SignedLookup<'a>,
    pub daticert: Option<Daticert>,
    /// Set when daticert's `tipo` contradicts the header fields (e.g. a signed receipt
    /// relabelled as a transport envelope): the text says how.
    pub daticert_mismatch: Option<String>,
    /// The original message: `postacert.eml` for PEC messages, the message itself otherwise.
    pub original: Option<Original>,
    pub attachments: Vec<Attachment>,
    /// The text of the original message ([`attachments::body_text`]), registered as the
    /// primary document when there is no attachment.
    pub body: Option<Attachment>,
    /// The signed entity is nested inside the message instead of being the message itself.
    pub wrapped: bool,
    /// `List-Id` of the list that wrapped the envelope, when it says.
    pub mailing_list: Option<String>,
    /// `X-Riferimento-Message-ID` of the outer message: for a receipt, the Message-ID of the
    /// message it certifies (outside the signature: daticert `msgid` is preferred).
    pub riferimento_message_id: Option<String>,
    /// Deviations, in Italian.
    pub warnings: Vec<String>,
}

/// Reads `raw` as a PEC message. Fails only when the bytes are not a message at all
/// (empty, binary, truncated); anything else odd becomes a warning.
///
/// Memory: every large body is decoded once. When the root is the signed entity (every
/// envelope straight from a provider) only its header fields are parsed here, the signed
/// content is parsed once, and the original's attachments are moved, not copied, out of
/// that parse.
pub fn parse(raw: &[u8]) -> Result<Envelope<'_>, PecError> {
    mime::ensure_message(raw)?;
    let head = mime::parse_headers_raw(raw).ok_or(PecError::NotAMessage("struttura MIME non interpretabile"))?;
    let fast = mime::root_is_signed(&head);
    let mut full = if fast { None } else { Some(mime::parse_message(raw)?) };
    let message = full.as_ref().unwrap_or(&head);
    let headers = mime::raw_headers(raw, &message.parts[0]);
    let classification = kind::classify(headers.iter().map(|(n, v)| (*n, v.as_str())));
    let mut warnings = classification.warnings.clone();

    let signed = signed::find_signed(raw, message);
    match &signed {
        SignedLookup::Malformed(why) => warnings.push(format!("firma S/MIME non leggibile: {why}")),
        SignedLookup::Signed(_) | SignedLookup::NotSigned => {}
    }
    let wrapped = matches!(&signed, SignedLookup::Signed(s) if s.nested);
    let mailing_list = mime::header(&headers, "List-Id").map(str::to_owned).or_else(|| {
        (wrapped && headers.iter().any(|(n, _)| n.to_ascii_lowercase().starts_with("x-mailman")))
            .then(|| "mailman".to_owned())
    });
    if wrapped {
        warnings.push(match &mailing_list {
            Some(_) => "busta PEC incapsulata da una mailing list".to_owned(),
            None => "busta PEC incapsulata in un altro messaggio".to_owned(),
        });
    }
    let riferimento_message_id = mime::header(&headers, "X-Riferimento-Message-ID").map(str::to_owned);
    drop(headers);

    let is_pec = classification.pec_type != PecType::None;
    let mut envelope = Envelope {
        classification,
        // Moved in at the end: the container below may borrow it.
        signed: SignedLookup::NotSigned,
        daticert: None,
        daticert_mismatch: None,
        original: None,
        attachments: Vec::new(),
        body: None,
        wrapped,
        mailing_list,
        riferimento_message_id,
        warnings,
    };

    // The container of the PEC parts: the signed content when there is one, so that what we
    // report is what the provider signed; else the message itself.
    let signed_parse = match &signed {
        SignedLookup::Signed(s) => mime::parse_raw(&s.content),
        SignedLookup::Malformed(_) | SignedLookup::NotSigned => None,
    };
    let container = match signed_parse {
        Some(m) => Some(m),
        None => match full.take() {
            Some(m) => Some(m),
            None => mime::parse_raw(raw),
        },
    };
    if fast {
        // Cut short? Judged on the delimiters of the root and of every multipart inside the
        // signed content (the full parse did this in `parse_message` for the other path).
        let inner = container.iter().flat_map(|c| c.parts.iter());
        mime::ensure_complete_in(raw, head.parts.iter().take(1).chain(inner))?;
    }
    if let Some(mut container) = container {
        if is_pec {
            read_daticert(&container, &mut envelope);
            read_postacert(&mut container, &mut envelope);
        } else {
            envelope.original = Some(original(&container));
            envelope.body = attachments::body_text(&container);
            envelope.attachments = attachments::extract_owned(container);
        }
    }
    envelope.signed = signed;
    Ok(envelope)
}

/// The original message (`postacert.eml`) and its attachments, moved out of the container.
fn read_postacert(container: &mut Message<'_>, envelope: &mut Envelope<'_>) {
    let Some(index) = find_named(container, "postacert.eml", "message/rfc822") else {
        // Receipts other than a complete delivery receipt carry no original.
        if envelope.classification.pec_type != PecType::Ricevuta {
            envelope.warnings.push("postacert.eml mancante".to_owned());
        }
        return;
    };
    let body = std::mem::take(&mut container.parts[index].body);
    let part = &container.parts[index];
    let bytes = mime::decoded_body(container, part);
    if let Err(e) = mime::ensure_message(&bytes) {
        envelope.warnings.push(format!("postacert.eml non leggibile: {e}"));
        return;
    }
    match body {
        // Already parsed with the container: use it, do not parse (and decode) it again.
        mail_parser::PartType::Message(orig) => {
            if let Err(e) = mime::ensure_complete_in(&bytes, orig.parts.iter()) {
                envelope.warnings.push(format!("postacert.eml: {e}"));
            }
            envelope.original = Some(original(&orig));
            drop(bytes);
            envelope.body = attachments::body_text(&orig);
            envelope.attachments = attachments::extract_owned(orig);
        }
        // mail-parser gave up on it as a message: try once more on its own bytes.
        _ => match mime::parse_message_lenient(&bytes) {
            Ok((orig, truncated)) => {
                if let Some(e) = truncated {
                    envelope.warnings.push(format!("postacert.eml: {e}"));
                }
                envelope.original = Some(original(&orig));
                envelope.body = attachments::body_text(&orig);
                envelope.attachments = attachments::extract(&orig);
            }
            Err(e) => envelope.warnings.push(format!("postacert.eml non leggibile: {e}")),
        },
    }
}

fn read_daticert(container: &Message<'_>, envelope: &mut Envelope<'_>) {
    let pec_type = envelope.classification.pec_type;
    let found = find_named(container, "daticert.xml", "application/xml");
    let Some(bytes) = found.map(|i| mime::decoded_body(container, &container.parts[i])) else {
        // Anomaly envelopes may lack it (pec-format.md §4).
        if pec_type != PecType::Anomalia {
            envelope.warnings.push("daticert.xml mancante".to_owned());
            if pec_type == PecType::PostaCertificata {
                envelope.daticert_mismatch = Some("daticert.xml assente nella parte firmata".to_owned());
            }
        }
        return;
    };
    let d = match daticert::parse(&bytes) {
        Ok(d) => d,
        Err(e) => {
            envelope.warnings.push(e.to_string());
            if pec_type == PecType::PostaCertificata {
                envelope.daticert_mismatch = Some(e.to_string());
            }
            return;
        }
    };
    envelope.warnings.extend(d.warnings.iter().map(|w| format!("daticert.xml: {w}")));
    // The receipt kind: the signed daticert says it for envelopes and delivery receipts;
    // the X-TipoRicevuta header (unsigned, sometimes absent) is only the fallback.
    if let Some(kind) = &d.ricevuta {
        let header = envelope.classification.receipt_kind.replace(kind.clone());
        if let Some(h) = header.filter(|h| h != kind) {
            envelope.warnings.push(format!(
                "X-TipoRicevuta {h:?} in contrasto con daticert.xml {kind:?}: vale daticert.xml"
            ));
        }
    }
    let expected = match (&pec_type, &envelope.classification.receipt) {
        (PecType::PostaCertificata, _) => Some("posta-certificata"),
        (PecType::Ricevuta, Some(r)) => Some(r.as_str()),
        _ => None,
    };
    if let Some(expected) = expected {
        let actual = d.tipo.as_ref().map(Tipo::as_str);
        if actual != Some(expected) {
            envelope.daticert_mismatch = Some(format!(
                "le intestazioni indicano {expected:?} ma daticert.xml indica {:?}",
                actual.unwrap_or("nessun tipo")
            ));
            envelope.warnings.push(format!(
                "tipo in contrasto: intestazioni {expected:?}, daticert.xml {:?}",
                actual.unwrap_or("nessun tipo")
            ));
        }
    }
    envelope.daticert = Some(d);
}

/// Index of the first leaf part with that file name (case-insensitive), or failing that,
/// of the first part with that media type.
fn find_named(container: &Message<'_>, name: &str, media: &str) -> Option<usize> {
    let leaf = |(_, p): &(usize, &mail_parser::MessagePart<'_>)| !matches!(p.body, mail_parser::PartType::Multipart(_));
    let parts = || container.parts.iter().enumerate().skip(1).filter(leaf);
    parts()
        .find(|(_, p)| mime::file_name(p).is_some_and(|n| n.trim().eq_ignore_ascii_case(name)))
        .or_else(|| parts().find(|(_, p)| mime::media_type(p) == media))
        .map(|(i, _)| i)
}

fn original(m: &Message<'_>) -> Original {
    let addrs = |a: Option<&mail_parser::Address<'_>>| -> Vec<String> {
        a.map(|a| a.iter().filter_map(|x| x.address().map(str::to_owned)).collect())
            .unwrap_or_default()
    };
    let first_from = m.from().and_then(|a| a.iter().find(|x| x.address().is_some()));
    Original {
        from: first_from.and_then(|a| a.address()).map(str::to_owned),
        from_name: first_from.and_then(|a| a.name()).and_then(display_name),
        to: addrs(m.to()),
        cc: addrs(m.cc()),
        subject: m.subject().map(str::to_owned),
        date: m.date().map(|d| d.to_rfc3339()),
        message_id: m.message_id().map(|id| format!("<{id}>")),
        ..automatic_markers(m)
    }
}

/// A display name fit for the register: one line, trimmed, at most 200 characters, and not
/// merely the address again (or a provider's "Per conto di: …" label).
fn display_name(name: &str) -> Option<String> {
    let one_line: String = name.split_whitespace().collect::<Vec<_>>().join(" ");
    let one_line = one_line.trim_matches(|c: char| c == '"' || c == '\'' || c.is_whitespace());
    if one_line.is_empty() || one_line.contains('@') {
        return None;
    }
    Some(one_line.chars().take(200).collect())
}

/// The header fields that tell automatic mail, read raw from the message's own bytes.
fn automatic_markers(m: &Message<'_>) -> Original {
    let Some(root) = m.parts.first() else { return Original::default() };
    let headers = mime::raw_headers(&m.raw_message, root);
    let get = |name: &str| mime::header(&headers, name).map(str::to_owned);
    let report_type = match root.content_type() {
        Some(ct) if ct.ctype().eq_ignore_ascii_case("multipart")
            && ct.subtype().is_some_and(|s| s.eq_ignore_ascii_case("report")) =>
        {
            Some(ct.attribute("report-type").unwrap_or("").to_owned())
        }
        _ => None,
    };
    Original {
        auto_submitted: get("Auto-Submitted"),
        precedence: get("Precedence"),
        list_id: get("List-Id"),
        return_path: get("Return-Path"),
        report_type,
        ..Original::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_are_one_line_and_never_an_address() {
        assert_eq!(display_name("  Mario \r\n  Rossi ").as_deref(), Some("Mario Rossi"));
        assert_eq!(display_name("\"Giulia Bianchi\""), Some("Giulia Bianchi".into()));
        assert_eq!(display_name("Per conto di: mario.rossi@pec.it"), None);
        assert_eq!(display_name("   "), None);
        assert_eq!(display_name(&"x".repeat(500)).map(|n| n.chars().count()), Some(200));
    }

    #[test]
    fn non_messages_are_errors() {
        assert_eq!(parse(b"").err(), Some(PecError::Empty));
        assert!(matches!(parse(b"\x00\x01\x02binary"), Err(PecError::NotAMessage(_))));
    }

    /// The fast path (root is the signed entity) reads the same values as a full parse,
    /// without copying the signed content.
    #[test]
    fn signed_root_is_read_without_copies() {
        let raw = include_bytes!("../tests/golden/transport_with_attachments.eml");
        let e = parse(raw).unwrap_or_else(|e| panic!("{e}"));
        let SignedLookup::Signed(s) = &e.signed else { panic!("{:?}", e.signed) };
        assert!(matches!(s.content, std::borrow::Cow::Borrowed(_)));
        assert!(!s.nested);
        assert_eq!(e.classification.pec_type, PecType::PostaCertificata);
        assert_eq!(e.attachments.len(), 3);
        assert!(e.daticert.is_some() && e.daticert_mismatch.is_none(), "{:?}", e.warnings);
        // The LF-only copy must be re-canonicalised, hence owned.
        let lf = String::from_utf8_lossy(raw).replace("\r\n", "\n");
        let e = parse(lf.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        let SignedLookup::Signed(s) = &e.signed else { panic!("{:?}", e.signed) };
        assert!(matches!(s.content, std::borrow::Cow::Owned(_)) && s.recanonicalised);
        assert_eq!(e.attachments.len(), 3);
    }

    #[test]
    fn plain_mail() {
        let e = parse(b"From: a@b.it\r\nTo: c@d.it\r\nSubject: ciao\r\n\r\ntesto").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(e.classification.pec_type, PecType::None);
        assert_eq!(e.signed, SignedLookup::NotSigned);
        assert_eq!(e.original.and_then(|o| o.subject).as_deref(), Some("ciao"));
    }
}
