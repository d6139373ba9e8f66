//! The review queue and the rejected messages, with the office's decisions on them.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use sigillo_store::browse;
use sigillo_store::decisions::{self, MessageAction};

use super::{Layout, parse_id};
use crate::auth::CurrentUser;
use crate::format::{datetime_it, size_it};
use crate::{AppError, AppState, db};

pub struct MessageView {
    pub id: i64,
    pub received: String,
    pub size: String,
    pub reasons: Vec<String>,
    pub last_action: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "queue.html")]
pub struct QueuePage {
    layout: Layout,
    heading: &'static str,
    intro: &'static str,
    messages: Vec<MessageView>,
}

fn reason_it(code: &str) -> &'static str {
    match code {
        "UNSIGNED_ATTACHMENT" => "Allegato non firmato",
        "INVALID_SIGNATURE" => "Firma non valida",
        "SIGNATURE_INDETERMINATE" => "Firma da verificare (esito non determinabile)",
        "NOT_PEC" => "Non è un messaggio PEC",
        "FORGED_ENVELOPE" => "Busta PEC non autentica",
        _ => "Motivo non classificato",
    }
}

fn action_it(a: &str) -> &'static str {
    match a {
        "confirm_rejection" => "Scarto confermato",
        "register_anyway" => "Registrato comunque",
        "resend_notice" => "Avviso da reinviare",
        _ => "—",
    }
}

async fn page(state: &AppState, user: &CurrentUser, which: &'static str) -> Result<QueuePage, AppError> {
    let mut conn = state.pool().acquire().await.map_err(db)?;
    let rows = browse::messages_in_state(&mut conn, which, 200).await?;
    let tz = state.register().timezone;
    let messages = rows
        .into_iter()
        .map(|m| MessageView {
            id: m.id,
            received: datetime_it(m.first_seen_at, tz),
            size: size_it(m.raw_size),
            reasons: m
                .reasons
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|r| {
                            let code = r.get("code").and_then(|c| c.as_str()).unwrap_or("");
                            let detail = r.get("detail").and_then(|c| c.as_str()).unwrap_or("");
                            if detail.is_empty() { reason_it(code).to_owned() } else { format!("{}: {detail}", reason_it(code)) }
                        })
                        .collect()
                })
                .unwrap_or_default(),
            last_action: m.last_action.as_deref().map(action_it).unwrap_or("—").to_owned(),
        })
        .collect();
    let (active, heading, intro) = if which == "review" {
        ("revisione", "Da revisionare", "Messaggi che il sistema non ha potuto decidere da solo (ad esempio firme con esito non determinabile).")
    } else {
        ("scartati", "Messaggi scartati", "Messaggi non protocollati, con il motivo. Nessun messaggio viene cancellato.")
    };
    Ok(QueuePage { layout: Layout::new(user, active, heading), heading, intro, messages })
}

pub async fn review(State(state): State<AppState>, user: CurrentUser) -> Result<QueuePage, AppError> {
    page(&state, &user, "review").await
}

pub async fn rejected(State(state): State<AppState>, user: CurrentUser) -> Result<QueuePage, AppError> {
    page(&state, &user, "rejected").await
}

async fn decide(state: &AppState, user: &CurrentUser, id: &str, action: MessageAction) -> Result<Response, AppError> {
    let id = parse_id(id)?;
    let mut tx = state.pool().begin().await.map_err(db)?;
    decisions::record(&mut tx, &user.actor()?, id, action, None, None).await?;
    tx.commit().await.map_err(db)?;
    Ok(Redirect::to("/scartati").into_response())
}

pub async fn confirm_rejection(State(state): State<AppState>, user: CurrentUser, Path(id): Path<String>) -> Result<Response, AppError> {
    decide(&state, &user, &id, MessageAction::ConfirmRejection).await
}

pub async fn resend_notice(State(state): State<AppState>, user: CurrentUser, Path(id): Path<String>) -> Result<Response, AppError> {
    decide(&state, &user, &id, MessageAction::ResendNotice).await
}
