//! Reading a message as PEC without any cryptography: classification, the signed entity,
//! `daticert.xml`, the original message (`postacert.eml`) and its attachments.
//!
//! Everything PEC-specific is taken from *inside* the signed entity when there is one, so
//! that once the signature is verified, every value reported here is covered by it.

use mail_parser::Message;
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
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub subject: Option<String>,
    /// RFC 3339, as written in the Date header.
    pub date: Option<String>,
    pub message_id: Option<String>,
}

/// The message read as PEC, before any signature check.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub classification: Classification,
    pub signed: SignedLookup,
    pub daticert: Option<Daticert>,
    /// Set when daticert's `tipo` contradicts the header fields (e.g. a signed receipt
    /// relabelled as a transport envelope): the text says how.
    pub daticert_mismatch: Option<String>,
    /// The original message: `postacert.eml` for PEC messages, the message itself otherwise.
    pub original: Option<Original>,
    pub attachments: Vec<Attachment>,
    /// The signed entity is nested inside the message instead of being the message itself.
    pub wrapped: bool,
    /// `List-Id` of the list that wrapped the envelope, when it says.
    pub mailing_list: Option<String>,
    /// Deviations, in Italian.
    pub warnings: Vec<String>,
}

/// Reads `raw` as a PEC message. Fails only when the bytes are not a message at all
/// (empty, binary, truncated); anything else odd becomes a warning.
pub fn parse(raw: &[u8]) -> Result<Envelope, PecError> {
    let message = mime::parse_message(raw)?;
    let headers = mime::raw_headers(&message.raw_message, &message.parts[0]);
    let classification = kind::classify(headers.iter().map(|(n, v)| (*n, v.as_str())));
    let mut warnings = classification.warnings.clone();

    let signed = signed::find_signed(&message);
    let signed_content = match &signed {
        SignedLookup::Signed(s) => Some(s.content.as_slice()),
        SignedLookup::Malformed(why) => {
            warnings.push(format!("firma S/MIME non leggibile: {why}"));
            None
        }
        SignedLookup::NotSigned => None,
    };
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

    // The container of the PEC parts: the signed content when there is one, so that what we
    // report is what the provider signed.
    let inner;
    let container: &Message<'_> = match signed_content {
        Some(content) => match mime::parse_raw(content) {
            Some(m) => {
                inner = m;
                &inner
            }
            None => &message,
        },
        None => &message,
    };

    let is_pec = classification.pec_type != PecType::None;
    let mut envelope = Envelope {
        classification,
        signed: signed.clone(),
        daticert: None,
        daticert_mismatch: None,
        original: None,
        attachments: Vec::new(),
        wrapped,
        mailing_list,
        warnings,
    };

    if !is_pec {
        envelope.original = Some(original(container));
        envelope.attachments = attachments::extract(container);
        return Ok(envelope);
    }

    read_daticert(container, &mut envelope);
    match find_named(container, "postacert.eml", "message/rfc822") {
        Some(bytes) => match mime::parse_message_lenient(&bytes) {
            Ok((orig, truncated)) => {
                if let Some(e) = truncated {
                    envelope.warnings.push(format!("postacert.eml: {e}"));
                }
                envelope.original = Some(original(&orig));
                envelope.attachments = attachments::extract(&orig);
            }
            Err(e) => envelope.warnings.push(format!("postacert.eml non leggibile: {e}")),
        },
        None => {
            // Receipts other than a complete delivery receipt carry no original.
            if envelope.classification.pec_type != PecType::Ricevuta {
                envelope.warnings.push("postacert.eml mancante".to_owned());
            }
        }
    }
    Ok(envelope)
}

fn read_daticert(container: &Message<'_>, envelope: &mut Envelope) {
    let pec_type = envelope.classification.pec_type;
    let Some(bytes) = find_named(container, "daticert.xml", "application/xml") else {
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

/// Transfer-decoded body of the first leaf part with that file name (case-insensitive), or
/// failing that, of the first part with that media type.
fn find_named(container: &Message<'_>, name: &str, media: &str) -> Option<Vec<u8>> {
    let leaf = |p: &&mail_parser::MessagePart<'_>| !matches!(p.body, mail_parser::PartType::Multipart(_));
    let by_name = container
        .parts
        .iter()
        .skip(1)
        .filter(leaf)
        .find(|p| mime::file_name(p).is_some_and(|n| n.trim().eq_ignore_ascii_case(name)));
    let part = by_name.or_else(|| {
        container
            .parts
            .iter()
            .skip(1)
            .filter(leaf)
            .find(|p| mime::media_type(p) == media)
    })?;
    Some(mime::decoded_body(container, part).into_owned())
}

fn original(m: &Message<'_>) -> Original {
    let addrs = |a: Option<&mail_parser::Address<'_>>| -> Vec<String> {
        a.map(|a| a.iter().filter_map(|x| x.address().map(str::to_owned)).collect())
            .unwrap_or_default()
    };
    Original {
        from: addrs(m.from()).into_iter().next(),
        to: addrs(m.to()),
        cc: addrs(m.cc()),
        subject: m.subject().map(str::to_owned),
        date: m.date().map(|d| d.to_rfc3339()),
        message_id: m.message_id().map(|id| format!("<{id}>")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_messages_are_errors() {
        assert_eq!(parse(b"").err(), Some(PecError::Empty));
        assert!(matches!(parse(b"\x00\x01\x02binary"), Err(PecError::NotAMessage(_))));
    }

    #[test]
    fn plain_mail() {
        let e = parse(b"From: a@b.it\r\nTo: c@d.it\r\nSubject: ciao\r\n\r\ntesto").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(e.classification.pec_type, PecType::None);
        assert_eq!(e.signed, SignedLookup::NotSigned);
        assert_eq!(e.original.and_then(|o| o.subject).as_deref(), Some("ciao"));
    }
}
