//! Printouts from the record page: the receipt given to a person who delivers a document
//! at the counter, and the segnatura label stuck on the paper. Plain HTML with a print
//! stylesheet (`static/print.css`): the browser's own print dialog makes the paper or PDF.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use serde::Deserialize;
use sigillo_store::browse;
use sigillo_store::ids::RegistrationId;

use super::parse_id;
use crate::auth::CurrentUser;
use crate::extract::{Path, Query};
// The template calls `|visible` on what citizens wrote.
use crate::format::filters;
use crate::format::{date_it, datetime_it, size_it};
use crate::{AppError, AppState};

#[derive(Debug, Default, Deserialize)]
pub struct PrintQuery {
    /// `ricevuta` (default) or `etichetta`.
    tipo: Option<String>,
}

pub struct PrintedDoc {
    pub name: String,
    pub size: String,
    pub sha256: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "print.html")]
pub struct PrintPage {
    id: RegistrationId,
    label: bool,
    title: String,
    ente: String,
    number: String,
    year: i32,
    registered_at: String,
    date: String,
    segnatura: String,
    subject: String,
    correspondent: String,
    created_by: String,
    documents: Vec<PrintedDoc>,
    annulled: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    _user: CurrentUser,
    Path(id): Path<String>,
    Query(q): Query<PrintQuery>,
) -> Result<PrintPage, AppError> {
    let label = match q.tipo.as_deref().map(str::trim).unwrap_or("") {
        "" | "ricevuta" => false,
        "etichetta" => true,
        other => return Err(AppError::BadRequest(format!("tipo: «{other}» non è ricevuta o etichetta"))),
    };
    let id = RegistrationId::new(parse_id(&id)?);
    let register = state.register();
    let tz = register.timezone;
    let mut conn = state.pool().acquire().await?;
    let r = browse::registration(&mut conn, register, id).await?;
    drop(conn);
    let ente = match state.outbox() {
        Some(o) => format!("{} — {}", o.ctx.ente.name, o.ctx.ente.aoo_name),
        None => format!("Amministrazione {} — AOO {}", register.ipa_code, register.aoo_code),
    };
    let correspondent = match (&r.correspondent_name, &r.correspondent_address) {
        (Some(n), Some(a)) => format!("{n} <{a}>"),
        (Some(n), None) => n.clone(),
        (None, Some(a)) => a.clone(),
        (None, None) => "—".to_owned(),
    };
    Ok(PrintPage {
        id,
        label,
        title: if label {
            format!("Etichetta del protocollo n. {}/{}", r.number, r.year)
        } else {
            format!("Ricevuta del protocollo n. {}/{}", r.number, r.year)
        },
        ente,
        number: r.number.to_string(),
        year: r.year,
        registered_at: datetime_it(r.registered_at, tz),
        date: date_it(r.registered_at.with_timezone(&tz).date_naive()),
        segnatura: r.segnatura.clone(),
        subject: r.subject.clone(),
        correspondent,
        created_by: crate::labels::actor_it(&r.created_by),
        documents: r
            .documents
            .iter()
            .map(|d| PrintedDoc { name: d.name.clone(), size: size_it(d.size_bytes), sha256: d.sha256.to_hex() })
            .collect(),
        annulled: r.annulment.as_ref().map(|a| format!("Registrazione annullata il {}.", datetime_it(a.annulled_at, tz))),
    })
}
