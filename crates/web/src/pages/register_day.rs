//! The daily register (registro giornaliero): the page, its CSV and its PDF/A, from the same
//! export the command line produces, so they can never disagree. A closed day is served from
//! the files stored when it was closed (`sigillo_store::closing`), byte for byte: the page says
//! whether the day is closed, when, and the SHA-256 of each file.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::Response;

use crate::extract::Query;
use serde::Deserialize;
use sigillo_store::closing::{self, ClosedDay, Stored};
use sigillo_store::export::{self, Format, Period};

use super::{Layout, parse_date, today};
// The templates of this module call `|visible` on what citizens wrote.
use crate::format::filters;
use crate::auth::CurrentUser;
use crate::format::{date_it, datetime_it, int_it};
use crate::{AppError, AppState, download};

#[derive(Debug, Default, Deserialize)]
pub struct DayQuery {
    data: Option<String>,
    /// `/registro.csv` only: absent for the spreadsheet form, `archivio` for the archival CSV.
    formato: Option<String>,
}

pub struct DayRow {
    pub number: String,
    pub time: String,
    /// Direction and channel, e.g. `In arrivo, carta (raccomandata)`.
    pub kind: String,
    pub correspondent: String,
    pub subject: String,
    pub annulled: bool,
}

pub struct DayAnnulment {
    pub number: String,
    pub at: String,
    pub by: String,
    pub reason: String,
    pub act: String,
}

/// A step of assignment made that day (an event of the day, like an annulment).
pub struct DayAssignment {
    pub number: String,
    pub step: &'static str,
    pub at: String,
    pub by: String,
    pub office: String,
    pub note: String,
}

/// A classification made or changed that day.
pub struct DayClassification {
    pub number: String,
    pub at: String,
    pub by: String,
    pub old: String,
    pub new: String,
    pub reason: String,
}

/// How a day stands: closed (when, with the hashes of its stored files) or open.
pub struct DayClosing {
    pub day_iso: String,
    pub day: String,
    pub closed_at: String,
    pub registrations: String,
    pub json_sha256: String,
    pub csv_sha256: String,
    pub pdf_sha256: String,
}

