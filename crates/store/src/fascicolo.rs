//! Fascicoli: a fascicolo gathers the registrations of one procedimento or affare. It belongs
//! to a class of the titolario and a year, and takes the next number of that class and year
//! in the AOO, with no gaps; it has a subject, a responsible office, and is open or closed. A
//! registration may sit in several fascicoli.
//!
//! The schema (migration 0025) keeps the invariants itself: the number comes from a counter
//! row that the creating transaction holds locked until it ends (as the protocol number
//! does), a fascicolo's data never change but its state, a link is never rewritten, and a
//! registration is refused by a trigger when the fascicolo is closed or the registration
//! annulled; the store maps those named constraints to Italian messages. Every act (create,
//! close, reopen, add) is appended to the audit chain in the same transaction.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;

use crate::Error;
use crate::audit::{self, AuditAction, NewAuditEntry};
use crate::codes::ProtocolNumber;
use crate::ids::{FascicoloId, RegistrationId};
use crate::register::{Actor, Register};

/// Whether registrations may still be added (`fascicolo_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, sqlx::Type)]
#[sqlx(type_name = "fascicolo_state", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum State {
    Open,
    Closed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Open => "open",
            State::Closed => "closed",
        }
    }
}

/// The identifier of a fascicolo, in the common Italian form `<classifica>/<anno>.<numero>`:
/// "VI.3/2026.4" is the fourth fascicolo of class VI.3 opened in 2026. Unique in the AOO.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identifier {
    pub class_code: String,
    pub year: i32,
    pub number: i32,
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}.{}", self.class_code, self.year, self.number)
    }
}

impl Serialize for Identifier {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A fascicolo with its class, office and the number of registrations in it.
#[derive(Debug, Clone, Serialize)]
pub struct Fascicolo {
    pub id: FascicoloId,
    pub identifier: Identifier,
    pub class_description: String,
    pub subject: String,
    pub office_id: i64,
    pub office_code: String,
    pub office_name: String,
    pub state: State,
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub created_by: String,
    pub registrations: i64,
}

/// A fascicolo as a registration lists the ones it sits in (and the API shows them).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub id: FascicoloId,
    pub identifier: Identifier,
    pub subject: String,
    pub state: State,
    pub added_at: DateTime<Utc>,
    pub added_by: String,
}

/// A registration in a fascicolo.
#[derive(Debug, Clone, Serialize)]
pub struct Member {
    pub registration_id: RegistrationId,
    pub number: ProtocolNumber,
    pub year: i32,
    pub subject: String,
    pub registered_at: DateTime<Utc>,
    pub annulled: bool,
    pub added_at: DateTime<Utc>,
    pub added_by: String,
}

/// What a new fascicolo needs: the class (a titolario entry without children), the subject,
/// the responsible office.
#[derive(Debug, Clone)]
pub struct NewFascicolo {
    pub entry_id: i64,
    pub subject: String,
    pub office_id: i64,
}

/// The filters of the list; none set: every fascicolo.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub state: Option<State>,
    /// A class code, compared without regard to case.
    pub class_code: Option<String>,
    pub year: Option<i32>,
}

fn entry(actor: &Actor, action: AuditAction, object_type: &str, object_id: String, details: serde_json::Value) -> NewAuditEntry {
    NewAuditEntry { actor: actor.as_str().to_owned(), action, object_type: object_type.to_owned(), object_id, details }
}

