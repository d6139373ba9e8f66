//! Passwords, sessions, the route guard, login and logout.

use std::net::SocketAddr;

use rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use askama::Template;
use askama_web::WebTemplate;
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Duration, Utc};
use sigillo_store::register::{Actor, Sha256};
use sigillo_store::staff::{self, Session, Username};
use subtle::ConstantTimeEq;

use crate::pages::Layout;
use crate::routes::Access;
use crate::{AppError, AppState};

/// The session cookie: a random token; the database keeps only its SHA-256.
pub const SESSION_COOKIE: &str = "sigillo_sessione";
/// The login form's CSRF cookie (double submit: there is no session yet).
pub const LOGIN_CSRF_COOKIE: &str = "sigillo_accesso";
/// A session ends after this long without requests.
const IDLE: Duration = Duration::hours(8);
/// Consecutive failures that lock an account, and for how long.
const LOCK_AFTER: i32 = 5;
const LOCK_FOR: Duration = Duration::minutes(15);
/// Failures from one address (any usernames) that make it wait.
const CLIENT_LIMIT: i64 = 20;
const CLIENT_WINDOW: Duration = Duration::minutes(15);
/// Password rule for staff accounts.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// Hashes a password with argon2id and a random salt (PHC string).
pub fn hash_password(password: &str) -> Result<String, AppError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AppError::Internal(format!("argon2: {e}")))
}

fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// The password rule, with the reason in Italian when it is not met.
pub fn check_password_rule(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err(format!("la password deve avere almeno {MIN_PASSWORD_CHARS} caratteri"));
    }
    if n > 256 {
        return Err("la password non può superare 256 caratteri".into());
    }
    Ok(())
}

/// 32 random bytes as hex.
pub fn random_token() -> String {
    let mut bytes = [0_u8; 32];
    OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn token_hash(token: &str) -> Sha256 {
    Sha256::of(token.as_bytes())
}

/// The value of a cookie of the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn set_cookie(state: &AppState, name: &str, value: &str, path: &str, max_age: i64) -> String {
    let secure = if state.config().secure_cookies { "; Secure" } else { "" };
    format!("{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}")
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The logged-in person, put into the request by [`guard`].
#[derive(Debug, Clone)]
pub struct CurrentUser(pub Session);

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        parts.extensions.get::<CurrentUser>().cloned().ok_or(AppError::Unauthenticated)
    }
}

impl CurrentUser {
    pub fn actor(&self) -> Result<Actor, AppError> {
        Ok(Actor::parse(&self.0.username)?)
    }
}

/// The client's address, for throttling (the socket peer; "sconosciuto" without one).
pub struct ClientAddr(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map_or_else(|| "sconosciuto".to_owned(), |c| c.0.ip().to_string()),
        ))
    }
}

/// Largest body of an ordinary form.
const FORM_LIMIT: usize = 1 << 20;
/// Largest body of a form with files (the desk registration): the documents plus the fields.
pub const UPLOAD_LIMIT: usize = sigillo_protocol::desk::MAX_DOCUMENTS_BYTES + (1 << 20);

/// Reads a form body, returns the request rebuilt with the same bytes and the form's
/// `csrf` field. A form with files (`multipart/form-data`) is read up to [`UPLOAD_LIMIT`],
/// and only for a logged-in person (`uploads`); anything else up to 1 MiB.
async fn csrf_field(req: Request, uploads: bool) -> Result<(Request, Option<String>), AppError> {
    let (parts, body) = req.into_parts();
    let boundary = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|_| uploads)
        .and_then(|ct| multer::parse_boundary(ct).ok());
    let limit = if boundary.is_some() { UPLOAD_LIMIT } else { FORM_LIMIT };
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| AppError::BadRequest("modulo troppo grande o interrotto".into()))?;
    let csrf = match boundary {
        Some(boundary) => multipart_field(bytes.clone(), boundary, "csrf").await,
        None => {
            let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes).unwrap_or_default();
            fields.into_iter().find(|(k, _)| k == "csrf").map(|(_, v)| v)
        }
    };
    Ok((Request::from_parts(parts, Body::from(bytes)), csrf))
}

/// The text of the first field called `name` of a multipart body (forms put the CSRF token
/// first, so the documents after it are not read here).
async fn multipart_field(bytes: axum::body::Bytes, boundary: String, name: &str) -> Option<String> {
    let stream = futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(bytes) });
    let mut form = multer::Multipart::new(stream, boundary);
    while let Ok(Some(field)) = form.next_field().await {
        if field.name() == Some(name) {
            return field.text().await.ok();
        }
    }
    None
}

