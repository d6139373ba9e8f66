//! Writing the outbox row inside the decision's transaction, linking the provider's receipts
//! to what we sent, and re-sending on a staff request.
//!
//! The intake calls [`enqueue_for_decision`] in the transaction that writes a registration or
//! a rejection, and [`link_provider_receipt`] in the one that records a provider receipt: the
//! answer exists if and only if the decision committed. The worker ([`crate::worker`]) sends
//! the rows afterwards.

use chrono::{DateTime, Utc};
use sigillo_pec::MessageReport;
use sigillo_pec::kind::{PecType, ReceiptType};
use sigillo_pec::report::ReasonCode;
use sigillo_store::audit::{self, NewAuditEntry};
use sigillo_store::outbox::{self as rows, Delivery, LinkedReceipt, NewOutbox, OutboxState};
use sigillo_store::ids::{InboundId, OutboxId, RegistrationId};
use sigillo_store::register::Actor;
use sqlx::PgConnection;

use crate::Error;
use crate::model::{Composed, Context, Document, Notice, NoticeReason, Outgoing, Receipt};
use crate::policy::{self, NoticeKind, SkipReason, Verdict};
use crate::segnatura::{Classifica, Options, Seal};

/// The rate limit: at most `per_hour` automatic messages to one address in any hour (rows
/// suppressed by the limit are not counted). A loop between two automatic systems that
/// slipped past the header checks stops here.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    pub per_hour: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit { per_hour: 20 }
    }
}

/// What the intake needs to answer messages: who we are, the rate limit, and the seal of
/// `Segnatura.xml` (without one, receipts go out without it).
#[derive(Debug, Clone)]
pub struct OutboxConfig {
    pub ctx: Context,
    pub rate_limit: RateLimit,
    pub seal: Option<Seal>,
}

/// The registration a receipt certifies, as the pipeline has it in its transaction.
#[derive(Debug, Clone)]
pub struct Registered {
    pub id: RegistrationId,
    pub number: i32,
    pub year: i32,
    pub registered_at: DateTime<Utc>,
    pub segnatura: String,
    pub subject: String,
    pub documents: Vec<Document>,
}

/// What [`enqueue_for_decision`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoticeOutcome {
    /// A row is pending for the worker.
    Queued { outbox_id: OutboxId, kind: NoticeKind },
    /// A row was written but will not be sent unless staff re-send it; the reason is on it.
    Suppressed { outbox_id: OutboxId, reason: SkipReason },
    /// Nothing written (receipts, review, a message already answered).
    Skipped(SkipReason),
}

/// Applies the policy and the rate limit to a decided message and writes its outbox row,
/// inside the caller's transaction (`conn`). `registration` is the registration written in
/// the same transaction, for a `register` decision.
///
/// Rows are written for every register/reject decision except duplicates, so the dashboard
/// can say why no answer went out; receipts and messages in review get none. A composition
/// failure is an error: the caller rolls back, and the decision is retried with its answer.
pub async fn enqueue_for_decision(
    conn: &mut PgConnection,
    config: &OutboxConfig,
    inbound_id: InboundId,
    report: &MessageReport,
    registration: Option<&Registered>,
) -> Result<NoticeOutcome, Error> {
    let verdict = policy::decide(report, &config.ctx.from);
    enqueue(conn, config, inbound_id, report, registration, rows::AUTOMATIC, verdict).await
}

/// The receipt of a message staff registered after the pipeline rejected it (or sent it to
/// review), inside the transaction that writes that registration. The loop-safety policy
/// applies as for an automatic receipt (a suppressed row says why none went out); the row is
/// the staff member's (`created_by`), so it does not collide with the rejection notice the
/// message may already have had. At most one receipt per message.
pub async fn enqueue_receipt_for_override(
    conn: &mut PgConnection,
    config: &OutboxConfig,
    inbound_id: InboundId,
    report: &MessageReport,
    registration: &Registered,
    actor: &Actor,
) -> Result<NoticeOutcome, Error> {
    if rows::for_inbound(conn, inbound_id).await?.iter().any(|r| r.kind == NoticeKind::Ricevuta) {
        return Ok(NoticeOutcome::Skipped(SkipReason::Duplicate));
    }
    let mut registered = report.clone();
    registered.decision = sigillo_pec::report::Decision::Register;
    let verdict = policy::decide(&registered, &config.ctx.from);
    enqueue(conn, config, inbound_id, &registered, Some(registration), actor.as_str(), verdict).await
}