/// Opens a fascicolo in `register`'s AOO: the next number of its class and year (the year of
/// `at`, or of now, in the register's time zone). The counter row stays locked until the
/// caller's transaction ends, so numbers have no gaps even when it rolls back.
pub async fn create(
    conn: &mut PgConnection,
    register: &Register,
    actor: &Actor,
    new: &NewFascicolo,
    at: Option<DateTime<Utc>>,
) -> Result<Fascicolo, Error> {
    let subject = new.subject.trim();
    if subject.is_empty() {
        return Err(Error::invalid("oggetto", "il fascicolo richiede un oggetto"));
    }
    if subject.chars().count() > 2000 {
        return Err(Error::invalid("oggetto", "al massimo 2.000 caratteri"));
    }
    let class = sqlx::query!(
        r#"
        select e.code, not exists (select 1 from titolario_entries c where c.parent_id = e.id) as "leaf!",
               v.aoo_id = g.aoo_id as "same_aoo!", g.aoo_id
        from titolario_entries e
        join titolario_versions v on v.id = e.version_id
        join registers g on g.id = $2
        where e.id = $1
        "#,
        new.entry_id,
        register.id,
    )
    .fetch_optional(&mut *conn)
    .await?
    .filter(|c| c.same_aoo)
    .ok_or_else(|| Error::invalid("classe", "non è una classe del titolario"))?;
    if !class.leaf {
        return Err(Error::invalid("classe", format!("{} ha delle sottoclassi: scelga una di esse", class.code)));
    }
    let office = sqlx::query!("select code, active from offices where id = $1", new.office_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| Error::invalid("ufficio", format!("l'ufficio {} non esiste", new.office_id)))?;
    if !office.active {
        return Err(Error::invalid("ufficio", format!("l'ufficio {} non è attivo", office.code)));
    }
    let taken = sqlx::query!(
        r#"
        with t as (select coalesce($4::timestamptz, clock_timestamp()) as at)
        insert into fascicolo_counters as c (aoo_id, class_code, year, last_number)
        select $1, $2, extract(year from t.at at time zone $3)::integer, 1 from t
        on conflict (aoo_id, class_code, year) do update set last_number = c.last_number + 1
        returning c.year, c.last_number, (select at from t) as "at!"
        "#,
        class.aoo_id,
        class.code,
        register.timezone.name(),
        at,
    )
    .fetch_one(&mut *conn)
    .await?;
    let id = sqlx::query_scalar!(
        r#"
        insert into fascicoli (aoo_id, entry_id, class_code, year, number, subject, office_id, opened_at, created_by)
        values ($1, $2, $3, $4, $5, $6, $7, $8, $9) returning id
        "#,
        class.aoo_id,
        new.entry_id,
        class.code,
        taken.year,
        taken.last_number,
        subject,
        new.office_id,
        taken.at,
        actor.as_str(),
    )
    .fetch_one(&mut *conn)
    .await?;
    let id = FascicoloId::new(id);
    let identifier = Identifier { class_code: class.code, year: taken.year, number: taken.last_number };
    audit::append(
        conn,
        &entry(
            actor,
            AuditAction::FascicoloCreate,
            "fascicolo",
            id.to_string(),
            serde_json::json!({ "identifier": identifier.to_string(), "office": office.code }),
        ),
    )
    .await?;
    get(conn, register, id).await
}

/// One fascicolo of `register`'s AOO; `NotFound` for another AOO's.
pub async fn get(conn: &mut PgConnection, register: &Register, id: FascicoloId) -> Result<Fascicolo, Error> {
    let f = sqlx::query!(
        r#"
        select f.id, f.class_code, f.year, f.number, e.description as class_description, f.subject,
               f.office_id, o.code as office_code, o.name as office_name,
               f.state as "state: State", f.opened_at, f.closed_at, f.created_by,
               (select count(*) from fascicolo_registrations l where l.fascicolo_id = f.id) as "registrations!"
        from fascicoli f
        join titolario_entries e on e.id = f.entry_id
        join offices o on o.id = f.office_id
        where f.id = $1 and f.aoo_id = (select aoo_id from registers where id = $2)
        "#,
        id.get(),
        register.id,
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::NotFound { what: format!("fascicolo {id}") })?;
    Ok(Fascicolo {
        id: FascicoloId::new(f.id),
        identifier: Identifier { class_code: f.class_code, year: f.year, number: f.number },
        class_description: f.class_description,
        subject: f.subject,
        office_id: f.office_id,
        office_code: f.office_code,
        office_name: f.office_name,
        state: f.state,
        opened_at: f.opened_at,
        closed_at: f.closed_at,
        created_by: f.created_by,
        registrations: f.registrations,
    })
}

