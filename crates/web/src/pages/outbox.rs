//! What we sent to the citizen about a message (receipts and notices, from the outbox), as
//! the registration page and the rejected list show it, and "send it again".

use axum::extract::State;

use askama::Template;
use askama_web::WebTemplate;
use sigillo_store::staff::Role;

use super::Layout;
use crate::extract::{Form, Path};
use axum::response::{IntoResponse, Redirect, Response};
use chrono_tz::Tz;
use sigillo_store::ids::{InboundId, OutboxId};
use sigillo_store::browse;
use sigillo_store::outbox::{self, Delivery, OutboxKind, OutboxRow, OutboxState, SuppressedReason};
use sqlx::PgConnection;

use super::parse_id;
use crate::auth::CurrentUser;
use crate::format::datetime_it;
use crate::{AppError, AppState};

/// A provider receipt of what we sent.
pub struct ProviderReceiptView {
    pub kind: String,
    pub at: String,
    pub message: InboundId,
}

/// One outbox row, in Italian.
pub struct OutboxView {
    pub id: OutboxId,
    pub kind: &'static str,
    pub recipient: String,
    pub state: String,
    /// `success`, `warning`, `danger`, `secondary`: the badge's colour.
    pub state_class: &'static str,
    pub attempts: i32,
    pub last_error: String,
    pub delivery: String,
    pub created: String,
    pub resend_of: Option<OutboxId>,
    pub receipts: Vec<ProviderReceiptView>,
    /// The row can be sent again (it has a composed message and is not already queued).
    pub can_resend: bool,
}

pub fn kind_it(kind: OutboxKind) -> &'static str {
    match kind {
        OutboxKind::Ricevuta => "Ricevuta di protocollazione",
        OutboxKind::Notifica => "Comunicazione di mancata protocollazione",
        OutboxKind::Partenza => "Registrazione in partenza inviata via PEC",
    }
}

/// The loop-safety codes of `sigillo_notify::policy::SkipReason`, in plain Italian.
pub fn suppressed_it(code: Option<SuppressedReason>) -> &'static str {
    match code {
        Some(SuppressedReason::AutomaticMail) => "posta automatica",
        Some(SuppressedReason::NoReplySender) => "mittente che non accetta risposte",
        Some(SuppressedReason::ForgedEnvelope) => "busta contraffatta",
        Some(SuppressedReason::RateLimit) => "limite di invii al mittente",
        Some(SuppressedReason::NoAddress) => "indirizzo del mittente assente",
        None => "motivo non classificato",
    }
}

fn state_it(r: &OutboxRow, tz: Tz) -> (String, &'static str) {
    match r.state {
        OutboxState::Pending => ("in coda".to_owned(), "secondary"),
        OutboxState::Sending => ("in invio (o in attesa dell'accettazione del gestore)".to_owned(), "info"),
        OutboxState::Sent => match r.sent_at {
            Some(t) => (format!("inviata il {}", datetime_it(t, tz)), "success"),
            None => ("inviata".to_owned(), "success"),
        },
        OutboxState::Failed => ("non inviata (tentativi esauriti)".to_owned(), "danger"),
        OutboxState::Suppressed => (
            format!("trattenuta: {}", suppressed_it(r.suppressed_reason)),
            "warning",
        ),
    }
}

/// The delivery states of `outbox.delivery` (the furthest the provider's receipts certify).
pub fn delivery_it(state: Delivery) -> &'static str {
    match state {
        Delivery::Accettata => "accettata dal gestore",
        Delivery::PresaInCarico => "presa in carico dal gestore del destinatario",
        Delivery::PreavvisoErroreConsegna => "preavviso di errore di consegna",
        Delivery::Consegnata => "consegnata",
        Delivery::ErroreConsegna => "errore di consegna",
        Delivery::NonAccettazione => "non accettata dal gestore",
        Delivery::RilevazioneVirus => "non consegnata: rilevato un virus",
    }
}

