//! A registration in partenza sent by PEC from the comune's account (issue 17), through the
//! outbox: one message per recipient or one message to all of them ([`SendAs`]), the
//! registration's documents and Segnatura.xml attached,
//! queued in one transaction with its audit entry. The outbox worker sends the rows; the
//! provider's receipts (accettazione, avvenuta-consegna, errore-consegna) come back through
//! the intake and are linked to each row by `sigillo_notify::outbox::link_provider_receipt`,
//! which gives every recipient its own delivery state.

use sigillo_notify::model::{Document, Outgoing, OutgoingFile};
use sigillo_notify::outbox::OutboxConfig;
use sigillo_notify::segnatura::Classifica;
use sigillo_store::PgPool;
use sigillo_store::audit::{self, AuditAction, NewAuditEntry};
use sigillo_store::blob::BlobStore;
use sigillo_store::browse;
use sigillo_store::ids::{OutboxId, RegistrationId};
use sigillo_store::outbox as rows;
use sigillo_store::register::{Actor, Direction, DocumentRole, Register};

use crate::Error;
use crate::desk::{FieldError, MAX_CORRESPONDENTS, is_email};

/// What sending needs.
pub struct Sender<'a> {
    pub pool: &'a PgPool,
    pub blobs: &'a BlobStore,
    pub register: &'a Register,
    /// The comune's account and seal; `None` when the outbox is not configured (no SMTP).
    pub outbox: Option<&'a OutboxConfig>,
}

/// How a send to several recipients goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendAs {
    /// Each recipient gets a message of their own (the others are not named in it).
    MessagePerRecipient,
    /// One message, every recipient in its To and a Destinatario each in its Segnatura.xml;
    /// the provider still certifies the delivery to each recipient on its own.
    OneMessage,
}

fn refused(field: &str, message: impl Into<String>) -> Error {
    Error::Invalid(FieldError::new(field, message))
}

/// The recipients as typed: trimmed, blank ones dropped, each a plausible address, no
/// address twice (case-insensitive).
pub fn parse_recipients(recipients: &[String]) -> Result<Vec<String>, FieldError> {
    let mut out: Vec<String> = Vec::new();
    for (i, r) in recipients.iter().enumerate() {
        let a = r.trim();
        if a.is_empty() {
            continue;
        }
        if !is_email(a) || a.chars().any(char::is_control) || a.len() > crate::desk::MAX_ADDRESS_CHARS {
            return Err(FieldError::new(format!("recipients[{i}]"), format!("«{a}» non è un indirizzo PEC valido")));
        }
        if out.iter().any(|o| o.eq_ignore_ascii_case(a)) {
            return Err(FieldError::new(format!("recipients[{i}]"), format!("l'indirizzo «{a}» è indicato due volte")));
        }
        out.push(a.to_owned());
    }
    if out.is_empty() {
        return Err(FieldError::new("recipients", "indichi almeno un indirizzo PEC di destinazione"));
    }
    if out.len() > MAX_CORRESPONDENTS {
        return Err(FieldError::new("recipients", format!("al massimo {MAX_CORRESPONDENTS} destinatari per invio")));
    }
    Ok(out)
}

