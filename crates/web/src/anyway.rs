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

use sigillo_pec::{Checker, MessageReport};
use sigillo_notify::model::Document;
use sigillo_notify::outbox::{NoticeOutcome, Registered, enqueue_receipt_for_override};
use sigillo_store::register::{Actor, DocumentRole, NewRegistration, Registration, Sha256};

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
/// returns the registration to write with the report it comes from (the receipt's policy
/// reads the report: who to answer, and whether to answer at all).
pub async fn registration_from_raw(
    state: &AppState,
    message_id: i64,
    raw_sha256: Sha256,
) -> Result<(NewRegistration, MessageReport), AppError> {
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
    // The same record the intake would have written for this message.
    let new = sigillo_intake::pipeline::new_registration(&report, message_id);
    Ok((new, report))
}

/// The citizen's receipt for a registration made by the office, queued inside `tx` so that
/// its outbox row commits or rolls back with the registration. The loop-safety policy and the
/// rate limit apply as for an automatic receipt (a suppressed row says why nothing went out);
/// the row is the staff member's. Without `SIGILLO_NOTIFY_FROM` nobody is answered.
/// Returns true when a row is pending for the worker (wake it after commit).
pub async fn enqueue_receipt(
    tx: &mut sqlx::PgConnection,
    state: &AppState,
    message_id: i64,
    report: &MessageReport,
    registration: &Registration,
    new: &NewRegistration,
    actor: &Actor,
) -> Result<bool, AppError> {
    let Some(config) = state.outbox() else {
        tracing::debug!(inbound_id = message_id, "receipt for a registration made anyway: answers are off");
        return Ok(false);
    };
    let registered = Registered {
        id: registration.id,
        number: registration.number.get(),
        year: registration.year,
        registered_at: registration.registered_at,
        segnatura: registration.segnatura.clone(),
        subject: new.subject.clone(),
        documents: new
            .documents
            .iter()
            .map(|d| Document {
                name: d.name.clone(),
                media_type: Some(d.media_type.clone()),
                size: d.size_bytes,
                sha256: d.sha256.to_hex(),
                primary: d.role == DocumentRole::Primary,
            })
            .collect(),
    };
    let outcome = enqueue_receipt_for_override(tx, config, message_id, report, &registered, actor).await?;
    tracing::debug!(inbound_id = message_id, ?outcome, "receipt for a registration made anyway");
    Ok(matches!(outcome, NoticeOutcome::Queued { .. }))
}
