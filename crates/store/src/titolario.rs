//! The titolario of the AOO (its versions and entries) and the classification of
//! registrations: the current class, its append-only history, the "da classificare" backlog.
//!
//! The schema (migration 0019) keeps the invariants itself: versions of one AOO never share a
//! day, entries never change, the current class moves only through a history row (old value,
//! new value, who, when, why) and the backlog and its count are kept by triggers, so that the
//! count the home page shows is one row, not a scan.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::PgConnection;

use crate::Error;
use crate::audit::{self, AuditAction, NewAuditEntry};
use crate::ids::RegistrationId;
use crate::register::{Actor, Channel, Register};

/// The level of an entry (`titolario_level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type)]
#[sqlx(type_name = "titolario_level", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Titolo,
    Classe,
    Sottoclasse,
}

/// An entry to import, in file order; parents come before their children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    /// The flat code: "VI", "VI.3", "VI.3.2".
    pub code: String,
    pub level: Level,
    /// The parent's flat code (none for a titolo).
    pub parent_code: Option<String>,
    pub description: String,
}

/// A version to import.
#[derive(Debug, Clone)]
pub struct NewVersion {
    pub name: String,
    pub valid_from: NaiveDate,
    pub valid_to: Option<NaiveDate>,
    pub source_sha256: [u8; 32],
    pub entries: Vec<NewEntry>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Version {
    pub id: i64,
    pub name: String,
    pub valid_from: NaiveDate,
    pub valid_to: Option<NaiveDate>,
    pub imported_at: DateTime<Utc>,
    pub imported_by: String,
    pub entries: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub id: i64,
    pub code: String,
    pub level: Level,
    pub description: String,
    /// Whether it has no classe or sottoclasse below it: only such an entry classifies.
    pub leaf: bool,
}

/// A registration's class, with the version it is taken from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Class {
    pub entry_id: i64,
    pub code: String,
    pub description: String,
    pub version: String,
}

/// One row of a registration's classification history.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub at: DateTime<Utc>,
    pub by: String,
    pub old_code: Option<String>,
    pub old_description: Option<String>,
    pub new_code: String,
    pub new_description: String,
    pub reason: Option<String>,
}

/// A classification made or changed on a day, for the daily register.
#[derive(Debug, Clone, Serialize)]
pub struct DayChange {
    pub registration_id: RegistrationId,
    pub number: i32,
    pub year: i32,
    #[serde(flatten)]
    pub change: Change,
}