/// Closes an open fascicolo, or reopens a closed one (`to` is the new state).
pub async fn set_state(
    conn: &mut PgConnection,
    register: &Register,
    actor: &Actor,
    id: FascicoloId,
    to: State,
) -> Result<Fascicolo, Error> {
    // The row lock orders this against additions being made (they read it `for share`).
    let now = sqlx::query_scalar!(
        r#"
        select f.state as "state: State" from fascicoli f
        where f.id = $1 and f.aoo_id = (select aoo_id from registers where id = $2)
        for update
        "#,
        id.get(),
        register.id,
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::NotFound { what: format!("fascicolo {id}") })?;
    if now == to {
        return Err(Error::invalid(
            "fascicolo",
            match to {
                State::Open => "è già aperto",
                State::Closed => "è già chiuso",
            },
        ));
    }
    sqlx::query!(
        r#"
        update fascicoli set state = $2, closed_at = case when $2 = 'closed'::fascicolo_state then clock_timestamp() end
        where id = $1
        "#,
        id.get(),
        to as State,
    )
    .execute(&mut *conn)
    .await?;
    let f = get(conn, register, id).await?;
    let action = match to {
        State::Open => AuditAction::FascicoloReopen,
        State::Closed => AuditAction::FascicoloClose,
    };
    audit::append(
        conn,
        &entry(actor, action, "fascicolo", id.to_string(), serde_json::json!({ "identifier": f.identifier.to_string() })),
    )
    .await?;
    Ok(f)
}

/// Puts a registration of `register` into a fascicolo. The database refuses a closed
/// fascicolo and an annulled registration (named constraints, mapped here to Italian).
pub async fn add(
    conn: &mut PgConnection,
    register: &Register,
    actor: &Actor,
    id: FascicoloId,
    registration: RegistrationId,
) -> Result<(), Error> {
    let f = get(conn, register, id).await?;
    sqlx::query_scalar!(
        "select id from registrations where id = $1 and register_id = $2",
        registration.get(),
        register.id
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::NotFound { what: format!("registration {registration}") })?;
    sqlx::query!(
        "insert into fascicolo_registrations (fascicolo_id, registration_id, added_by) values ($1, $2, $3)",
        id.get(),
        registration.get(),
        actor.as_str(),
    )
    .execute(&mut *conn)
    .await
    .map_err(|err| match crate::error::constraint(&err) {
        Some("fascicolo_registrations_open") => {
            Error::invalid("fascicolo", format!("il fascicolo {} è chiuso: non si possono aggiungere registrazioni", f.identifier))
        }
        Some("fascicolo_registrations_not_annulled") => {
            Error::invalid("registrazione", "è annullata: non si può inserire in un fascicolo")
        }
        Some("fascicolo_registrations_once") => {
            Error::invalid("registrazione", format!("è già nel fascicolo {}", f.identifier))
        }
        _ => Error::from(err),
    })?;
    audit::append(
        conn,
        &entry(
            actor,
            AuditAction::FascicoloAdd,
            "registration",
            registration.to_string(),
            serde_json::json!({ "fascicolo": id.get(), "identifier": f.identifier.to_string() }),
        ),
    )
    .await?;
    Ok(())
}

