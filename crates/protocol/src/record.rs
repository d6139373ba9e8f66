//! The art. 53 record of a classified message: the same for a message the intake registers
//! and for one the office registers anyway.

use chrono::Utc;
use sigillo_pec::MessageReport;
use sigillo_pec::attachments::Attachment;
use sigillo_store::ids::InboundId;
use sigillo_store::register::{Direction, DocumentRole, NewDocument, NewRegistration, Sha256};

/// The registration to write for a message: sender and subject as [`sigillo_pec::report::PecReport`]
/// defines them (what the provider certified first), receipt time from daticert, the first
/// attachment as the primary document.
pub fn registration_from_report(report: &MessageReport, inbound_id: InboundId) -> NewRegistration {
    let pec = &report.pec;
    let documents = report
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