/// The X-Ricevuta values of the provider's receipts.
pub fn receipt_kind_it(kind: &str) -> String {
    match kind {
        "accettazione" => "Ricevuta di accettazione".to_owned(),
        "non-accettazione" => "Avviso di non accettazione".to_owned(),
        "presa-in-carico" => "Ricevuta di presa in carico".to_owned(),
        "avvenuta-consegna" => "Ricevuta di avvenuta consegna".to_owned(),
        "errore-consegna" => "Avviso di mancata consegna".to_owned(),
        "preavviso-errore-consegna" => "Avviso di mancata consegna per superamento dei tempi massimi".to_owned(),
        "rilevazione-virus" => "Avviso di rilevazione virus".to_owned(),
        other => format!("Ricevuta «{other}»"),
    }
}

/// Everything sent (or held back) about an inbound message, oldest first.
pub async fn views(conn: &mut PgConnection, inbound_id: InboundId, tz: Tz) -> Result<Vec<OutboxView>, AppError> {
    let rows = outbox::for_inbound(conn, inbound_id).await?;
    let mut views = Vec::with_capacity(rows.len());
    for r in rows {
        let receipts = outbox::receipts_of(conn, r.id)
            .await?
            .into_iter()
            .map(|p| ProviderReceiptView { kind: receipt_kind_it(&p.kind), at: datetime_it(p.received_at, tz), message: p.inbound_message_id })
            .collect();
        let (state, state_class) = state_it(&r, tz);
        let delivery = match (&r.delivery, r.delivery_at) {
            (Some(d), Some(at)) => format!("{} il {}", delivery_it(*d), datetime_it(at, tz)),
            (Some(d), None) => delivery_it(*d).to_owned(),
            (None, _) if r.state == OutboxState::Sent => "nessuna ricevuta del gestore finora".to_owned(),
            (None, _) => "—".to_owned(),
        };
        views.push(OutboxView {
            id: r.id,
            kind: kind_it(r.kind),
            recipient: r.recipient.clone().unwrap_or_else(|| "—".to_owned()),
            state,
            state_class,
            attempts: r.attempts,
            last_error: r.last_error.clone().unwrap_or_default(),
            delivery,
            created: format!("{} ({})", datetime_it(r.created_at, tz), crate::labels::actor_it(&r.created_by)),
            resend_of: r.resend_of,
            receipts,
            // A row without a message (no address) was never composed: nothing to send.
            can_resend: r.state != OutboxState::Pending && r.message_id.is_some(),
        });
    }
    Ok(views)
}

/// The body of a "send again" form: `conferma=si` is the responsabile's explicit confirmation
/// for a notice held back because the envelope was forged.
#[derive(Debug, Default, serde::Deserialize)]
pub struct ResendForm {
    conferma: Option<String>,
}

impl ResendForm {
    pub fn confirmed(&self) -> bool {
        self.conferma.as_deref() == Some("si")
    }
}

/// Where the confirmation page of a forged-envelope notice posts back to.
pub struct ForgedConfirm {
    pub confirmed: bool,
    pub action: String,
    pub back: String,
}

/// The warning a responsabile reads before sending a notice about a forged envelope.
#[derive(Template, WebTemplate)]
#[template(path = "resend_confirm.html")]
pub struct ResendConfirmPage {
    layout: Layout,
    recipient: String,
    action: String,
    back: String,
}

/// What a "send again" did.
pub enum Resent {
    Queued(OutboxId),
    /// The responsabile must confirm first (forged envelope).
    Confirm(ResendConfirmPage),
}

/// A notice about a message whose PEC envelope was forged goes to the address the forger
/// claimed: sending it could make the comune write to a stranger (or be used to relay mail).
/// The operatore may not; the responsabile may, after a warning and an explicit confirmation.
async fn forged_guard(
    conn: &mut PgConnection,
    user: &CurrentUser,
    row: &OutboxRow,
    confirm: &ForgedConfirm,
) -> Result<Option<ResendConfirmPage>, AppError> {
    // The row's reason is cleared once it is queued again, so the message's own reasons are
    // read too: a notice of a forged message stays one after a first re-send.
    let forged = row.suppressed_reason == Some(SuppressedReason::ForgedEnvelope)
        || match row.inbound_message_id {
            Some(m) => super::queue::envelope_forged(&browse::message_detail(conn, m).await?.reasons),
            // An outgoing registration answers no message.
            None => false,
        };
    if !forged {
        return Ok(None);
    }
    if user.0.role != Role::Responsabile {
        return Err(AppError::Refused(
            "La comunicazione è stata trattenuta perché la busta PEC del messaggio è contraffatta: l'indirizzo del \
             mittente è quello dichiarato da chi l'ha falsificata. Solo il responsabile della gestione documentale \
             può decidere di inviarla comunque."
                .into(),
        ));
    }
    if confirm.confirmed {
        return Ok(None);
    }
    Ok(Some(ResendConfirmPage {
        layout: Layout::new(user, "scartati", "Conferma l'invio"),
        recipient: row.recipient.clone().unwrap_or_else(|| "—".to_owned()),
        action: confirm.action.clone(),
        back: confirm.back.clone(),
    }))
}

