//! "Invio PEC" of a registration in partenza (issue 17): the record page's panel with the
//! form (recipients prefilled from the correspondents that have an e-mail address) and, per
//! recipient, the state of each send with the provider's receipts; the send itself; and the
//! failed sends the home page lists.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono_tz::Tz;
use serde::Deserialize;
use sigillo_protocol::outgoing::{SendAs, Sender, send_outgoing};
use sigillo_store::browse::RegistrationDetail;
use sigillo_store::ids::{InboundId, OutboxId, RegistrationId};
use sigillo_store::outbox::{self, Delivery, OutboxRow, OutboxState};
use sigillo_store::register::Direction;
use sqlx::PgConnection;

use super::outbox::receipt_kind_it;
use super::parse_id;
use crate::auth::CurrentUser;
use crate::extract::{Form, Path};
// The panel calls `|visible` on the addresses typed by the clerk.
use crate::format::datetime_it;
use crate::routes::DESK;
use crate::{AppError, AppState};

/// The state of one send to one recipient, in the words of the panel.
pub fn outgoing_state_it(state: OutboxState, delivery: Option<Delivery>) -> (&'static str, &'static str) {
    match (delivery, state) {
        (Some(Delivery::Consegnata), _) => ("consegnato", "success"),
        (Some(Delivery::ErroreConsegna | Delivery::RilevazioneVirus), _) => ("mancata consegna", "danger"),
        (Some(Delivery::NonAccettazione), _) => ("non accettato", "danger"),
        (Some(Delivery::PreavvisoErroreConsegna), _) => ("accettato, consegna in ritardo", "warning"),
        (Some(Delivery::Accettata | Delivery::PresaInCarico), _) => ("accettato", "info"),
        (None, OutboxState::Failed) => ("errore", "danger"),
        (None, OutboxState::Sent) => ("inviato", "primary"),
        (None, OutboxState::Pending | OutboxState::Sending | OutboxState::Suppressed) => ("in coda", "secondary"),
    }
}

/// A provider receipt of one send, with the link to the stored message.
pub struct ReceiptLink {
    pub kind: String,
    pub at: String,
    pub message: InboundId,
}

/// One send to one recipient.
pub struct SendView {
    pub id: OutboxId,
    pub recipient: String,
    pub state: &'static str,
    pub state_class: &'static str,
    pub created: String,
    pub sent: String,
    pub delivery_at: String,
    pub attempts: i32,
    pub last_error: String,
    pub receipts: Vec<ReceiptLink>,
    /// How many recipients the message had (more than one: one message to several).
    pub message_recipients: usize,
}

/// The record page's "Invio PEC" block (`outgoing_panel.html`, included in it).
pub struct Panel {
    pub(super) id: RegistrationId,
    pub(super) csrf: String,
    pub(super) sends: Vec<SendView>,
    pub(super) can_send: bool,
    /// Why the form is not offered, when the clerk could send.
    pub(super) unavailable: Option<&'static str>,
    /// The recipients' addresses to prefill, one per line.
    pub(super) prefill: String,
}

async fn send_views(conn: &mut PgConnection, rows: Vec<OutboxRow>, tz: Tz) -> Result<Vec<SendView>, AppError> {
    let mut out = Vec::with_capacity(rows.len());
    let dash = || "—".to_owned();
    let message_of = |r: &OutboxRow| r.carrier_id.unwrap_or(r.id);
    let mut per_message = std::collections::HashMap::<OutboxId, usize>::new();
    for r in &rows {
        *per_message.entry(message_of(r)).or_default() += 1;
    }
    for r in rows {
        let message_recipients = per_message.get(&message_of(&r)).copied().unwrap_or(1);
        let receipts = outbox::receipts_of(conn, r.id)
            .await?
            .into_iter()
            .map(|p| ReceiptLink { kind: receipt_kind_it(&p.kind), at: datetime_it(p.received_at, tz), message: p.inbound_message_id })
            .collect();
        let (state, state_class) = outgoing_state_it(r.state, r.delivery);
        out.push(SendView {
            id: r.id,
            recipient: r.recipient.clone().unwrap_or_else(dash),
            state,
            state_class,
            created: format!("{} ({})", datetime_it(r.created_at, tz), crate::labels::actor_it(&r.created_by)),
            sent: r.sent_at.map(|t| datetime_it(t, tz)).unwrap_or_else(dash),
            delivery_at: r.delivery_at.map(|t| datetime_it(t, tz)).unwrap_or_else(dash),
            attempts: r.attempts,
            last_error: r.last_error.unwrap_or_default(),
            receipts,
            message_recipients,
        });
    }
    Ok(out)
}

