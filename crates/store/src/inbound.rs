//! Inbound messages: the row written as soon as the raw bytes are stored, the decision
//! written with (or instead of) the registration, errors and retries, and where the intake
//! stopped in each IMAP mailbox.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;

use crate::Error;
use crate::codes::ProtocolNumber;
use crate::ids::{InboundId, RegistrationId};
use crate::register::{Register, Sha256};

/// Processing state of an inbound message (`message_state` in the schema).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type)]
#[sqlx(type_name = "message_state", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum MessageState {
    Received,
    Registered,
    Rejected,
    Review,
    Receipt,
    Error,
}

impl MessageState {
    /// Whether a decision has been written: the message is never processed again.
    pub fn is_decided(self) -> bool {
        !matches!(self, MessageState::Received | MessageState::Error)
    }

    /// Whether the office may still decide on it: rejected messages and those in review.
    pub fn awaits_office(self) -> bool {
        matches!(self, MessageState::Rejected | MessageState::Review)
    }
}

/// The PEC category the classifier found (`pec_type` in the schema).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type)]
#[sqlx(type_name = "pec_type", rename_all = "kebab-case")]
#[serde(rename_all = "kebab-case")]
pub enum PecType {
    /// A transport envelope (`X-Trasporto: posta-certificata`).
    PostaCertificata,
    /// An anomaly envelope: what arrived was not a valid PEC.
    Anomalia,
    /// A provider receipt.
    Ricevuta,
    /// No PEC header at all: ordinary e-mail.
    None,
}

/// Where a message came from.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    /// `user@host:port` of the IMAP account; `None` for `sigillo ingest`.
    pub account: Option<String>,
    pub mailbox: Option<String>,
    pub uidvalidity: Option<i64>,
    pub uid: Option<i64>,
}

/// An inbound message row as the intake needs it.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub id: InboundId,
    pub raw_sha256: Sha256,
    pub raw_size: i64,
    pub state: MessageState,
    pub reasons: serde_json::Value,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub duplicate_of: Option<InboundId>,
}

struct Row {
    id: InboundId,
    raw_sha256: Vec<u8>,
    raw_size: i64,
    state: MessageState,
    reasons: serde_json::Value,
    attempts: i32,
    last_error: Option<String>,
    duplicate_of: Option<InboundId>,
}

impl TryFrom<Row> for Inbound {
    type Error = Error;
    fn try_from(r: Row) -> Result<Self, Error> {
        Ok(Inbound {
            id: r.id,
            raw_sha256: Sha256::from_slice(&r.raw_sha256)?,
            raw_size: r.raw_size,
            state: r.state,
            reasons: r.reasons,
            attempts: r.attempts,
            last_error: r.last_error,
            duplicate_of: r.duplicate_of,
        })
    }
}

/// Records a message whose raw bytes are already in the blob store. Returns its row and
/// whether the row is new; the same bytes recorded again give back the existing row
/// untouched (its origin stays the first one; [`leave_in_mailbox`] changes it).
pub async fn record(
    conn: &mut PgConnection,
    raw_sha256: &Sha256,
    raw_size: i64,
    origin: &Origin,
) -> Result<(Inbound, bool), Error> {
    if raw_size < 0 {
        return Err(Error::invalid("raw_size", "negative"));
    }
    // `do nothing` returns no row on conflict: the existing one is read afterwards. Two
    // concurrent recorders of the same bytes both end up with the one row.
    let inserted = sqlx::query_scalar!(
        r#"
        insert into inbound_messages (raw_sha256, raw_size, account, mailbox, uidvalidity, uid)
        values ($1, $2, $3, $4, $5, $6)
        on conflict (raw_sha256) do nothing
        returning id as "id: InboundId"
        "#,
        &raw_sha256.0[..],
        raw_size,
        origin.account,
        origin.mailbox,
        origin.uidvalidity,
        origin.uid,
    )
    .fetch_optional(&mut *conn)
    .await?;
    let row = by_sha256(conn, raw_sha256)
        .await?
        .ok_or_else(|| Error::NotFound { what: format!("inbound message {raw_sha256}") })?;
    Ok((row, inserted.is_some()))
}

/// The message with these raw bytes, if recorded.
pub async fn by_sha256(conn: &mut PgConnection, raw_sha256: &Sha256) -> Result<Option<Inbound>, Error> {
    let row = sqlx::query_as!(
        Row,
        r#"
        select id as "id: InboundId", raw_sha256, raw_size, state as "state: MessageState", reasons,
               attempts, last_error, duplicate_of as "duplicate_of: InboundId"
        from inbound_messages where raw_sha256 = $1
        "#,
        &raw_sha256.0[..],
    )
    .fetch_optional(&mut *conn)
    .await?;
    row.map(Inbound::try_from).transpose()
}

