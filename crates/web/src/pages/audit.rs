//! The audit trail, with the result of the hash-chain check on request.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;

use crate::extract::Query;
use serde::Deserialize;
use sigillo_store::audit::Verification;
use sigillo_store::browse;

use super::Layout;
// The templates of this module call `|visible` on what citizens wrote.
use crate::format::filters;
use crate::auth::CurrentUser;
use crate::format::{datetime_it, int_it};
use crate::{AppError, AppState};

#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    prima: Option<String>,
    verifica: Option<String>,
}

pub struct AuditView {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub object: String,
    pub details: String,
    pub hash: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "audit.html")]
pub struct AuditPage {
    layout: Layout,
    entries: Vec<AuditView>,
    next_link: Option<String>,
    /// (intact, message) when the check was asked for.
    check: Option<(bool, String)>,
}

pub async fn show(State(state): State<AppState>, user: CurrentUser, Query(q): Query<AuditQuery>) -> Result<AuditPage, AppError> {
    let before = match q.prima.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(p) => Some(p.parse::<i64>().map_err(|_| AppError::BadRequest("prima: cursore non valido".into()))?),
    };
    let mut conn = state.pool().acquire().await?;
    let rows = browse::audit_page(&mut conn, before, 100).await?;
    let check = if q.verifica.is_some() {
        Some(match sigillo_store::audit::verify(&mut conn).await? {
            Verification::Intact { entries, head_hash } => (
                true,
                format!("Catena integra: {} voci verificate; impronta finale {head_hash}.", int_it(entries)),
            ),
            Verification::Broken { entry_id, reason } => {
                (false, format!("Catena interrotta alla voce n. {}: {reason}.", int_it(entry_id)))
            }
        })
    } else {
        None
    };
    let tz = state.register().timezone;
    let next_link = (rows.len() == 100).then(|| rows.last().map(|r| format!("/audit?prima={}", r.id))).flatten();
    Ok(AuditPage {
        layout: Layout::new(&user, "audit", "Registro delle operazioni (audit)"),
        entries: rows
            .into_iter()
            .map(|r| AuditView {
                id: r.id,
                at: datetime_it(r.at, tz),
                actor: r.actor,
                action: r.action.as_str().to_owned(),
                object: format!("{} {}", r.object_type, r.object_id),
                details: r.details.to_string(),
                hash: hex::encode(&r.hash[..8.min(r.hash.len())]),
            })
            .collect(),
        next_link,
        check,
    })
}
