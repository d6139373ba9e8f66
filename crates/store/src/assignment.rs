//! Assignment (smistamento): a registration goes to an office or a person for competenza
//! (one current at a time: the newest) or for conoscenza (as many as needed); the assignee
//! takes it in charge, refuses it with a reason (it goes back to the protocol office), or
//! passes it on. Every step is a new row (`assignments`, `assignment_actions`, migration
//! 0024), never an update: the current state of an assignment is derived from the rows, and
//! the rows are its history. Office membership (who may act for an office) lives here too.
//!
//! An annulled registration can no longer be assigned: checked here for a clear message and
//! by a trigger for every writer. Each act takes the registration's row lock (`for update`,
//! which an annulment's foreign-key check also needs), so an annulment and an assignment of
//! the same registration never interleave.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;

use crate::Error;
use crate::audit::{self, AuditAction, NewAuditEntry};
use crate::codes::ProtocolNumber;
use crate::ids::RegistrationId;
use crate::register::{Actor, Register};

/// Why a registration is assigned (`assignment_kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, sqlx::Type)]
#[sqlx(type_name = "assignment_kind", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// The office or person that handles it: one at a time.
    Competenza,
    /// Offices or people that must know about it: as many as needed.
    Conoscenza,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Competenza => "competenza",
            Kind::Conoscenza => "conoscenza",
        }
    }

    pub fn parse(s: &str) -> Result<Self, Error> {
        match s.trim() {
            "" | "competenza" => Ok(Kind::Competenza),
            "conoscenza" => Ok(Kind::Conoscenza),
            other => Err(Error::invalid("tipo", format!("«{other}» non è competenza o conoscenza"))),
        }
    }
}

/// What the assignee did with an assignment (`assignment_step`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, sqlx::Type)]
#[sqlx(type_name = "assignment_step", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Step {
    PresaInCarico,
    Rifiuto,
    Passaggio,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::PresaInCarico => "presa_in_carico",
            Step::Rifiuto => "rifiuto",
            Step::Passaggio => "passaggio",
        }
    }
}

/// Who an assignment goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Office(i64),
    /// A member of staff, by `staff_users.id`.
    Person(i64),
}

/// The state of an assignment, derived from its rows by the view `assignment_states`
/// (migration 0027), the one place that rule is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type)]
#[sqlx(type_name = "assignment_state")]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Competenza, waiting for the assignee (da prendere in carico).
    #[sqlx(rename = "da_prendere")]
    Pending,
    /// Competenza, taken in charge by a person.
    #[sqlx(rename = "in_carico")]
    InCharge,
    /// Refused by the assignee: back to the protocol office.
    #[sqlx(rename = "rifiutata")]
    Refused,
    /// Passed on by the assignee to another office or person.
    #[sqlx(rename = "passata")]
    Passed,
    /// A newer competenza assignment replaced it.
    #[sqlx(rename = "superata")]
    Superseded,
    /// Conoscenza: the office or person knows about it.
    #[sqlx(rename = "conoscenza")]
    ForInformation,
}

impl State {
    /// Still in force: the assignee may act on it (competenza) or sees it (conoscenza).
    pub fn is_current(self) -> bool {
        matches!(self, State::Pending | State::InCharge | State::ForInformation)
    }
}

/// One assignment with what happened to it.
#[derive(Debug, Clone, Serialize)]
pub struct Assignment {
    pub id: i64,
    pub registration_id: RegistrationId,
    pub kind: Kind,
    pub office_id: Option<i64>,
    pub office_code: Option<String>,
    pub office_name: Option<String>,
    pub user_id: Option<i64>,
    pub username: Option<String>,
    pub full_name: Option<String>,
    pub assigned_at: DateTime<Utc>,
    pub assigned_by: String,
    pub note: Option<String>,
    /// The assignment whose assignee passed the registration on to this one.
    pub passed_from: Option<i64>,
    pub taken_at: Option<DateTime<Utc>>,
    pub taken_by: Option<String>,
    pub taken_user: Option<i64>,
    pub end_step: Option<Step>,
    pub ended_at: Option<DateTime<Utc>>,
    pub ended_by: Option<String>,
    pub end_reason: Option<String>,
    pub superseded: bool,
    pub state: State,
}

