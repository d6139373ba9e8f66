//! Idempotency keys of the registration API: a back-office system that repeats a request
//! (a timeout, a retry after a crash) with the same `Idempotency-Key` gets the registration
//! the first request made, and no new number.
//!
//! The key is scoped to the API token. [`lock`] serialises the requests carrying one key
//! (a transaction-level advisory lock), so two of them arriving together do not both
//! register: the second waits for the first to commit, then finds its row.

use sqlx::PgConnection;

use crate::Error;
use crate::ids::RegistrationId;
use crate::register::Sha256;

/// A key already used, and what it was used for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Used {
    pub request_sha256: Sha256,
    pub registration_id: RegistrationId,
}

/// Longest key accepted (the column's check).
pub const MAX_KEY_CHARS: usize = 255;

/// Takes the lock of (`token_id`, `key`) until the end of the transaction `conn` is in.
pub async fn lock(conn: &mut PgConnection, token_id: i64, key: &str) -> Result<(), Error> {
    sqlx::query!(
        // In FROM: the function returns void, which has no Rust type to read into.
        r#"select 1 as "locked!" from pg_advisory_xact_lock(hashtextextended($1::bigint::text || ':' || $2, 1789))"#,
        token_id,
        key,
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(())
}

/// What the key was used for, if it was.
pub async fn find(conn: &mut PgConnection, token_id: i64, key: &str) -> Result<Option<Used>, Error> {
    let row = sqlx::query!(
        r#"select request_sha256, registration_id as "registration_id: RegistrationId" from api_idempotency
           where token_id = $1 and key = $2"#,
        token_id,
        key,
    )
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| Ok(Used { request_sha256: Sha256::from_slice(&r.request_sha256)?, registration_id: r.registration_id }))
        .transpose()
}

/// Records the key with the registration it made, in the registration's transaction.
pub async fn record(
    conn: &mut PgConnection,
    token_id: i64,
    key: &str,
    request_sha256: &Sha256,
    registration_id: RegistrationId,
) -> Result<(), Error> {
    if key.is_empty() || key.chars().count() > MAX_KEY_CHARS {
        return Err(Error::invalid("Idempotency-Key", format!("1 to {MAX_KEY_CHARS} characters")));
    }
    sqlx::query!(
        "insert into api_idempotency (token_id, key, request_sha256, registration_id) values ($1, $2, $3, $4)",
        token_id,
        key,
        &request_sha256.0[..],
        registration_id.get(),
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}