/// A page of the fascicoli of `register`'s AOO, newest first, and how many match in all.
pub async fn list(
    conn: &mut PgConnection,
    register: &Register,
    filter: &Filter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Fascicolo>, i64), Error> {
    let rows = sqlx::query!(
        r#"
        select f.id, f.class_code, f.year, f.number, e.description as class_description, f.subject,
               f.office_id, o.code as office_code, o.name as office_name,
               f.state as "state: State", f.opened_at, f.closed_at, f.created_by,
               (select count(*) from fascicolo_registrations l where l.fascicolo_id = f.id) as "registrations!",
               count(*) over () as "total!"
        from fascicoli f
        join titolario_entries e on e.id = f.entry_id
        join offices o on o.id = f.office_id
        where f.aoo_id = (select aoo_id from registers where id = $1)
          and ($2::fascicolo_state is null or f.state = $2)
          and ($3::text is null or upper(f.class_code) = upper($3))
          and ($4::integer is null or f.year = $4)
        order by f.id desc
        limit $5 offset $6
        "#,
        register.id,
        filter.state as Option<State>,
        filter.class_code.as_deref().map(str::trim),
        filter.year,
        limit,
        offset.max(0),
    )
    .fetch_all(&mut *conn)
    .await?;
    let total = rows.first().map_or(0, |r| r.total);
    let items = rows
        .into_iter()
        .map(|f| Fascicolo {
            id: FascicoloId::new(f.id),
            identifier: Identifier { class_code: f.class_code, year: f.year, number: f.number },
            class_description: f.class_description,
            subject: f.subject,
            office_id: f.office_id,
            office_code: f.office_code,
            office_name: f.office_name,
            state: f.state,
            opened_at: f.opened_at,
            closed_at: f.closed_at,
            created_by: f.created_by,
            registrations: f.registrations,
        })
        .collect();
    Ok((items, total))
}

/// The registrations in a fascicolo, in the order they were added.
pub async fn members(conn: &mut PgConnection, id: FascicoloId) -> Result<Vec<Member>, Error> {
    let rows = sqlx::query!(
        r#"
        select r.id, r.number, r.year, r.subject, r.registered_at,
               exists (select 1 from annulments a where a.registration_id = r.id) as "annulled!",
               l.added_at, l.added_by
        from fascicolo_registrations l join registrations r on r.id = l.registration_id
        where l.fascicolo_id = $1
        order by l.id
        "#,
        id.get(),
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(Member {
            registration_id: RegistrationId::new(r.id),
            number: ProtocolNumber::parse(r.number)?,
            year: r.year,
            subject: r.subject,
            registered_at: r.registered_at,
            annulled: r.annulled,
            added_at: r.added_at,
            added_by: r.added_by,
        });
    }
    Ok(out)
}

/// The fascicoli a registration sits in, in the order it was added to them.
pub async fn of_registration(conn: &mut PgConnection, registration: RegistrationId) -> Result<Vec<Summary>, Error> {
    let rows = sqlx::query!(
        r#"
        select f.id, f.class_code, f.year, f.number, f.subject, f.state as "state: State", l.added_at, l.added_by
        from fascicolo_registrations l join fascicoli f on f.id = l.fascicolo_id
        where l.registration_id = $1
        order by l.id
        "#,
        registration.get(),
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Summary {
            id: FascicoloId::new(r.id),
            identifier: Identifier { class_code: r.class_code, year: r.year, number: r.number },
            subject: r.subject,
            state: r.state,
            added_at: r.added_at,
            added_by: r.added_by,
        })
        .collect())
}

/// The open fascicoli of `register`'s AOO that a registration is not yet in (the choices of
/// the record page's form), newest first, at most `limit`.
pub async fn open_without(
    conn: &mut PgConnection,
    register: &Register,
    registration: RegistrationId,
    limit: i64,
) -> Result<Vec<(FascicoloId, Identifier, String)>, Error> {
    let rows = sqlx::query!(
        r#"
        select f.id, f.class_code, f.year, f.number, f.subject
        from fascicoli f
        where f.aoo_id = (select aoo_id from registers where id = $1) and f.state = 'open'
          and not exists (select 1 from fascicolo_registrations l where l.fascicolo_id = f.id and l.registration_id = $2)
        order by f.id desc
        limit $3
        "#,
        register.id,
        registration.get(),
        limit,
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (FascicoloId::new(r.id), Identifier { class_code: r.class_code, year: r.year, number: r.number }, r.subject))
        .collect())
}
