//! The review queue and the rejected messages, with the office's decisions on them.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;

use crate::extract::{Form, Path, Query};
use crate::text::{FreeText, TextKind};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sigillo_pec::report::{AttachmentListing, Reason, ReasonCode};
use sigillo_store::ids::InboundId;
use sigillo_store::decisions::{self, MessageAction};
use sigillo_store::browse;
use sigillo_store::desk;

use crate::pager::{Pager, parse_page};
use sigillo_store::inbound::MessageState;

use super::{Layout, parse_id};
// The templates of this module call `|visible` on what citizens wrote.
use crate::format::filters;
use crate::auth::CurrentUser;
use crate::format::{datetime_it, size_it};
use crate::{AppError, AppState};

pub struct MessageView {
    pub id: InboundId,
    pub sender: String,
    pub subject: String,
    pub received: String,
    pub reasons: Vec<String>,
    pub last_action: String,
    pub decided: bool,
}

impl MessageView {
    /// The first reason, for the one-line row (the others are on the message's page).
    pub fn first_reason(&self) -> &str {
        self.reasons.first().map_or("—", String::as_str)
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "queue.html")]
pub struct QueuePage {
    layout: Layout,
    path: &'static str,
    heading: &'static str,
    intro: &'static str,
    messages: Vec<MessageView>,
    notice: Option<&'static str>,
    undecided_only: bool,
    counts: desk::QueueCounts,
    pager: Pager,
}

#[derive(Debug, Default, Deserialize)]
pub struct QueueQuery {
    esito: Option<String>,
    /// `da-decidere`: only messages without a decision.
    filtro: Option<String>,
    pagina: Option<String>,
}

const QUEUE_PAGE: i64 = 50;
fn reason_it(code: ReasonCode) -> &'static str {
    match code {
        ReasonCode::UnsignedAttachment => "Allegato non firmato",
        ReasonCode::InvalidSignature => "Firma non valida",
        ReasonCode::SignatureIndeterminate => "Firma da verificare (esito non determinabile)",
        ReasonCode::NotPec => "Non è un messaggio PEC",
        ReasonCode::ForgedEnvelope => "Busta PEC non autentica",
        _ => "Motivo non classificato",
    }
}

/// The reasons of a message in Italian, read back as the classifier's [`Reason`]s.
/// Whether the classifier found the message's PEC envelope forged.
pub(crate) fn envelope_forged(reasons: &serde_json::Value) -> bool {
    Vec::<Reason>::deserialize(reasons).is_ok_and(|r| r.iter().any(|r| r.code == ReasonCode::ForgedEnvelope))
}

pub(crate) fn reasons_it(reasons: &serde_json::Value) -> Vec<String> {
    let reasons = match Vec::<Reason>::deserialize(reasons) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!("stored reasons not readable: {e}");
            return vec!["Motivi non leggibili".to_owned()];
        }
    };
    reasons
        .into_iter()
        .map(|r| if r.detail.is_empty() { reason_it(r.code).to_owned() } else { format!("{}: {}", reason_it(r.code), r.detail) })
        .collect()
}

/// The documents of a stored report, read back through the classifier's type.
fn listed_attachments(report: Option<&serde_json::Value>) -> Vec<sigillo_pec::attachments::Attachment> {
    let Some(report) = report else { return Vec::new() };
    match AttachmentListing::deserialize(report) {
        Ok(listing) => listing.attachments,
        Err(e) => {
            tracing::warn!("stored report not readable: {e}");
            Vec::new()
        }
    }
}

fn or_unknown(s: Option<String>) -> String {
    s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).unwrap_or_else(|| "(non indicato)".to_owned())
}

fn action_it(a: MessageAction) -> &'static str {
    match a {
        MessageAction::ConfirmRejection => "Scarto confermato",
        MessageAction::RegisterAnyway => "Registrato comunque",
        MessageAction::ResendNotice => "Avviso inviato di nuovo",
    }
}