impl DayClosing {
    fn new(c: &ClosedDay, tz: chrono_tz::Tz) -> Self {
        DayClosing {
            day_iso: c.day.format("%Y-%m-%d").to_string(),
            day: date_it(c.day),
            closed_at: datetime_it(c.closed_at, tz),
            registrations: int_it(i64::from(c.registrations)),
            json_sha256: c.json_sha256.to_hex(),
            csv_sha256: c.csv_sha256.to_hex(),
            pdf_sha256: c.pdf_sha256.to_hex(),
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "register_day.html")]
pub struct DayPage {
    layout: Layout,
    date_iso: String,
    date: String,
    count: String,
    range: String,
    rows: Vec<DayRow>,
    annulments: Vec<DayAnnulment>,
    assignments: Vec<DayAssignment>,
    classifications: Vec<DayClassification>,
    closing: Option<DayClosing>,
    recent: Vec<DayClosing>,
}

pub async fn show(State(state): State<AppState>, user: CurrentUser, Query(q): Query<DayQuery>) -> Result<DayPage, AppError> {
    let register = state.register();
    let day = parse_date("data", q.data.as_deref())?.unwrap_or_else(|| today(register.timezone));
    let mut conn = state.pool().acquire().await?;
    let e = export::collect(&mut conn, register, Period::Day(day)).await?;
    let tz = register.timezone;
    let closing = closing::find(&mut conn, register, day).await?.map(|c| DayClosing::new(&c, tz));
    let recent = closing::list(&mut conn, register, day - chrono::Days::new(30), day)
        .await?
        .iter()
        .map(|c| DayClosing::new(c, tz))
        .collect();
    Ok(DayPage {
        closing,
        recent,
        assignments: e
            .assignments
            .iter()
            .map(|a| DayAssignment {
                number: format!("{}/{}", a.number, a.year),
                at: datetime_it(a.assigned_at, tz),
                by: crate::labels::actor_it(&a.assigned_by),
                step: crate::labels::assignment_step_it(&a.step),
                office: a.target_line(),
                note: a.note.clone().unwrap_or_default(),
            })
            .collect(),
        classifications: e
            .classifications
            .iter()
            .map(|c| DayClassification {
                number: format!("{}/{}", c.number, c.year),
                at: datetime_it(c.change.at, tz),
                by: crate::labels::actor_it(&c.change.by),
                old: c.change.old_code.clone().unwrap_or_else(|| "—".into()),
                new: format!("{} {}", c.change.new_code, c.change.new_description),
                reason: c.change.reason.clone().unwrap_or_default(),
            })
            .collect(),
        layout: Layout::new(&user, "registro", format!("Registro giornaliero del {}", date_it(day))),
        date_iso: day.format("%Y-%m-%d").to_string(),
        date: date_it(day),
        count: int_it(i64::try_from(e.count).unwrap_or(i64::MAX)),
        range: match (e.first_number, e.last_number) {
            (Some(a), Some(b)) => format!("dal n. {a} al n. {b}"),
            _ => "nessuna registrazione".into(),
        },
        rows: e
            .registrations
            .iter()
            .map(|r| DayRow {
                number: r.number.to_string(),
                time: datetime_it(r.registered_at, tz),
                kind: match r.paper_delivery {
                    Some(p) => format!(
                        "{}, {} ({})",
                        crate::format::direction_it(r.direction),
                        crate::format::channel_it(r.channel.as_str()),
                        crate::format::paper_delivery_it(p.as_str())
                    ),
                    None => format!("{}, {}", crate::format::direction_it(r.direction), crate::format::channel_it(r.channel.as_str())),
                },
                correspondent: r.correspondent_name.clone().or_else(|| r.correspondent_address.clone()).unwrap_or_default(),
                subject: r.subject.clone(),
                annulled: r.annulled,
            })
            .collect(),
        annulments: e
            .annulments
            .iter()
            .map(|a| DayAnnulment {
                number: format!("{}/{}", a.number, a.year),
                at: datetime_it(a.annulled_at, tz),
                by: crate::labels::actor_it(&a.annulled_by),
                reason: a.reason.clone(),
                act: a.authorising_act.clone(),
            })
            .collect(),
    })
}

/// `/registro.csv` is what the page's "Scarica CSV" gives a clerk: the spreadsheet form
/// ([`crate::spreadsheet`]: `;`, BOM, Italian headers, formulas neutralised), made from the
/// archival CSV. `?formato=archivio` is the archival CSV itself, byte for byte what
/// `sigillo register export --format csv` writes and what a closed day stored with its hash
/// (the file the PDF/A names by its SHA-256), for auditors and other systems.
pub async fn csv(State(state): State<AppState>, _user: CurrentUser, Query(q): Query<DayQuery>) -> Result<Response, AppError> {
    let register = state.register();
    let day = parse_date("data", q.data.as_deref())?.unwrap_or_else(|| today(register.timezone));
    let archival = match q.formato.as_deref() {
        None | Some("") => false,
        Some("archivio") => true,
        Some(_) => return Err(AppError::BadRequest("formato: atteso «archivio» o nessun valore".into())),
    };
    let mut conn = state.pool().acquire().await?;
    let stored = closing::stored(&mut conn, state.blobs(), register, day, Stored::Csv).await;
    let bytes = match stored.map_err(|e| stored_file_of(e, day, "CSV"))? {
        Some(bytes) => bytes,
        None => export::collect(&mut conn, register, Period::Day(day)).await?.render(Format::Csv)?,
    };
    drop(conn);
    let iso = day.format("%Y-%m-%d");
    if archival {
        return Ok(download::file(bytes, "text/csv; charset=utf-8", &format!("registro-giornaliero-{iso}-archivio.csv")));
    }
    let sheet = crate::spreadsheet::from_archival(&bytes, register.timezone).map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(download::file(sheet, "text/csv; charset=utf-8", &format!("registro-giornaliero-{iso}.csv")))
}

/// The daily register as PDF/A-2u with embedded fonts (`sigillo_report_pdf`), rendered on a
/// blocking thread: font subsetting and compression take a few milliseconds per page.
pub async fn pdf(State(state): State<AppState>, _user: CurrentUser, Query(q): Query<DayQuery>) -> Result<Response, AppError> {
    let register = state.register();
    let day = parse_date("data", q.data.as_deref())?.unwrap_or_else(|| today(register.timezone));
    let mut conn = state.pool().acquire().await?;
    let stored = closing::stored(&mut conn, state.blobs(), register, day, Stored::Pdf).await;
    let bytes = match stored.map_err(|e| stored_file_of(e, day, "PDF/A"))? {
        Some(bytes) => bytes,
        None => {
            let e = export::collect(&mut conn, register, Period::Day(day)).await?;
            drop(conn);
            let tz = register.timezone;
            tokio::task::spawn_blocking(move || sigillo_report_pdf::render(&e, tz))
                .await
                .map_err(|e| AppError::Internal(format!("PDF rendering interrupted: {e}")))?
                .map_err(|e| AppError::Internal(e.to_string()))?
        }
    };
    Ok(download::file(bytes, "application/pdf", &format!("registro-giornaliero-{}.pdf", day.format("%Y-%m-%d"))))
}

/// A closed day's stored export that cannot be read, named for the clerk.
fn stored_file_of(e: sigillo_store::Error, day: chrono::NaiveDate, format: &str) -> AppError {
    AppError::from(e).about(|| format!("Il registro giornaliero del {} ({format}) archiviato alla chiusura", day.format("%d/%m/%Y")))
}

/// The JSON export of the day (the stored file of a closed day).
pub async fn json(State(state): State<AppState>, _user: CurrentUser, Query(q): Query<DayQuery>) -> Result<Response, AppError> {
    let register = state.register();
    let day = parse_date("data", q.data.as_deref())?.unwrap_or_else(|| today(register.timezone));
    let mut conn = state.pool().acquire().await?;
    let stored = closing::stored(&mut conn, state.blobs(), register, day, Stored::Json).await;
    let bytes = match stored.map_err(|e| stored_file_of(e, day, "JSON"))? {
        Some(bytes) => bytes,
        None => export::collect(&mut conn, register, Period::Day(day)).await?.render(Format::Json)?,
    };
    Ok(download::file(bytes, "application/json", &format!("registro-giornaliero-{}.json", day.format("%Y-%m-%d"))))
}