/// The message with this id.
pub async fn by_id(conn: &mut PgConnection, id: InboundId) -> Result<Inbound, Error> {
    let row = sqlx::query_as!(
        Row,
        r#"
        select id as "id: InboundId", raw_sha256, raw_size, state as "state: MessageState", reasons,
               attempts, last_error, duplicate_of as "duplicate_of: InboundId"
        from inbound_messages where id = $1
        "#,
        id.get(),
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::NotFound { what: format!("inbound message {id}") })?;
    Inbound::try_from(row)
}

/// Reads and locks a message row for the decision transaction: a second process deciding
/// the same message waits here, then sees the first one's decision.
pub async fn lock(conn: &mut PgConnection, id: InboundId) -> Result<Inbound, Error> {
    let row = sqlx::query_as!(
        Row,
        r#"
        select id as "id: InboundId", raw_sha256, raw_size, state as "state: MessageState", reasons,
               attempts, last_error, duplicate_of as "duplicate_of: InboundId"
        from inbound_messages where id = $1 for update
        "#,
        id.get(),
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::NotFound { what: format!("inbound message {id}") })?;
    Inbound::try_from(row)
}

/// The transport envelope that already carries the decision for this PEC (same daticert
/// identificativo and msgid), other than `except`.
pub async fn pec_owner(
    conn: &mut PgConnection,
    identificativo: &str,
    msgid: Option<&str>,
    except: InboundId,
) -> Result<Option<Inbound>, Error> {
    let row = sqlx::query_as!(
        Row,
        r#"
        select id as "id: InboundId", raw_sha256, raw_size, state as "state: MessageState", reasons,
               attempts, last_error, duplicate_of as "duplicate_of: InboundId"
        from inbound_messages
        where pec_type = 'posta-certificata'::pec_type and duplicate_of is null
          and pec_identificativo = $1 and pec_msgid is not distinct from $2 and id <> $3
        "#,
        identificativo,
        msgid,
        except.get(),
    )
    .fetch_optional(&mut *conn)
    .await?;
    row.map(Inbound::try_from).transpose()
}

/// A decision to write on a message row.
#[derive(Debug, Clone)]
pub struct Decided {
    pub state: MessageState,
    /// `[{"code", "detail"}]`
    pub reasons: serde_json::Value,
    /// Who sent it and what it is about, as the register's rule reads them from the report
    /// (the queues list them without reading the report).
    pub sender: Option<String>,
    pub subject: Option<String>,
    pub pec_type: Option<PecType>,
    pub pec_receipt: Option<String>,
    pub pec_identificativo: Option<String>,
    pub pec_msgid: Option<String>,
    pub duplicate_of: Option<InboundId>,
    pub report: Option<serde_json::Value>,
}