impl Assignment {
    pub fn state(&self) -> State {
        self.state
    }

    /// "RAG — Ragioneria" or "Mario Rossi (m.rossi)".
    pub fn target_label(&self) -> String {
        match (&self.office_code, &self.office_name, &self.username, &self.full_name) {
            (Some(c), Some(n), _, _) => format!("{c} — {n}"),
            (_, _, Some(u), Some(f)) => format!("{f} ({u})"),
            _ => "—".to_owned(),
        }
    }

    /// Whether the person `user_id`, member of `offices`, may take, refuse or pass it on:
    /// a current competenza assignment to them or to one of their offices; once taken in
    /// charge, only by whoever took it.
    pub fn actionable_by(&self, user_id: i64, offices: &[i64]) -> bool {
        let addressed = self.user_id == Some(user_id) || self.office_id.is_some_and(|o| offices.contains(&o));
        match self.state() {
            State::Pending => addressed,
            State::InCharge => self.taken_user == Some(user_id),
            _ => false,
        }
    }
}

fn entry(actor: &Actor, action: AuditAction, object_type: &str, object_id: String, details: serde_json::Value) -> NewAuditEntry {
    NewAuditEntry { actor: actor.as_str().to_owned(), action, object_type: object_type.to_owned(), object_id, details }
}

/// Locks the registration (see the module's note) and refuses an annulled one.
async fn lock_registration(conn: &mut PgConnection, registration_id: RegistrationId) -> Result<(), Error> {
    sqlx::query_scalar!("select id from registrations where id = $1 for update", registration_id.get())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| Error::NotFound { what: format!("registration id {registration_id}") })?;
    let annulled = sqlx::query_scalar!(
        r#"select exists (select 1 from annulments where registration_id = $1) as "annulled!""#,
        registration_id.get()
    )
    .fetch_one(&mut *conn)
    .await?;
    if annulled {
        return Err(Error::invalid("registrazione", "è annullata: non si può più assegnare né trattare"));
    }
    Ok(())
}

/// The code (office) or username (person) of a target that may receive an assignment: an
/// active office, an enabled account.
async fn check_target(conn: &mut PgConnection, target: Target) -> Result<serde_json::Value, Error> {
    match target {
        Target::Office(id) => {
            let o = sqlx::query!("select code, active from offices where id = $1", id)
                .fetch_optional(&mut *conn)
                .await?
                .ok_or_else(|| Error::invalid("ufficio", format!("l'ufficio {id} non esiste")))?;
            if !o.active {
                return Err(Error::invalid("ufficio", format!("l'ufficio {} non è attivo", o.code)));
            }
            Ok(serde_json::json!({ "office": o.code }))
        }
        Target::Person(id) => {
            let u = sqlx::query!("select username, disabled_at from staff_users where id = $1", id)
                .fetch_optional(&mut *conn)
                .await?
                .ok_or_else(|| Error::invalid("persona", format!("l'utente {id} non esiste")))?;
            if u.disabled_at.is_some() {
                return Err(Error::invalid("persona", format!("l'utente {} è disattivato", u.username)));
            }
            Ok(serde_json::json!({ "person": u.username }))
        }
    }
}

async fn insert(
    conn: &mut PgConnection,
    actor: &Actor,
    registration_id: RegistrationId,
    target: Target,
    kind: Kind,
    note: Option<&str>,
    passed_from: Option<i64>,
) -> Result<i64, Error> {
    let (office, user) = match target {
        Target::Office(o) => (Some(o), None),
        Target::Person(u) => (None, Some(u)),
    };
    Ok(sqlx::query_scalar!(
        r#"
        insert into assignments (registration_id, office_id, user_id, kind, assigned_by, note, passed_from)
        values ($1, $2, $3, $4, $5, $6, $7) returning id
        "#,
        registration_id.get(),
        office,
        user,
        kind as Kind,
        actor.as_str(),
        note,
        passed_from,
    )
    .fetch_one(&mut *conn)
    .await?)
}

