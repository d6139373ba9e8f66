//! The outbox of receipts and notices (migration 0005): rows written in the decision's
//! transaction, claimed by the worker with `FOR UPDATE SKIP LOCKED`, and the provider
//! receipts linked to what we sent. The policy (what to send, to whom, when to retry) is the
//! notify crate's; this module only reads and writes rows.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;

use crate::Error;
use crate::ids::{InboundId, OutboxId, RegistrationId};

/// The actor of automatic messages; the partial unique index `outbox_one_automatic` allows
/// one such row per inbound message.
pub const AUTOMATIC: &str = "intake";

/// State of an outbox row (`outbox_state` in the schema).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type)]
#[sqlx(type_name = "outbox_state", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum OutboxState {
    Pending,
    /// Handed to the SMTP server, outcome not yet recorded: a send in progress, or one a
    /// crash interrupted (in doubt until the provider's accettazione or the end of the
    /// confirmation window, see [`claim_due`]).
    Sending,
    Sent,
    Failed,
    Suppressed,
}

/// What we send (`outbox_kind` in the schema).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type)]
#[sqlx(type_name = "outbox_kind", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum OutboxKind {
    /// Ricevuta di protocollazione: the message was registered.
    Ricevuta,
    /// Comunicazione di mancata protocollazione: the message was rejected.
    Notifica,
    /// A registration in partenza sent by PEC to one of its recipients (migration 0026): no
    /// inbound message, always a registration.
    Partenza,
}

impl OutboxKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxKind::Ricevuta => "ricevuta",
            OutboxKind::Notifica => "notifica",
            OutboxKind::Partenza => "partenza",
        }
    }
}

/// Why a row was deliberately not sent: the loop-safety codes (`outbox_suppressed_reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type)]
#[sqlx(type_name = "outbox_suppressed_reason", rename_all = "SCREAMING_SNAKE_CASE")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SuppressedReason {
    AutomaticMail,
    NoReplySender,
    ForgedEnvelope,
    NoAddress,
    RateLimit,
}

/// The furthest delivery state the provider's receipts certify (`outbox_delivery`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type)]
#[sqlx(type_name = "outbox_delivery", rename_all = "kebab-case")]
#[serde(rename_all = "kebab-case")]
pub enum Delivery {
    Accettata,
    PresaInCarico,
    PreavvisoErroreConsegna,
    Consegnata,
    ErroreConsegna,
    NonAccettazione,
    RilevazioneVirus,
}

/// A row to write.
#[derive(Debug, Clone)]
pub struct NewOutbox {
    /// The message a receipt or notice answers; `None` for an outgoing registration.
    pub inbound_message_id: Option<InboundId>,
    pub registration_id: Option<RegistrationId>,
    pub kind: OutboxKind,
    pub recipient: Option<String>,
    /// Without angle brackets.
    pub message_id: Option<String>,
    pub subject: Option<String>,
    pub raw: Option<Vec<u8>>,
    /// `Pending` or `Suppressed`.
    pub state: OutboxState,
    pub suppressed_reason: Option<SuppressedReason>,
    pub created_by: String,
    pub resend_of: Option<OutboxId>,
    /// For another recipient of one outgoing message: the row that carries it (then
    /// `message_id` and `raw` are `None`).
    pub carrier_id: Option<OutboxId>,
}

/// An outbox row, without its bytes.
#[derive(Debug, Clone, Serialize)]
pub struct OutboxRow {
    pub id: OutboxId,
    /// `None` for an outgoing registration (kind `partenza`).
    pub inbound_message_id: Option<InboundId>,
    pub registration_id: Option<RegistrationId>,
    pub kind: OutboxKind,
    pub recipient: Option<String>,
    pub message_id: Option<String>,
    pub subject: Option<String>,
    pub state: OutboxState,
    pub suppressed_reason: Option<SuppressedReason>,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub created_by: String,
    pub resend_of: Option<OutboxId>,
    pub pec_identificativo: Option<String>,
    pub delivery: Option<Delivery>,
    pub delivery_at: Option<DateTime<Utc>>,
    /// The row that carries the message when one message went to several recipients (this
    /// row is one of its other recipients, without bytes of its own).
    pub carrier_id: Option<OutboxId>,
}

