//! The home page: today's work and what needs attention. Every counter leads to the list
//! it counts; failures (receipts the citizen may not have, messages the intake could not
//! process) are listed with a link to each.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use sigillo_store::export::{Period, period_bounds};

use super::{Layout, today};
use crate::auth::CurrentUser;
// The template calls `|visible` on stored error text.
use crate::format::filters;
use crate::format::{date_it, datetime_it, int_it};
use crate::{AppError, AppState};

/// How many failures of each kind the page lists (the counters give the total).
const LISTED: i64 = 10;

pub struct ReceiptProblem {
    pub link: Option<String>,
    pub label: String,
    pub what: &'static str,
    pub at: String,
}

pub struct IntakeProblem {
    pub id: String,
    pub at: String,
    pub attempts: i32,
    pub error: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "home.html")]
pub struct HomePage {
    layout: Layout,
    day: String,
    /// `YYYY-MM-DD` of today, for the list links.
    iso_day: String,
    received: String,
    registered: String,
    rejected: String,
    to_review: String,
    undecided_rejected: String,
    undelivered: String,
    receipts: Vec<ReceiptProblem>,
    in_error: String,
    intake: Vec<IntakeProblem>,
}

pub async fn show(State(state): State<AppState>, user: CurrentUser) -> Result<HomePage, AppError> {
    let register = state.register();
    let tz = register.timezone;
    let day = today(tz);
    let (from, to) = period_bounds(register, Period::Day(day))?;
    let mut conn = state.pool().acquire().await?;
    let c = sigillo_store::browse::day_counts(&mut conn, register, from, to).await?;
    let undelivered = sigillo_store::browse::undelivered_receipts(&mut conn).await?;
    let receipts = sigillo_store::desk::undelivered_receipt_list(&mut conn, LISTED).await?;
    let rejected_queue = sigillo_store::desk::queue_counts(&mut conn, sigillo_store::inbound::MessageState::Rejected).await?;
    let (failed, in_error) = sigillo_store::desk::failed_messages(&mut conn, LISTED).await?;
    drop(conn);
    Ok(HomePage {
        layout: Layout::new(&user, "home", "Cruscotto"),
        day: date_it(day),
        iso_day: day.format("%Y-%m-%d").to_string(),
        received: int_it(c.received),
        registered: int_it(c.registered),
        rejected: int_it(c.rejected),
        to_review: int_it(c.to_review),
        undecided_rejected: int_it(rejected_queue.undecided),
        undelivered: int_it(undelivered),
        receipts: receipts
            .into_iter()
            .map(|r| ReceiptProblem {
                link: r.registration_id.map(|id| format!("/registrazioni/{id}#ricevuta")),
                label: match (r.number, r.year) {
                    (Some(n), Some(y)) => format!("Protocollo n. {n}/{y}"),
                    _ => format!("Invio n. {}", r.outbox_id),
                },
                what: if r.state == "failed" {
                    "invio non riuscito (tentativi esauriti)"
                } else {
                    match r.delivery.as_deref() {
                        Some("errore-consegna") => "errore di consegna segnalato dal gestore",
                        Some("non-accettazione") => "non accettata dal gestore",
                        Some("rilevazione-virus") => "respinta per rilevazione di virus",
                        _ => "consegna non confermata da oltre un'ora",
                    }
                },
                at: datetime_it(r.created_at, tz),
            })
            .collect(),
        in_error: int_it(in_error),
        intake: failed
            .into_iter()
            .map(|m| IntakeProblem {
                id: m.id.to_string(),
                at: datetime_it(m.first_seen_at, tz),
                attempts: m.attempts,
                error: m.last_error.unwrap_or_default(),
            })
            .collect(),
    })
}