/// Assigns a registration (the protocol office). A competenza assignment replaces the
/// current one, which stays as history; conoscenza adds one more, unless the same office or
/// person already has it. Returns the new assignment's id.
pub async fn assign(
    conn: &mut PgConnection,
    actor: &Actor,
    registration_id: RegistrationId,
    target: Target,
    kind: Kind,
    note: Option<&str>,
) -> Result<i64, Error> {
    lock_registration(conn, registration_id).await?;
    let mut details = check_target(conn, target).await?;
    let note = note.map(str::trim).filter(|n| !n.is_empty());
    if kind == Kind::Conoscenza {
        let (office, user) = match target {
            Target::Office(o) => (Some(o), None),
            Target::Person(u) => (None, Some(u)),
        };
        let already = sqlx::query_scalar!(
            r#"
            select exists (select 1 from assignments where registration_id = $1 and kind = 'conoscenza'
                           and (office_id = $2 or user_id = $3)) as "already!"
            "#,
            registration_id.get(),
            office,
            user,
        )
        .fetch_one(&mut *conn)
        .await?;
        if already {
            return Err(Error::invalid("destinatario", "ha già la registrazione per conoscenza"));
        }
    }
    let id = insert(conn, actor, registration_id, target, kind, note, None).await?;
    details["kind"] = kind.as_str().into();
    details["assignment"] = id.into();
    audit::append(conn, &entry(actor, AuditAction::RegistrationAssign, "registration", registration_id.to_string(), details)).await?;
    Ok(id)
}

/// One assignment, with what happened to it.
pub async fn get(conn: &mut PgConnection, assignment_id: i64) -> Result<Assignment, Error> {
    let registration_id = sqlx::query_scalar!("select registration_id from assignments where id = $1", assignment_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| Error::NotFound { what: format!("assignment {assignment_id}") })?;
    of_registration(conn, RegistrationId::new(registration_id))
        .await?
        .into_iter()
        .find(|a| a.id == assignment_id)
        .ok_or_else(|| Error::NotFound { what: format!("assignment {assignment_id}") })
}

/// Loads the assignment under the registration's lock and checks that `user_id` may act on it.
async fn actionable(conn: &mut PgConnection, user_id: i64, assignment_id: i64) -> Result<Assignment, Error> {
    let a = get(conn, assignment_id).await?;
    lock_registration(conn, a.registration_id).await?;
    // Read again under the lock: another clerk may have acted in between.
    let a = get(conn, assignment_id).await?;
    let offices = offices_of(conn, user_id).await?;
    if !a.actionable_by(user_id, &offices) {
        return Err(Error::invalid(
            "assegnazione",
            match a.state() {
                State::Pending | State::InCharge => "non è assegnata a lei né a un suo ufficio",
                State::Refused => "è già stata rifiutata",
                State::Passed => "è già stata passata ad altri",
                State::Superseded => "è stata sostituita da un'assegnazione più recente",
                State::ForInformation => "è per conoscenza: non si prende in carico",
            },
        ));
    }
    Ok(a)
}

