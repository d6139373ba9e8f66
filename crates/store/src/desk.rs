//! Read models of the clerk's desk: a registration found by its number or segnatura, the
//! totals behind numbered pages, the office's queues page by page, and what went wrong
//! (outgoing receipts, messages the intake could not process) for the home page.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use crate::Error;
use crate::browse::{ListFilter, QueuedMessage, like_escape};
use crate::decisions::MessageAction;
use crate::ids::{InboundId, OutboxId, RegistrationId};
use crate::outbox::{Delivery, OutboxState};
use crate::inbound::MessageState;
use crate::register::Register;

/// The registration of `register` with this number: of `year` when given, else of the most
/// recent year that has one. With `segnatura`, it must also carry exactly that segnatura
/// (compared without regard to case), so a segnatura of another register or day finds nothing.
pub async fn find_registration(
    conn: &mut PgConnection,
    register: &Register,
    number: i32,
    year: Option<i32>,
    segnatura: Option<&str>,
) -> Result<Option<RegistrationId>, Error> {
    Ok(sqlx::query_scalar!(
        r#"
        select r.id as "id: RegistrationId" from registrations r
        where r.register_id = $1 and r.number = $2
          and ($3::integer is null or r.year = $3)
          and ($4::text is null or lower(r.segnatura) = lower($4))
        order by r.year desc limit 1
        "#,
        register.id,
        number,
        year,
        segnatura,
    )
    .fetch_optional(&mut *conn)
    .await?)
}

/// How many registrations the list's filter matches (its `before_id` and `offset` aside),
/// counting no further than `cap`: the page says "more than" beyond it, so that a word found
/// in half the register does not make every page of results count it again.
pub async fn count_registrations(conn: &mut PgConnection, register: &Register, filter: &ListFilter, cap: i64) -> Result<i64, Error> {
    let sender = filter.sender.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(|s| format!("%{}%", like_escape(s)));
    let state = filter.state.as_sql();
    let n = match &filter.text {
        None => sqlx::query_scalar!(
            r#"
            select count(*) as "n!" from (
              select 1 from registrations r
              where r.register_id = $1
                and ($2::timestamptz is null or r.registered_at >= $2)
                and ($3::timestamptz is null or r.registered_at < $3)
                and ($4::text = 'all' or ($4 = 'annulled') = exists (select 1 from annulments a where a.registration_id = r.id))
                and ($5::text is null or r.correspondent_lower like lower($5))
              limit $6) x
            "#,
            register.id,
            filter.from,
            filter.to,
            state,
            sender,
            cap,
        )
        .fetch_one(&mut *conn)
        .await?,
        // The four branches of search_registrations.sql, each with every filter and a limit
        // of `cap`: a branch that reaches it makes the union reach it, and when none does
        // every branch is whole and the union exact. Without the per-branch limits the UNION
        // deduplicated every match before the outer limit applied: 2.4 s for a frequent word
        // on a million registrations (docs/benchmarks.md). The document branch keeps one row
        // per registration, so that a registration's several documents do not fill it.
        Some(text) => sqlx::query_scalar!(
            r#"
            select least(count(*), $8) as "n!" from (
                (select r.id from registrations r
                 where r.register_id = $1 and r.search_vector @@ websearch_to_tsquery('italian'::regconfig, $6)
                   and ($2::timestamptz is null or r.registered_at >= $2)
                   and ($3::timestamptz is null or r.registered_at < $3)
                   and ($4::text = 'all' or ($4 = 'annulled') = exists (select 1 from annulments a where a.registration_id = r.id))
                   and ($5::text is null or r.correspondent_lower like lower($5))
                 limit $8)
                union
                (select r.id from registrations r
                 where r.register_id = $1 and r.subject_lower like lower($7)
                   and ($2::timestamptz is null or r.registered_at >= $2)
                   and ($3::timestamptz is null or r.registered_at < $3)
                   and ($4::text = 'all' or ($4 = 'annulled') = exists (select 1 from annulments a where a.registration_id = r.id))
                   and ($5::text is null or r.correspondent_lower like lower($5))
                 limit $8)
                union
                (select r.id from registrations r
                 where r.register_id = $1 and r.correspondent_lower like lower($7)
                   and ($2::timestamptz is null or r.registered_at >= $2)
                   and ($3::timestamptz is null or r.registered_at < $3)
                   and ($4::text = 'all' or ($4 = 'annulled') = exists (select 1 from annulments a where a.registration_id = r.id))
                   and ($5::text is null or r.correspondent_lower like lower($5))
                 limit $8)
                union
                (select distinct r.id from documents d join registrations r on r.id = d.registration_id
                 where r.register_id = $1 and d.name ilike $7
                   and ($2::timestamptz is null or r.registered_at >= $2)
                   and ($3::timestamptz is null or r.registered_at < $3)
                   and ($4::text = 'all' or ($4 = 'annulled') = exists (select 1 from annulments a where a.registration_id = r.id))
                   and ($5::text is null or r.correspondent_lower like lower($5))
                 limit $8)
            ) hits
            "#,
            register.id,
            filter.from,
            filter.to,
            state,
            sender,
            text.text(),
            text.like(),
            cap,
        )
        .fetch_one(&mut *conn)
        .await?,
    };
    Ok(n)
}

