//! Closing a day of the register (registro giornaliero): once a day is over in the register's
//! time zone, its export (JSON, CSV and the PDF/A) is written once to the blob store and its
//! SHA-256s recorded in `closed_days`. A closed day is never rewritten (the table refuses
//! updates and deletes, the blob store is write-once), and exporting it returns the stored
//! bytes (AgID LG 2021, requisiti minimi: the daily register is immodificabile).
//!
//! Several processes may close at once (`sigillo serve` on two hosts, `sigillo register close`
//! by hand): each renders the same bytes (the export depends only on the register as it was at
//! the end of the day), stores them under their hash (the same blob) and inserts the row if
//! absent; whoever loses the race reads the winner's row. One row per (register, day).

use chrono::{DateTime, Days, NaiveDate, TimeDelta, Utc};
use sqlx::PgConnection;

use crate::Error;
use crate::blob::BlobStore;
use crate::export::{self, Format, Period, RegisterExport};
use crate::audit::{self, AuditAction, NewAuditEntry};
use crate::register::{Actor, Register, Sha256};

/// How long after midnight a day becomes due: a registration whose transaction took its time
/// just before midnight has committed by then, so the closing sees it.
pub const GRACE: TimeDelta = TimeDelta::minutes(5);

/// The formats a closed day keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    Json,
    Csv,
    Pdf,
}

/// A closed day as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedDay {
    pub day: NaiveDate,
    pub closed_at: DateTime<Utc>,
    pub json_sha256: Sha256,
    pub csv_sha256: Sha256,
    pub pdf_sha256: Sha256,
    pub registrations: i32,
}

impl ClosedDay {
    pub fn sha256(&self, format: Stored) -> Sha256 {
        match format {
            Stored::Json => self.json_sha256,
            Stored::Csv => self.csv_sha256,
            Stored::Pdf => self.pdf_sha256,
        }
    }
}

/// What closing a day did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Closing {
    /// This call closed it.
    Closed(ClosedDay),
    /// It was closed already (by an earlier call or by another process at the same time).
    AlreadyClosed(ClosedDay),
}

impl Closing {
    pub fn day(&self) -> &ClosedDay {
        match self {
            Closing::Closed(d) | Closing::AlreadyClosed(d) => d,
        }
    }
}

/// The day `t` falls on in the register's time zone.
pub fn day_of(register: &Register, t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&register.timezone).date_naive()
}

/// Whether `day` is over at `now` (midnight after it, in the register's time zone, plus
/// [`GRACE`]): only such a day may be closed.
pub fn is_due(register: &Register, day: NaiveDate, now: DateTime<Utc>) -> Result<bool, Error> {
    let (_, end) = export::period_bounds(register, Period::Day(day))?;
    Ok(now >= end + GRACE)
}

fn row_to_day(
    day: NaiveDate,
    closed_at: DateTime<Utc>,
    json: &[u8],
    csv: &[u8],
    pdf: &[u8],
    registrations: i32,
) -> Result<ClosedDay, Error> {
    Ok(ClosedDay {
        day,
        closed_at,
        json_sha256: Sha256::from_slice(json)?,
        csv_sha256: Sha256::from_slice(csv)?,
        pdf_sha256: Sha256::from_slice(pdf)?,
        registrations,
    })
}

/// The closing of `day`, if it is closed.
pub async fn find(conn: &mut PgConnection, register: &Register, day: NaiveDate) -> Result<Option<ClosedDay>, Error> {
    let row = sqlx::query!(
        r#"
        select day, closed_at, json_sha256, csv_sha256, pdf_sha256, registrations
        from closed_days where register_id = $1 and day = $2
        "#,
        register.id,
        day,
    )
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| row_to_day(r.day, r.closed_at, &r.json_sha256, &r.csv_sha256, &r.pdf_sha256, r.registrations))
        .transpose()
}

/// The stored bytes of a closed day in one format, checked against the recorded hash (the
/// blob store checks it on read).
pub async fn stored(
    conn: &mut PgConnection,
    blobs: &BlobStore,
    register: &Register,
    day: NaiveDate,
    format: Stored,
) -> Result<Option<Vec<u8>>, Error> {
    match find(conn, register, day).await? {
        Some(closed) => Ok(Some(blobs.get(&closed.sha256(format))?)),
        None => Ok(None),
    }
}