/// Writes a row inside the caller's transaction. Returns `None` when it is automatic and the
/// inbound message already has its automatic row (the partial unique index holds).
pub async fn insert(conn: &mut PgConnection, new: &NewOutbox) -> Result<Option<OutboxId>, Error> {
    if !matches!(new.state, OutboxState::Pending | OutboxState::Suppressed) {
        return Err(Error::invalid("outbox state", "a new row is pending or suppressed"));
    }
    let id = sqlx::query_scalar!(
        r#"
        insert into outbox (inbound_message_id, registration_id, kind, recipient, message_id,
                            subject, raw, state, suppressed_reason, created_by, resend_of, carrier_id)
        values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
        on conflict (inbound_message_id) where created_by = 'intake' do nothing
        returning id as "id: OutboxId"
        "#,
        new.inbound_message_id.map(InboundId::get),
        new.registration_id.map(RegistrationId::get),
        new.kind as OutboxKind,
        new.recipient,
        new.message_id,
        new.subject,
        new.raw.as_deref(),
        new.state as OutboxState,
        new.suppressed_reason as Option<SuppressedReason>,
        new.created_by,
        new.resend_of.map(OutboxId::get),
        new.carrier_id.map(OutboxId::get),
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(id)
}

/// The automatic row of an inbound message, if it has one.
pub async fn automatic_for(conn: &mut PgConnection, inbound_id: InboundId) -> Result<Option<OutboxId>, Error> {
    let id = sqlx::query_scalar!(
        r#"select id as "id: OutboxId" from outbox where inbound_message_id = $1 and created_by = 'intake'"#,
        inbound_id.get()
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(id)
}

/// Messages written for `recipient` (case-insensitive) in the last `window_secs` seconds,
/// suppressed ones excluded. Takes a transaction-scoped advisory lock on the recipient first,
/// so that two decisions for one sender cannot both pass the limit: call it inside the
/// transaction that writes the row.
pub async fn count_recent(conn: &mut PgConnection, recipient: &str, window_secs: i64) -> Result<i64, Error> {
    sqlx::query!(
        "select pg_advisory_xact_lock(hashtextextended('sigillo.outbox:' || lower($1), 0))",
        recipient
    )
    .execute(&mut *conn)
    .await?;
    let n = sqlx::query_scalar!(
        r#"
        select count(*) as "n!" from outbox
        where lower(recipient) = lower($1) and state <> 'suppressed'
          and created_at > now() - $2::bigint * interval '1 second'
        "#,
        recipient,
        window_secs,
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(n)
}

/// A row claimed by the worker, already marked `sending` (committed).
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: OutboxId,
    /// The SMTP recipients: the row's own and, for one message to several recipients, those
    /// of its other rows, in the order they were written.
    pub recipients: Vec<String>,
    pub message_id: String,
    pub raw: Vec<u8>,
    /// Attempts so far, this one included. It is also the claim's token: the outcome is
    /// recorded only if the row is still `sending` with this count, so a worker that comes
    /// back after its window ran out cannot overwrite the outcome of the send that replaced
    /// its own.
    pub attempt: i32,
    /// The row was `sending` already: an earlier send was interrupted (a crash, a lost
    /// database) and no receipt of the provider confirmed it within the window.
    pub in_doubt: bool,
}

/// Claims the oldest due row, skipping rows another worker is claiming, and marks it
/// `sending` in the same statement (committed when it returns, before any SMTP traffic).
///
/// Due rows are the `pending` ones whose time has come and the `sending` ones whose
/// confirmation window (`confirm_window` after the start of their last send) has passed with
/// no receipt. While the window runs, a row left `sending` by a crash is not sent again:
/// if the provider had accepted it, its accettazione names our Message-ID and
/// [`link_receipt`] marks the row `sent`. The window must be longer than one send lasts
/// (the worker's SMTP timeout per command, times a few commands), or a slow send still in
/// progress could be claimed a second time.
pub async fn claim_due(conn: &mut PgConnection, confirm_window: std::time::Duration) -> Result<Option<Claimed>, Error> {
    let micros = i64::try_from(confirm_window.as_micros()).unwrap_or(i64::MAX);
    let row = sqlx::query!(
        r#"
        update outbox o
        set state = 'sending', attempts = o.attempts + 1, send_started_at = now(),
            next_attempt_at = now() + $1::bigint * interval '1 microsecond'
        from (
            select id, state from outbox
            where state in ('pending', 'sending') and next_attempt_at <= now() and carrier_id is null
            order by next_attempt_at, id
            limit 1
            for update skip locked
        ) due
        where o.id = due.id
        returning o.id as "id: OutboxId",
                  array_prepend(o.recipient, array(select m.recipient from outbox m where m.carrier_id = o.id order by m.id))
                      as "recipients!: Vec<String>",
                  o.message_id as "message_id!",
                  o.raw as "raw!", o.attempts, due.state as "previous!: OutboxState"
        "#,
        micros,
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|r| Claimed {
        id: r.id,
        recipients: r.recipients,
        message_id: r.message_id,
        raw: r.raw,
        attempt: r.attempts,
        in_doubt: r.previous == OutboxState::Sending,
    }))
}

/// How long until the next row is due (zero if one is due now), `None` if none is pending
/// or sending: the worker sleeps that long unless woken.
pub async fn next_due_in(conn: &mut PgConnection) -> Result<Option<std::time::Duration>, Error> {
    let micros = sqlx::query_scalar!(
        r#"
        select greatest(0, (extract(epoch from (min(next_attempt_at) - now())) * 1000000))::bigint
        from outbox where state in ('pending', 'sending') and carrier_id is null
        "#
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(micros.map(|m| std::time::Duration::from_micros(u64::try_from(m).unwrap_or(0))))
}

/// The SMTP server accepted the message sent by claim `attempt`. Returns false when the
/// row had moved on meanwhile (a receipt already confirmed it, or the window ran out and
/// another claim took it).
pub async fn mark_sent(conn: &mut PgConnection, id: OutboxId, attempt: i32) -> Result<bool, Error> {
    let done = sqlx::query!(
        r#"
        update outbox set state = 'sent', sent_at = now(), last_error = null
        where id = $1 and state = 'sending' and attempts = $2
        "#,
        id.get(),
        attempt,
    )
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A failed attempt (claim `attempt`): pending again after `delay`, or `failed` when
/// `give_up`. Returns false when the row had moved on meanwhile (see [`mark_sent`]).
pub async fn mark_attempt_failed(
    conn: &mut PgConnection,
    id: OutboxId,
    attempt: i32,
    error: &str,
    delay: std::time::Duration,
    give_up: bool,
) -> Result<bool, Error> {
    let micros = i64::try_from(delay.as_micros()).unwrap_or(i64::MAX);
    let done = sqlx::query!(
        r#"
        update outbox
        set last_error = $3,
            state = case when $5 then 'failed'::outbox_state else 'pending'::outbox_state end,
            next_attempt_at = now() + $4::bigint * interval '1 microsecond'
        where id = $1 and state = 'sending' and attempts = $2
        "#,
        id.get(),
        attempt,
        error,
        micros,
        give_up,
    )
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// One row.
pub async fn get(conn: &mut PgConnection, id: OutboxId) -> Result<OutboxRow, Error> {
    let row = sqlx::query_as!(
        OutboxRow,
        r#"
        select id as "id: OutboxId", inbound_message_id as "inbound_message_id?: InboundId",
               registration_id as "registration_id: RegistrationId", kind as "kind: OutboxKind", recipient,
               message_id, subject, state as "state: OutboxState",
               suppressed_reason as "suppressed_reason: SuppressedReason", attempts, next_attempt_at,
               last_error, created_at, sent_at, created_by, resend_of as "resend_of: OutboxId", pec_identificativo,
               delivery as "delivery: Delivery", delivery_at, carrier_id as "carrier_id: OutboxId"
        from outbox where id = $1
        "#,
        id.get()
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::NotFound { what: format!("outbox row {id}") })?;
    Ok(row)
}

/// The rows answering an inbound message (automatic and re-sends), oldest first: what the
/// dashboard shows beside the message.
pub async fn for_inbound(conn: &mut PgConnection, inbound_id: InboundId) -> Result<Vec<OutboxRow>, Error> {
    let rows = sqlx::query_as!(
        OutboxRow,
        r#"
        select id as "id: OutboxId", inbound_message_id as "inbound_message_id?: InboundId",
               registration_id as "registration_id: RegistrationId", kind as "kind: OutboxKind", recipient,
               message_id, subject, state as "state: OutboxState",
               suppressed_reason as "suppressed_reason: SuppressedReason", attempts, next_attempt_at,
               last_error, created_at, sent_at, created_by, resend_of as "resend_of: OutboxId", pec_identificativo,
               delivery as "delivery: Delivery", delivery_at, carrier_id as "carrier_id: OutboxId"
        from outbox where inbound_message_id = $1 order by id
        "#,
        inbound_id.get()
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows)
}

/// The exact bytes of a row (for a re-send and for the dashboard's download); for another
/// recipient of one message to several, its carrier's.
pub async fn raw(conn: &mut PgConnection, id: OutboxId) -> Result<Option<Vec<u8>>, Error> {
    let raw = sqlx::query_scalar!(
        "select coalesce(o.raw, c.raw) from outbox o left join outbox c on c.id = o.carrier_id where o.id = $1",
        id.get()
    )
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| Error::NotFound { what: format!("outbox row {id}") })?;
    Ok(raw)
}

/// Locks a row for a staff action (re-send).
pub async fn lock(conn: &mut PgConnection, id: OutboxId) -> Result<OutboxRow, Error> {
    let row = sqlx::query_as!(
        OutboxRow,
        r#"
        select id as "id: OutboxId", inbound_message_id as "inbound_message_id?: InboundId",
               registration_id as "registration_id: RegistrationId", kind as "kind: OutboxKind", recipient,
               message_id, subject, state as "state: OutboxState",
               suppressed_reason as "suppressed_reason: SuppressedReason", attempts, next_attempt_at,
               last_error, created_at, sent_at, created_by, resend_of as "resend_of: OutboxId", pec_identificativo,
               delivery as "delivery: Delivery", delivery_at, carrier_id as "carrier_id: OutboxId"
        from outbox where id = $1 for update
        "#,
        id.get()
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::NotFound { what: format!("outbox row {id}") })?;
    Ok(row)
}

/// Whether other recipients' rows share this row's message (one message to several).
pub async fn has_members(conn: &mut PgConnection, id: OutboxId) -> Result<bool, Error> {
    let found = sqlx::query_scalar!(r#"select exists (select 1 from outbox where carrier_id = $1) as "found!""#, id.get())
        .fetch_one(&mut *conn)
        .await?;
    Ok(found)
}

/// Puts a failed (or suppressed, still composed) row back in the queue, due now, with a
/// fresh count of attempts.
pub async fn requeue(conn: &mut PgConnection, id: OutboxId) -> Result<(), Error> {
    let done = sqlx::query!(
        r#"
        update outbox
        set state = 'pending', suppressed_reason = null, attempts = 0, next_attempt_at = now(),
            last_error = null
        where id = $1 and state in ('failed', 'suppressed') and raw is not null
        "#,
        id.get()
    )
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Err(Error::invalid("outbox row", format!("{id} is not failed or suppressed with a message")));
    }
    Ok(())
}

/// The row a provider receipt certifies. The message is found by our Message-ID (without
/// angle brackets) first, then by the provider's identificativo learned from an earlier
/// receipt. A receipt about one recipient (daticert `consegna`) of a message sent to several
/// goes to that recipient's row; anything else to the row that carries the message.
pub async fn find_for_receipt(
    conn: &mut PgConnection,
    message_id: Option<&str>,
    identificativo: Option<&str>,
    consegna: Option<&str>,
) -> Result<Option<OutboxId>, Error> {
    let mut carrier = None;
    if let Some(mid) = message_id {
        carrier = sqlx::query_scalar!(r#"select id as "id: OutboxId" from outbox where message_id = $1"#, mid)
            .fetch_optional(&mut *conn)
            .await?;
    }
    if carrier.is_none()
        && let Some(ident) = identificativo
    {
        carrier = sqlx::query_scalar!(
            r#"
            select coalesce(carrier_id, id) as "id!: OutboxId" from outbox
            where pec_identificativo = $1 order by id desc limit 1
            "#,
            ident
        )
        .fetch_optional(&mut *conn)
        .await?;
    }
    let Some(carrier) = carrier else { return Ok(None) };
    if let Some(to) = consegna {
        let member = sqlx::query_scalar!(
            r#"
            select id as "id: OutboxId" from outbox
            where carrier_id = $1 and lower(recipient) = lower($2) order by id limit 1
            "#,
            carrier.get(),
            to.trim()
        )
        .fetch_optional(&mut *conn)
        .await?;
        if member.is_some() {
            return Ok(member);
        }
    }
    Ok(Some(carrier))
}

/// A provider receipt to record against an outbox row.
#[derive(Debug, Clone)]
pub struct LinkedReceipt {
    pub outbox_id: OutboxId,
    pub inbound_message_id: InboundId,
    /// The X-Ricevuta value.
    pub kind: String,
    /// The delivery state it certifies, if any (see `outbox_delivery_rank`).
    pub delivery: Option<Delivery>,
    pub received_at: DateTime<Utc>,
    pub pec_identificativo: Option<String>,
    /// About the message as a whole (no daticert `consegna`), not one recipient: its delivery
    /// state goes to every recipient's row of the message.
    pub for_message: bool,
}

/// Records the receipt and moves the delivery state forward (never back): of the row, or of
/// every recipient's row for a receipt about the whole message. Returns false when this
/// receipt message was already linked.
pub async fn link_receipt(conn: &mut PgConnection, r: &LinkedReceipt) -> Result<bool, Error> {
    let inserted = sqlx::query_scalar!(
        r#"
        insert into outbox_receipts (outbox_id, inbound_message_id, kind, received_at, for_message)
        values ($1, $2, $3, $4, $5)
        on conflict (inbound_message_id) do nothing
        returning id
        "#,
        r.outbox_id.get(),
        r.inbound_message_id.get(),
        r.kind,
        r.received_at,
        r.for_message,
    )
    .fetch_optional(&mut *conn)
    .await?;
    if inserted.is_none() {
        return Ok(false);
    }
    // A receipt that certifies the provider accepted the message (an accettazione or any
    // later stage) is the proof a send went through: a row still `sending` (a crash between
    // the SMTP transaction and its commit), or `pending`/`failed` after an error the
    // provider did not actually mean (a timeout after the end of DATA), is `sent`, and is
    // never sent again. A non-accettazione or a virus report proves no acceptance. The
    // sending state is the message's: its carrier's row (the trigger of migration 0028 passes
    // it on to the other recipients' rows).
    let accepted = matches!(
        r.delivery,
        Some(
            Delivery::Accettata
                | Delivery::PresaInCarico
                | Delivery::PreavvisoErroreConsegna
                | Delivery::Consegnata
                | Delivery::ErroreConsegna
        )
    );
    if accepted {
        sqlx::query!(
            r#"
            update outbox
            set state = 'sent', sent_at = coalesce(sent_at, send_started_at, $2), last_error = null
            where id = (select coalesce(carrier_id, id) from outbox where id = $1)
              and state in ('pending', 'sending', 'failed')
            "#,
            r.outbox_id.get(),
            r.received_at,
        )
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query!(
        r#"
        update outbox
        set pec_identificativo = coalesce(pec_identificativo, $2),
            delivery = case when coalesce(outbox_delivery_rank($3), 0) > coalesce(outbox_delivery_rank(delivery), 0)
                            then $3 else delivery end,
            delivery_at = case when coalesce(outbox_delivery_rank($3), 0) > coalesce(outbox_delivery_rank(delivery), 0)
                               then $4 else delivery_at end
        where id = $1 or ($5 and carrier_id = $1)
        "#,
        r.outbox_id.get(),
        r.pec_identificativo,
        r.delivery as Option<Delivery>,
        r.received_at,
        r.for_message,
    )
    .execute(&mut *conn)
    .await?;
    Ok(true)
}

/// A provider receipt linked to a row.
#[derive(Debug, Clone, Serialize)]
pub struct ReceiptRow {
    pub inbound_message_id: InboundId,
    pub kind: String,
    pub received_at: DateTime<Utc>,
}

/// The receipts of a row, in the order the provider issued them: its own and, for another
/// recipient of one message to several, those about the whole message.
pub async fn receipts_of(conn: &mut PgConnection, outbox_id: OutboxId) -> Result<Vec<ReceiptRow>, Error> {
    let rows = sqlx::query_as!(
        ReceiptRow,
        r#"
        select inbound_message_id as "inbound_message_id: InboundId", kind, received_at from outbox_receipts
        where outbox_id = $1
           or (for_message and outbox_id = (select carrier_id from outbox where id = $1))
        order by received_at, id
        "#,
        outbox_id.get()
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows)
}

/// Serialises the sends of one registration (a transaction-scoped advisory lock): two clerks
/// sending it to the same recipient at once cannot both pass the "already sent" check. Call
/// inside the transaction that writes the rows.
pub async fn lock_outgoing(conn: &mut PgConnection, registration_id: RegistrationId) -> Result<(), Error> {
    sqlx::query!(
        "select pg_advisory_xact_lock(hashtextextended('sigillo.outbox.partenza:' || $1::bigint::text, 0))",
        registration_id.get()
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The outgoing messages (kind `partenza`) of a registration, one row per recipient and send,
/// oldest first.
pub async fn outgoing_of(conn: &mut PgConnection, registration_id: RegistrationId) -> Result<Vec<OutboxRow>, Error> {
    let rows = sqlx::query_as!(
        OutboxRow,
        r#"
        select id as "id: OutboxId", inbound_message_id as "inbound_message_id?: InboundId",
               registration_id as "registration_id: RegistrationId", kind as "kind: OutboxKind", recipient,
               message_id, subject, state as "state: OutboxState",
               suppressed_reason as "suppressed_reason: SuppressedReason", attempts, next_attempt_at,
               last_error, created_at, sent_at, created_by, resend_of as "resend_of: OutboxId", pec_identificativo,
               delivery as "delivery: Delivery", delivery_at, carrier_id as "carrier_id: OutboxId"
        from outbox where registration_id = $1 and inbound_message_id is null order by id
        "#,
        registration_id.get()
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows)
}

/// Whether an outgoing row has failed for good: out of attempts (or a permanent SMTP error),
/// or a provider receipt that certifies it was not accepted or not delivered. A recipient
/// whose latest send failed may be sent to again.
pub fn outgoing_failed(state: OutboxState, delivery: Option<Delivery>) -> bool {
    state == OutboxState::Failed
        || matches!(delivery, Some(Delivery::ErroreConsegna | Delivery::NonAccettazione | Delivery::RilevazioneVirus))
}

/// An outgoing send whose latest attempt for its recipient failed, for the home page.
#[derive(Debug, Clone)]
pub struct OutgoingFailure {
    pub outbox_id: OutboxId,
    pub registration_id: RegistrationId,
    pub number: i32,
    pub year: i32,
    pub recipient: Option<String>,
    pub state: OutboxState,
    pub delivery: Option<Delivery>,
    pub at: DateTime<Utc>,
}

/// The newest failed outgoing sends (see [`outgoing_failed`]): only the latest row of each
/// registration and recipient counts, so one sent again successfully leaves the list.
pub async fn outgoing_failures(conn: &mut PgConnection, limit: i64) -> Result<(Vec<OutgoingFailure>, i64), Error> {
    let rows = sqlx::query!(
        r#"
        with latest as (
            select distinct on (o.registration_id, lower(o.recipient)) o.*
            from outbox o
            where o.inbound_message_id is null and o.registration_id is not null
            order by o.registration_id, lower(o.recipient), o.id desc
        )
        select l.id as "outbox_id!: OutboxId", l.registration_id as "registration_id!: RegistrationId",
               r.number as "number!", r.year as "year!", l.recipient as "recipient?", l.state as "state!: OutboxState",
               l.delivery as "delivery?: Delivery", coalesce(l.delivery_at, l.created_at) as "at!",
               count(*) over () as "total!"
        from latest l join registrations r on r.id = l.registration_id
        where l.state = 'failed'
           or l.delivery in ('errore-consegna', 'non-accettazione', 'rilevazione-virus')
        order by l.id desc
        limit $1
        "#,
        limit,
    )
    .fetch_all(&mut *conn)
    .await?;
    let total = rows.first().map_or(0, |r| r.total);
    Ok((
        rows.into_iter()
            .map(|r| OutgoingFailure {
                outbox_id: r.outbox_id,
                registration_id: r.registration_id,
                number: r.number,
                year: r.year,
                recipient: r.recipient,
                state: r.state,
                delivery: r.delivery,
                at: r.at,
            })
            .collect(),
        total,
    ))
}
