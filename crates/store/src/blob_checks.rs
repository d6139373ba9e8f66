//! The record of the blob store's checks (migration 0012): each run of `sigillo blobs
//! verify` or of the service's nightly share, with the blobs it found damaged, and what
//! uses a blob (the registrations whose documents it holds, the messages it is the raw copy
//! of, the closed days whose export it is). The walk itself is `blob::BlobStore::verify`.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::PgConnection;

use crate::Error;
use crate::blob::{Damaged, Fault};
use crate::ids::{InboundId, RegistrationId};
use crate::register::Sha256;

/// Who ran a check (`blob_check_trigger`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type)]
#[sqlx(type_name = "blob_check_trigger", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    /// `sigillo blobs verify`: the whole store.
    Command,
    /// The service's nightly share.
    Schedule,
}

/// A run to record.
#[derive(Debug, Clone)]
pub struct NewCheck {
    pub trigger: Trigger,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// The first fan-out directory covered (the first byte of the digests).
    pub first_prefix: u8,
    /// How many fan-out directories, 1 to 256, wrapping past `ff`.
    pub prefixes: u16,
    pub blobs: u64,
    pub bytes: u64,
    pub damaged: Vec<Damaged>,
}

/// A recorded run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub id: i64,
    pub trigger: Trigger,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub first_prefix: u8,
    pub prefixes: u16,
    pub blobs: i64,
    pub bytes: i64,
    pub damaged: Vec<Damaged>,
}

impl Check {
    /// The first fan-out directory after the ones this run covered.
    pub fn next_prefix(&self) -> u8 {
        ((u16::from(self.first_prefix) + self.prefixes) % 256) as u8
    }
}

