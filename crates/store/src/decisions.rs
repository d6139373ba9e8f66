//! The protocol office's decisions on messages the pipeline rejected or sent to review.

use sqlx::PgConnection;

use crate::Error;
use crate::audit::{self, AuditAction, NewAuditEntry};
use crate::ids::{InboundId, RegistrationId};
use crate::inbound::MessageState;
use crate::register::{self, Actor, NewRegistration, Register, Registration};

/// What the office decided (`message_action` in the schema).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, sqlx::Type)]
#[sqlx(type_name = "message_action", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum MessageAction {
    ConfirmRejection,
    RegisterAnyway,
    ResendNotice,
}

impl MessageAction {
    fn audit_action(self) -> AuditAction {
        match self {
            MessageAction::ConfirmRejection => AuditAction::MessageConfirmRejection,
            MessageAction::RegisterAnyway => AuditAction::MessageRegisterAnyway,
            MessageAction::ResendNotice => AuditAction::MessageResendNotice,
        }
    }
}

/// Records a decision on a message in state `rejected` or `review` (any other state is
/// refused) and its audit entry. Registering anyway is not done here: it needs the
/// registration written in the same transaction, passed as `registration_id`.
pub async fn record(
    conn: &mut PgConnection,
    actor: &Actor,
    message_id: InboundId,
    action: MessageAction,
    reason: Option<&str>,
    registration_id: Option<RegistrationId>,
) -> Result<i64, Error> {
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    if action == MessageAction::RegisterAnyway && reason.is_none() {
        return Err(Error::invalid("reason", "registering a rejected message needs a reason"));
    }
    let state = sqlx::query_scalar!(
        r#"select state as "state: MessageState" from inbound_messages where id = $1 for update"#,
        message_id.get()
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::NotFound { what: format!("message {message_id}") })?;
    if !state.awaits_office() {
        return Err(Error::invalid("message", format!("it is in state {state:?}, not rejected or review")));
    }
    if action == MessageAction::ConfirmRejection && state == MessageState::Review {
        // Staff decided a message the pipeline could not: it joins the rejected ones.
        sqlx::query!(
            "update inbound_messages set state = 'rejected', updated_at = now() where id = $1",
            message_id.get()
        )
        .execute(&mut *conn)
        .await?;
    }
    let id = sqlx::query_scalar!(
        r#"
        insert into message_decisions (inbound_message_id, action, reason, registration_id, decided_by)
        values ($1, $2, $3, $4, $5) returning id
        "#,
        message_id.get(),
        action as MessageAction,
        reason,
        registration_id.map(RegistrationId::get),
        actor.as_str(),
    )
    .fetch_one(&mut *conn)
    .await?;
    audit::append(
        conn,
        &NewAuditEntry {
            actor: actor.as_str().to_owned(),
            action: action.audit_action(),
            object_type: "inbound_message".to_owned(),
            object_id: message_id.to_string(),
            details: serde_json::json!({ "reason": reason, "registration_id": registration_id }),
        },
    )
    .await?;
    Ok(id)
}

/// Registers a rejected or review message anyway (CAD art. 65 c.1 c-bis: an unsigned istanza
/// from the applicant's own PEC is valid): the registration through the same
/// [`register::register`] the intake uses, the decision row that points at it, its audit
/// entry, and the message (with the copies that mirror it) moved to `registered`, all on
/// `conn`, which must be inside a transaction the caller commits. The message's reasons are
/// kept: they say why the pipeline had refused it.
///
/// `new` is the registration built from the stored raw message; its `inbound_message_id`
/// must be `message_id`. A message that is a duplicate of another is refused: the decision
/// belongs to the one it mirrors.
pub async fn register_anyway(
    conn: &mut PgConnection,
    register: &Register,
    actor: &Actor,
    message_id: InboundId,
    reason: &str,
    new: &NewRegistration,
) -> Result<(Registration, i64), Error> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(Error::invalid("reason", "registering a rejected message needs a reason"));
    }
    if new.inbound_message_id != Some(message_id) {
        return Err(Error::invalid("registration", "it is not linked to the message being registered"));
    }
    let row = sqlx::query!(
        r#"select state as "state: MessageState", duplicate_of from inbound_messages where id = $1 for update"#,
        message_id.get()
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::NotFound { what: format!("message {message_id}") })?;
    if let Some(owner) = row.duplicate_of {
        return Err(Error::invalid("message", format!("it is a copy of message {owner}: decide on that one")));
    }
    if !row.state.awaits_office() {
        return Err(Error::invalid("message", format!("it is in state {:?}, not rejected or review", row.state)));
    }
    let registration = register::register(conn, register, actor, new, None).await?;
    let decision = record(conn, actor, message_id, MessageAction::RegisterAnyway, Some(reason), Some(registration.id)).await?;
    sqlx::query!(
        r#"
        update inbound_messages set state = 'registered', updated_at = now()
        where id = $1 or duplicate_of = $1
        "#,
        message_id.get()
    )
    .execute(&mut *conn)
    .await?;
    Ok((registration, decision))
}