async fn page(state: &AppState, user: &CurrentUser, which: MessageState, q: &QueueQuery) -> Result<QueuePage, AppError> {
    let undecided_only = match q.filtro.as_deref().map(str::trim).unwrap_or("") {
        "" | "tutti" => false,
        "da-decidere" => true,
        other => return Err(AppError::BadRequest(format!("filtro: «{other}» non è tutti o da-decidere"))),
    };
    let page = parse_page(q.pagina.as_deref())?;
    let filter = if undecided_only { desk::QueueFilter::Undecided } else { desk::QueueFilter::All };
    let mut conn = state.pool().acquire().await?;
    let counts = desk::queue_counts(&mut conn, which).await?;
    let rows = desk::queue_page(&mut conn, which, filter, (page - 1) * QUEUE_PAGE, QUEUE_PAGE).await?;
    drop(conn);
    let tz = state.register().timezone;
    let messages = rows
        .into_iter()
        .map(|m| MessageView {
            id: m.id,
            sender: or_unknown(m.sender),
            subject: or_unknown(m.subject),
            received: datetime_it(m.first_seen_at, tz),
            reasons: reasons_it(&m.reasons),
            decided: m.last_action.is_some(),
            last_action: m.last_action.map(action_it).unwrap_or("Da decidere").to_owned(),
        })
        .collect();
    let (active, path, heading, intro) = if which == MessageState::Review {
        ("revisione", "/revisione", "Da revisionare", "Messaggi che il sistema non ha potuto decidere da solo (ad esempio firme con esito non determinabile).")
    } else {
        ("scartati", "/scartati", "Messaggi scartati", "Messaggi non protocollati, con il motivo. Nessun messaggio viene cancellato.")
    };
    let notice = match q.esito.as_deref() {
        Some("avviso-reinviato") => Some("La comunicazione al mittente è stata rimessa in coda di invio."),
        Some("scarto-confermato") => Some("Lo scarto è stato confermato."),
        _ => None,
    };
    let shown = if undecided_only { counts.undecided } else { counts.total };
    let link = move |n: i64| match (undecided_only, n) {
        (false, 1) => path.to_owned(),
        (false, n) => format!("{path}?pagina={n}"),
        (true, 1) => format!("{path}?filtro=da-decidere"),
        (true, n) => format!("{path}?filtro=da-decidere&pagina={n}"),
    };
    let pager = Pager::new(page, QUEUE_PAGE, shown, false, ("messaggio", "messaggi"), link, None);
    Ok(QueuePage { layout: Layout::new(user, active, heading), path, heading, intro, messages, notice, undecided_only, counts, pager })
}

pub async fn review(State(state): State<AppState>, user: CurrentUser, Query(q): Query<QueueQuery>) -> Result<QueuePage, AppError> {
    page(&state, &user, MessageState::Review, &q).await
}

pub async fn rejected(State(state): State<AppState>, user: CurrentUser, Query(q): Query<QueueQuery>) -> Result<QueuePage, AppError> {
    page(&state, &user, MessageState::Rejected, &q).await
}

async fn decide(state: &AppState, user: &CurrentUser, id: &str, action: MessageAction) -> Result<Response, AppError> {
    let id = InboundId::new(parse_id(id)?);
    let mut tx = state.pool().begin().await?;
    let state_before = browse::message_detail(&mut tx, id).await?.state;
    decisions::record(&mut tx, &user.actor()?, id, action, None, None).await?;
    tx.commit().await?;
    // Back to the list the decision was taken from.
    let back = if state_before == MessageState::Review { "/revisione" } else { "/scartati" };
    Ok(Redirect::to(&format!("{back}?esito=scarto-confermato")).into_response())
}

pub async fn confirm_rejection(State(state): State<AppState>, user: CurrentUser, Path(id): Path<String>) -> Result<Response, AppError> {
    decide(&state, &user, &id, MessageAction::ConfirmRejection).await
}

/// Sends the notice of non-registration again (the latest one of the message, through the
/// outbox) and records the office's decision, in one transaction.
pub async fn resend_notice(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Form(f): Form<super::outbox::ResendForm>,
) -> Result<Response, AppError> {
    use super::outbox::{ForgedConfirm, Resent};
    let id = InboundId::new(parse_id(&id)?);
    let mut tx = state.pool().begin().await?;
    let confirm =
        ForgedConfirm { confirmed: f.confirmed(), action: format!("/messaggi/{id}/reinvia-avviso"), back: "/scartati".to_owned() };
    let queued = match super::outbox::resend_notice_of(&mut tx, &user, id, &confirm).await? {
        Some(Resent::Queued(q)) => Some(q),
        Some(Resent::Confirm(page)) => return Ok(page.into_response()),
        None => None,
    };
    if queued.is_none() {
        return Err(AppError::BadRequest(
            "Per questo messaggio non è stata preparata alcuna comunicazione al mittente (l'invio delle risposte \
             non era attivo quando è arrivato): non c'è nulla da inviare di nuovo."
                .into(),
        ));
    }
    decisions::record(&mut tx, &user.actor()?, id, MessageAction::ResendNotice, None, None).await?;
    tx.commit().await?;
    state.wake_outbox();
    Ok(Redirect::to("/scartati?esito=avviso-reinviato").into_response())
}

