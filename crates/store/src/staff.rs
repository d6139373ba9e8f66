//! Staff accounts, sessions, login throttling, offices and assignments, API tokens.
//!
//! Secrets never reach this module in clear: passwords arrive as argon2 PHC strings (hashed
//! by the web crate), session and API tokens as their SHA-256. Every change made by a person
//! is appended to the audit trail in the caller's transaction.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;

use crate::Error;
use crate::audit::{self, AuditAction, NewAuditEntry};
use crate::ids::RegistrationId;
use crate::register::{Actor, Sha256};

/// The roles of the protocol office (issue 7). What each may do is decided by the web crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, sqlx::Type)]
#[sqlx(type_name = "staff_role", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Operatore,
    Responsabile,
    Amministratore,
    Revisore,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Operatore, Role::Responsabile, Role::Amministratore, Role::Revisore];

    pub fn parse(s: &str) -> Result<Self, Error> {
        match s.trim() {
            "operatore" => Ok(Role::Operatore),
            "responsabile" => Ok(Role::Responsabile),
            "amministratore" => Ok(Role::Amministratore),
            "revisore" => Ok(Role::Revisore),
            other => Err(Error::invalid(
                "role",
                format!("{other:?} is not one of operatore, responsabile, amministratore, revisore"),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operatore => "operatore",
            Role::Responsabile => "responsabile",
            Role::Amministratore => "amministratore",
            Role::Revisore => "revisore",
        }
    }
}

/// A login name: 2 to 64 lower-case letters, digits, '.', '_' or '-', starting with a letter
/// or digit (the same rule as the `staff_users` check constraint).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Username(String);

impl Username {
    pub fn parse(s: &str) -> Result<Self, Error> {
        let s = s.trim();
        if crate::register::SYSTEM_ACTORS.contains(&s) {
            return Err(Error::invalid(
                "username",
                format!("«{s}» è un nome riservato: è il nome con cui il sistema registra i propri atti automatici"),
            ));
        }
        let ok = (2..=64).contains(&s.len())
            && s.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'));
        if ok {
            Ok(Username(s.to_owned()))
        } else {
            Err(Error::invalid(
                "username",
                format!("«{s}» non va bene: servono da 2 a 64 lettere minuscole, cifre, '.', '_' o '-'"),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Username {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A member of staff, without the password hash.
#[derive(Debug, Clone, Serialize)]
pub struct StaffUser {
    pub id: i64,
    pub username: String,
    pub full_name: String,
    pub role: Role,
    pub disabled_at: Option<DateTime<Utc>>,
    pub locked_until: Option<DateTime<Utc>>,
    pub last_login_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

fn entry(actor: &Actor, action: AuditAction, object_type: &str, object_id: String, details: serde_json::Value) -> NewAuditEntry {
    NewAuditEntry {
        actor: actor.as_str().to_owned(),
        action,
        object_type: object_type.to_owned(),
        object_id,
        details,
    }
}

/// Creates an account. A taken username is `Error::Invalid` naming it.
pub async fn create_user(
    conn: &mut PgConnection,
    actor: &Actor,
    username: &Username,
    full_name: &str,
    role: Role,
    password_hash: &str,
) -> Result<i64, Error> {
    if full_name.trim().is_empty() {
        return Err(Error::invalid("full name", "empty"));
    }
    let id = sqlx::query_scalar!(
        r#"
        insert into staff_users (username, full_name, role, password_hash)
        values ($1, $2, $3, $4)
        on conflict (username) do nothing
        returning id
        "#,
        username.as_str(),
        full_name.trim(),
        role as Role,
        password_hash,
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::invalid("username", format!("{username} already exists")))?;
    audit::append(
        conn,
        &entry(actor, AuditAction::StaffCreate, "staff_user", username.to_string(), serde_json::json!({ "role": role.as_str() })),
    )
    .await?;
    Ok(id)
}

/// Replaces a password, lifts a lockout and ends the account's sessions.
pub async fn set_password(
    conn: &mut PgConnection,
    actor: &Actor,
    username: &Username,
    password_hash: &str,
) -> Result<(), Error> {
    let id = sqlx::query_scalar!(
        r#"
        update staff_users
        set password_hash = $2, password_changed_at = now(), failed_logins = 0, locked_until = null
        where username = $1
        returning id
        "#,
        username.as_str(),
        password_hash,
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::NotFound { what: format!("user {username}") })?;
    sqlx::query!("delete from staff_sessions where user_id = $1", id).execute(&mut *conn).await?;
    audit::append(conn, &entry(actor, AuditAction::StaffPassword, "staff_user", username.to_string(), serde_json::json!({}))).await?;
    Ok(())
}

/// Disables an account (it stays, for the audit trail) and ends its sessions.
pub async fn disable_user(conn: &mut PgConnection, actor: &Actor, username: &Username) -> Result<(), Error> {
    let id = sqlx::query_scalar!(
        "update staff_users set disabled_at = coalesce(disabled_at, now()) where username = $1 returning id",
        username.as_str(),
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::NotFound { what: format!("user {username}") })?;
    sqlx::query!("delete from staff_sessions where user_id = $1", id).execute(&mut *conn).await?;
    audit::append(conn, &entry(actor, AuditAction::StaffDisable, "staff_user", username.to_string(), serde_json::json!({}))).await?;
    Ok(())
}

/// Every account, by username.
pub async fn list_users(conn: &mut PgConnection) -> Result<Vec<StaffUser>, Error> {
    Ok(sqlx::query_as!(
        StaffUser,
        r#"
        select id, username, full_name, role as "role: Role", disabled_at, locked_until,
               last_login_at, created_at
        from staff_users order by username
        "#
    )
    .fetch_all(&mut *conn)
    .await?)
}

/// What a login attempt needs to know about an account.
#[derive(Debug, Clone)]
pub struct LoginRecord {
    pub id: i64,
    pub username: String,
    pub password_hash: String,
    pub disabled: bool,
    pub locked_until: Option<DateTime<Utc>>,
}

pub async fn login_record(conn: &mut PgConnection, username: &Username) -> Result<Option<LoginRecord>, Error> {
    Ok(sqlx::query_as!(
        LoginRecord,
        r#"
        select id, username, password_hash, (disabled_at is not null) as "disabled!", locked_until
        from staff_users where username = $1
        "#,
        username.as_str(),
    )
    .fetch_optional(&mut *conn)
    .await?)
}

/// Failed logins from `client` since `since` (for throttling by address).
pub async fn recent_failures(conn: &mut PgConnection, client: &str, since: DateTime<Utc>) -> Result<i64, Error> {
    Ok(sqlx::query_scalar!(
        r#"select count(*) as "n!" from login_failures where client = $1 and at >= $2"#,
        client,
        since,
    )
    .fetch_one(&mut *conn)
    .await?)
}

/// Records a failed login: one more failure for the address and, when the account exists,
/// one more consecutive failure for it; at `lock_after` failures the account is locked
/// until `lock_until`. Returns whether the account is now locked.
pub async fn record_failure(
    conn: &mut PgConnection,
    client: &str,
    user_id: Option<i64>,
    lock_after: i32,
    lock_until: DateTime<Utc>,
    prune_before: DateTime<Utc>,
) -> Result<bool, Error> {
    sqlx::query!("delete from login_failures where at < $1", prune_before).execute(&mut *conn).await?;
    sqlx::query!("insert into login_failures (client) values ($1)", client).execute(&mut *conn).await?;
    let Some(id) = user_id else { return Ok(false) };
    let row = sqlx::query!(
        r#"
        update staff_users
        set failed_logins = failed_logins + 1,
            locked_until = case when failed_logins + 1 >= $2 then $3 else locked_until end
        where id = $1
        returning username, failed_logins, locked_until
        "#,
        id,
        lock_after,
        lock_until,
    )
    .fetch_one(&mut *conn)
    .await?;
    let locked = row.failed_logins >= lock_after;
    if row.failed_logins == lock_after {
        let system = Actor::parse("web")?;
        audit::append(
            conn,
            &entry(&system, AuditAction::StaffLockout, "staff_user", row.username, serde_json::json!({ "failures": row.failed_logins })),
        )
        .await?;
    }
    Ok(locked)
}

/// A session of a logged-in person, as every request sees it.
#[derive(Debug, Clone)]
pub struct Session {
    pub user_id: i64,
    pub username: String,
    pub full_name: String,
    pub role: Role,
    pub csrf_token: String,
}

/// Opens a session after a successful login and resets the account's failure counter.
pub async fn open_session(
    conn: &mut PgConnection,
    user_id: i64,
    token_hash: &Sha256,
    csrf_token: &str,
    expires_at: DateTime<Utc>,
) -> Result<(), Error> {
    sqlx::query!(
        "update staff_users set failed_logins = 0, locked_until = null, last_login_at = now() where id = $1",
        user_id
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!("delete from staff_sessions where expires_at < now()").execute(&mut *conn).await?;
    sqlx::query!(
        "insert into staff_sessions (token_hash, user_id, csrf_token, expires_at) values ($1, $2, $3, $4)",
        &token_hash.0[..],
        user_id,
        csrf_token,
        expires_at,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The live session with this token, if any, extending its expiry to `expires_at` (idle
/// timeout). Sessions of disabled accounts are never live.
///
/// The expiry is moved at most once a minute: every page view writing (and committing) the
/// session row cost more than the page's own query, and the idle timeout of hours does not
/// need a precision below a minute. The check is a plain read; the write, when due, is a
/// second statement (a data-modifying CTE made every check pay for an UPDATE plan).
pub async fn session(conn: &mut PgConnection, token_hash: &Sha256, expires_at: DateTime<Utc>) -> Result<Option<Session>, Error> {
    let Some(row) = sqlx::query!(
        r#"
        select u.id as user_id, u.username, u.full_name, u.role as "role: Role", s.csrf_token,
               s.last_seen_at < now() - interval '1 minute' as "stale!"
        from staff_sessions s join staff_users u on u.id = s.user_id
        where s.token_hash = $1 and s.expires_at > now() and u.disabled_at is null
        "#,
        &token_hash.0[..],
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    if row.stale {
        // Conditional again: of two requests racing here, one writes.
        sqlx::query!(
            "update staff_sessions set last_seen_at = now(), expires_at = $2
             where token_hash = $1 and expires_at > now() and last_seen_at < now() - interval '1 minute'",
            &token_hash.0[..],
            expires_at,
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(Some(Session {
        user_id: row.user_id,
        username: row.username,
        full_name: row.full_name,
        role: row.role,
        csrf_token: row.csrf_token,
    }))
}

pub async fn close_session(conn: &mut PgConnection, token_hash: &Sha256) -> Result<(), Error> {
    sqlx::query!("delete from staff_sessions where token_hash = $1", &token_hash.0[..]).execute(&mut *conn).await?;
    Ok(())
}

/// An office registrations are assigned to.
#[derive(Debug, Clone, Serialize)]
pub struct Office {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub active: bool,
}

pub async fn create_office(conn: &mut PgConnection, actor: &Actor, code: &str, name: &str) -> Result<i64, Error> {
    let code = code.trim();
    if !(1..=16).contains(&code.len())
        || !code.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        return Err(Error::invalid("office code", format!("{code:?} is not 1 to 16 letters, digits, '_', '.' or '-'")));
    }
    if name.trim().is_empty() {
        return Err(Error::invalid("office name", "empty"));
    }
    let id = sqlx::query_scalar!(
        "insert into offices (code, name) values ($1, $2) on conflict (code) do nothing returning id",
        code,
        name.trim(),
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::invalid("office code", format!("{code} already exists")))?;
    audit::append(conn, &entry(actor, AuditAction::OfficeCreate, "office", id.to_string(), serde_json::json!({ "code": code, "name": name.trim() })))
        .await?;
    Ok(id)
}

pub async fn set_office_active(conn: &mut PgConnection, actor: &Actor, office_id: i64, active: bool) -> Result<(), Error> {
    sqlx::query_scalar!("update offices set active = $2 where id = $1 returning id", office_id, active)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| Error::NotFound { what: format!("office {office_id}") })?;
    audit::append(conn, &entry(actor, AuditAction::OfficeActive, "office", office_id.to_string(), serde_json::json!({ "active": active })))
        .await?;
    Ok(())
}

pub async fn list_offices(conn: &mut PgConnection) -> Result<Vec<Office>, Error> {
    Ok(sqlx::query_as!(Office, "select id, code, name, active from offices order by code")
        .fetch_all(&mut *conn)
        .await?)
}

/// One assignment of a registration, for its history.
#[derive(Debug, Clone, Serialize)]
pub struct Assignment {
    pub office_code: String,
    pub office_name: String,
    pub assigned_at: DateTime<Utc>,
    pub assigned_by: String,
    pub note: Option<String>,
}

/// Assigns a registration to an active office. The previous assignment stays as history.
pub async fn assign(
    conn: &mut PgConnection,
    actor: &Actor,
    registration_id: RegistrationId,
    office_id: i64,
    note: Option<&str>,
) -> Result<(), Error> {
    let office = sqlx::query!("select code, active from offices where id = $1", office_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| Error::NotFound { what: format!("office {office_id}") })?;
    if !office.active {
        return Err(Error::invalid("office", format!("{} is not active", office.code)));
    }
    sqlx::query_scalar!("select id from registrations where id = $1", registration_id.get())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| Error::NotFound { what: format!("registration id {registration_id}") })?;
    let note = note.map(str::trim).filter(|n| !n.is_empty());
    sqlx::query!(
        "insert into assignments (registration_id, office_id, assigned_by, note) values ($1, $2, $3, $4)",
        registration_id.get(),
        office_id,
        actor.as_str(),
        note,
    )
    .execute(&mut *conn)
    .await?;
    audit::append(
        conn,
        &entry(actor, AuditAction::RegistrationAssign, "registration", registration_id.to_string(), serde_json::json!({ "office": office.code })),
    )
    .await?;
    Ok(())
}

/// The assignments of a registration, newest first.
pub async fn assignments(conn: &mut PgConnection, registration_id: RegistrationId) -> Result<Vec<Assignment>, Error> {
    Ok(sqlx::query_as!(
        Assignment,
        r#"
        select o.code as office_code, o.name as office_name, a.assigned_at, a.assigned_by, a.note
        from assignments a join offices o on o.id = a.office_id
        where a.registration_id = $1 order by a.id desc
        "#,
        registration_id.get(),
    )
    .fetch_all(&mut *conn)
    .await?)
}

/// What an API token may do: `read` the register, or also `write` (register through
/// `POST /api/v1/registrations`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type)]
#[sqlx(type_name = "api_scope", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum ApiScope {
    Read,
    Write,
}

impl ApiScope {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiScope::Read => "read",
            ApiScope::Write => "write",
        }
    }

    pub fn parse(s: &str) -> Result<Self, Error> {
        match s {
            "read" => Ok(ApiScope::Read),
            "write" => Ok(ApiScope::Write),
            other => Err(Error::invalid("scope", format!("«{other}» is not read or write"))),
        }
    }
}

/// The live token a request presented.
#[derive(Debug, Clone)]
pub struct ApiClient {
    pub id: i64,
    pub name: String,
    pub scope: ApiScope,
}

/// An API token, without its secret.
#[derive(Debug, Clone, Serialize)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub scope: ApiScope,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

pub async fn create_api_token(
    conn: &mut PgConnection,
    actor: &Actor,
    name: &str,
    scope: ApiScope,
    token_hash: &Sha256,
) -> Result<i64, Error> {
    if name.trim().is_empty() {
        return Err(Error::invalid("token name", "empty"));
    }
    let id = sqlx::query_scalar!(
        "insert into api_tokens (name, token_hash, created_by, scope) values ($1, $2, $3, $4) returning id",
        name.trim(),
        &token_hash.0[..],
        actor.as_str(),
        scope as ApiScope,
    )
    .fetch_one(&mut *conn)
    .await?;
    let details = serde_json::json!({ "name": name.trim(), "scope": scope.as_str() });
    audit::append(conn, &entry(actor, AuditAction::ApiTokenCreate, "api_token", id.to_string(), details)).await?;
    Ok(id)
}

pub async fn revoke_api_token(conn: &mut PgConnection, actor: &Actor, id: i64) -> Result<(), Error> {
    sqlx::query_scalar!("update api_tokens set revoked_at = coalesce(revoked_at, now()) where id = $1 returning id", id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| Error::NotFound { what: format!("API token {id}") })?;
    audit::append(conn, &entry(actor, AuditAction::ApiTokenRevoke, "api_token", id.to_string(), serde_json::json!({}))).await?;
    Ok(())
}

pub async fn list_api_tokens(conn: &mut PgConnection) -> Result<Vec<ApiToken>, Error> {
    Ok(sqlx::query_as!(
        ApiToken,
        r#"select id, name, scope as "scope: ApiScope", created_by, created_at, last_used_at, revoked_at
           from api_tokens order by id"#
    )
    .fetch_all(&mut *conn)
    .await?)
}

/// The live (not revoked) token with this hash, marking it used.
pub async fn use_api_token(conn: &mut PgConnection, token_hash: &Sha256) -> Result<Option<ApiClient>, Error> {
    Ok(sqlx::query_as!(
        ApiClient,
        r#"update api_tokens set last_used_at = now() where token_hash = $1 and revoked_at is null
           returning id, name, scope as "scope: ApiScope""#,
        &token_hash.0[..],
    )
    .fetch_optional(&mut *conn)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_actor_names_are_reserved() {
        for name in crate::register::SYSTEM_ACTORS {
            let err = Username::parse(name).unwrap_err().to_string();
            assert!(err.contains("riservato"), "{err}");
        }
        assert!(Username::parse("webmaster").is_ok());
    }

    #[test]
    fn usernames_are_lower_case_words() {
        assert!(Username::parse("m.rossi").is_ok());
        assert!(Username::parse("op-1").is_ok());
        for bad in ["", "a", "M.Rossi", ".rossi", "rossi mario", "rossi'--", "x".repeat(65).as_str()] {
            assert!(Username::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn roles_parse_their_italian_names_only() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()).ok(), Some(r));
        }
        assert!(Role::parse("admin").is_err());
    }
}