/// Closes `day` at `now`: renders its export (the PDF through `render_pdf`, which lives in
/// another crate), stores the three files, records the row if no other process did first,
/// with an audit entry by `actor` in the same transaction. Refuses a day that is not over at
/// `now`.
pub async fn close_day<F>(
    conn: &mut PgConnection,
    blobs: &BlobStore,
    register: &Register,
    day: NaiveDate,
    now: DateTime<Utc>,
    actor: &Actor,
    render_pdf: &F,
) -> Result<Closing, Error>
where
    F: Fn(&RegisterExport) -> Result<Vec<u8>, String>,
{
    if let Some(closed) = find(conn, register, day).await? {
        return Ok(Closing::AlreadyClosed(closed));
    }
    if !is_due(register, day, now)? {
        return Err(Error::invalid("day", format!("{day} is not over yet: only a past day can be closed")));
    }
    let e = export::collect(conn, register, Period::Day(day)).await?;
    let json = e.render(Format::Json)?;
    let csv = e.render(Format::Csv)?;
    let pdf = render_pdf(&e).map_err(|reason| Error::invalid("PDF", reason))?;
    let json_sha = blobs.put(&json)?;
    let csv_sha = blobs.put(&csv)?;
    let pdf_sha = blobs.put(&pdf)?;
    let count = i32::try_from(e.count).map_err(|_| Error::invalid("day", "too many registrations"))?;
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    let inserted = sqlx::query!(
        r#"
        insert into closed_days (register_id, day, closed_at, json_sha256, csv_sha256, pdf_sha256, registrations)
        values ($1, $2, $3, $4, $5, $6, $7)
        on conflict (register_id, day) do nothing
        returning closed_at
        "#,
        register.id,
        day,
        now,
        &json_sha.0[..],
        &csv_sha.0[..],
        &pdf_sha.0[..],
        count,
    )
    .fetch_optional(&mut *tx)
    .await?;
    match inserted {
        Some(r) => {
            // The giornaliero is the register's legal record of the day: who produced it, when,
            // and the digests of what was kept.
            audit::append(
                &mut tx,
                &NewAuditEntry {
                    actor: actor.as_str().to_owned(),
                    action: AuditAction::RegisterCloseDay,
                    object_type: "register_day".into(),
                    object_id: day.to_string(),
                    details: serde_json::json!({
                        "register_id": register.id,
                        "registrations": count,
                        "json_sha256": json_sha.to_hex(),
                        "csv_sha256": csv_sha.to_hex(),
                        "pdf_sha256": pdf_sha.to_hex(),
                    }),
                },
            )
            .await?;
            tx.commit().await?;
            Ok(Closing::Closed(ClosedDay {
                day,
                closed_at: r.closed_at,
                json_sha256: json_sha,
                csv_sha256: csv_sha,
                pdf_sha256: pdf_sha,
                registrations: count,
            }))
        }
        None => {
            tx.rollback().await?;
            let closed = find(conn, register, day)
                .await?
                .ok_or_else(|| Error::NotFound { what: format!("closed day {day}") })?;
            Ok(Closing::AlreadyClosed(closed))
        }
    }
}

/// The first day the register can hold: the day it was created, or of its first registration
/// if earlier (registrations imported with their own time).
pub async fn first_day(conn: &mut PgConnection, register: &Register) -> Result<NaiveDate, Error> {
    let r = sqlx::query!(
        r#"
        select g.created_at as "created_at!",
               (select min(registered_at) from registrations where register_id = g.id) as first_registration
        from registers g where g.id = $1
        "#,
        register.id,
    )
    .fetch_one(&mut *conn)
    .await?;
    let first = r.first_registration.map_or(r.created_at, |f| f.min(r.created_at));
    Ok(day_of(register, first))
}

/// Closes every past day (from the register's first day to the last day over at `now`) that
/// is not closed yet, days with no registration included (an empty register is a register).
/// Returns the days this call closed. The service calls it periodically with the current
/// time; tests call it with the time they choose.
pub async fn close_due_days<F>(
    conn: &mut PgConnection,
    blobs: &BlobStore,
    register: &Register,
    now: DateTime<Utc>,
    actor: &Actor,
    render_pdf: &F,
) -> Result<Vec<ClosedDay>, Error>
where
    F: Fn(&RegisterExport) -> Result<Vec<u8>, String>,
{
    let first = first_day(conn, register).await?;
    let closed: std::collections::BTreeSet<NaiveDate> =
        sqlx::query_scalar!("select day from closed_days where register_id = $1", register.id)
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .collect();
    let mut done = Vec::new();
    let mut day = first;
    while is_due(register, day, now)? {
        if !closed.contains(&day)
            && let Closing::Closed(c) = close_day(conn, blobs, register, day, now, actor, render_pdf).await?
        {
            done.push(c);
        }
        day = day.checked_add_days(Days::new(1)).ok_or_else(|| Error::invalid("day", "out of range"))?;
    }
    Ok(done)
}

/// The closings of the days in `[from, to]`, for the dashboard.
pub async fn list(
    conn: &mut PgConnection,
    register: &Register,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<ClosedDay>, Error> {
    let rows = sqlx::query!(
        r#"
        select day, closed_at, json_sha256, csv_sha256, pdf_sha256, registrations
        from closed_days where register_id = $1 and day between $2 and $3
        order by day desc
        "#,
        register.id,
        from,
        to,
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|r| row_to_day(r.day, r.closed_at, &r.json_sha256, &r.csv_sha256, &r.pdf_sha256, r.registrations))
        .collect()
}
