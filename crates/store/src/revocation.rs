//! The cache of revocation status fetched online (`revocation_cache`): verified answers of
//! OCSP responders and CRLs, one row per certificate, kept until their nextUpdate and shared
//! by every process on the database. What an answer means is `sigillo_signature`'s; fetching
//! it is `sigillo_revocation`'s.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use crate::Error;

/// What the answer said (`revocation_status` in the schema).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "revocation_status", rename_all = "snake_case")]
pub enum RevocationStatus {
    Good,
    Revoked,
    Unknown,
}

/// One cached answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedRevocation {
    pub status: RevocationStatus,
    /// Set exactly when revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    pub this_update: DateTime<Utc>,
    pub next_update: DateTime<Utc>,
    pub source: String,
}

/// The answer for `cert_key` still current at `now`, if any.
pub async fn current(conn: &mut PgConnection, cert_key: &str, now: DateTime<Utc>) -> Result<Option<CachedRevocation>, Error> {
    let row = sqlx::query_as!(
        CachedRevocation,
        r#"select status as "status: RevocationStatus", revoked_at, this_update, next_update, source
           from revocation_cache where cert_key = $1 and next_update > $2"#,
        cert_key,
        now
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row)
}

/// Keeps `answer` for `cert_key` (replacing an older one), and drops answers that expired
/// before `now`: the table holds only what can still be used.
pub async fn keep(conn: &mut PgConnection, cert_key: &str, answer: &CachedRevocation, now: DateTime<Utc>) -> Result<(), Error> {
    sqlx::query!(
        r#"insert into revocation_cache (cert_key, status, revoked_at, this_update, next_update, source)
           values ($1, $2, $3, $4, $5, $6)
           on conflict (cert_key) do update set status = excluded.status, revoked_at = excluded.revoked_at,
               this_update = excluded.this_update, next_update = excluded.next_update, source = excluded.source,
               fetched_at = now()
           where revocation_cache.this_update <= excluded.this_update"#,
        cert_key,
        answer.status as RevocationStatus,
        answer.revoked_at,
        answer.this_update,
        answer.next_update,
        answer.source
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!("delete from revocation_cache where next_update < $1", now).execute(&mut *conn).await?;
    Ok(())
}
