//! "Register anyway": what the responsabile's override needs besides the database.
//!
//! The intake keeps the documents' bytes only for the messages it registers, so for a rejected
//! or review message they are taken again from its stored raw bytes (write-once, addressed by
//! `inbound_messages.raw_sha256`) by the same pure classifier the intake runs
//! (`sigillo_pec::Checker`), with the trust anchors of `SIGILLO_TRUST_DIR` and the time of the
//! override. The registration then carries documents, hashes and signature reports exactly as
//! an automatic one does; the classifier is deterministic on the same bytes, so the hashes are
//! those the pipeline saw.

use std::path::Path;

use chrono::Utc;
use sigillo_pec::report::PecReport;
use sigillo_pec::{Checker, MessageReport};
use sigillo_store::register::{Direction, DocumentRole, NewDocument, NewRegistration, Registration, Sha256};

use crate::{AppError, AppState};

/// A classifier with the anchors of `dir/pec/` and `dir/signatures/` (PEM or DER, one or more
/// certificates per file), checking at the current time.
fn checker(dir: &Path) -> Result<Checker, String> {
    let mut checker = Checker::new(std::time::SystemTime::now());
    for (sub, pec) in [("pec", true), ("signatures", false)] {
        let folder = dir.join(sub);
        let entries = std::fs::read_dir(&folder).map_err(|e| format!("{}: {e}", folder.display()))?;
        let mut files: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_file()).collect();
        files.sort();
        for file in files {
            let bytes = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let added = if pec { checker.add_pec_anchors(&bytes) } else { checker.add_document_anchors(&bytes) };
            added.map_err(|e| format!("{}: {e}", file.display()))?;
        }
    }
    Ok(checker)
}

/// Reads the stored raw message and classifies it again, on a blocking thread; stores the
/// attachments' bytes in the blob store (content-addressed, so a retry costs nothing) and
/// returns the registration to write.
pub async fn registration_from_raw(state: &AppState, message_id: i64, raw_sha256: Sha256) -> Result<NewRegistration, AppError> {
    let Some(trust) = state.config().trust_dir.clone() else {
        return Err(AppError::BadRequest(
            "SIGILLO_TRUST_DIR non è configurata: senza le autorità di fiducia le firme dei documenti non si possono \
             verificare. Avvisi l'amministratore."
                .into(),
        ));
    };
    let blobs = state.blobs().clone();
    let report = tokio::task::spawn_blocking(move || -> Result<MessageReport, AppError> {
        let raw = blobs.get(&raw_sha256).map_err(|e| AppError::Internal(format!("raw message {raw_sha256}: {e}")))?;
        let checker = checker(&trust).map_err(|e| AppError::Internal(format!("SIGILLO_TRUST_DIR: {e}")))?;
        let report = checker
            .check_message(&format!("inbound-{message_id}"), &raw)
            .map_err(|e| AppError::BadRequest(format!("il messaggio archiviato non è leggibile: {e}")))?;
        for a in &report.attachments {
            blobs.put(&a.attachment.content).map_err(|e| AppError::Internal(format!("blob store: {e}")))?;
        }
        Ok(report)
    })
    .await
    .map_err(|e| AppError::Internal(format!("classification interrupted: {e}")))??;
    Ok(registration(&report, message_id))
}

/// The art. 53 record of the message, built as the intake builds it
/// (`sigillo_intake::pipeline::registration`): sender and subject from daticert (what the
/// provider certified), falling back to the original message; receipt time from daticert;
/// the first attachment is the primary document.
// TODO(lead): the intake's function is private to its pipeline; one shared copy (e.g. in
// sigillo_pec or sigillo_store) would keep the two from drifting.
pub fn registration(report: &MessageReport, inbound_id: i64) -> NewRegistration {
    let pec: &PecReport = &report.pec;
    let daticert = pec.daticert.as_ref();
    let original = pec.original.as_ref();
    let address = daticert
        .and_then(|d| d.mittente.clone())
        .or_else(|| original.and_then(|o| o.from.clone()))
        .filter(|s| !s.trim().is_empty());
    let subject = original
        .and_then(|o| o.subject.clone())
        .or_else(|| daticert.and_then(|d| d.oggetto.clone()))
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "(senza oggetto)".to_owned());
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
                sha256: Sha256::of(&at.content),
                role: if i == 0 { DocumentRole::Primary } else { DocumentRole::Attachment },
                signature_report: a.signature.as_ref().and_then(|s| serde_json::to_value(s).ok()),
            }
        })
        .collect();
    NewRegistration {
        direction: Direction::Incoming,
        correspondent_name: None,
        correspondent_address: address,
        subject,
        sender_protocol_number: None,
        sender_protocol_date: None,
        received_at: daticert.and_then(|d| d.data).map(|t| t.with_timezone(&Utc)),
        inbound_message_id: Some(inbound_id),
        documents,
    }
}

/// THE call site of the citizen's receipt for a registration made by the office.
///
/// TODO(lead): enqueue the receipt with the notify crate (`sigillo_notify::enqueue_for_decision`
/// or whatever its final API is), inside `tx`, so that the receipt's outbox row commits or
/// rolls back with the registration. Until then nothing is sent for these registrations.
pub async fn enqueue_receipt(
    _tx: &mut sqlx::PgConnection,
    _state: &AppState,
    message_id: i64,
    registration: &Registration,
) -> Result<(), AppError> {
    tracing::debug!(inbound_id = message_id, registration.id = registration.id, "receipt for a registration made anyway: not enqueued yet");
    Ok(())
}