/// Which messages of a queue a page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueueFilter {
    #[default]
    All,
    /// No decision recorded yet (neither confirmed, registered anyway nor answered again).
    Undecided,
}

/// How many messages a queue holds, and how many of them await a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueCounts {
    pub total: i64,
    pub undecided: i64,
}

pub async fn queue_counts(conn: &mut PgConnection, state: MessageState) -> Result<QueueCounts, Error> {
    let r = sqlx::query!(
        r#"
        select count(*) as "total!",
               count(*) filter (where not exists (select 1 from message_decisions d where d.inbound_message_id = m.id)) as "undecided!"
        from inbound_messages m where m.state = $1
        "#,
        state as MessageState,
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(QueueCounts { total: r.total, undecided: r.undecided })
}

/// One page of a queue (`review` or `rejected`), newest first.
pub async fn queue_page(
    conn: &mut PgConnection,
    state: MessageState,
    filter: QueueFilter,
    offset: i64,
    limit: i64,
) -> Result<Vec<QueuedMessage>, Error> {
    if !state.awaits_office() {
        return Err(Error::invalid("state", format!("{state:?} is not review or rejected")));
    }
    Ok(sqlx::query_as!(
        QueuedMessage,
        r#"
        select m.id as "id: InboundId", m.first_seen_at, m.updated_at, m.raw_size, m.reasons, m.pec_identificativo,
               (select d.action from message_decisions d where d.inbound_message_id = m.id
                order by d.id desc limit 1) as "last_action: MessageAction",
               (select r.id from registrations r where r.inbound_message_id = m.id) as "registration_id: RegistrationId",
               m.sender, m.subject
        from inbound_messages m
        where m.state = $1
          and (not $2 or not exists (select 1 from message_decisions d where d.inbound_message_id = m.id))
        order by m.id desc
        limit $3 offset $4
        "#,
        state as MessageState,
        filter == QueueFilter::Undecided,
        limit,
        offset.max(0),
    )
    .fetch_all(&mut *conn)
    .await?)
}

/// A message the intake could not process: it is retried, or set aside (quarantined) once
/// out of attempts.
#[derive(Debug, Clone)]
pub struct FailedMessage {
    pub id: InboundId,
    pub first_seen_at: DateTime<Utc>,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub mailbox: Option<String>,
}

/// The messages in error, newest first, and how many there are.
pub async fn failed_messages(conn: &mut PgConnection, limit: i64) -> Result<(Vec<FailedMessage>, i64), Error> {
    let total = sqlx::query_scalar!(r#"select count(*) as "n!" from inbound_messages where state = 'error'"#)
        .fetch_one(&mut *conn)
        .await?;
    let rows = sqlx::query_as!(
        FailedMessage,
        r#"
        select id as "id: InboundId", first_seen_at, attempts, last_error, mailbox
        from inbound_messages where state = 'error' order by id desc limit $1
        "#,
        limit,
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok((rows, total))
}

/// A receipt of registration the citizen may not have (see
/// [`crate::browse::undelivered_receipts`]), with the registration it certifies.
#[derive(Debug, Clone)]
pub struct UndeliveredReceipt {
    pub outbox_id: OutboxId,
    pub registration_id: Option<RegistrationId>,
    pub number: Option<i32>,
    pub year: Option<i32>,
    pub state: OutboxState,
    pub delivery: Option<Delivery>,
    pub created_at: DateTime<Utc>,
}

/// The newest undelivered receipts (the same rows [`crate::browse::undelivered_receipts`] counts).
pub async fn undelivered_receipt_list(conn: &mut PgConnection, limit: i64) -> Result<Vec<UndeliveredReceipt>, Error> {
    Ok(sqlx::query_as!(
        UndeliveredReceipt,
        r#"
        select o.id as "outbox_id: OutboxId", o.registration_id as "registration_id: RegistrationId",
               r.number as "number?", r.year as "year?", o.state as "state: OutboxState",
               o.delivery as "delivery: Delivery", o.created_at
        from outbox o left join registrations r on r.id = o.registration_id
        where o.kind = 'ricevuta'
          and not exists (select 1 from outbox later
                          where later.inbound_message_id = o.inbound_message_id
                            and later.kind = 'ricevuta' and later.id > o.id)
          and (o.state = 'failed'
               or (o.state = 'sent' and o.sent_at < now() - interval '1 hour'
                   and o.delivery is distinct from 'consegnata'))
        order by o.id desc limit $1
        "#,
        limit,
    )
    .fetch_all(&mut *conn)
    .await?)
}
