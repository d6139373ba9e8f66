//! The protocol office's decisions on messages the pipeline rejected or sent to review.

use sqlx::PgConnection;

use crate::Error;
use crate::audit::{self, NewAuditEntry};
use crate::register::Actor;

/// What the office decided (`message_action` in the schema).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "message_action", rename_all = "snake_case")]
pub enum MessageAction {
    ConfirmRejection,
    RegisterAnyway,
    ResendNotice,
}

impl MessageAction {
    fn as_str(self) -> &'static str {
        match self {
            MessageAction::ConfirmRejection => "confirm_rejection",
            MessageAction::RegisterAnyway => "register_anyway",
            MessageAction::ResendNotice => "resend_notice",
        }
    }
}

/// Records a decision on a message in state `rejected` or `review` (any other state is
/// refused) and its audit entry. Registering anyway is not done here: it needs the
/// registration written in the same transaction, passed as `registration_id`.
pub async fn record(
    conn: &mut PgConnection,
    actor: &Actor,
    message_id: i64,
    action: MessageAction,
    reason: Option<&str>,
    registration_id: Option<i64>,
) -> Result<i64, Error> {
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    if action == MessageAction::RegisterAnyway && reason.is_none() {
        return Err(Error::invalid("reason", "registering a rejected message needs a reason"));
    }
    let state = sqlx::query_scalar!(
        r#"select state::text as "state!" from inbound_messages where id = $1 for update"#,
        message_id
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::NotFound { what: format!("message {message_id}") })?;
    if !matches!(state.as_str(), "rejected" | "review") {
        return Err(Error::invalid("message", format!("it is in state {state}, not rejected or review")));
    }
    let id = sqlx::query_scalar!(
        r#"
        insert into message_decisions (inbound_message_id, action, reason, registration_id, decided_by)
        values ($1, $2, $3, $4, $5) returning id
        "#,
        message_id,
        action as MessageAction,
        reason,
        registration_id,
        actor.as_str(),
    )
    .fetch_one(&mut *conn)
    .await?;
    audit::append(
        conn,
        &NewAuditEntry {
            actor: actor.as_str().to_owned(),
            action: format!("message.{}", action.as_str()),
            object_type: "inbound_message".to_owned(),
            object_id: message_id.to_string(),
            details: serde_json::json!({ "reason": reason, "registration_id": registration_id }),
        },
    )
    .await?;
    Ok(id)
}