/// Imports a version of the AOO's titolario in one transaction (the caller's): the AOO row is
/// locked so that two imports do not race, a version still open that starts earlier is
/// closed on the day before, and an overlap with any other version is refused.
pub async fn import_version(
    conn: &mut PgConnection,
    register: &Register,
    actor: &Actor,
    new: &NewVersion,
) -> Result<i64, Error> {
    if new.entries.is_empty() {
        return Err(Error::invalid("entries", "the titolario has no entry"));
    }
    let aoo_id = sqlx::query_scalar!(
        "select a.id from aoo a join registers g on g.aoo_id = a.id where g.id = $1 for update of a",
        register.id
    )
    .fetch_one(&mut *conn)
    .await?;
    if let Some(to) = new.valid_to
        && to < new.valid_from
    {
        return Err(Error::invalid("valid_to", "before valid_from"));
    }
    // The version in force until now ends the day before the new one starts.
    if let Some(day_before) = new.valid_from.pred_opt() {
        sqlx::query!(
            "update titolario_versions set valid_to = $3 where aoo_id = $1 and valid_to is null and valid_from < $2",
            aoo_id,
            new.valid_from,
            day_before,
        )
        .execute(&mut *conn)
        .await?;
    }
    let overlapping = sqlx::query_scalar!(
        r#"
        select name as "name!" from titolario_versions
        where aoo_id = $1 and daterange(valid_from, valid_to, '[]') && daterange($2, $3, '[]')
        order by valid_from limit 1
        "#,
        aoo_id,
        new.valid_from,
        new.valid_to,
    )
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(name) = overlapping {
        return Err(Error::invalid("valid_from", format!("the period overlaps version «{name}»")));
    }
    let version_id = sqlx::query_scalar!(
        r#"
        insert into titolario_versions (aoo_id, name, valid_from, valid_to, imported_by, source_sha256)
        values ($1, $2, $3, $4, $5, $6) returning id
        "#,
        aoo_id,
        new.name.trim(),
        new.valid_from,
        new.valid_to,
        actor.as_str(),
        &new.source_sha256[..],
    )
    .fetch_one(&mut *conn)
    .await?;
    let mut ids: std::collections::HashMap<&str, i64> = std::collections::HashMap::new();
    for (ordinal, e) in new.entries.iter().enumerate() {
        let parent = match &e.parent_code {
            None => None,
            Some(p) => Some(
                *ids.get(p.as_str())
                    .ok_or_else(|| Error::invalid("entries", format!("{}: its parent {p} comes later or is missing", e.code)))?,
            ),
        };
        let ordinal = i32::try_from(ordinal).map_err(|_| Error::invalid("entries", "too many"))?;
        let id = sqlx::query_scalar!(
            r#"
            insert into titolario_entries (version_id, code, level, parent_id, description, ordinal)
            values ($1, $2, $3, $4, $5, $6) returning id
            "#,
            version_id,
            e.code,
            e.level as Level,
            parent,
            e.description.trim(),
            ordinal,
        )
        .fetch_one(&mut *conn)
        .await
        .map_err(|err| match crate::error::constraint(&err) {
            Some("titolario_entries_code_unique") => Error::invalid("entries", format!("{} appears twice", e.code)),
            _ => Error::from(err),
        })?;
        ids.insert(e.code.as_str(), id);
    }
    audit::append(
        conn,
        &NewAuditEntry {
            actor: actor.as_str().to_owned(),
            action: AuditAction::TitolarioImport,
            object_type: "titolario_version".to_owned(),
            object_id: version_id.to_string(),
            details: serde_json::json!({
                "name": new.name.trim(),
                "valid_from": new.valid_from,
                "valid_to": new.valid_to,
                "entries": new.entries.len(),
                "source_sha256": hex(&new.source_sha256),
            }),
        },
    )
    .await?;
    Ok(version_id)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The versions of the AOO's titolario, newest first.
pub async fn versions(conn: &mut PgConnection, register: &Register) -> Result<Vec<Version>, Error> {
    Ok(sqlx::query_as!(
        Version,
        r#"
        select v.id, v.name, v.valid_from, v.valid_to, v.imported_at, v.imported_by,
               (select count(*) from titolario_entries e where e.version_id = v.id) as "entries!"
        from titolario_versions v
        where v.aoo_id = (select aoo_id from registers where id = $1)
        order by v.valid_from desc
        "#,
        register.id,
    )
    .fetch_all(&mut *conn)
    .await?)
}

/// The version in force on `day`, if any.
pub async fn version_on(conn: &mut PgConnection, register: &Register, day: NaiveDate) -> Result<Option<Version>, Error> {
    Ok(sqlx::query_as!(
        Version,
        r#"
        select v.id, v.name, v.valid_from, v.valid_to, v.imported_at, v.imported_by,
               (select count(*) from titolario_entries e where e.version_id = v.id) as "entries!"
        from titolario_versions v
        where v.aoo_id = (select aoo_id from registers where id = $1)
          and v.valid_from <= $2 and (v.valid_to is null or v.valid_to >= $2)
        "#,
        register.id,
        day,
    )
    .fetch_optional(&mut *conn)
    .await?)
}

/// The entries of a version, in file order.
pub async fn entries(conn: &mut PgConnection, version_id: i64) -> Result<Vec<Entry>, Error> {
    Ok(sqlx::query_as!(
        Entry,
        r#"
        select e.id, e.code, e.level as "level: Level", e.description,
               not exists (select 1 from titolario_entries c where c.parent_id = e.id) as "leaf!"
        from titolario_entries e where e.version_id = $1 order by e.ordinal
        "#,
        version_id,
    )
    .fetch_all(&mut *conn)
    .await?)
}

/// The entry of a version with this flat code (compared without regard to case).
pub async fn entry_by_code(conn: &mut PgConnection, version_id: i64, code: &str) -> Result<Option<Entry>, Error> {
    Ok(sqlx::query_as!(
        Entry,
        r#"
        select e.id, e.code, e.level as "level: Level", e.description,
               not exists (select 1 from titolario_entries c where c.parent_id = e.id) as "leaf!"
        from titolario_entries e where e.version_id = $1 and upper(e.code) = upper($2)
        "#,
        version_id,
        code.trim(),
    )
    .fetch_optional(&mut *conn)
    .await?)
}

/// Classifies a registration, or changes its class (then `reason` is required): one history
/// row, which the schema's trigger applies to the current class and the backlog, and one
/// audit entry. The caller has checked that the entry is of the version in force on the
/// registration's day.
pub async fn classify(
    conn: &mut PgConnection,
    registration: RegistrationId,
    entry_id: i64,
    actor: &Actor,
    reason: Option<&str>,
) -> Result<(), Error> {
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    let current = sqlx::query!(
        r#"
        select c.entry_id, e.code from registration_classes c join titolario_entries e on e.id = c.entry_id
        where c.registration_id = $1 for update of c
        "#,
        registration.get(),
    )
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(c) = &current {
        if c.entry_id == entry_id {
            return Err(Error::invalid("class", "the registration already has this class"));
        }
        if reason.is_none() {
            return Err(Error::invalid("reason", "changing a class needs a reason"));
        }
    }
    let new_code = sqlx::query_scalar!("select code from titolario_entries where id = $1", entry_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| Error::NotFound { what: format!("titolario entry {entry_id}") })?;
    sqlx::query!(
        r#"
        insert into classification_changes (registration_id, old_entry_id, new_entry_id, changed_by, reason)
        values ($1, $2, $3, $4, $5)
        "#,
        registration.get(),
        current.as_ref().map(|c| c.entry_id),
        entry_id,
        actor.as_str(),
        reason,
    )
    .execute(&mut *conn)
    .await?;
    audit::append(
        conn,
        &NewAuditEntry {
            actor: actor.as_str().to_owned(),
            action: AuditAction::RegistrationClassify,
            object_type: "registration".to_owned(),
            object_id: registration.to_string(),
            details: serde_json::json!({
                "old": current.as_ref().map(|c| c.code.clone()),
                "new": new_code,
                "reason": reason,
            }),
        },
    )
    .await?;
    Ok(())
}

/// When a registration of `register` was registered and whether it is annulled (what its
/// classification depends on); `NotFound` for a registration of another register.
pub async fn registration_state(
    conn: &mut PgConnection,
    register: &Register,
    registration: RegistrationId,
) -> Result<(DateTime<Utc>, bool), Error> {
    let row = sqlx::query!(
        r#"
        select r.registered_at, exists (select 1 from annulments a where a.registration_id = r.id) as "annulled!"
        from registrations r where r.id = $1 and r.register_id = $2
        "#,
        registration.get(),
        register.id,
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::NotFound { what: format!("registration {registration}") })?;
    Ok((row.registered_at, row.annulled))
}

/// The class of a registration now, if it has one.
pub async fn class_of(conn: &mut PgConnection, registration: RegistrationId) -> Result<Option<Class>, Error> {
    Ok(sqlx::query_as!(
        Class,
        r#"
        select e.id as entry_id, e.code, e.description, v.name as version
        from registration_classes c
        join titolario_entries e on e.id = c.entry_id
        join titolario_versions v on v.id = e.version_id
        where c.registration_id = $1
        "#,
        registration.get(),
    )
    .fetch_optional(&mut *conn)
    .await?)
}

/// Every classification of a registration, oldest first.
pub async fn history(conn: &mut PgConnection, registration: RegistrationId) -> Result<Vec<Change>, Error> {
    Ok(sqlx::query_as!(
        Change,
        r#"
        select h.changed_at as at, h.changed_by as "by",
               o.code as "old_code?", o.description as "old_description?",
               n.code as new_code, n.description as new_description, h.reason
        from classification_changes h
        join titolario_entries n on n.id = h.new_entry_id
        left join titolario_entries o on o.id = h.old_entry_id
        where h.registration_id = $1
        order by h.id
        "#,
        registration.get(),
    )
    .fetch_all(&mut *conn)
    .await?)
}

/// The classifications made or changed in `[from, to)` in the register, in order.
pub async fn changes_between(
    conn: &mut PgConnection,
    register: &Register,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<DayChange>, Error> {
    let rows = sqlx::query!(
        r#"
        select r.id as "registration_id: RegistrationId", r.number, r.year,
               h.changed_at, h.changed_by, o.code as "old_code?", o.description as "old_description?",
               n.code as new_code, n.description as new_description, h.reason
        from classification_changes h
        join registrations r on r.id = h.registration_id
        join titolario_entries n on n.id = h.new_entry_id
        left join titolario_entries o on o.id = h.old_entry_id
        where r.register_id = $1 and h.changed_at >= $2 and h.changed_at < $3
        order by h.id
        "#,
        register.id,
        from,
        to,
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| DayChange {
            registration_id: r.registration_id,
            number: r.number,
            year: r.year,
            change: Change {
                at: r.changed_at,
                by: r.changed_by,
                old_code: r.old_code,
                old_description: r.old_description,
                new_code: r.new_code,
                new_description: r.new_description,
                reason: r.reason,
            },
        })
        .collect())
}

/// How many registrations of the register are still to classify (one row read).
pub async fn to_classify_count(conn: &mut PgConnection, register: &Register) -> Result<i64, Error> {
    Ok(sqlx::query_scalar!("select n from to_classify_counts where register_id = $1", register.id)
        .fetch_optional(&mut *conn)
        .await?
        .unwrap_or(0))
}

/// A registration still to classify, as the list shows it.
#[derive(Debug, Clone)]
pub struct Unclassified {
    pub id: RegistrationId,
    pub number: i32,
    pub year: i32,
    pub registered_at: DateTime<Utc>,
    pub channel: Channel,
    pub correspondent_name: Option<String>,
    pub subject: String,
}

/// One page of the registrations still to classify, newest first.
pub async fn to_classify_page(
    conn: &mut PgConnection,
    register: &Register,
    offset: i64,
    limit: i64,
) -> Result<Vec<Unclassified>, Error> {
    Ok(sqlx::query_as!(
        Unclassified,
        r#"
        select r.id as "id: RegistrationId", r.number, r.year, r.registered_at,
               r.channel as "channel: Channel", r.correspondent_name, r.subject
        from to_classify t join registrations r on r.id = t.registration_id
        where t.register_id = $1
        order by t.registration_id desc
        limit $2 offset $3
        "#,
        register.id,
        limit,
        offset.max(0),
    )
    .fetch_all(&mut *conn)
    .await?)
}
