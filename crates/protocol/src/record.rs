//! The art. 53 record of a classified message: the same for a message the intake registers
//! and for one the office registers anyway.

use chrono::Utc;
use sigillo_pec::MessageReport;
use sigillo_pec::attachments::Attachment;
use sigillo_store::ids::InboundId;
use sigillo_store::register::{Direction, DocumentRole, NewDocument, NewRegistration, Sha256};

/// The registration to write for a message: sender and subject as [`sigillo_pec::report::PecReport`]
/// defines them (what the provider certified first), receipt time from daticert, the first
/// attachment as the primary document. A message with no attachment (the commonest istanza:
/// the request is written in the PEC's text) has its text as the primary document, stored and
/// hashed like any document ([`body_document`]): the register keeps what was asked, and the
/// segnatura has the primary document it requires.
pub fn registration_from_report(report: &MessageReport, inbound_id: InboundId) -> NewRegistration {
    let pec = &report.pec;
    let mut documents: Vec<NewDocument> = report
        .attachments
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let at = &a.attachment;
            NewDocument {
                name: at.name.clone().unwrap_or_else(|| format!("allegato-{}", i + 1)),
                media_type: at.media_type.clone(),
                size_bytes: i64::try_from(at.size).unwrap_or(i64::MAX),
                sha256: document_digest(at),
                role: if i == 0 { DocumentRole::Primary } else { DocumentRole::Attachment },
                signature_report: a.signature.as_ref().and_then(|s| serde_json::to_value(s).ok()),
            }
        })
        .collect();
    if documents.is_empty()
        && let Some(body) = body_document(report)
    {
        documents.push(body);
    }
    NewRegistration {
        direction: Direction::Incoming,
        correspondent_name: pec.sender_name(),
        correspondent_address: pec.sender(),
        subject: pec.subject_or_none(),
        sender_protocol_number: None,
        sender_protocol_date: None,
        received_at: pec.daticert.as_ref().and_then(|d| d.data).map(|t| t.with_timezone(&Utc)),
        inbound_message_id: Some(inbound_id),
        documents,
    }
}

/// The digest the classifier computed while reading the attachment (one pass over the bytes
/// instead of three); computed again only if it is somehow not a digest.
pub fn document_digest(at: &Attachment) -> Sha256 {
    Sha256::parse_hex(&at.sha256).unwrap_or_else(|_| Sha256::of(&at.content))
}

/// The message text of `report` as a primary document (no signature report: a PEC's text is
/// not a signed document; the provider's signature over the envelope covers it).
pub fn body_document(report: &MessageReport) -> Option<NewDocument> {
    let body = report.pec.body.as_ref()?;
    Some(NewDocument {
        name: body.name.clone().unwrap_or_else(|| sigillo_pec::attachments::BODY_TEXT_NAME.to_owned()),
        media_type: body.media_type.clone(),
        size_bytes: i64::try_from(body.size).unwrap_or(i64::MAX),
        sha256: document_digest(body),
        role: DocumentRole::Primary,
        signature_report: None,
    })
}
