//! The dashboard's pages, one module per area. Every page struct carries a [`Layout`]: who is
//! logged in, the CSRF token for its forms, the active menu entry, the page title.

pub mod admin;
pub mod assignments;
pub mod audit;
pub mod desk;
pub mod fascicoli;
pub mod home;
pub mod message;
pub mod outbox;
pub mod outgoing;
pub mod print;
pub mod queue;
pub mod register_day;
pub mod registrations;
pub mod titolario;
pub mod trusted_lists;

use sigillo_store::staff::Role;

use crate::auth::CurrentUser;
use crate::routes::{ADMIN, ASSIGNEES, DESK, HEAD, OVERSIGHT, READERS};

/// What the base template needs.
#[derive(Debug, Clone)]
pub struct Layout {
    pub full_name: String,
    pub role: &'static str,
    pub csrf: String,
    pub active: &'static str,
    pub title: String,
    pub can_desk: bool,
    pub can_head: bool,
    pub can_admin: bool,
    pub can_oversee: bool,
    /// Reads the whole register and the queues (everybody but office staff).
    pub can_read: bool,
    /// Has an inbox of assignments (`/assegnazioni`).
    pub can_inbox: bool,
}

impl Layout {
    pub fn new(user: &CurrentUser, active: &'static str, title: impl Into<String>) -> Self {
        let role: Role = user.0.role;
        Layout {
            full_name: user.0.full_name.clone(),
            role: role.as_str(),
            csrf: user.0.csrf_token.clone(),
            active,
            title: title.into(),
            can_desk: DESK.contains(&role),
            can_head: HEAD.contains(&role),
            can_admin: ADMIN.contains(&role),
            can_oversee: OVERSIGHT.contains(&role),
            can_read: READERS.contains(&role),
            can_inbox: ASSIGNEES.contains(&role),
        }
    }
}

/// Today's date in the register's time zone.
pub fn today(tz: chrono_tz::Tz) -> chrono::NaiveDate {
    chrono::Utc::now().with_timezone(&tz).date_naive()
}

/// A `YYYY-MM-DD` query parameter; blank means none.
pub fn parse_date(field: &str, value: Option<&str>) -> Result<Option<chrono::NaiveDate>, crate::AppError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| crate::AppError::BadRequest(format!("{field}: «{v}» non è una data nel formato AAAA-MM-GG"))),
    }
}

/// A numeric id from the path; anything else (`../x`, `1;drop`) is not found.
pub fn parse_id(s: &str) -> Result<i64, crate::AppError> {
    s.parse::<i64>().ok().filter(|n| *n > 0).ok_or(crate::AppError::NotFound)
}