async fn act(
    conn: &mut PgConnection,
    actor: &Actor,
    user_id: i64,
    assignment_id: i64,
    step: Step,
    reason: Option<&str>,
) -> Result<(), Error> {
    sqlx::query!(
        "insert into assignment_actions (assignment_id, step, acted_by, user_id, reason) values ($1, $2, $3, $4, $5)",
        assignment_id,
        step as Step,
        actor.as_str(),
        user_id,
        reason,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Takes a pending competenza assignment in charge (presa in carico).
pub async fn take(conn: &mut PgConnection, actor: &Actor, user_id: i64, assignment_id: i64) -> Result<RegistrationId, Error> {
    let a = actionable(conn, user_id, assignment_id).await?;
    if a.state() != State::Pending {
        return Err(Error::invalid("assegnazione", "è già in carico"));
    }
    act(conn, actor, user_id, assignment_id, Step::PresaInCarico, None).await?;
    audit::append(
        conn,
        &entry(actor, AuditAction::AssignmentTake, "registration", a.registration_id.to_string(), serde_json::json!({ "assignment": assignment_id })),
    )
    .await?;
    Ok(a.registration_id)
}

/// Refuses a pending competenza assignment with a reason (rifiuto): the registration goes
/// back to the protocol office's list of refused assignments.
pub async fn refuse(
    conn: &mut PgConnection,
    actor: &Actor,
    user_id: i64,
    assignment_id: i64,
    reason: &str,
) -> Result<RegistrationId, Error> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(Error::invalid("motivo", "il rifiuto richiede un motivo"));
    }
    let a = actionable(conn, user_id, assignment_id).await?;
    if a.state() != State::Pending {
        return Err(Error::invalid("assegnazione", "è già in carico: si può passare ad altri, non rifiutare"));
    }
    act(conn, actor, user_id, assignment_id, Step::Rifiuto, Some(reason)).await?;
    audit::append(
        conn,
        &entry(actor, AuditAction::AssignmentRefuse, "registration", a.registration_id.to_string(), serde_json::json!({ "assignment": assignment_id })),
    )
    .await?;
    Ok(a.registration_id)
}

/// Passes a competenza assignment on to another office or person, with a note (passaggio):
/// it ends, and a new competenza assignment names it in `passed_from`. Returns the
/// registration and the new assignment's id.
pub async fn pass(
    conn: &mut PgConnection,
    actor: &Actor,
    user_id: i64,
    assignment_id: i64,
    target: Target,
    note: &str,
) -> Result<(RegistrationId, i64), Error> {
    let note = note.trim();
    if note.is_empty() {
        return Err(Error::invalid("nota", "il passaggio richiede una nota per chi lo riceve"));
    }
    let a = actionable(conn, user_id, assignment_id).await?;
    let same = match target {
        Target::Office(o) => a.office_id == Some(o),
        Target::Person(u) => a.user_id == Some(u),
    };
    if same {
        return Err(Error::invalid("destinatario", "è già l'assegnatario"));
    }
    let mut details = check_target(conn, target).await?;
    act(conn, actor, user_id, assignment_id, Step::Passaggio, Some(note)).await?;
    let new = insert(conn, actor, a.registration_id, target, Kind::Competenza, Some(note), Some(assignment_id)).await?;
    details["from_assignment"] = assignment_id.into();
    details["assignment"] = new.into();
    audit::append(conn, &entry(actor, AuditAction::AssignmentPass, "registration", a.registration_id.to_string(), details)).await?;
    Ok((a.registration_id, new))
}

/// Every assignment of a registration, oldest first.
pub async fn of_registration(conn: &mut PgConnection, registration_id: RegistrationId) -> Result<Vec<Assignment>, Error> {
    let rows = sqlx::query!(
        r#"
        select s.id as "id!", s.registration_id as "registration_id!", s.kind as "kind!: Kind", s.office_id,
               o.code as "office_code?", o.name as "office_name?",
               s.user_id, u.username as "username?", u.full_name as "full_name?",
               s.assigned_at as "assigned_at!", s.assigned_by as "assigned_by!", s.note, s.passed_from,
               s.taken_at, s.taken_by, s.taken_user, s.end_step as "end_step?: Step", s.ended_at, s.ended_by, s.end_reason,
               s.superseded as "superseded!", s.state as "state!: State"
        from assignment_states s
        left join offices o on o.id = s.office_id
        left join staff_users u on u.id = s.user_id
        where s.registration_id = $1
        order by s.id
        "#,
        registration_id.get(),
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Assignment {
            id: r.id,
            registration_id: RegistrationId::new(r.registration_id),
            kind: r.kind,
            office_id: r.office_id,
            office_code: r.office_code,
            office_name: r.office_name,
            user_id: r.user_id,
            username: r.username,
            full_name: r.full_name,
            assigned_at: r.assigned_at,
            assigned_by: r.assigned_by,
            note: r.note,
            passed_from: r.passed_from,
            taken_at: r.taken_at,
            taken_by: r.taken_by,
            taken_user: r.taken_user,
            end_step: r.end_step,
            ended_at: r.ended_at,
            ended_by: r.ended_by,
            end_reason: r.end_reason,
            superseded: r.superseded,
            state: r.state,
        })
        .collect())
}

