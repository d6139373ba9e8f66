//! The trusted lists the service keeps (amministratore): for each list its territory,
//! sequence number, issue and next-update dates, services, last good fetch and last error;
//! and the one line the home page shows when a list is stale or the last refresh failed.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use sigillo_store::trusted_lists::{self, ListRole, ListSummary, RefreshState};

use super::Layout;
use crate::auth::CurrentUser;
use crate::format::datetime_it;
use crate::labels::trusted_list_role_it;
use crate::{AppError, AppState};

/// One list as the page shows it.
pub struct ListView {
    pub territory: String,
    pub role: &'static str,
    pub location: String,
    pub sequence: String,
    pub issued: String,
    pub next_update: String,
    /// Past its NextUpdate: a newer list should exist.
    pub stale: bool,
    pub services: String,
    pub signer: String,
    pub fetched: String,
    pub attempted: String,
    pub error: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "trusted_lists.html")]
pub struct TrustedListsPage {
    layout: Layout,
    lists: Vec<ListView>,
    url: Option<String>,
    attempted: Option<String>,
    succeeded: Option<String>,
    error: Option<String>,
}

fn or_dash(t: Option<DateTime<Utc>>, tz: Tz) -> String {
    t.map_or_else(|| "—".to_owned(), |t| datetime_it(t, tz))
}

fn view(l: ListSummary, now: DateTime<Utc>, tz: Tz) -> ListView {
    ListView {
        role: trusted_list_role_it(l.role),
        sequence: l.sequence_number.map_or_else(|| "—".to_owned(), |n| n.to_string()),
        issued: or_dash(l.issued_at, tz),
        next_update: l.next_update.map_or_else(|| "lista chiusa".to_owned(), |t| datetime_it(t, tz)),
        stale: l.next_update.is_some_and(|t| t < now),
        services: l.services.map_or_else(|| "—".to_owned(), |n| n.to_string()),
        signer: l.signer.unwrap_or_else(|| "—".to_owned()),
        fetched: or_dash(l.fetched_at, tz),
        attempted: datetime_it(l.attempted_at, tz),
        error: l.last_error,
        territory: l.territory,
        location: l.location,
    }
}

pub async fn show(State(state): State<AppState>, user: CurrentUser) -> Result<TrustedListsPage, AppError> {
    let tz = state.register().timezone;
    let now = Utc::now();
    let lists = trusted_lists::summaries(state.pool()).await?;
    let refresh: Option<RefreshState> = trusted_lists::refresh_state(state.pool()).await?;
    Ok(TrustedListsPage {
        layout: Layout::new(&user, "liste-di-fiducia", "Liste di fiducia"),
        lists: lists.into_iter().map(|l| view(l, now, tz)).collect(),
        url: refresh.as_ref().map(|r| r.url.clone()),
        attempted: refresh.as_ref().and_then(|r| r.attempted_at).map(|t| datetime_it(t, tz)),
        succeeded: refresh.as_ref().and_then(|r| r.succeeded_at).map(|t| datetime_it(t, tz)),
        error: refresh.and_then(|r| r.last_error),
    })
}

/// The home page's line about the lists: `None` when they are fresh and the last refresh
/// succeeded (or when the service keeps no list).
pub async fn home_alert(state: &AppState, now: DateTime<Utc>) -> Result<Option<String>, AppError> {
    let refresh = trusted_lists::refresh_state(state.pool()).await?;
    let lists = trusted_lists::summaries(state.pool()).await?;
    let mut problems = Vec::new();
    if refresh.as_ref().is_some_and(|r| r.last_error.is_some()) {
        problems.push("l'ultimo aggiornamento della lista principale non è riuscito".to_owned());
    }
    let failed: Vec<&str> =
        lists.iter().filter(|l| l.last_error.is_some() && l.role == ListRole::Pointed).map(|l| l.territory.as_str()).collect();
    if !failed.is_empty() {
        problems.push(format!("aggiornamento non riuscito per {}", failed.join(", ")));
    }
    let stale: Vec<&str> =
        lists.iter().filter(|l| l.next_update.is_some_and(|t| t < now)).map(|l| l.territory.as_str()).collect();
    if !stale.is_empty() {
        problems.push(format!("scadute (oltre il prossimo aggiornamento previsto): {}", stale.join(", ")))
    }
    Ok((!problems.is_empty()).then(|| format!("Liste di fiducia: {}.", problems.join("; "))))
}
