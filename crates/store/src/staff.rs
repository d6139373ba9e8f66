//! Staff accounts, sessions, login throttling, offices, API tokens (assignments and office
//! membership: `crate::assignment`).
//!
//! Secrets never reach this module in clear: passwords arrive as argon2 PHC strings (hashed
//! by the web crate), session and API tokens as their SHA-256. Every change made by a person
//! is appended to the audit trail in the caller's transaction.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;

use crate::Error;
use crate::audit::{self, AuditAction, NewAuditEntry};
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
    /// Office staff (migration 0024): their office's inbox and what is assigned to them.
    Ufficio,
}

impl Role {
    pub const ALL: [Role; 5] = [Role::Operatore, Role::Responsabile, Role::Amministratore, Role::Revisore, Role::Ufficio];

    pub fn parse(s: &str) -> Result<Self, Error> {
        match s.trim() {
            "operatore" => Ok(Role::Operatore),
            "responsabile" => Ok(Role::Responsabile),
            "amministratore" => Ok(Role::Amministratore),
            "revisore" => Ok(Role::Revisore),
            "ufficio" => Ok(Role::Ufficio),
            other => Err(Error::invalid(
                "role",
                format!("{other:?} is not one of operatore, responsabile, amministratore, revisore, ufficio"),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operatore => "operatore",
            Role::Responsabile => "responsabile",
            Role::Amministratore => "amministratore",
            Role::Revisore => "revisore",
            Role::Ufficio => "ufficio",
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
    /// Some throttle key of this username (from one address or from all) is at its limit:
    /// logins with this name are refused until the window ends or an amministratore unlocks it.
    pub locked: bool,
    /// The password was set by an amministratore and must be changed at the next login.
    pub must_change_password: bool,
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

/// Replaces a password (the person's own choice, or `sigillo user passwd`), lifts any
/// lockout of the name and ends the account's sessions.
pub async fn set_password(
    conn: &mut PgConnection,
    actor: &Actor,
    username: &Username,
    password_hash: &str,
) -> Result<(), Error> {
    replace_password(conn, username, password_hash, false).await?;
    audit::append(conn, &entry(actor, AuditAction::StaffPassword, "staff_user", username.to_string(), serde_json::json!({}))).await?;
    Ok(())
}

/// An amministratore sets a temporary password: as [`set_password`], and the person must
/// choose a new one right after logging in with it.
pub async fn reset_password(
    conn: &mut PgConnection,
    actor: &Actor,
    username: &Username,
    password_hash: &str,
) -> Result<(), Error> {
    replace_password(conn, username, password_hash, true).await?;
    audit::append(
        conn,
        &entry(actor, AuditAction::StaffPasswordReset, "staff_user", username.to_string(), serde_json::json!({})),
    )
    .await?;
    Ok(())
}

async fn replace_password(conn: &mut PgConnection, username: &Username, password_hash: &str, temporary: bool) -> Result<(), Error> {
    let id = sqlx::query_scalar!(
        r#"
        update staff_users
        set password_hash = $2, password_changed_at = now(), must_change_password = $3
        where username = $1
        returning id
        "#,
        username.as_str(),
        password_hash,
        temporary,
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::NotFound { what: format!("user {username}") })?;
    sqlx::query!("delete from staff_sessions where user_id = $1", id).execute(&mut *conn).await?;
    sqlx::query!("delete from login_throttle where username = $1", username.as_str()).execute(&mut *conn).await?;
    Ok(())
}

/// The error of the trigger that keeps an active amministratore, in words.
fn last_amministratore(err: sqlx::Error, username: &Username) -> Error {
    if crate::error::constraint(&err) == Some("staff_users_last_amministratore") {
        Error::invalid(
            "ruolo",
            format!("{username} è l'ultimo amministratore attivo: serve almeno un altro amministratore attivo prima di disattivarlo o cambiargli ruolo"),
        )
    } else {
        Error::from(err)
    }
}

/// Disables an account (it stays, for the audit trail) and ends its sessions. The last
/// active amministratore cannot be disabled (the schema's trigger refuses it).
pub async fn disable_user(conn: &mut PgConnection, actor: &Actor, username: &Username) -> Result<(), Error> {
    let id = sqlx::query_scalar!(
        "update staff_users set disabled_at = coalesce(disabled_at, now()) where username = $1 returning id",
        username.as_str(),
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(|e| last_amministratore(e, username))?
    .ok_or_else(|| Error::NotFound { what: format!("user {username}") })?;
    sqlx::query!("delete from staff_sessions where user_id = $1", id).execute(&mut *conn).await?;
    audit::append(conn, &entry(actor, AuditAction::StaffDisable, "staff_user", username.to_string(), serde_json::json!({}))).await?;
    Ok(())
}

/// Enables a disabled account again (its password is unchanged).
pub async fn enable_user(conn: &mut PgConnection, actor: &Actor, username: &Username) -> Result<(), Error> {
    sqlx::query_scalar!("update staff_users set disabled_at = null where username = $1 returning id", username.as_str())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| Error::NotFound { what: format!("user {username}") })?;
    audit::append(conn, &entry(actor, AuditAction::StaffEnable, "staff_user", username.to_string(), serde_json::json!({}))).await?;
    Ok(())
}

/// Gives an account another role. Demoting the last active amministratore is refused.
pub async fn set_role(conn: &mut PgConnection, actor: &Actor, username: &Username, role: Role) -> Result<(), Error> {
    let before = sqlx::query_scalar!(
        r#"select role as "role: Role" from staff_users where username = $1 for update"#,
        username.as_str()
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::NotFound { what: format!("user {username}") })?;
    if before == role {
        return Ok(());
    }
    sqlx::query!("update staff_users set role = $2 where username = $1", username.as_str(), role as Role)
        .execute(&mut *conn)
        .await
        .map_err(|e| last_amministratore(e, username))?;
    // Every request reads the role again (see `session`): the change applies at once.
    audit::append(
        conn,
        &entry(
            actor,
            AuditAction::StaffRole,
            "staff_user",
            username.to_string(),
            serde_json::json!({ "from": before.as_str(), "to": role.as_str() }),
        ),
    )
    .await?;
    Ok(())
}

/// Lifts the lockout of a username: every throttle key of that name, from every address.
pub async fn unlock_user(conn: &mut PgConnection, actor: &Actor, username: &Username) -> Result<(), Error> {
    sqlx::query_scalar!("select id from staff_users where username = $1", username.as_str())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| Error::NotFound { what: format!("user {username}") })?;
    let keys = sqlx::query!("delete from login_throttle where username = $1", username.as_str()).execute(&mut *conn).await?;
    audit::append(
        conn,
        &entry(actor, AuditAction::StaffUnlock, "staff_user", username.to_string(), serde_json::json!({ "keys": keys.rows_affected() })),
    )
    .await?;
    Ok(())
}

/// Every account, by username; `limits` decide which names count as locked now.
pub async fn list_users(conn: &mut PgConnection, limits: &ThrottleLimits, now: DateTime<Utc>) -> Result<Vec<StaffUser>, Error> {
    Ok(sqlx::query_as!(
        StaffUser,
        r#"
        select u.id, u.username, u.full_name, u.role as "role: Role", u.disabled_at,
               exists (
                   select 1 from login_throttle t
                   where t.username = u.username and t.window_start > $1
                     and t.failures >= case when t.client = '' then $3::int else $2::int end
               ) as "locked!",
               u.must_change_password, u.last_login_at, u.created_at
        from staff_users u order by u.username
        "#,
        now - limits.window,
        limits.per_name_and_address,
        limits.per_name,
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
}

pub async fn login_record(conn: &mut PgConnection, username: &Username) -> Result<Option<LoginRecord>, Error> {
    Ok(sqlx::query_as!(
        LoginRecord,
        r#"
        select id, username, password_hash, (disabled_at is not null) as "disabled!"
        from staff_users where username = $1
        "#,
        username.as_str(),
    )
    .fetch_optional(&mut *conn)
    .await?)
}

/// How many failed attempts each kind of throttle key allows within `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleLimits {
    /// One name from one address: what a clerk who mistypes meets.
    pub per_name_and_address: i32,
    /// One address, whatever the names.
    pub per_address: i32,
    /// One name, from every address.
    pub per_name: i32,
    pub window: chrono::Duration,
}

/// A throttle key (see `login_throttle` in the schema): `client` or `username` may be ''
/// for "any"; `limit` is the failures it allows within the window.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ThrottleKey {
    pub client: String,
    pub username: String,
    pub limit: i32,
}

impl ThrottleKey {
    /// The three keys of a login attempt.
    pub fn login(client: &str, username: &str, limits: &ThrottleLimits) -> Vec<ThrottleKey> {
        let key = |c: &str, u: &str, limit| ThrottleKey { client: c.to_owned(), username: u.to_owned(), limit };
        vec![
            key(client, username, limits.per_name_and_address),
            key(client, "", limits.per_address),
            key("", username, limits.per_name),
        ]
    }
}

/// What [`reserve_attempt`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// The attempt is counted as a failure already; `reached` are the keys this attempt
    /// brought to their limit (the next attempt on them will be refused).
    Allowed { reached: Vec<ThrottleKey> },
    /// A key is at its limit: the attempt must not check any password.
    Refused,
}

/// Counts an attempt on every key before its password is checked, or refuses it when a key
/// is at its limit, under the keys' row locks: of 60 concurrent attempts on one name no more
/// than the limit get through. Run it in its own short transaction (the caller's), never
/// around the password check. A success gives its attempt back with [`attempt_succeeded`].
pub async fn reserve_attempt(
    conn: &mut PgConnection,
    keys: &[ThrottleKey],
    window: chrono::Duration,
    now: DateTime<Utc>,
) -> Result<Reservation, Error> {
    // One lock order for every transaction (sorted keys), so two attempts never deadlock.
    let mut keys = keys.to_vec();
    keys.sort();
    keys.dedup_by(|a, b| a.client == b.client && a.username == b.username);
    let clients: Vec<String> = keys.iter().map(|k| k.client.clone()).collect();
    let usernames: Vec<String> = keys.iter().map(|k| k.username.clone()).collect();
    let since = now - window;
    // A row pruned between the insert and the lock (an expired one, by a concurrent login)
    // would go uncounted: then insert and lock again.
    let mut rows = Vec::new();
    for _ in 0..3 {
        sqlx::query!(
            r#"
            insert into login_throttle (client, username, failures, window_start)
            select c, u, 0, $3 from unnest($1::text[], $2::text[]) as k(c, u) order by c, u
            on conflict (client, username) do nothing
            "#,
            &clients,
            &usernames,
            now,
        )
        .execute(&mut *conn)
        .await?;
        rows = sqlx::query!(
            r#"
            select t.client, t.username, case when t.window_start > $3 then t.failures else 0 end as "failures!"
            from login_throttle t join unnest($1::text[], $2::text[]) as k(c, u) on t.client = k.c and t.username = k.u
            order by t.client, t.username
            for update of t
            "#,
            &clients,
            &usernames,
            since,
        )
        .fetch_all(&mut *conn)
        .await?;
        if rows.len() == keys.len() {
            break;
        }
    }
    if rows.len() != keys.len() {
        return Err(Error::invalid("login throttle", "its rows keep disappearing"));
    }
    let failures = |k: &ThrottleKey| {
        rows.iter().find(|r| r.client == k.client && r.username == k.username).map_or(0, |r| r.failures)
    };
    if keys.iter().any(|k| failures(k) >= k.limit) {
        return Ok(Reservation::Refused);
    }
    sqlx::query!(
        r#"
        update login_throttle t
        set failures = case when t.window_start > $3 then t.failures + 1 else 1 end,
            window_start = case when t.window_start > $3 then t.window_start else $4 end
        from unnest($1::text[], $2::text[]) as k(c, u)
        where t.client = k.c and t.username = k.u
        "#,
        &clients,
        &usernames,
        since,
        now,
    )
    .execute(&mut *conn)
    .await?;
    let reached = keys.into_iter().filter(|k| failures(k) + 1 == k.limit).collect();
    Ok(Reservation::Allowed { reached })
}

/// A reserved attempt succeeded: the key of this name from this address starts again, the
/// others get the attempt back (a success is no failure, but the failures of others stay).
pub async fn attempt_succeeded(conn: &mut PgConnection, keys: &[ThrottleKey]) -> Result<(), Error> {
    let Some(own) = keys.iter().find(|k| !k.client.is_empty() && !k.username.is_empty()) else {
        return Ok(());
    };
    let mut others: Vec<&ThrottleKey> = keys.iter().filter(|k| *k != own).collect();
    others.sort();
    let clients: Vec<String> = others.iter().map(|k| k.client.clone()).collect();
    let usernames: Vec<String> = others.iter().map(|k| k.username.clone()).collect();
    sqlx::query!("delete from login_throttle where client = $1 and username = $2", own.client, own.username)
        .execute(&mut *conn)
        .await?;
    sqlx::query!(
        r#"
        update login_throttle t set failures = greatest(t.failures - 1, 0)
        from unnest($1::text[], $2::text[]) as k(c, u)
        where t.client = k.c and t.username = k.u
        "#,
        &clients,
        &usernames,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Forgets the keys whose window ended before `before`.
pub async fn prune_throttle(conn: &mut PgConnection, before: DateTime<Utc>) -> Result<(), Error> {
    sqlx::query!("delete from login_throttle where window_start < $1", before).execute(&mut *conn).await?;
    Ok(())
}

/// Records that a login attempt brought the keys of an existing account to their limit.
pub async fn record_lockout(conn: &mut PgConnection, username: &str, client: &str, scope: &str, failures: i32) -> Result<(), Error> {
    let system = Actor::parse("web")?;
    audit::append(
        conn,
        &entry(
            &system,
            AuditAction::StaffLockout,
            "staff_user",
            username.to_owned(),
            serde_json::json!({ "failures": failures, "client": client, "scope": scope }),
        ),
    )
    .await?;
    Ok(())
}

/// A session of a logged-in person, as every request sees it.
#[derive(Debug, Clone)]
pub struct Session {
    pub user_id: i64,
    pub username: String,
    pub full_name: String,
    pub role: Role,
    pub csrf_token: String,
    /// The password is a temporary one an amministratore set: nothing but changing it.
    pub must_change_password: bool,
}

/// Opens a session after a successful login.
pub async fn open_session(
    conn: &mut PgConnection,
    user_id: i64,
    token_hash: &Sha256,
    csrf_token: &str,
    expires_at: DateTime<Utc>,
) -> Result<(), Error> {
    sqlx::query!(
        "update staff_users set last_login_at = now() where id = $1",
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

/// The live session with this token, if any, extending its expiry to `expires_at` (the
/// idle timeout slides while the person works). A session opened before `opened_after`
/// (the absolute lifetime) or of a disabled account is never live.
///
/// The expiry is moved at most once a minute: every page view writing (and committing) the
/// session row cost more than the page's own query, and the idle timeout of hours does not
/// need a precision below a minute. The check is a plain read; the write, when due, is a
/// second statement (a data-modifying CTE made every check pay for an UPDATE plan).
pub async fn session(
    conn: &mut PgConnection,
    token_hash: &Sha256,
    expires_at: DateTime<Utc>,
    opened_after: DateTime<Utc>,
) -> Result<Option<Session>, Error> {
    let Some(row) = sqlx::query!(
        r#"
        select u.id as user_id, u.username, u.full_name, u.role as "role: Role", s.csrf_token,
               u.must_change_password, s.last_seen_at < now() - interval '1 minute' as "stale!"
        from staff_sessions s join staff_users u on u.id = s.user_id
        where s.token_hash = $1 and s.expires_at > now() and s.created_at > $2 and u.disabled_at is null
        "#,
        &token_hash.0[..],
        opened_after,
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
        must_change_password: row.must_change_password,
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
