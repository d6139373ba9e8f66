//! The audit trail, with the result of the hash-chain check on request.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;

use crate::extract::Query;
use serde::Deserialize;
use sigillo_store::audit::{AuditAction, Verification};
use sigillo_store::browse::{self, AuditFilter};

use super::{Layout, parse_date};
use crate::labels::{action_it, actor_it, object_it};
// The templates of this module call `|visible` on what citizens wrote.
use crate::format::filters;
use crate::auth::CurrentUser;
use crate::format::{datetime_it, int_it};
use crate::{AppError, AppState};

#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    prima: Option<String>,
    verifica: Option<String>,
    /// Who acted (a username or a system actor), exactly.
    persona: Option<String>,
    /// The act, by its code (`registration.annul`).
    atto: Option<String>,
    /// From this day (register's time zone), inclusive.
    dal: Option<String>,
    /// Up to this day, inclusive.
    al: Option<String>,
}

pub struct AuditView {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub action: &'static str,
    pub object: String,
    /// The registration's page, when the entry is about one.
    pub object_link: Option<String>,
    pub details: String,
    pub hash: String,
}

/// One choice of a filter's select.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "audit.html")]
pub struct AuditPage {
    layout: Layout,
    entries: Vec<AuditView>,
    next_link: Option<String>,
    /// (intact, message) when the check was asked for.
    check: Option<(bool, String)>,
    people: Vec<Choice>,
    acts: Vec<Choice>,
    from: String,
    to: String,
    filtered: bool,
}

const PAGE: i64 = 100;

pub async fn show(State(state): State<AppState>, user: CurrentUser, Query(q): Query<AuditQuery>) -> Result<AuditPage, AppError> {
    let before = match q.prima.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(p) => Some(p.parse::<i64>().map_err(|_| AppError::BadRequest("prima: cursore non valido".into()))?),
    };
    let tz = state.register().timezone;
    let person = q.persona.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
    let action = match q.atto.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(code) => Some(
            AuditAction::parse(code).ok_or_else(|| AppError::BadRequest(format!("operazione: «{code}» non è un'operazione nota")))?,
        ),
    };
    let from_day = parse_date("dal", q.dal.as_deref())?;
    let to_day = parse_date("al", q.al.as_deref())?;
    if let (Some(f), Some(t)) = (from_day, to_day)
        && f > t
    {
        return Err(AppError::BadRequest("il giorno «dal» viene dopo il giorno «al»".into()));
    }
    let filter = AuditFilter {
        actor: person.clone(),
        action,
        from: from_day.map(|d| local_midnight(d, tz)),
        until: to_day.and_then(|d| d.succ_opt()).map(|d| local_midnight(d, tz)),
    };
    let mut conn = state.pool().acquire().await?;
    let rows = browse::audit_page(&mut conn, &filter, before, PAGE).await?;
    let actors = browse::audit_actors(&mut conn).await?;
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
    let from = from_day.map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_default();
    let to = to_day.map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_default();
    let filter_query: String = serde_urlencoded::to_string([
        ("persona", person.clone().unwrap_or_default()),
        ("atto", action.map(|a| a.as_str().to_owned()).unwrap_or_default()),
        ("dal", from.clone()),
        ("al", to.clone()),
    ])
    .map_err(|e| AppError::Internal(e.to_string()))?;
    let next_link = (rows.len() == PAGE as usize)
        .then(|| rows.last().map(|r| format!("/audit?{filter_query}&prima={}", r.id)))
        .flatten();
    let mut people: Vec<Choice> = actors
        .into_iter()
        .map(|a| Choice { label: actor_it(&a), selected: person.as_deref() == Some(a.as_str()), value: a })
        .collect();
    // A name typed in the address that no account has any more still shows as chosen.
    if let Some(p) = &person
        && !people.iter().any(|c| &c.value == p)
    {
        people.push(Choice { value: p.clone(), label: actor_it(p), selected: true });
    }
    Ok(AuditPage {
        layout: Layout::new(&user, "audit", "Registro delle operazioni (audit)"),
        entries: rows
            .into_iter()
            .map(|r| AuditView {
                id: r.id,
                at: datetime_it(r.at, tz),
                actor: actor_it(&r.actor),
                action: action_it(r.action),
                object_link: (r.object_type == "registration").then(|| format!("/registrazioni/{}", r.object_id)),
                object: object_it(&r.object_type, &r.object_id),
                details: r.details.to_string(),
                hash: hex::encode(&r.hash[..8.min(r.hash.len())]),
            })
            .collect(),
        next_link,
        check,
        people,
        acts: AuditAction::ALL
            .into_iter()
            .map(|a| Choice { value: a.as_str().to_owned(), label: action_it(a).to_owned(), selected: action == Some(a) })
            .collect(),
        filtered: filter != AuditFilter::default(),
        from,
        to,
    })
}

/// The first instant of a day in the register's time zone (the earliest, on a day the
/// clocks change).
fn local_midnight(day: chrono::NaiveDate, tz: chrono_tz::Tz) -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone;
    let midnight = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    tz.from_local_datetime(&midnight)
        .earliest()
        .map_or_else(|| midnight.and_utc(), |t| t.with_timezone(&chrono::Utc))
}