/// Writes the decision, inside the caller's transaction (with the registration, if any).
pub async fn decide(conn: &mut PgConnection, id: InboundId, d: &Decided) -> Result<(), Error> {
    if !d.state.is_decided() {
        return Err(Error::invalid("state", format!("{:?} is not a decision", d.state)));
    }
    sqlx::query!(
        r#"
        update inbound_messages
        set state = $2, reasons = $3, sender = $4, subject = $5, pec_type = $6, pec_receipt = $7,
            pec_identificativo = $8, pec_msgid = $9, duplicate_of = $10, report = $11,
            last_error = null, decided_at = now(), updated_at = now()
        where id = $1
        "#,
        id.get(),
        d.state as MessageState,
        d.reasons,
        d.sender,
        d.subject,
        d.pec_type as Option<PecType>,
        d.pec_receipt,
        d.pec_identificativo,
        d.pec_msgid,
        d.duplicate_of.map(InboundId::get),
        d.report,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records a failed attempt (state `error`, the cause, one more attempt) unless the message
/// was decided meanwhile. Returns the number of attempts so far.
pub async fn record_error(conn: &mut PgConnection, id: InboundId, cause: &str) -> Result<i32, Error> {
    let attempts = sqlx::query_scalar!(
        r#"
        update inbound_messages
        set state = case when state in ('received', 'error') then 'error'::message_state else state end,
            attempts = attempts + 1, last_error = $2, updated_at = now()
        where id = $1
        returning attempts
        "#,
        id.get(),
        cause,
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::NotFound { what: format!("inbound message {id}") })?;
    Ok(attempts)
}

/// A message in state `error` still to be retried.
#[derive(Debug, Clone)]
pub struct Retry {
    pub id: InboundId,
    pub raw_sha256: Sha256,
    pub uidvalidity: Option<i64>,
    pub uid: Option<i64>,
    pub attempts: i32,
}

/// The messages of a mailbox (or of `sigillo ingest`, with `None`s) in state `error` with
/// fewer than `max_attempts` attempts, oldest first.
pub async fn retryable(
    conn: &mut PgConnection,
    account: Option<&str>,
    mailbox: Option<&str>,
    max_attempts: i32,
    limit: i64,
) -> Result<Vec<Retry>, Error> {
    let rows = sqlx::query!(
        r#"
        select id as "id: InboundId", raw_sha256, uidvalidity, uid, attempts from inbound_messages
        where state = 'error' and attempts < $3
          and account is not distinct from $1 and mailbox is not distinct from $2
        order by id limit $4
        "#,
        account,
        mailbox,
        max_attempts,
        limit,
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(Retry {
                id: r.id,
                raw_sha256: Sha256::from_slice(&r.raw_sha256)?,
                uidvalidity: r.uidvalidity,
                uid: r.uid,
                attempts: r.attempts,
            })
        })
        .collect()
}

/// How long ago the message row last changed (its last attempt, for a message in error).
pub async fn idle_for(conn: &mut PgConnection, id: InboundId) -> Result<std::time::Duration, Error> {
    let micros = sqlx::query_scalar!(
        r#"select (extract(epoch from (now() - updated_at)) * 1000000)::bigint as "micros!" from inbound_messages where id = $1"#,
        id.get(),
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::NotFound { what: format!("inbound message {id}") })?;
    Ok(std::time::Duration::from_micros(u64::try_from(micros).unwrap_or(0)))
}

/// Where the poller leaves a message (in error, to be retried) in its mailbox.
#[derive(Debug, Clone)]
pub struct MailboxCopy<'a> {
    pub account: &'a str,
    pub mailbox: &'a str,
    pub uidvalidity: i64,
    pub uid: i64,
}