/// The offices `user_id` belongs to.
pub async fn offices_of(conn: &mut PgConnection, user_id: i64) -> Result<Vec<i64>, Error> {
    Ok(sqlx::query_scalar!("select office_id from office_members where user_id = $1 order by office_id", user_id)
        .fetch_all(&mut *conn)
        .await?)
}

/// Whether the registration was ever assigned to `user_id` or to one of their offices, or
/// they acted on one of its assignments: what office staff may open.
pub async fn visible_to(conn: &mut PgConnection, registration_id: RegistrationId, user_id: i64) -> Result<bool, Error> {
    Ok(sqlx::query_scalar!(
        r#"
        select exists (
            select 1 from assignments a
            where a.registration_id = $1
              and (a.user_id = $2
                   or a.office_id in (select office_id from office_members where user_id = $2)
                   or exists (select 1 from assignment_actions x where x.assignment_id = a.id and x.user_id = $2))
        ) as "visible!"
        "#,
        registration_id.get(),
        user_id,
    )
    .fetch_one(&mut *conn)
    .await?)
}

/// The lists of the inbox page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboxView {
    /// Competenza waiting to be taken in charge.
    ToTake,
    /// Competenza taken in charge (by the person, or with an office: by its members).
    InCharge,
    /// Conoscenza.
    ForInformation,
    /// Competenza refused and not yet assigned again: the protocol office's list.
    Refused,
}

impl InboxView {
    /// The state of the assignments the list shows.
    fn state(self) -> State {
        match self {
            InboxView::ToTake => State::Pending,
            InboxView::InCharge => State::InCharge,
            InboxView::ForInformation => State::ForInformation,
            InboxView::Refused => State::Refused,
        }
    }
}

/// Whose list: a person's own (what is addressed to them or to their `offices`, as
/// [`offices_of`] gives them, what they took in charge, all the refusals for the protocol
/// office) or one office's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboxOf<'a> {
    Person { user: i64, offices: &'a [i64] },
    Office(i64),
}

/// Where a list's rows come from. Each source is read newest first through its own index
/// and stops after the rows wanted, so a list costs what it shows, not what the office has
/// accumulated over the years: an office by `assignments_office`, a person by
/// `assignments_user`, what a person took by `assignment_actions_user`, the refusals by
/// `assignment_actions_refused`.
#[derive(Debug, Default, PartialEq, Eq)]
struct Sources {
    offices: Vec<i64>,
    user: Option<i64>,
    taken_by: Option<i64>,
    all_refused: bool,
}

fn sources(of: InboxOf<'_>, view: InboxView) -> Sources {
    match (of, view) {
        (InboxOf::Office(o), _) => Sources { offices: vec![o], ..Sources::default() },
        (InboxOf::Person { user, offices }, InboxView::ToTake | InboxView::ForInformation) => {
            Sources { offices: offices.to_vec(), user: Some(user), ..Sources::default() }
        }
        (InboxOf::Person { user, .. }, InboxView::InCharge) => Sources { taken_by: Some(user), ..Sources::default() },
        (InboxOf::Person { .. }, InboxView::Refused) => Sources { all_refused: true, ..Sources::default() },
    }
}