async fn enqueue(
    conn: &mut PgConnection,
    config: &OutboxConfig,
    inbound_id: InboundId,
    report: &MessageReport,
    registration: Option<&Registered>,
    created_by: &str,
    verdict: Verdict,
) -> Result<NoticeOutcome, Error> {
    let (kind, to, mut suppressed) = match verdict {
        Verdict::Send { kind, to } => (kind, Some(to), None),
        Verdict::Skip { reason: r @ (SkipReason::Receipt | SkipReason::Review | SkipReason::Duplicate), .. } => {
            return Ok(NoticeOutcome::Skipped(r));
        }
        Verdict::Skip { reason, kind: Some(kind), to } => (kind, to, Some(reason)),
        Verdict::Skip { reason, kind: None, .. } => return Ok(NoticeOutcome::Skipped(reason)),
    };
    if kind == NoticeKind::Ricevuta && registration.is_none() {
        return Err(Error::Invalid { field: "registration", cause: "a receipt needs the registration it certifies".into() });
    }
    // One automatic answer per message, whatever happens to it later (checked before
    // composing; the unique index is what actually guarantees it).
    if created_by == rows::AUTOMATIC && rows::automatic_for(conn, inbound_id).await?.is_some() {
        return Ok(NoticeOutcome::Skipped(SkipReason::Duplicate));
    }
    if suppressed.is_none()
        && let Some(to) = &to
        && rows::count_recent(conn, to, 3600).await? >= i64::from(config.rate_limit.per_hour)
    {
        suppressed = Some(SkipReason::RateLimit);
    }
    let composed = match &to {
        Some(to) => Some(compose(config, kind, to, report, registration)?),
        None => None,
    };
    let new = NewOutbox {
        inbound_message_id: Some(inbound_id),
        registration_id: registration.map(|r| r.id).filter(|_| kind == NoticeKind::Ricevuta),
        kind,
        recipient: to,
        message_id: composed.as_ref().map(|c| strip_brackets(&c.message_id).to_owned()),
        subject: composed.as_ref().map(|c| c.subject.clone()),
        raw: composed.map(|c| c.raw),
        state: if suppressed.is_some() { OutboxState::Suppressed } else { OutboxState::Pending },
        suppressed_reason: suppressed.and_then(SkipReason::suppressed),
        created_by: created_by.to_owned(),
        resend_of: None,
        carrier_id: None,
    };
    let Some(outbox_id) = rows::insert(conn, &new).await? else {
        return Ok(NoticeOutcome::Skipped(SkipReason::Duplicate));
    };
    Ok(match suppressed {
        Some(reason) => {
            tracing::info!(%inbound_id, %outbox_id, reason = reason.code(), "automatic answer held back");
            NoticeOutcome::Suppressed { outbox_id, reason }
        }
        None => NoticeOutcome::Queued { outbox_id, kind },
    })
}