/// Notes that the message stays in this mailbox until the poller moves or flags it. A row
/// written by `sigillo ingest` (no account) or by an earlier UIDVALIDITY of the same mailbox
/// takes this copy as its origin: the copy is the one to act on. A row that came from another
/// mailbox keeps its origin (its own poller handles that copy).
pub async fn leave_in_mailbox(conn: &mut PgConnection, id: InboundId, copy: &MailboxCopy<'_>) -> Result<(), Error> {
    sqlx::query!(
        r#"
        update inbound_messages
        set in_mailbox = true, account = $2, mailbox = $3, uidvalidity = $4, uid = $5
        where id = $1 and (account is null or (account = $2 and mailbox is not distinct from $3))
        "#,
        id.get(),
        copy.account,
        copy.mailbox,
        copy.uidvalidity,
        copy.uid,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Notes that the poller of this mailbox moved or flagged these messages' copies (a row whose
/// copy is in another mailbox keeps waiting for that one's poller).
pub async fn acted_in_mailbox(conn: &mut PgConnection, account: &str, mailbox: &str, ids: &[InboundId]) -> Result<(), Error> {
    if ids.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = ids.iter().map(|i| i.get()).collect();
    sqlx::query!(
        "update inbound_messages set in_mailbox = false where id = any($1) and in_mailbox and account = $2 and mailbox = $3",
        &ids,
        account,
        mailbox,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A message left in a mailbox whose turn has come.
#[derive(Debug, Clone)]
pub struct Pending {
    pub id: InboundId,
    pub raw_sha256: Sha256,
    pub state: MessageState,
    pub attempts: i32,
    pub uidvalidity: Option<i64>,
    pub uid: Option<i64>,
}

/// The retry schedule of messages in error: the n-th attempt failed, the next one is due
/// `base · 2ⁿ` (n at most 16) after it.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub max_attempts: i32,
    pub base: std::time::Duration,
}

/// The messages left in this mailbox whose turn has come, oldest first: in error with
/// attempts left and their retry due, or (under the current UIDVALIDITY) decided by another
/// path meanwhile or out of attempts, to be moved or flagged.
pub async fn pending_in_mailbox(
    conn: &mut PgConnection,
    account: &str,
    mailbox: &str,
    uidvalidity: i64,
    schedule: Schedule,
    limit: i64,
) -> Result<Vec<Pending>, Error> {
    let rows = sqlx::query!(
        r#"
        select id as "id: InboundId", raw_sha256, state as "state: MessageState", attempts, uidvalidity, uid
        from inbound_messages
        where in_mailbox and account = $1 and mailbox = $2
          and ((state = 'error' and attempts < $4
                and updated_at + make_interval(secs => $5 * power(2, least(attempts, 16))) <= now())
               or (uidvalidity = $3 and (state <> 'error' or attempts >= $4)))
        order by id limit $6
        "#,
        account,
        mailbox,
        uidvalidity,
        schedule.max_attempts,
        schedule.base.as_secs_f64(),
        limit,
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(Pending {
                id: r.id,
                raw_sha256: Sha256::from_slice(&r.raw_sha256)?,
                state: r.state,
                attempts: r.attempts,
                uidvalidity: r.uidvalidity,
                uid: r.uid,
            })
        })
        .collect()
}

/// How long until the first message left in this mailbox has its turn
/// ([`pending_in_mailbox`]); zero when one has it now, `None` when none is left.
pub async fn next_pending_in(
    conn: &mut PgConnection,
    account: &str,
    mailbox: &str,
    uidvalidity: i64,
    schedule: Schedule,
) -> Result<Option<std::time::Duration>, Error> {
    let micros = sqlx::query_scalar!(
        r#"
        select (extract(epoch from min(
                   case when state = 'error' and attempts < $4
                        then updated_at + make_interval(secs => $5 * power(2, least(attempts, 16)))
                        else now() end) - now()) * 1000000)::bigint as micros
        from inbound_messages
        where in_mailbox and account = $1 and mailbox = $2
          and ((state = 'error' and attempts < $4) or uidvalidity = $3)
        "#,
        account,
        mailbox,
        uidvalidity,
        schedule.max_attempts,
        schedule.base.as_secs_f64(),
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(micros.map(|m| std::time::Duration::from_micros(u64::try_from(m).unwrap_or(0))))
}

/// The registration of a message (or of the message it duplicates).
#[derive(Debug, Clone, Serialize)]
pub struct LinkedRegistration {
    pub id: RegistrationId,
    pub year: i32,
    pub number: ProtocolNumber,
    pub registered_at: DateTime<Utc>,
    pub segnatura: String,
}

pub async fn registration_of(
    conn: &mut PgConnection,
    register: &Register,
    inbound_id: InboundId,
) -> Result<Option<LinkedRegistration>, Error> {
    let row = sqlx::query!(
        r#"
        select r.id as "id: RegistrationId", r.year, r.number, r.registered_at, r.segnatura from registrations r
        join inbound_messages m on r.inbound_message_id = coalesce(m.duplicate_of, m.id)
        where m.id = $1 and r.register_id = $2
        "#,
        inbound_id.get(),
        register.id,
    )
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| {
        let number = ProtocolNumber::parse(r.number)?;
        Ok(LinkedRegistration {
            id: r.id,
            year: r.year,
            number,
            registered_at: r.registered_at,
            segnatura: r.segnatura,
        })
    })
    .transpose()
}

/// Where the intake stopped in a mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailboxState {
    pub uidvalidity: i64,
    pub last_uid: i64,
}

pub async fn mailbox_state(
    conn: &mut PgConnection,
    account: &str,
    mailbox: &str,
) -> Result<Option<MailboxState>, Error> {
    let row = sqlx::query!(
        "select uidvalidity, last_uid from imap_mailboxes where account = $1 and mailbox = $2",
        account,
        mailbox,
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|r| MailboxState { uidvalidity: r.uidvalidity, last_uid: r.last_uid }))
}

/// Saves where the intake stopped. Within one UIDVALIDITY the last UID only moves forward
/// (a late writer cannot move it back); a new UIDVALIDITY replaces both.
pub async fn save_mailbox_state(
    conn: &mut PgConnection,
    account: &str,
    mailbox: &str,
    state: MailboxState,
) -> Result<MailboxState, Error> {
    if state.uidvalidity <= 0 || state.last_uid < 0 {
        return Err(Error::invalid("mailbox state", format!("{state:?}")));
    }
    let row = sqlx::query!(
        r#"
        insert into imap_mailboxes as m (account, mailbox, uidvalidity, last_uid)
        values ($1, $2, $3, $4)
        on conflict (account, mailbox) do update set
            last_uid = case when m.uidvalidity = excluded.uidvalidity
                            then greatest(m.last_uid, excluded.last_uid)
                            else excluded.last_uid end,
            uidvalidity = excluded.uidvalidity,
            updated_at = now()
        returning uidvalidity, last_uid
        "#,
        account,
        mailbox,
        state.uidvalidity,
        state.last_uid,
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(MailboxState { uidvalidity: row.uidvalidity, last_uid: row.last_uid })
}

/// Counts of messages per state, for logs and tests.
pub async fn count_by_state(conn: &mut PgConnection) -> Result<Vec<(MessageState, i64)>, Error> {
    let rows = sqlx::query!(
        r#"select state as "state: MessageState", count(*) as "n!" from inbound_messages group by state order by state"#
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.state, r.n)).collect())
}