/// The API token a request presented, put into the request by [`guard`].
#[derive(Debug, Clone)]
pub struct ApiCaller(pub staff::ApiClient);

impl<S: Send + Sync> FromRequestParts<S> for ApiCaller {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        parts.extensions.get::<ApiCaller>().cloned().ok_or(AppError::ApiUnauthorized)
    }
}

/// Enforces a route's [`Access`] rule: see the crate documentation.
pub async fn guard(
    State((state, access)): State<(AppState, Access)>,
    req: Request,
    next: Next,
) -> Result<Response, AppError> {
    match access {
        Access::Public => {
            if req.method() == Method::POST {
                let expected = cookie(req.headers(), LOGIN_CSRF_COOKIE).map(str::to_owned);
                let (req, field) = csrf_field(req, false).await?;
                match (expected, field) {
                    (Some(e), Some(f)) if same(&e, &f) => Ok(next.run(req).await),
                    _ => Err(AppError::Csrf),
                }
            } else {
                Ok(next.run(req).await)
            }
        }
        Access::Api | Access::ApiWrite => {
            let token = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .ok_or(AppError::ApiUnauthorized)?;
            let mut conn = state.pool().acquire().await?;
            let client = staff::use_api_token(&mut conn, &token_hash(token)).await?.ok_or(AppError::ApiUnauthorized)?;
            drop(conn);
            if access == Access::ApiWrite && client.scope != staff::ApiScope::Write {
                return Err(AppError::Refused(
                    "questo token API è in sola lettura: per registrare serve un token con ambito write".into(),
                ));
            }
            let mut req = req;
            req.extensions_mut().insert(ApiCaller(client));
            Ok(next.run(req).await)
        }
        Access::Staff(roles) => {
            let Some(token) = cookie(req.headers(), SESSION_COOKIE).map(str::to_owned) else {
                return Ok(Redirect::to("/accedi").into_response());
            };
            let mut conn = state.pool().acquire().await?;
            let session = staff::session(&mut conn, &token_hash(&token), Utc::now() + IDLE).await?;
            drop(conn);
            let Some(session) = session else {
                return Ok(Redirect::to("/accedi").into_response());
            };
            if !roles.contains(&session.role) {
                return Err(AppError::Forbidden);
            }
            let mut req = req;
            if req.method() == Method::POST {
                let (r, field) = csrf_field(req, true).await?;
                if !field.is_some_and(|f| same(&f, &session.csrf_token)) {
                    return Err(AppError::Csrf);
                }
                req = r;
            }
            req.extensions_mut().insert(CurrentUser(session));
            Ok(next.run(req).await)
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
struct LoginPage {
    csrf: String,
    error: Option<String>,
    username: String,
}

fn login_page(state: &AppState, status: StatusCode, error: Option<String>, username: String) -> Response {
    let csrf = random_token();
    let cookie = set_cookie(state, LOGIN_CSRF_COOKIE, &csrf, "/accedi", 3600);
    (status, [(header::SET_COOKIE, cookie)], LoginPage { csrf, error, username }).into_response()
}

pub async fn login_form(State(state): State<AppState>) -> Response {
    login_page(&state, StatusCode::OK, None, String::new())
}

#[derive(serde::Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
}

pub async fn login(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    crate::extract::Form(form): crate::extract::Form<LoginForm>,
) -> Result<Response, AppError> {
    const WRONG: &str = "Nome utente o password non corretti.";
    let now = Utc::now();
    let mut tx = state.pool().begin().await?;
    if staff::recent_failures(&mut tx, &client, now - CLIENT_WINDOW).await? >= CLIENT_LIMIT {
        return Err(AppError::TooManyAttempts);
    }
    let typed = form.username.trim().to_lowercase();
    let record = match Username::parse(&typed) {
        Ok(u) => staff::login_record(&mut tx, &u).await?,
        Err(_) => None,
    };
    let Some(record) = record else {
        // Same work as for a real account, so that timing does not tell which names exist.
        let password = form.password.clone();
        tokio::task::spawn_blocking(move || verify_password(&password, dummy_hash()))
            .await
            .map_err(|e| AppError::Internal(e.to_string()))?;
        return fail(&state, tx, &client, None, WRONG, typed).await;
    };
    if record.locked_until.is_some_and(|t| t > now) {
        let msg = "Account temporaneamente bloccato per troppi tentativi non riusciti. Riprovi più tardi o si rivolga all'amministratore.";
        return fail(&state, tx, &client, None, msg, typed).await;
    }
    let password = form.password.clone();
    let phc = record.password_hash.clone();
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, &phc))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
    if !ok || record.disabled {
        return fail(&state, tx, &client, Some(record.id), WRONG, typed).await;
    }
    let token = random_token();
    let csrf = random_token();
    staff::open_session(&mut tx, record.id, &token_hash(&token), &csrf, now + IDLE).await?;
    sigillo_store::audit::append(
        &mut tx,
        &sigillo_store::audit::NewAuditEntry {
            actor: record.username.clone(),
            action: sigillo_store::audit::AuditAction::StaffLogin,
            object_type: "staff_user".into(),
            object_id: record.username.clone(),
            details: serde_json::json!({}),
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(user = %record.username, "login");
    let session = set_cookie(&state, SESSION_COOKIE, &token, "/", IDLE.num_seconds());
    let clear = set_cookie(&state, LOGIN_CSRF_COOKIE, "", "/accedi", 0);
    let mut res = Redirect::to("/").into_response();
    res.headers_mut().append(header::SET_COOKIE, session.parse().map_err(|_| AppError::Internal("cookie".into()))?);
    res.headers_mut().append(header::SET_COOKIE, clear.parse().map_err(|_| AppError::Internal("cookie".into()))?);
    Ok(res)
}

/// A hash of a random password nobody knows: verifying against it costs what a real
/// account costs, so timing does not tell which usernames exist.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password(&random_token()).unwrap_or_default())
}

type Tx = sqlx::Transaction<'static, sqlx::Postgres>;

/// Records a failed login and answers with the form again.
async fn fail(
    state: &AppState,
    mut tx: Tx,
    client: &str,
    user_id: Option<i64>,
    message: &str,
    username: String,
) -> Result<Response, AppError> {
    let now = Utc::now();
    staff::record_failure(&mut tx, client, user_id, LOCK_AFTER, now + LOCK_FOR, now - CLIENT_WINDOW).await?;
    tx.commit().await?;
    Ok(login_page(state, StatusCode::UNAUTHORIZED, Some(message.to_owned()), username))
}

pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, AppError> {
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        let mut conn = state.pool().acquire().await?;
        staff::close_session(&mut conn, &token_hash(token)).await?;
    }
    let clear = set_cookie(&state, SESSION_COOKIE, "", "/", 0);
    Ok(([(header::SET_COOKIE, clear)], Redirect::to("/accedi")).into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "password.html")]