fn compose(
    config: &OutboxConfig,
    kind: NoticeKind,
    to: &str,
    report: &MessageReport,
    registration: Option<&Registered>,
) -> Result<Composed, Error> {
    let ctx = &config.ctx;
    let daticert = report.pec.daticert.as_ref();
    let original = report.pec.original.as_ref();
    let delivered_at = daticert.and_then(|d| d.data).map(|t| t.with_timezone(&Utc));
    let in_reply_to = original.and_then(|o| o.message_id.clone());
    let subject = report.pec.subject_or_none();
    match (kind, registration) {
        (NoticeKind::Ricevuta, Some(reg)) => {
            let receipt = Receipt {
                to: to.to_owned(),
                number: reg.number,
                year: reg.year,
                registered_at: reg.registered_at,
                segnatura: reg.segnatura.clone(),
                subject: reg.subject.clone(),
                pec_delivered_at: delivered_at,
                pec_identificativo: daticert.and_then(|d| d.identificativo.clone()),
                in_reply_to,
                documents: reg.documents.clone(),
            };
            let xml = match &config.seal {
                None => None,
                // A message with neither attachment nor text has no document to name as
                // primary (the schema requires one). The registration must not be held back
                // for it: the receipt goes out without Segnatura.xml.
                Some(_) if receipt.documents.is_empty() => {
                    tracing::warn!("receipt sent without Segnatura.xml: the registration has no document");
                    None
                }
                Some(seal) => {
                    let opts = Options { seal: Some(seal), signing_time: Utc::now(), classifica: None };
                    match crate::segnatura::build(ctx, &receipt, &opts) {
                        Ok(xml) => Some(xml),
                        // An unusable seal must not hold back registrations: the receipt
                        // goes out without Segnatura.xml and the log says why.
                        Err(Error::Seal(cause)) => {
                            tracing::warn!("receipt sent without Segnatura.xml: {cause}");
                            None
                        }
                        Err(e) => return Err(e),
                    }
                }
            };
            crate::compose::receipt(ctx, &receipt, xml.as_deref())
        }
        (NoticeKind::Ricevuta, None) => {
            Err(Error::Invalid { field: "registration", cause: "a receipt needs the registration it certifies".into() })
        }
        (NoticeKind::Partenza, _) => {
            Err(Error::Invalid { field: "kind", cause: "an outgoing registration is queued by enqueue_outgoing".into() })
        }
        (NoticeKind::Notifica, _) => {
            let notice = Notice {
                to: to.to_owned(),
                subject,
                received_at: delivered_at,
                in_reply_to,
                reasons: notice_reasons(report),
            };
            crate::compose::notice(ctx, &notice)
        }
    }
}

/// The report's reasons for the notice; the attachment concerned is recognised by the
/// `name: …` prefix the classifier writes.
fn notice_reasons(report: &MessageReport) -> Vec<NoticeReason> {
    report
        .reasons
        .iter()
        .map(|r| {
            let code = serde_json::to_value(r.code)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            let per_file = matches!(
                r.code,
                ReasonCode::UnsignedAttachment
                    | ReasonCode::InvalidSignature
                    | ReasonCode::SignatureIndeterminate
                    | ReasonCode::UncheckedAttachment
            );
            let file = per_file
                .then(|| {
                    report
                        .attachments
                        .iter()
                        .filter_map(|a| a.attachment.name.as_deref())
                        .filter(|n| r.detail.starts_with(&format!("{n}: ")))
                        .max_by_key(|n| n.len())
                        .map(str::to_owned)
                })
                .flatten();
            NoticeReason { code, file, detail: Some(r.detail.clone()).filter(|d| !d.is_empty()) }
        })
        .collect()
}

