//! How each IMAP mailbox of the intake is doing (migration 0022), written by its poller and
//! shown on the home page: the office sees that the PEC box cannot be read without anybody
//! reading the service's logs.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use crate::Error;

/// What kind of failure stops a mailbox (`mailbox_fault`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "mailbox_fault", rename_all = "lowercase")]
pub enum Fault {
    /// No connection: refused, unreachable, TLS or greeting failed.
    Connection,
    /// The server refused the credentials.
    Login,
    /// The server stopped answering.
    Timeout,
    /// Any other refusal by the IMAP server.
    Server,
    /// This side: the blob store, a task of the process.
    Local,
}

/// A mailbox as the home page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxHealth {
    pub account: String,
    pub mailbox: String,
    pub last_ok_at: Option<DateTime<Utc>>,
    /// Set while the mailbox fails: since when, what kind of fault, the last message, when.
    pub failing: Option<Failing>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failing {
    pub since: DateTime<Utc>,
    pub fault: Fault,
    pub error: String,
    pub at: DateTime<Utc>,
    pub failures: i32,
}

/// The longest error text kept: a server may answer at length, the page shows a line.
const ERROR_CHARS: usize = 500;

/// A cycle read the mailbox to the end: the current run of failures, if any, is over.
pub async fn record_ok(conn: &mut PgConnection, account: &str, mailbox: &str, at: DateTime<Utc>) -> Result<(), Error> {
    sqlx::query!(
        r#"
        insert into mailbox_health (account, mailbox, last_ok_at) values ($1, $2, $3)
        on conflict (account, mailbox) do update set
            last_ok_at = greatest(mailbox_health.last_ok_at, excluded.last_ok_at),
            failing_since = null, fault = null, last_error = null, failures = 0
        "#,
        account,
        mailbox,
        at,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A failure of the mailbox's session; the first of a run sets `failing_since`.
pub async fn record_failure(
    conn: &mut PgConnection,
    account: &str,
    mailbox: &str,
    fault: Fault,
    error: &str,
    at: DateTime<Utc>,
) -> Result<(), Error> {
    let error: String = error.chars().take(ERROR_CHARS).collect();
    sqlx::query!(
        r#"
        insert into mailbox_health as h (account, mailbox, failing_since, fault, last_error, last_error_at, failures)
        values ($1, $2, $5, $3, $4, $5, 1)
        on conflict (account, mailbox) do update set
            failing_since = coalesce(h.failing_since, excluded.failing_since),
            fault = excluded.fault,
            last_error = excluded.last_error,
            last_error_at = excluded.last_error_at,
            failures = h.failures + 1
        "#,
        account,
        mailbox,
        fault as Fault,
        error,
        at,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Every mailbox the intake has read or tried to read, failing ones first.
pub async fn all(conn: &mut PgConnection) -> Result<Vec<MailboxHealth>, Error> {
    let rows = sqlx::query!(
        r#"
        select account, mailbox, last_ok_at, failing_since, fault as "fault: Fault",
               last_error, last_error_at, failures
        from mailbox_health
        order by failing_since is null, account, mailbox
        "#
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| MailboxHealth {
            failing: match (r.failing_since, r.fault, r.last_error, r.last_error_at) {
                (Some(since), Some(fault), Some(error), Some(at)) => {
                    Some(Failing { since, fault, error, at, failures: r.failures })
                }
                _ => None,
            },
            account: r.account,
            mailbox: r.mailbox,
            last_ok_at: r.last_ok_at,
        })
        .collect())
}
