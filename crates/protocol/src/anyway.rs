//! "Register anyway": the responsabile's override of a rejected or review message.
//!
//! The intake keeps the documents' bytes only for the messages it registers, so for a rejected
//! or review message they are taken again from its stored raw bytes (write-once, addressed by
//! `inbound_messages.raw_sha256`) by the same classifier the intake runs (the trust
//! directory's anchors, the trusted lists' and, when configured, online revocation), at the
//! time of the override. The registration then carries documents,
//! hashes and signature reports exactly as an automatic one does (the same
//! [`registration_from_report`]); the classifier is deterministic on the same bytes, so the
//! hashes are those the pipeline saw. The registration, the decision, their audit entries and
//! the citizen's receipt commit together.

use sigillo_notify::outbox::{NoticeOutcome, OutboxConfig, enqueue_receipt_for_override};
use std::sync::Arc;

use sigillo_pec::{Checker, MessageReport, ValidationTime};
use sigillo_store::PgPool;
use sigillo_store::blob::BlobStore;
use sigillo_store::decisions;
use sigillo_store::ids::InboundId;
use sigillo_store::inbound;
use sigillo_store::register::{Actor, Register, Registration};

use crate::Error;
use crate::record::registration_from_report;

/// What the override needs besides the message and the person.
pub struct Override<'a> {
    pub pool: &'a PgPool,
    pub blobs: &'a BlobStore,
    pub register: &'a Register,
    /// The classifier in use ([`crate::trust::SharedChecker::current`]); without a trust
    /// directory no signature can be judged and the override is refused.
    pub checker: Option<Arc<Checker>>,
    /// Who answers citizens; `None`: nobody is answered.
    pub outbox: Option<&'a OutboxConfig>,
}

/// The registration made, and whether a receipt is pending for the outbox worker (wake it).
pub struct Registered {
    pub registration: Registration,
    pub receipt_queued: bool,
}

/// Registers message `message_id` anyway, with the responsabile's written `reason`.
pub async fn register_anyway(ctx: &Override<'_>, actor: &Actor, message_id: InboundId, reason: &str) -> Result<Registered, Error> {
    let Some(checker) = ctx.checker.clone() else {
        return Err(Error::NoTrust);
    };
    let raw_sha256 = {
        let mut conn = ctx.pool.acquire().await.map_err(sigillo_store::Error::from)?;
        inbound::by_id(&mut conn, message_id).await?.raw_sha256
    };
    let blobs = ctx.blobs.clone();
    // On a blocking thread: an online source answers by driving its requests on this
    // runtime, which it must not be called from.
    let report = tokio::task::spawn_blocking(move || -> Result<MessageReport, Error> {
        let raw = blobs.get(&raw_sha256)?;
        let report = checker
            .check_message_at(&format!("inbound-{message_id}"), &raw, ValidationTime::now(chrono::Utc::now()))
            .map_err(|e| Error::Unreadable(e.to_string()))?;
        // Content-addressed: storing them again on a retry costs nothing.
        for a in &report.attachments {
            blobs.put(&a.attachment.content)?;
        }
        // The message text is the primary document when there is no attachment.
        if report.attachments.is_empty()
            && let Some(body) = &report.pec.body
        {
            blobs.put(&body.content)?;
        }
        Ok(report)
    })
    .await
    .map_err(|e| Error::Task(format!("classification interrupted: {e}")))??;
    let new = registration_from_report(&report, message_id);

    let mut tx = ctx.pool.begin().await.map_err(sigillo_store::Error::from)?;
    let (registration, _) = decisions::register_anyway(&mut tx, ctx.register, actor, message_id, reason, &new).await?;
    // The loop-safety policy and the rate limit apply as for an automatic receipt (a
    // suppressed row says why nothing went out); the row is the staff member's.
    let receipt_queued = match ctx.outbox {
        Some(config) => {
            let registered = crate::receipt::registered(&registration, &new);
            let outcome = enqueue_receipt_for_override(&mut tx, config, message_id, &report, &registered, actor).await?;
            tracing::debug!(inbound_id = %message_id, ?outcome, "receipt for a registration made anyway");
            matches!(outcome, NoticeOutcome::Queued { .. })
        }
        None => false,
    };
    tx.commit().await.map_err(sigillo_store::Error::from)?;
    Ok(Registered { registration, receipt_queued })
}