/// The record page's "Invio PEC" block for a registration in partenza (`None` for the others).
pub async fn panel(conn: &mut PgConnection, state: &AppState, user: &CurrentUser, r: &RegistrationDetail) -> Result<Option<Panel>, AppError> {
    if r.direction != Direction::Outgoing {
        return Ok(None);
    }
    let tz = state.register().timezone;
    let rows = outbox::outgoing_of(conn, r.id).await?;
    let sends = send_views(conn, rows, tz).await?;
    let can_send = DESK.contains(&user.0.role);
    let unavailable = if r.annulment.is_some() {
        Some("La registrazione è annullata: non può essere inviata.")
    } else if state.outbox().is_none() {
        Some("L'invio PEC non è configurato (SIGILLO_SMTP_URL e SIGILLO_NOTIFY_FROM): avvisi l'amministratore.")
    } else {
        None
    };
    let prefill = r
        .correspondents
        .iter()
        .filter_map(|c| c.address.as_deref())
        .chain(r.correspondent_address.as_deref())
        .filter(|a| a.contains('@'))
        .fold(Vec::<&str>::new(), |mut acc, a| {
            if !acc.iter().any(|x| x.eq_ignore_ascii_case(a)) {
                acc.push(a);
            }
            acc
        })
        .join("\n");
    Ok(Some(Panel { id: r.id, csrf: user.0.csrf_token.clone(), sends, can_send, unavailable, prefill }))
}

#[derive(Debug, Default, Deserialize)]
pub struct SendForm {
    #[serde(default)]
    destinatari: String,
    /// `separati` (the default) or `unico`.
    #[serde(default)]
    modalita: String,
}

/// `POST /registrazioni/{id}/invia-pec`: queues one PEC per recipient, or one PEC to them all
/// (`modalita=unico`); one address a line.
pub async fn send(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Form(form): Form<SendForm>,
) -> Result<Response, AppError> {
    let id = RegistrationId::new(parse_id(&id)?);
    let recipients: Vec<String> = form.destinatari.split(['\n', ',', ';']).map(|s| s.trim().to_owned()).collect();
    let send_as = match form.modalita.trim() {
        "" | "separati" => SendAs::MessagePerRecipient,
        "unico" => SendAs::OneMessage,
        other => {
            return Err(AppError::Field {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                field: "Modalità".into(),
                message: format!("modalità di invio «{other}» sconosciuta: «separati» o «unico»"),
            });
        }
    };
    let ctx = Sender { pool: state.pool(), blobs: state.blobs(), register: state.register(), outbox: state.outbox() };
    match send_outgoing(&ctx, id, &recipients, send_as, &user.actor()?).await {
        Ok(_) => {
            state.wake_outbox();
            Ok(Redirect::to(&format!("/registrazioni/{id}?esito=inviata-pec#invio-pec")).into_response())
        }
        Err(sigillo_protocol::Error::Invalid(f)) => Err(AppError::Field {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            field: if f.field.starts_with("recipients") { "Destinatari".into() } else { "Registrazione".into() },
            message: f.message,
        }),
        Err(e) => Err(e.into()),
    }
}

/// A failed send for the home page.
pub struct FailureView {
    pub link: String,
    pub label: String,
    pub recipient: String,
    pub what: &'static str,
    pub at: String,
}

/// The newest failed sends and how many there are.
pub async fn failures(conn: &mut PgConnection, tz: Tz, limit: i64) -> Result<(Vec<FailureView>, i64), AppError> {
    let (rows, total) = outbox::outgoing_failures(conn, limit).await?;
    Ok((
        rows.into_iter()
            .map(|f| FailureView {
                link: format!("/registrazioni/{}#invio-{}", f.registration_id, f.outbox_id),
                label: format!("Protocollo n. {}/{}", f.number, f.year),
                recipient: f.recipient.unwrap_or_default(),
                what: match (f.delivery, f.state) {
                    (Some(Delivery::ErroreConsegna), _) => "mancata consegna",
                    (Some(Delivery::NonAccettazione), _) => "non accettato dal gestore",
                    (Some(Delivery::RilevazioneVirus), _) => "mancata consegna per rilevazione di virus",
                    _ => "errore di invio (tentativi esauriti o errore permanente)",
                },
                at: datetime_it(f.at, tz),
            })
            .collect(),
        total,
    ))
}