/// The ids of the newest `limit` assignments of a list, newest first.
async fn list_ids(conn: &mut PgConnection, register: &Register, view: InboxView, from: &Sources, limit: i64) -> Result<Vec<i64>, Error> {
    // A superseded assignment is in none of the lists; of the states shown only a refusal
    // can be superseded (assigned again by the protocol office), the others become
    // `superata`.
    Ok(sqlx::query_scalar!(
        r#"
        select x.id as "id!" from (
            select s.id
            from unnest($3::bigint[]) as o(office_id)
            cross join lateral (
                select s.id from assignment_states s
                where s.office_id = o.office_id and s.register_id = $1 and s.state = $2 and not s.superseded
                order by s.id desc limit $7) s
            union all
            (select s.id from assignment_states s
             where s.user_id = $4 and s.register_id = $1 and s.state = $2 and not s.superseded
             order by s.id desc limit $7)
            union all
            (select s.id from assignment_states s
             where s.taken_user = $5 and s.register_id = $1 and s.state = $2 and not s.superseded
             order by s.id desc limit $7)
            union all
            (select s.id from assignment_states s
             where $6 and s.end_step = 'rifiuto' and s.register_id = $1 and s.state = $2 and not s.superseded
             order by s.id desc limit $7)
        ) x
        order by x.id desc
        limit $7
        "#,
        register.id,
        view.state() as State,
        &from.offices,
        from.user,
        from.taken_by,
        from.all_refused,
        limit,
    )
    .fetch_all(&mut *conn)
    .await?)
}

/// One line of an inbox list.
#[derive(Debug, Clone, Serialize)]
pub struct InboxItem {
    pub assignment_id: i64,
    pub registration_id: RegistrationId,
    pub number: ProtocolNumber,
    pub year: i32,
    pub subject: String,
    pub registered_at: DateTime<Utc>,
    pub annulled: bool,
    pub kind: Kind,
    pub target: String,
    pub assigned_at: DateTime<Utc>,
    pub assigned_by: String,
    pub note: Option<String>,
    pub taken_by: Option<String>,
    pub end_reason: Option<String>,
    pub ended_by: Option<String>,
}

/// A count that stops at a limit, as the lists show it ("più di 1.000").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counted {
    pub count: i64,
    /// The counting stopped: there are more than `count`.
    pub more: bool,
}

/// A page of an inbox list, newest assignment first, and how many lines it has in all,
/// counted up to `count_cap` (or to the end of the page, when that is further).
pub async fn inbox(
    conn: &mut PgConnection,
    register: &Register,
    of: InboxOf<'_>,
    view: InboxView,
    limit: i64,
    offset: i64,
    count_cap: i64,
) -> Result<(Vec<InboxItem>, Counted), Error> {
    let offset = offset.max(0);
    let from = sources(of, view);
    let cap = count_cap.max(offset + limit);
    let ids = list_ids(conn, register, view, &from, cap + 1).await?;
    let total = Counted { count: (ids.len() as i64).min(cap), more: ids.len() as i64 > cap };
    let page: Vec<i64> = ids.into_iter().skip(offset as usize).take(limit.max(0) as usize).collect();
    let rows = sqlx::query!(
        r#"
        select s.id as "id!", s.registration_id as "registration_id!", r.year, r.number, r.subject, r.registered_at,
               exists (select 1 from annulments n where n.registration_id = r.id) as "annulled!",
               s.kind as "kind!: Kind", s.assigned_at as "assigned_at!", s.assigned_by as "assigned_by!", s.note,
               coalesce(o.code || ' — ' || o.name, u.full_name || ' (' || u.username || ')') as "target!",
               s.taken_by, s.end_reason, s.ended_by
        from assignment_states s
        join registrations r on r.id = s.registration_id
        left join offices o on o.id = s.office_id
        left join staff_users u on u.id = s.user_id
        where s.id = any($1)
        order by s.id desc
        "#,
        &page,
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut items = Vec::with_capacity(rows.len());
    for r in rows {
        items.push(InboxItem {
            assignment_id: r.id,
            registration_id: RegistrationId::new(r.registration_id),
            number: ProtocolNumber::parse(r.number)?,
            year: r.year,
            subject: r.subject,
            registered_at: r.registered_at,
            annulled: r.annulled,
            kind: r.kind,
            target: r.target,
            assigned_at: r.assigned_at,
            assigned_by: r.assigned_by,
            note: r.note,
            taken_by: r.taken_by,
            end_reason: r.end_reason,
            ended_by: r.ended_by,
        });
    }
    Ok((items, total))
}

/// The counters of a person's inbox (and the protocol office's refused list), each counted
/// up to `count_cap`.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct InboxCounts {
    pub to_take: Counted,
    pub in_charge: Counted,
    pub for_information: Counted,
    /// Counted only when asked for: only the protocol office sees that list.
    pub refused: Option<Counted>,
}