/// Records a run and its damaged blobs, in one transaction of the caller's.
pub async fn record(conn: &mut PgConnection, c: &NewCheck) -> Result<i64, Error> {
    let prefixes = i32::from(c.prefixes);
    if !(1..=256).contains(&prefixes) {
        return Err(Error::invalid("blob check prefixes", format!("{prefixes} is not from 1 to 256")));
    }
    let id = sqlx::query_scalar!(
        r#"
        insert into blob_checks (trigger, started_at, finished_at, first_prefix, prefixes, blobs, bytes, damaged)
        values ($1, $2, $3, $4, $5, $6, $7, $8)
        returning id
        "#,
        c.trigger as Trigger,
        c.started_at,
        c.finished_at,
        i32::from(c.first_prefix),
        prefixes,
        i64::try_from(c.blobs).unwrap_or(i64::MAX),
        i64::try_from(c.bytes).unwrap_or(i64::MAX),
        i32::try_from(c.damaged.len()).unwrap_or(i32::MAX),
    )
    .fetch_one(&mut *conn)
    .await?;
    for d in &c.damaged {
        sqlx::query!(
            "insert into blob_check_damage (check_id, sha256, problem, fault) values ($1, $2, $3, $4) on conflict do nothing",
            id,
            &d.hash.0[..],
            d.problem,
            d.fault as Fault,
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(id)
}

/// The latest run (of either trigger), with its damaged blobs; `None` before the first.
pub async fn latest(conn: &mut PgConnection) -> Result<Option<Check>, Error> {
    latest_of(conn, None).await
}

/// The latest run of the service's schedule: where the next one starts and when it ran.
pub async fn latest_scheduled(conn: &mut PgConnection) -> Result<Option<Check>, Error> {
    latest_of(conn, Some(Trigger::Schedule)).await
}

async fn latest_of(conn: &mut PgConnection, trigger: Option<Trigger>) -> Result<Option<Check>, Error> {
    let Some(row) = sqlx::query!(
        r#"
        select id, trigger as "trigger: Trigger", started_at, finished_at, first_prefix, prefixes, blobs, bytes
        from blob_checks
        where $1::blob_check_trigger is null or trigger = $1
        order by started_at desc, id desc
        limit 1
        "#,
        trigger as Option<Trigger>,
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let damaged = sqlx::query!(
        r#"select sha256, problem, fault as "fault: Fault" from blob_check_damage where check_id = $1 order by fault, sha256"#,
        row.id
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|d| Ok(Damaged { hash: Sha256::from_slice(&d.sha256)?, fault: d.fault, problem: d.problem }))
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(Some(Check {
        id: row.id,
        trigger: row.trigger,
        started_at: row.started_at,
        finished_at: row.finished_at,
        first_prefix: u8::try_from(row.first_prefix).unwrap_or(0),
        prefixes: u16::try_from(row.prefixes).unwrap_or(256),
        blobs: row.blobs,
        bytes: row.bytes,
        damaged,
    }))
}

/// Something that uses a blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Use {
    /// A document of a registration.
    Document { registration_id: RegistrationId, segnatura: String, year: i32, number: i32, name: String },
    /// The raw copy of a message as it arrived (with its registration, if it has one).
    RawMessage { inbound_id: InboundId, segnatura: Option<String> },
    /// A stored export of a closed day.
    ClosedDay { day: NaiveDate, format: String },
}

impl Use {
    /// One line in Italian, for the clerk (the CLI and the dashboard).
    pub fn describe_it(&self) -> String {
        match self {
            Use::Document { segnatura, name, .. } => format!("documento «{name}» della registrazione {segnatura}"),
            Use::RawMessage { inbound_id, segnatura: Some(s) } => {
                format!("messaggio originale n. {inbound_id} (registrazione {s})")
            }
            Use::RawMessage { inbound_id, segnatura: None } => format!("messaggio originale n. {inbound_id}"),
            Use::ClosedDay { day, format } => format!("registro giornaliero del {} ({format})", day.format("%d/%m/%Y")),
        }
    }
}

/// Every blob the database references (documents, raw messages, closed days' exports)
/// whose digest starts with one of `prefixes`: what a check of those fan-out directories
/// must find in the store.
pub async fn referenced(conn: &mut PgConnection, prefixes: &[u8]) -> Result<Vec<Sha256>, Error> {
    let prefixes: Vec<i32> = prefixes.iter().map(|p| i32::from(*p)).collect();
    sqlx::query_scalar!(
        r#"
        select h as "h!" from (
            select sha256 as h from documents
            union select raw_sha256 from inbound_messages
            union select json_sha256 from closed_days
            union select csv_sha256 from closed_days
            union select pdf_sha256 from closed_days
        ) referenced
        where get_byte(h, 0) = any($1::int[])
        order by 1
        "#,
        &prefixes[..],
    )
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|h| Sha256::from_slice(h))
    .collect()
}

/// What uses the blob `hash`: registrations' documents, raw messages, closed days.
pub async fn uses_of(conn: &mut PgConnection, hash: &Sha256) -> Result<Vec<Use>, Error> {
    let h = &hash.0[..];
    let mut uses = Vec::new();
    let docs = sqlx::query!(
        r#"
        select r.id as "id: RegistrationId",
               coalesce(r.segnatura, lpad(r.number::text, 7, '0') || '/' || r.year) as "segnatura!", r.year, r.number, d.name
        from documents d join registrations r on r.id = d.registration_id
        where d.sha256 = $1 order by r.year, r.number, d.ordinal
        "#,
        h
    )
    .fetch_all(&mut *conn)
    .await?;
    uses.extend(docs.into_iter().map(|d| Use::Document {
        registration_id: d.id,
        segnatura: d.segnatura,
        year: d.year,
        number: d.number,
        name: d.name,
    }));
    let raw = sqlx::query!(
        r#"
        select m.id as "id: InboundId",
               coalesce(r.segnatura, lpad(r.number::text, 7, '0') || '/' || r.year) as "segnatura?"
        from inbound_messages m left join registrations r on r.inbound_message_id = m.id
        where m.raw_sha256 = $1
        "#,
        h
    )
    .fetch_all(&mut *conn)
    .await?;
    uses.extend(raw.into_iter().map(|m| Use::RawMessage { inbound_id: m.id, segnatura: m.segnatura }));
    let days = sqlx::query!(
        r#"
        select day, case when json_sha256 = $1 then 'JSON' when csv_sha256 = $1 then 'CSV' else 'PDF/A' end as "format!"
        from closed_days where json_sha256 = $1 or csv_sha256 = $1 or pdf_sha256 = $1 order by day
        "#,
        h
    )
    .fetch_all(&mut *conn)
    .await?;
    uses.extend(days.into_iter().map(|d| Use::ClosedDay { day: d.day, format: d.format }));
    Ok(uses)
}
