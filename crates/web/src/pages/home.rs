//! The home page: today's counts.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use sigillo_store::export::{Period, period_bounds};

use super::{Layout, today};
use crate::auth::CurrentUser;
use crate::format::{date_it, int_it};
use crate::{AppError, AppState};

#[derive(Template, WebTemplate)]
#[template(path = "home.html")]
pub struct HomePage {
    layout: Layout,
    day: String,
    received: String,
    registered: String,
    rejected: String,
    to_review: String,
    undelivered: String,
}

pub async fn show(State(state): State<AppState>, user: CurrentUser) -> Result<HomePage, AppError> {
    let register = state.register();
    let day = today(register.timezone);
    let (from, to) = period_bounds(register, Period::Day(day))?;
    let mut conn = state.pool().acquire().await?;
    let c = sigillo_store::browse::day_counts(&mut conn, register, from, to).await?;
    let undelivered = sigillo_store::browse::undelivered_receipts(&mut conn).await?;
    Ok(HomePage {
        layout: Layout::new(&user, "home", "Cruscotto"),
        day: date_it(day),
        received: int_it(c.received),
        registered: int_it(c.registered),
        rejected: int_it(c.rejected),
        to_review: int_it(c.to_review),
        undelivered: int_it(undelivered),
    })
}