/// The counters of the inbox of `person` (a [`InboxOf::Person`]), with the refused list's
/// when `with_refused`.
pub async fn inbox_counts(
    conn: &mut PgConnection,
    register: &Register,
    person: InboxOf<'_>,
    with_refused: bool,
    count_cap: i64,
) -> Result<InboxCounts, Error> {
    Ok(InboxCounts {
        to_take: counted(conn, register, person, InboxView::ToTake, count_cap).await?,
        in_charge: counted(conn, register, person, InboxView::InCharge, count_cap).await?,
        for_information: counted(conn, register, person, InboxView::ForInformation, count_cap).await?,
        refused: if with_refused { Some(counted(conn, register, person, InboxView::Refused, count_cap).await?) } else { None },
    })
}

async fn counted(conn: &mut PgConnection, register: &Register, of: InboxOf<'_>, view: InboxView, cap: i64) -> Result<Counted, Error> {
    let from = sources(of, view);
    let n = list_ids(conn, register, view, &from, cap + 1).await?.len() as i64;
    Ok(Counted { count: n.min(cap), more: n > cap })
}

/// A step of assignment made in a period (the daily register lists them): an assignment
/// (`assegnazione`, `passaggio`) or what an assignee did (`presa_in_carico`, `rifiuto`).
#[derive(Debug, Clone, Serialize)]
pub struct DayStep {
    pub registration_id: RegistrationId,
    pub number: ProtocolNumber,
    pub year: i32,
    pub segnatura: String,
    pub at: DateTime<Utc>,
    pub by: String,
    pub step: String,
    pub kind: Kind,
    pub office_code: Option<String>,
    pub office_name: Option<String>,
    pub person: Option<String>,
    pub note: Option<String>,
}