/// Composes and queues a registration in partenza inside the caller's transaction, either one
/// message per recipient (each its own Message-ID, so its own provider receipts) or, with
/// `one_message`, one message to all of them (one To listing them all, one Segnatura.xml with
/// a Destinatario each): its first recipient's row carries it and the others' rows point to
/// that one, so each recipient still has its own row and delivery state. `outgoing.to` is
/// ignored. Segnatura.xml is attached, sealed, when a seal is configured and the
/// registration has a document (the schema requires a primary one). The caller has checked
/// the registration and the recipients, and writes the audit entry. Returns the rows, one per
/// recipient, in the order given.
#[allow(clippy::too_many_arguments)] // one call site, every argument named there
pub async fn enqueue_outgoing(
    conn: &mut PgConnection,
    config: &OutboxConfig,
    registration_id: RegistrationId,
    outgoing: &Outgoing,
    recipients: &[String],
    one_message: bool,
    classifica: Option<&Classifica>,
    actor: &Actor,
) -> Result<Vec<OutboxId>, Error> {
    if recipients.is_empty() {
        return Err(Error::Invalid { field: "recipients", cause: "no recipient".into() });
    }
    let messages: Vec<&[String]> =
        if one_message { vec![recipients] } else { recipients.chunks(1).collect() };
    let mut ids = Vec::with_capacity(recipients.len());
    for to in messages {
        let message = Outgoing { to: to.to_vec(), ..outgoing.clone() };
        let xml = match &config.seal {
            None => None,
            Some(_) if message.files.is_empty() => {
                tracing::warn!("outgoing PEC sent without Segnatura.xml: the registration has no document");
                None
            }
            Some(seal) => {
                let opts = Options { seal: Some(seal), signing_time: Utc::now(), classifica };
                match crate::segnatura::build_outgoing(&config.ctx, &message, &opts) {
                    Ok(xml) => Some(xml),
                    Err(Error::Seal(cause)) => {
                        tracing::warn!("outgoing PEC sent without Segnatura.xml: {cause}");
                        None
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        let composed = crate::compose::outgoing(&config.ctx, &message, xml.as_deref())?;
        // The first recipient's row carries the message (its bytes, once); the others point to it.
        let mut carrier = None;
        let mut message_id = Some(strip_brackets(&composed.message_id).to_owned());
        let mut raw = Some(composed.raw);
        for address in composed.to {
            let new = NewOutbox {
                inbound_message_id: None,
                registration_id: Some(registration_id),
                kind: rows::OutboxKind::Partenza,
                recipient: Some(address),
                message_id: message_id.take(),
                subject: Some(composed.subject.clone()),
                raw: raw.take(),
                state: OutboxState::Pending,
                suppressed_reason: None,
                created_by: actor.as_str().to_owned(),
                resend_of: None,
                carrier_id: carrier,
            };
            let id = rows::insert(conn, &new).await?.ok_or_else(|| Error::Invalid {
                field: "actor",
                cause: format!("{:?} is reserved for automatic messages", rows::AUTOMATIC),
            })?;
            carrier = carrier.or(Some(id));
            ids.push(id);
        }
    }
    Ok(ids)
}

/// What [`link_provider_receipt`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkOutcome {
    /// Recorded against this outbox row.
    Linked { outbox_id: OutboxId },
    /// This receipt message was linked before.
    AlreadyLinked { outbox_id: OutboxId },
    /// Not about anything we sent (e.g. a receipt of mail staff sent from the same box).
    Unmatched,
    /// The provider's signature did not verify: not evidence, not recorded.
    Untrusted,
    /// Not a provider receipt.
    NotAReceipt,
}

/// Links a provider receipt (`link-receipt` decision) to the outbox row it certifies: by
/// daticert `msgid` (our Message-ID, with or without angle brackets), else by the outer
/// `X-Riferimento-Message-ID`, else by the provider's identificativo learned from an earlier
/// receipt. Records it in `outbox_receipts` and moves the row's delivery state forward.
/// Call inside the decision's transaction.
pub async fn link_provider_receipt(
    conn: &mut PgConnection,
    report: &MessageReport,
    inbound_id: InboundId,
) -> Result<LinkOutcome, Error> {
    if report.pec.pec_type != PecType::Ricevuta {
        return Ok(LinkOutcome::NotAReceipt);
    }
    if report.reasons.iter().any(|r| r.code == ReasonCode::ForgedEnvelope) {
        tracing::debug!(%inbound_id, "receipt not linked: provider signature not verified");
        return Ok(LinkOutcome::Untrusted);
    }
    let daticert = report.pec.daticert.as_ref();
    let msgid = daticert
        .and_then(|d| d.msgid.as_deref())
        .or(report.pec.riferimento_message_id.as_deref())
        .map(strip_brackets)
        .filter(|m| !m.is_empty());
    let ident = daticert.and_then(|d| d.identificativo.as_deref()).map(str::trim).filter(|i| !i.is_empty());
    let consegna = daticert.and_then(|d| d.consegna.as_deref()).map(str::trim).filter(|c| !c.is_empty());
    let Some(outbox_id) = rows::find_for_receipt(conn, msgid, ident, consegna).await? else {
        tracing::debug!(%inbound_id, "receipt matches nothing in the outbox");
        return Ok(LinkOutcome::Unmatched);
    };
    let kind = report.pec.receipt.as_ref().map_or("sconosciuta", ReceiptType::as_str).to_owned();
    let linked = LinkedReceipt {
        outbox_id,
        inbound_message_id: inbound_id,
        delivery: report.pec.receipt.as_ref().and_then(delivery_state),
        kind,
        received_at: daticert.and_then(|d| d.data).map_or_else(Utc::now, |t| t.with_timezone(&Utc)),
        pec_identificativo: ident.map(str::to_owned),
        for_message: consegna.is_none(),
    };
    Ok(if rows::link_receipt(conn, &linked).await? {
        LinkOutcome::Linked { outbox_id }
    } else {
        LinkOutcome::AlreadyLinked { outbox_id }
    })
}

/// The delivery state a receipt certifies (`outbox.delivery`).
pub fn delivery_state(t: &ReceiptType) -> Option<Delivery> {
    Some(match t {
        ReceiptType::Accettazione => Delivery::Accettata,
        ReceiptType::NonAccettazione => Delivery::NonAccettazione,
        ReceiptType::PresaInCarico => Delivery::PresaInCarico,
        ReceiptType::AvvenutaConsegna => Delivery::Consegnata,
        ReceiptType::ErroreConsegna => Delivery::ErroreConsegna,
        ReceiptType::PreavvisoErroreConsegna => Delivery::PreavvisoErroreConsegna,
        ReceiptType::RilevazioneVirus => Delivery::RilevazioneVirus,
        ReceiptType::Other(_) => return None,
    })
}

/// A Message-ID without its angle brackets and surrounding space.
pub fn strip_brackets(id: &str) -> &str {
    let t = id.trim();
    t.strip_prefix('<').and_then(|x| x.strip_suffix('>')).unwrap_or(t).trim()
}

/// Re-sends a row on a staff request, inside the caller's transaction, with an audit entry.
/// A failed (or suppressed, if it was composed) row goes back to the queue as it is; a sent
/// one, or one recipient of a message to several, is sent again as a new message to its
/// recipient (new Message-ID and Date, `resend_of` the original), so the provider's receipts
/// of the two stay apart. Returns the id of the row to be sent.
pub async fn resend(conn: &mut PgConnection, outbox_id: OutboxId, actor: &Actor) -> Result<OutboxId, Error> {
    let row = rows::lock(conn, outbox_id).await?;
    // An outgoing registration goes to a recipient again only after that send failed.
    if row.kind == rows::OutboxKind::Partenza && !rows::outgoing_failed(row.state, row.delivery) {
        return Err(Error::Invalid { field: "outbox row", cause: format!("{outbox_id} was not a failed outgoing send") });
    }
    // A recipient of one message to several is sent to again alone, as a new message: putting
    // the shared message back in the queue would send it to the others again too.
    let shared = row.carrier_id.is_some() || (row.kind == rows::OutboxKind::Partenza && rows::has_members(conn, outbox_id).await?);
    let pending_id = match row.state {
        OutboxState::Failed | OutboxState::Suppressed if !shared => {
            rows::requeue(conn, outbox_id).await?;
            outbox_id
        }
        OutboxState::Sent | OutboxState::Failed | OutboxState::Suppressed => {
            let raw = rows::raw(conn, outbox_id)
                .await?
                .ok_or_else(|| Error::Invalid { field: "outbox row", cause: format!("{outbox_id} has no message") })?;
            let like = match row.carrier_id {
                Some(carrier) => rows::get(conn, carrier).await?.message_id,
                None => row.message_id.clone(),
            };
            let message_id = new_message_id(like.as_deref().unwrap_or(""));
            let raw = rewrite_headers(&raw, &message_id, Utc::now())?;
            let new = NewOutbox {
                inbound_message_id: row.inbound_message_id,
                registration_id: row.registration_id,
                kind: row.kind,
                recipient: row.recipient.clone(),
                message_id: Some(message_id),
                subject: row.subject.clone(),
                raw: Some(raw),
                state: OutboxState::Pending,
                suppressed_reason: None,
                created_by: actor.as_str().to_owned(),
                resend_of: Some(outbox_id),
                carrier_id: None,
            };
            rows::insert(conn, &new).await?.ok_or_else(|| Error::Invalid {
                field: "actor",
                cause: format!("{:?} is reserved for automatic messages", rows::AUTOMATIC),
            })?
        }
        OutboxState::Pending | OutboxState::Sending => {
            return Err(Error::Invalid { field: "outbox row", cause: format!("{outbox_id} is already waiting to be sent") });
        }
    };
    audit::append(
        conn,
        &NewAuditEntry {
            actor: actor.as_str().to_owned(),
            action: audit::AuditAction::OutboxResend,
            object_type: "outbox".to_owned(),
            object_id: outbox_id.to_string(),
            details: serde_json::json!({
                "previous_state": row.state,
                "inbound_message_id": row.inbound_message_id,
                "queued_row": pending_id,
            }),
        },
    )
    .await?;
    Ok(pending_id)
}

/// A fresh Message-ID in the domain of `like` (an earlier Message-ID of ours).
fn new_message_id(like: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    let domain = strip_brackets(like).rsplit_once('@').map_or("sigillo.invalid", |(_, d)| d);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_i64(Utc::now().timestamp_nanos_opt().unwrap_or_default());
    format!("sigillo.resend.{}.{:016x}@{domain}", Utc::now().format("%Y%m%d%H%M%S"), h.finish())
}

/// Replaces the Message-ID and Date header fields of a message we composed (the header
/// block up to the first empty line); the body, signed attachments included, is untouched.
pub fn rewrite_headers(raw: &[u8], message_id: &str, date: DateTime<Utc>) -> Result<Vec<u8>, Error> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| Error::Invalid { field: "outbox message", cause: "no header block".into() })?;
    let head = std::str::from_utf8(&raw[..end + 2])
        .map_err(|_| Error::Invalid { field: "outbox message", cause: "header block is not UTF-8".into() })?;
    let mut out = String::with_capacity(head.len() + 64);
    let mut skipping = false;
    let (mut saw_id, mut saw_date) = (false, false);
    for line in head.split_inclusive("\r\n") {
        if line.starts_with([' ', '\t']) {
            if !skipping {
                out.push_str(line);
            }
            continue;
        }
        let name = line.split(':').next().unwrap_or("").trim();
        skipping = false;
        if name.eq_ignore_ascii_case("Message-ID") {
            out.push_str(&format!("Message-ID: <{}>\r\n", strip_brackets(message_id)));
            (skipping, saw_id) = (true, true);
        } else if name.eq_ignore_ascii_case("Date") {
            out.push_str(&format!("Date: {}\r\n", date.to_rfc2822()));
            (skipping, saw_date) = (true, true);
        } else {
            out.push_str(line);
        }
    }
    if !saw_id {
        out.push_str(&format!("Message-ID: <{}>\r\n", strip_brackets(message_id)));
    }
    if !saw_date {
        out.push_str(&format!("Date: {}\r\n", date.to_rfc2822()));
    }
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&raw[end + 2..]);
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brackets_are_optional() {
        assert_eq!(strip_brackets(" <a.b@c.it> "), "a.b@c.it");
        assert_eq!(strip_brackets("a.b@c.it"), "a.b@c.it");
    }

    #[test]
    fn rewriting_keeps_the_body_and_other_fields() {
        let raw = b"From: a@b.it\r\nMessage-ID:\r\n <old@b.it>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nSubject: x\r\n\r\nbody\r\nMessage-ID: <not-a-header@b.it>\r\n";
        let date = DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z").unwrap().with_timezone(&Utc);
        let out = String::from_utf8(rewrite_headers(raw, "<new@b.it>", date).unwrap()).unwrap();
        assert_eq!(
            out,
            "From: a@b.it\r\nMessage-ID: <new@b.it>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\nSubject: x\r\n\r\nbody\r\nMessage-ID: <not-a-header@b.it>\r\n"
        );
        assert!(new_message_id("<x@pec.comune.example.it>").ends_with("@pec.comune.example.it"));
    }

    #[test]
    fn delivery_states() {
        assert_eq!(delivery_state(&ReceiptType::Accettazione), Some(Delivery::Accettata));
        assert_eq!(delivery_state(&ReceiptType::AvvenutaConsegna), Some(Delivery::Consegnata));
        assert_eq!(delivery_state(&ReceiptType::Other("mancata-consegna".into())), None);
    }
}