/// An attachment as the confirmation page lists it.
pub struct AttachmentView {
    pub name: String,
    pub size: String,
    pub sha256: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "register_anyway.html")]
pub struct RegisterAnywayPage {
    layout: Layout,
    id: InboundId,
    heading: String,
    sender: String,
    subject: String,
    received: String,
    reasons: Vec<String>,
    attachments: Vec<AttachmentView>,
    back: &'static str,
    reason: String,
    confirm: bool,
    error: Option<String>,
}

async fn register_page(
    state: &AppState,
    user: &CurrentUser,
    id: InboundId,
    reason: String,
    confirm: bool,
    error: Option<String>,
) -> Result<RegisterAnywayPage, AppError> {
    let mut conn = state.pool().acquire().await?;
    let m = browse::message_detail(&mut conn, id).await?;
    if let Some(r) = m.registration_id {
        return Err(AppError::BadRequest(format!("il messaggio è già protocollato (registrazione {r})")));
    }
    if !m.state.awaits_office() {
        return Err(AppError::BadRequest("si possono protocollare d'ufficio solo messaggi scartati o da revisionare".into()));
    }
    if let Some(owner) = m.duplicate_of {
        return Err(AppError::BadRequest(format!("il messaggio è una copia del messaggio n. {owner}: decida su quello")));
    }
    let heading = format!("Protocollazione d'ufficio del messaggio n. {id}");
    Ok(RegisterAnywayPage {
        layout: Layout::new(user, if m.state == MessageState::Review { "revisione" } else { "scartati" }, heading.clone()),
        id,
        heading,
        sender: or_unknown(m.sender),
        subject: or_unknown(m.subject),
        received: datetime_it(m.first_seen_at, state.register().timezone),
        reasons: reasons_it(&m.reasons),
        attachments: listed_attachments(m.report.as_ref())
            .into_iter()
            .map(|a| AttachmentView {
                name: a.name.unwrap_or_else(|| "(senza nome)".to_owned()),
                size: size_it(i64::try_from(a.size).unwrap_or(i64::MAX)),
                sha256: a.sha256,
            })
            .collect(),
        back: if m.state == MessageState::Review { "/revisione" } else { "/scartati" },
        reason,
        confirm,
        error,
    })
}

pub async fn register_form(State(state): State<AppState>, user: CurrentUser, Path(id): Path<String>) -> Result<RegisterAnywayPage, AppError> {
    register_page(&state, &user, InboundId::new(parse_id(&id)?), String::new(), false, None).await
}

#[derive(Deserialize)]
pub struct RegisterForm {
    motivo: String,
    /// `rivedi` shows the confirmation step; `conferma` registers.
    passo: String,
}

/// Registers a rejected or review message anyway (responsabile only, by the route table):
/// a written reason, a confirmation step, then the registration, the decision and the audit
/// entries in one transaction.
pub async fn register_anyway(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    crate::extract::Form(f): crate::extract::Form<RegisterForm>,
) -> Result<Response, AppError> {
    let id = InboundId::new(parse_id(&id)?);
    let reason = FreeText::parse("motivo", TextKind::Reason, &f.motivo)?.into_string();
    if reason.is_empty() {
        let error = Some("Indichi il motivo per cui il messaggio va protocollato nonostante lo scarto.".to_owned());
        let page = register_page(&state, &user, id, reason, false, error).await?;
        return Ok((axum::http::StatusCode::BAD_REQUEST, page).into_response());
    }
    if f.passo != "conferma" {
        return Ok(register_page(&state, &user, id, reason, true, None).await?.into_response());
    }
    let ctx = sigillo_protocol::anyway::Override {
        pool: state.pool(),
        blobs: state.blobs(),
        register: state.register(),
        checker: state.checker()?,
        outbox: state.outbox(),
    };
    let done = sigillo_protocol::anyway::register_anyway(&ctx, &user.actor()?, id, &reason).await?;
    if done.receipt_queued {
        state.wake_outbox();
    }
    let registration = done.registration;
    tracing::info!(inbound_id = %id, registration.id = %registration.id, "registered anyway");
    Ok(Redirect::to(&format!("/registrazioni/{}?esito=protocollata", registration.id)).into_response())
}