/// Every step of assignment made in `[from, to)` in the register, in the order made.
pub async fn steps_between(
    conn: &mut PgConnection,
    register: &Register,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<DayStep>, Error> {
    let rows = sqlx::query!(
        r#"
        select s.registration_id as "registration_id!", s.year as "year!", s.number as "number!",
               s.segnatura as "segnatura!", s.at as "at!", s.by as "by!", s.step as "step!", s.kind as "kind!: Kind",
               s.office_code, s.office_name, s.person, s.note
        from (
            select r.id as registration_id, r.year, r.number, r.segnatura, a.assigned_at as at, a.assigned_by as by,
                   case when a.passed_from is null then 'assegnazione' else 'passaggio' end as step,
                   a.kind, o.code as office_code, o.name as office_name, u.username as person, a.note, a.id as ord
            from assignments a
            join registrations r on r.id = a.registration_id
            left join offices o on o.id = a.office_id
            left join staff_users u on u.id = a.user_id
            where r.register_id = $1 and a.assigned_at >= $2 and a.assigned_at < $3
            union all
            select r.id, r.year, r.number, r.segnatura, x.acted_at, x.acted_by, x.step::text,
                   a.kind, o.code, o.name, u.username, x.reason, x.id
            from assignment_actions x
            join assignments a on a.id = x.assignment_id
            join registrations r on r.id = a.registration_id
            left join offices o on o.id = a.office_id
            left join staff_users u on u.id = a.user_id
            where r.register_id = $1 and x.acted_at >= $2 and x.acted_at < $3 and x.step <> 'passaggio'
        ) s
        order by s.at, s.ord
        "#,
        register.id,
        from,
        to,
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(DayStep {
            registration_id: RegistrationId::new(r.registration_id),
            number: ProtocolNumber::parse(r.number)?,
            year: r.year,
            segnatura: r.segnatura,
            at: r.at,
            by: r.by,
            step: r.step,
            kind: r.kind,
            office_code: r.office_code,
            office_name: r.office_name,
            person: r.person,
            note: r.note,
        });
    }
    Ok(out)
}

/// A member of an office, for the office's page.
#[derive(Debug, Clone, Serialize)]
pub struct Member {
    pub user_id: i64,
    pub username: String,
    pub full_name: String,
    pub added_at: DateTime<Utc>,
    pub added_by: String,
}

pub async fn members(conn: &mut PgConnection, office_id: i64) -> Result<Vec<Member>, Error> {
    Ok(sqlx::query_as!(
        Member,
        r#"
        select m.user_id, u.username, u.full_name, m.added_at, m.added_by
        from office_members m join staff_users u on u.id = m.user_id
        where m.office_id = $1 order by u.username
        "#,
        office_id,
    )
    .fetch_all(&mut *conn)
    .await?)
}

async fn user_id_of(conn: &mut PgConnection, username: &str) -> Result<i64, Error> {
    sqlx::query_scalar!("select id from staff_users where username = $1", username.trim())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| Error::invalid("username", format!("«{}» non è un utente", username.trim())))
}

/// Adds a person to an office.
pub async fn add_member(conn: &mut PgConnection, actor: &Actor, office_id: i64, username: &str) -> Result<(), Error> {
    let code = sqlx::query_scalar!("select code from offices where id = $1", office_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| Error::NotFound { what: format!("office {office_id}") })?;
    let user_id = user_id_of(conn, username).await?;
    let added = sqlx::query!(
        "insert into office_members (office_id, user_id, added_by) values ($1, $2, $3) on conflict do nothing",
        office_id,
        user_id,
        actor.as_str(),
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if added == 0 {
        return Err(Error::invalid("username", format!("«{}» è già nell'ufficio {code}", username.trim())));
    }
    audit::append(
        conn,
        &entry(actor, AuditAction::OfficeMemberAdd, "office", office_id.to_string(), serde_json::json!({ "code": code, "username": username.trim() })),
    )
    .await?;
    Ok(())
}

/// Removes a person from an office; what they did for it stays in the history.
pub async fn remove_member(conn: &mut PgConnection, actor: &Actor, office_id: i64, username: &str) -> Result<(), Error> {
    let user_id = user_id_of(conn, username).await?;
    let code = sqlx::query_scalar!(
        "delete from office_members m using offices o where m.office_id = $1 and m.user_id = $2 and o.id = m.office_id returning o.code",
        office_id,
        user_id,
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::NotFound { what: format!("member {username} of office {office_id}") })?;
    audit::append(
        conn,
        &entry(actor, AuditAction::OfficeMemberRemove, "office", office_id.to_string(), serde_json::json!({ "code": code, "username": username.trim() })),
    )
    .await?;
    Ok(())
}

/// A person who may receive an assignment (an enabled account), for the forms.
#[derive(Debug, Clone, Serialize)]
pub struct Person {
    pub id: i64,
    pub username: String,
    pub full_name: String,
}

pub async fn people(conn: &mut PgConnection) -> Result<Vec<Person>, Error> {
    Ok(sqlx::query_as!(
        Person,
        "select id, username, full_name from staff_users where disabled_at is null and role <> 'amministratore' order by full_name, username"
    )
    .fetch_all(&mut *conn)
    .await?)
}