/// Sends registration `id` by PEC to `recipients`: refused for a registration that is not in
/// partenza, an annulled one, and a recipient it was already sent to unless that send failed
/// (not accepted, not delivered, out of attempts). Returns the outbox rows queued, one per
/// recipient; wake the outbox worker after.
pub async fn send_outgoing(
    ctx: &Sender<'_>,
    id: RegistrationId,
    recipients: &[String],
    send_as: SendAs,
    actor: &Actor,
) -> Result<Vec<OutboxId>, Error> {
    let Some(config) = ctx.outbox else {
        return Err(refused(
            "registration",
            "l'invio PEC non è configurato (SIGILLO_SMTP_URL e SIGILLO_NOTIFY_FROM): avvisi l'amministratore",
        ));
    };
    let recipients = parse_recipients(recipients).map_err(Error::Invalid)?;
    let r = {
        let mut conn = ctx.pool.acquire().await.map_err(sigillo_store::Error::from)?;
        browse::registration(&mut conn, ctx.register, id).await?
    };
    check_sendable(&r)?;
    // The documents' bytes, read (and hash-checked by the store) before the transaction.
    let blobs = ctx.blobs.clone();
    let docs = r.documents.clone();
    let files = tokio::task::spawn_blocking(move || -> Result<Vec<OutgoingFile>, Error> {
        docs.iter()
            .map(|d| {
                Ok(OutgoingFile {
                    document: Document {
                        name: d.name.clone(),
                        media_type: Some(d.media_type.clone()),
                        size: d.size_bytes,
                        sha256: d.sha256.to_hex(),
                        primary: d.role == DocumentRole::Primary,
                    },
                    content: blobs.get(&d.sha256)?,
                })
            })
            .collect()
    })
    .await
    .map_err(|e| Error::Task(format!("reading the documents interrupted: {e}")))??;
    let outgoing = Outgoing {
        to: Vec::new(),
        number: r.number.get(),
        year: r.year,
        registered_at: r.registered_at,
        segnatura: r.segnatura.clone(),
        subject: r.subject.clone(),
        files,
    };

    let mut tx = ctx.pool.begin().await.map_err(sigillo_store::Error::from)?;
    rows::lock_outgoing(&mut tx, id).await?;
    // Read again under the lock: an annulment committed meanwhile stops the send.
    check_sendable(&browse::registration(&mut tx, ctx.register, id).await?)?;
    let earlier = rows::outgoing_of(&mut tx, id).await?;
    for (i, to) in recipients.iter().enumerate() {
        let latest = earlier.iter().rev().find(|e| e.recipient.as_deref().is_some_and(|a| a.eq_ignore_ascii_case(to)));
        if let Some(e) = latest
            && !rows::outgoing_failed(e.state, e.delivery)
        {
            return Err(refused(
                &format!("recipients[{i}]"),
                format!(
                    "la registrazione è già stata inviata a «{to}» e quell'invio non è fallito: si può inviare di nuovo \
                     solo dopo una mancata consegna, una mancata accettazione o un errore di invio"
                ),
            ));
        }
    }
    let classifica = sigillo_store::titolario::class_of(&mut tx, id)
        .await?
        .map(|c| Classifica { code: c.code, name: c.description });
    let one_message = send_as == SendAs::OneMessage && recipients.len() > 1;
    let ids = sigillo_notify::outbox::enqueue_outgoing(
        &mut tx,
        config,
        id,
        &outgoing,
        &recipients,
        one_message,
        classifica.as_ref(),
        actor,
    )
    .await?;
    audit::append(
        &mut tx,
        &NewAuditEntry {
            actor: actor.as_str().to_owned(),
            action: AuditAction::RegistrationSendPec,
            object_type: "registration".to_owned(),
            object_id: id.to_string(),
            // The outbox rows name the recipients; the trail keeps how many and which rows.
            details: serde_json::json!({ "recipients": recipients.len(), "one_message": one_message, "outbox_ids": ids }),
        },
    )
    .await?;
    tx.commit().await.map_err(sigillo_store::Error::from)?;
    tracing::info!(registration.id = %id, recipients = ids.len(), "outgoing registration queued for PEC");
    Ok(ids)
}

/// Only a registration in partenza, not annulled, is sent.
fn check_sendable(r: &browse::RegistrationDetail) -> Result<(), Error> {
    match r.direction {
        Direction::Outgoing => {}
        Direction::Incoming => {
            return Err(refused(
                "registration",
                "solo una registrazione in partenza può essere inviata via PEC: questa è in arrivo",
            ));
        }
        Direction::Internal => {
            return Err(refused(
                "registration",
                "solo una registrazione in partenza può essere inviata via PEC: questa è un documento interno",
            ));
        }
    }
    if r.annulment.is_some() {
        return Err(refused("registration", "la registrazione è annullata: non può essere inviata"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_are_checked_and_deduplicated() {
        let ok = parse_recipients(&[" a@pec.test ".into(), String::new(), "b@pec.test".into()]).unwrap();
        assert_eq!(ok, vec!["a@pec.test".to_owned(), "b@pec.test".to_owned()]);
        assert_eq!(parse_recipients(&["a@pec.test".into(), "A@PEC.test".into()]).unwrap_err().field, "recipients[1]");
        assert_eq!(parse_recipients(&["non-una-pec".into()]).unwrap_err().field, "recipients[0]");
        assert_eq!(parse_recipients(&["  ".into()]).unwrap_err().field, "recipients");
    }
}
