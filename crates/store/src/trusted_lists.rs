//! The trusted lists the service fetched (`trusted_lists`, `trusted_list_refresh`): per
//! territory the last list that verified and what the last attempt said, and the refresh as
//! a whole. Verifying and reading a list is `sigillo_trustlist`'s; fetching it the binary's.
//! The stored bytes are verified again by whoever loads them.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use crate::Error;

/// Whether a list is the configured one or one it points at (`trusted_list_role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "trusted_list_role", rename_all = "snake_case")]
pub enum ListRole {
    First,
    Pointed,
}

/// A list that verified, to be kept.
#[derive(Debug, Clone)]
pub struct GoodList {
    pub territory: String,
    pub role: ListRole,
    pub location: String,
    pub body: Vec<u8>,
    pub sequence_number: i64,
    pub issued_at: DateTime<Utc>,
    pub next_update: Option<DateTime<Utc>>,
    pub services: i32,
    pub signer: String,
}

/// One stored list as the dashboard and `sigillo trust show` see it (without its bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListSummary {
    pub territory: String,
    pub role: ListRole,
    pub location: String,
    pub sequence_number: Option<i64>,
    pub issued_at: Option<DateTime<Utc>>,
    pub next_update: Option<DateTime<Utc>>,
    pub services: Option<i32>,
    pub signer: Option<String>,
    pub fetched_at: Option<DateTime<Utc>>,
    pub attempted_at: DateTime<Utc>,
    pub last_error: Option<String>,
}

/// A stored good list's bytes, to be verified again and used.
#[derive(Debug, Clone)]
pub struct StoredList {
    pub territory: String,
    pub role: ListRole,
    pub location: String,
    pub body: Vec<u8>,
}

/// The refresh as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshState {
    pub url: String,
    pub generation: i64,
    pub attempted_at: Option<DateTime<Utc>>,
    pub succeeded_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// Keeps a list that verified (replacing the territory's previous one) and clears its error.
pub async fn keep_good(conn: &mut PgConnection, list: &GoodList, now: DateTime<Utc>) -> Result<(), Error> {
    sqlx::query!(
        r#"insert into trusted_lists (territory, role, location, body, sequence_number, issued_at, next_update,
               services, signer, fetched_at, attempted_at, last_error)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, null)
           on conflict (territory) do update set role = excluded.role, location = excluded.location,
               body = excluded.body, sequence_number = excluded.sequence_number, issued_at = excluded.issued_at,
               next_update = excluded.next_update, services = excluded.services, signer = excluded.signer,
               fetched_at = excluded.fetched_at, attempted_at = excluded.attempted_at, last_error = null"#,
        list.territory,
        list.role as ListRole,
        list.location,
        list.body,
        list.sequence_number,
        list.issued_at,
        list.next_update,
        list.services,
        list.signer,
        now
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records a failed attempt for `territory`; its last good list, if any, stays.
pub async fn record_failure(
    conn: &mut PgConnection,
    territory: &str,
    role: ListRole,
    location: &str,
    cause: &str,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    sqlx::query!(
        r#"insert into trusted_lists (territory, role, location, attempted_at, last_error)
           values ($1, $2, $3, $4, $5)
           on conflict (territory) do update set attempted_at = excluded.attempted_at, last_error = excluded.last_error"#,
        territory,
        role as ListRole,
        location,
        now,
        cause
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records the end of a refresh: `first_error` is the configured list's failure (its last
/// good copy, if any, stays in use). The generation grows so that every process loads the
/// lists again.
pub async fn finish_refresh(
    conn: &mut PgConnection,
    url: &str,
    first_error: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    sqlx::query!(
        r#"insert into trusted_list_refresh (id, url, generation, attempted_at, succeeded_at, last_error)
           values (true, $1, 1, $2::timestamptz, case when $3::text is null then $2::timestamptz end, $3)
           on conflict (id) do update set url = excluded.url, generation = trusted_list_refresh.generation + 1,
               attempted_at = excluded.attempted_at,
               succeeded_at = coalesce(excluded.succeeded_at, trusted_list_refresh.succeeded_at),
               last_error = excluded.last_error"#,
        url,
        now,
        first_error
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The state of the refresh; `None` before the first one.
pub async fn refresh_state(pool: &PgPool) -> Result<Option<RefreshState>, Error> {
    let row = sqlx::query_as!(
        RefreshState,
        "select url, generation, attempted_at, succeeded_at, last_error from trusted_list_refresh where id"
    )
    .fetch_optional(pool)
    .await?;
    Ok(row)
}

/// Every stored list, the first one first, then by territory.
pub async fn summaries(pool: &PgPool) -> Result<Vec<ListSummary>, Error> {
    let rows = sqlx::query_as!(
        ListSummary,
        r#"select territory, role as "role: ListRole", location, sequence_number, issued_at, next_update, services,
               signer, fetched_at, attempted_at, last_error
           from trusted_lists order by role, territory"#
    )
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// The good lists' bytes, the first one first.
pub async fn stored(pool: &PgPool) -> Result<Vec<StoredList>, Error> {
    let rows = sqlx::query!(
        r#"select territory, role as "role: ListRole", location, body as "body!"
           from trusted_lists where body is not null order by role, territory"#
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|r| StoredList { territory: r.territory, role: r.role, location: r.location, body: r.body }).collect())
}

/// The key of the session-level advisory lock held by the process that refreshes.
const REFRESH_LOCK: i64 = 0x5349_474c_5453_4c31; // "SIGLTSL1"

/// Takes the refresh lock on `conn` if no other session holds it. Held until
/// [`unlock_refresh`] on the same connection, or until the connection closes (a process that
/// dies mid-refresh lets another one take over).
pub async fn try_lock_refresh(conn: &mut PgConnection) -> Result<bool, Error> {
    let got = sqlx::query_scalar!(r#"select pg_try_advisory_lock($1) as "got!""#, REFRESH_LOCK).fetch_one(&mut *conn).await?;
    Ok(got)
}

pub async fn unlock_refresh(conn: &mut PgConnection) -> Result<(), Error> {
    sqlx::query_scalar!(r#"select pg_advisory_unlock($1) as "released!""#, REFRESH_LOCK).fetch_one(&mut *conn).await?;
    Ok(())
}