pub struct PasswordPage {
    layout: Layout,
    error: Option<String>,
}

pub async fn password_form(user: CurrentUser) -> PasswordPage {
    PasswordPage { layout: Layout::new(&user, "password", "Cambio password"), error: None }
}

#[derive(serde::Deserialize)]
pub struct PasswordForm {
    current: String,
    new: String,
    confirm: String,
}

pub async fn change_password(
    State(state): State<AppState>,
    user: CurrentUser,
    crate::extract::Form(form): crate::extract::Form<PasswordForm>,
) -> Result<Response, AppError> {
    let layout = Layout::new(&user, "password", "Cambio password");
    let username = Username::parse(&user.0.username)?;
    let mut conn = state.pool().acquire().await?;
    let record = staff::login_record(&mut conn, &username).await?.ok_or(AppError::Unauthenticated)?;
    drop(conn);
    let current = form.current.clone();
    let ok = tokio::task::spawn_blocking(move || verify_password(&current, &record.password_hash))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let error = if !ok {
        Some("La password attuale non è corretta.".to_owned())
    } else if form.new != form.confirm {
        Some("Le due password nuove non coincidono.".to_owned())
    } else {
        check_password_rule(&form.new).err().map(|e| format!("Password non valida: {e}."))
    };
    if let Some(error) = error {
        return Ok((StatusCode::BAD_REQUEST, PasswordPage { layout, error: Some(error) }).into_response());
    }
    let new = form.new.clone();
    let phc = tokio::task::spawn_blocking(move || hash_password(&new))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))??;
    let mut tx = state.pool().begin().await?;
    staff::set_password(&mut tx, &user.actor()?, &username, &phc).await?;
    tx.commit().await?;
    // set_password ended every session of the account, this one included.
    let clear = set_cookie(&state, SESSION_COOKIE, "", "/", 0);
    Ok(([(header::SET_COOKIE, clear)], Redirect::to("/accedi")).into_response())
}