/// Re-sends one row inside the caller's transaction, after the checks that give the person
/// an answer in Italian; `sigillo_notify::outbox::resend` writes the audit entry.
async fn resend_row(conn: &mut PgConnection, user: &CurrentUser, row: &OutboxRow) -> Result<OutboxId, AppError> {
    if row.kind == OutboxKind::Partenza && !outbox::outgoing_failed(row.state, row.delivery) {
        return Err(AppError::BadRequest(
            "L'invio PEC a questo destinatario non è fallito: si invia di nuovo solo dopo una mancata consegna, una \
             mancata accettazione o un errore di invio."
                .into(),
        ));
    }
    if row.state == OutboxState::Pending {
        return Err(AppError::BadRequest(format!(
            "La {} è già in coda di invio: non serve inviarla di nuovo.",
            kind_it(row.kind).to_lowercase()
        )));
    }
    if outbox::raw(conn, row.id).await?.is_none() {
        return Err(AppError::BadRequest(format!(
            "La {} non è mai stata preparata ({}): non c'è nulla da inviare di nuovo.",
            kind_it(row.kind).to_lowercase(),
            suppressed_it(row.suppressed_reason)
        )));
    }
    Ok(sigillo_notify::outbox::resend(conn, row.id, &user.actor()?).await?)
}

/// "Invia di nuovo" on one outbox row (operatore, responsabile): a failed or held-back row
/// goes back to the queue, a sent one is sent again as a new message. Back to the
/// registration of the message if it has one, else to the rejected list.
pub async fn resend(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Form(f): Form<ResendForm>,
) -> Result<Response, AppError> {
    let id = OutboxId::new(parse_id(&id)?);
    let mut tx = state.pool().begin().await?;
    let row = outbox::lock(&mut tx, id).await?;
    let outgoing = row.inbound_message_id.is_none();
    let registration = match row.inbound_message_id {
        Some(m) => browse::message_detail(&mut tx, m).await?.registration_id,
        None => row.registration_id,
    };
    let anchor = if outgoing { "invio-pec" } else { "ricevuta" };
    let back = match registration {
        Some(r) => format!("/registrazioni/{r}#{anchor}"),
        None => "/scartati".to_owned(),
    };
    let confirm = ForgedConfirm { confirmed: f.confirmed(), action: format!("/invii/{id}/reinvia"), back };
    if let Some(page) = forged_guard(&mut tx, &user, &row, &confirm).await? {
        return Ok(page.into_response());
    }
    let queued = resend_row(&mut tx, &user, &row).await?;
    tx.commit().await?;
    state.wake_outbox();
    tracing::info!(outbox_id = %id, queued = %queued, "outbox row sent again by staff");
    let to = match registration {
        Some(r) => format!("/registrazioni/{r}?esito=reinviata#{anchor}"),
        None => "/scartati?esito=avviso-reinviato".to_owned(),
    };
    Ok(Redirect::to(&to).into_response())
}

/// The latest notice of non-registration of a message, re-sent (the rejected list's "send the
/// notice again"); `Ok(None)` when the message has none.
pub async fn resend_notice_of(
    conn: &mut PgConnection,
    user: &CurrentUser,
    inbound_id: InboundId,
    confirm: &ForgedConfirm,
) -> Result<Option<Resent>, AppError> {
    let rows = outbox::for_inbound(conn, inbound_id).await?;
    let Some(latest) = rows.iter().rev().find(|r| r.kind == OutboxKind::Notifica) else {
        return Ok(None);
    };
    let row = outbox::lock(conn, latest.id).await?;
    if let Some(page) = forged_guard(conn, user, &row, confirm).await? {
        return Ok(Some(Resent::Confirm(page)));
    }
    Ok(Some(Resent::Queued(resend_row(conn, user, &row).await?)))
}
