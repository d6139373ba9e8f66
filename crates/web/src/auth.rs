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
use sigillo_store::staff::{self, Reservation, Session, ThrottleKey, ThrottleLimits, Username};
use subtle::ConstantTimeEq;

use crate::pages::Layout;
use crate::routes::Access;
use crate::{AppError, AppState};

/// The session cookie: a random token; the database keeps only its SHA-256. Under https
/// the name carries the `__Host-` prefix ([`session_cookie`]): the browser then accepts it
/// only `Secure`, for the whole host, from this host (no sibling domain can plant one).
pub const SESSION_COOKIE: &str = "sigillo_sessione";
/// The login form's CSRF cookie (double submit: there is no session yet).
pub const LOGIN_CSRF_COOKIE: &str = "sigillo_accesso";
/// A session ends after this long without requests (sliding: every request moves it)…
pub const IDLE: Duration = Duration::hours(2);
/// …and in any case this long after the login (a working day and some).
pub const ABSOLUTE: Duration = Duration::hours(12);
/// Failed logins allowed within the window: of one name from one address (what a clerk who
/// mistypes meets), from one address whatever the names, of one name from every address.
/// The typed name counts whether an account has it or not.
pub const LOGIN_LIMITS: ThrottleLimits =
    ThrottleLimits { per_name_and_address: 5, per_address: 20, per_name: 50, window: Duration::minutes(15) };
/// Wrong "current password"s on the password form allowed within the same window.
const PASSWORD_FORM_LIMIT: i32 = 5;
/// The throttle key's "address" of the password form (never an IP address).
const PASSWORD_FORM_KEY: &str = "modulo-password";
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

pub(crate) fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// The password rule, with the reason in Italian when it is not met: at least 12
/// characters besides leading and trailing spaces, at least 5 different ones, no control
/// characters, not the username (nor containing it).
pub fn check_password_rule(password: &str, username: &str) -> Result<(), String> {
    if password.chars().any(char::is_control) {
        return Err("la password non può contenere caratteri di controllo".into());
    }
    if password.trim().is_empty() {
        return Err("la password non può essere fatta solo di spazi".into());
    }
    if password.trim().chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!(
            "la password deve avere almeno {MIN_PASSWORD_CHARS} caratteri, senza contare gli spazi iniziali e finali"
        ));
    }
    if password.chars().count() > 256 {
        return Err("la password non può superare 256 caratteri".into());
    }
    let mut distinct: Vec<char> = password.chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < 5 {
        return Err("la password deve contenere almeno 5 caratteri diversi".into());
    }
    let name = username.trim().to_lowercase();
    let lower = password.to_lowercase();
    if !name.is_empty() && (lower.trim() == name || (name.chars().count() >= 4 && lower.contains(&name))) {
        return Err("la password non può essere il nome utente né contenerlo".into());
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

/// The session cookie's name: with the `__Host-` prefix under https.
pub fn session_cookie(state: &AppState) -> &'static str {
    if state.config().secure_cookies { "__Host-sigillo_sessione" } else { SESSION_COOKIE }
}

/// The login form's CSRF cookie's name: with the `__Host-` prefix under https.
pub fn login_csrf_cookie(state: &AppState) -> &'static str {
    if state.config().secure_cookies { "__Host-sigillo_accesso" } else { LOGIN_CSRF_COOKIE }
}

fn set_cookie(state: &AppState, name: &str, value: &str, path: &str, max_age: i64) -> String {
    let secure = if state.config().secure_cookies { "; Secure" } else { "" };
    // A `__Host-` cookie must have Path=/ (and Secure, no Domain), or the browser drops it.
    let path = if name.starts_with("__Host-") { "/" } else { path };
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

/// The client's address, for throttling: the socket peer, or what a trusted proxy says in
/// `X-Forwarded-For` (see [`crate::client`]); "sconosciuto" without a peer.
pub struct ClientAddr(pub String);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(match parts.extensions.get::<ConnectInfo<SocketAddr>>() {
            Some(c) => state.config().trusted_proxies.client(c.0.ip(), &parts.headers).to_string(),
            None => "sconosciuto".to_owned(),
        }))
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
                let expected = cookie(req.headers(), login_csrf_cookie(&state)).map(str::to_owned);
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
            let Some(token) = cookie(req.headers(), session_cookie(&state)).map(str::to_owned) else {
                return Ok(crate::return_to::without_session(&state, &req, true));
            };
            let now = Utc::now();
            let mut conn = state.pool().acquire().await?;
            let session = staff::session(&mut conn, &token_hash(&token), now + IDLE, now - ABSOLUTE).await?;
            drop(conn);
            let Some(session) = session else {
                return Ok(crate::return_to::without_session(&state, &req, false));
            };
            if !roles.contains(&session.role) {
                return Err(AppError::Forbidden);
            }
            // A temporary password set by an amministratore: nothing but choosing a new one.
            if session.must_change_password && !matches!(req.uri().path(), "/password" | "/esci") {
                return Ok(Redirect::to("/password").into_response());
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
    let cookie = set_cookie(state, login_csrf_cookie(state), &csrf, "/accedi", 3600);
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

/// The name a login attempt is throttled under: what was typed, as it would be looked up
/// (trimmed, lower case), at most 64 characters (no account has a longer one).
fn typed_name(s: &str) -> String {
    s.trim().to_lowercase().chars().take(64).collect()
}

/// A login. The attempt is counted (and refused when a limit is reached) before anything
/// else, in a short transaction of its own; the password is checked with no database
/// connection held and within the bound on concurrent hashing; every failure, whether the
/// name exists or not, costs one password check and gets the same answer.
pub async fn login(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    crate::extract::Form(form): crate::extract::Form<LoginForm>,
) -> Result<Response, AppError> {
    const WRONG: &str = "Nome utente o password non corretti.";
    const TOO_MANY: &str = "Troppi tentativi di accesso non riusciti. Attenda 15 minuti e riprovi, oppure chieda \
                            all'amministratore di sbloccare l'account.";
    let now = Utc::now();
    let typed = typed_name(&form.username);
    let keys = ThrottleKey::login(&client, &typed, &LOGIN_LIMITS);
    let mut tx = state.pool().begin().await?;
    let reservation = staff::reserve_attempt(&mut tx, &keys, LOGIN_LIMITS.window, now).await?;
    tx.commit().await?;
    let Reservation::Allowed { reached } = reservation else {
        return Ok(login_page(&state, StatusCode::TOO_MANY_REQUESTS, Some(TOO_MANY.to_owned()), typed));
    };
    let record = match Username::parse(&typed) {
        Ok(u) => {
            let mut conn = state.pool().acquire().await?;
            staff::login_record(&mut conn, &u).await?
        }
        Err(_) => None,
    };
    // An unknown name is checked against a hash nobody knows the password of: the same work.
    let phc = record.as_ref().map(|r| r.password_hash.clone());
    let ok = state.check_password(form.password.clone(), phc).await?;
    let Some(record) = record.filter(|r| ok && !r.disabled) else {
        let known = Username::parse(&typed).is_ok();
        if known && reached.iter().any(|k| !k.username.is_empty()) {
            record_lockouts(&state, &typed, &reached).await?;
        }
        return Ok(login_page(&state, StatusCode::UNAUTHORIZED, Some(WRONG.to_owned()), typed));
    };
    let token = random_token();
    let csrf = random_token();
    let mut tx = state.pool().begin().await?;
    staff::attempt_succeeded(&mut tx, &keys).await?;
    staff::prune_throttle(&mut tx, now - LOGIN_LIMITS.window).await?;
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
    let session = set_cookie(&state, session_cookie(&state), &token, "/", ABSOLUTE.num_seconds());
    let clear = set_cookie(&state, login_csrf_cookie(&state), "", "/accedi", 0);
    // Back to the page that sent the person here, when it is one of ours.
    let mut res = Redirect::to(&crate::return_to::target(&headers)).into_response();
    res.headers_mut().append(header::SET_COOKIE, session.parse().map_err(|_| AppError::Internal("cookie".into()))?);
    res.headers_mut().append(header::SET_COOKIE, clear.parse().map_err(|_| AppError::Internal("cookie".into()))?);
    res.headers_mut().append(header::SET_COOKIE, crate::return_to::clear_cookie(&state));
    Ok(res)
}

/// The audit entry of a name's keys reaching their limit, when an account has that name
/// (an invented name has nobody to audit; its answers are the same all the same).
async fn record_lockouts(state: &AppState, typed: &str, reached: &[ThrottleKey]) -> Result<(), AppError> {
    let Ok(username) = Username::parse(typed) else { return Ok(()) };
    let mut tx = state.pool().begin().await?;
    if staff::login_record(&mut tx, &username).await?.is_some() {
        for k in reached.iter().filter(|k| !k.username.is_empty()) {
            let scope = if k.client.is_empty() { "nome" } else { "nome e indirizzo" };
            staff::record_lockout(&mut tx, typed, &k.client, scope, k.limit).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// A hash of a random password nobody knows: verifying against it costs what a real
/// account costs, so timing does not tell which usernames exist.
pub(crate) fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password(&random_token()).unwrap_or_default())
}

pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, AppError> {
    if let Some(token) = cookie(&headers, session_cookie(&state)) {
        let mut conn = state.pool().acquire().await?;
        staff::close_session(&mut conn, &token_hash(token)).await?;
    }
    let clear = set_cookie(&state, session_cookie(&state), "", "/", 0);
    Ok(([(header::SET_COOKIE, clear)], Redirect::to("/accedi")).into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "password.html")]
pub struct PasswordPage {
    layout: Layout,
    error: Option<String>,
    /// The password is a temporary one: say why the page came first.
    forced: bool,
}

pub async fn password_form(user: CurrentUser) -> PasswordPage {
    let forced = user.0.must_change_password;
    PasswordPage { layout: Layout::new(&user, "password", "Cambio password"), error: None, forced }
}

#[derive(serde::Deserialize)]
pub struct PasswordForm {
    current: String,
    new: String,
    confirm: String,
}

/// Changes one's own password. Wrong current passwords are throttled like logins (counted
/// before the check, at most 5 in 15 minutes); the check holds no database connection.
pub async fn change_password(
    State(state): State<AppState>,
    user: CurrentUser,
    crate::extract::Form(form): crate::extract::Form<PasswordForm>,
) -> Result<Response, AppError> {
    let forced = user.0.must_change_password;
    let page = |status: StatusCode, error: String| {
        let layout = Layout::new(&user, "password", "Cambio password");
        (status, PasswordPage { layout, error: Some(error), forced }).into_response()
    };
    let username = Username::parse(&user.0.username)?;
    let keys = [ThrottleKey { client: PASSWORD_FORM_KEY.to_owned(), username: username.to_string(), limit: PASSWORD_FORM_LIMIT }];
    let now = Utc::now();
    let mut tx = state.pool().begin().await?;
    let reservation = staff::reserve_attempt(&mut tx, &keys, LOGIN_LIMITS.window, now).await?;
    tx.commit().await?;
    if reservation == Reservation::Refused {
        return Ok(page(
            StatusCode::TOO_MANY_REQUESTS,
            "Troppi tentativi con una password attuale sbagliata. Attenda 15 minuti e riprovi.".to_owned(),
        ));
    }
    let mut conn = state.pool().acquire().await?;
    let record = staff::login_record(&mut conn, &username).await?.ok_or(AppError::Unauthenticated)?;
    drop(conn);
    if !state.check_password(form.current.clone(), Some(record.password_hash)).await? {
        return Ok(page(StatusCode::BAD_REQUEST, "La password attuale non è corretta.".to_owned()));
    }
    let error = if form.new != form.confirm {
        Some("Le due password nuove non coincidono.".to_owned())
    } else if form.new == form.current {
        Some("La nuova password deve essere diversa da quella attuale.".to_owned())
    } else {
        check_password_rule(&form.new, username.as_str()).err().map(|e| format!("Password non valida: {e}."))
    };
    if let Some(error) = error {
        // The current password was right: that attempt is no failure.
        let mut tx = state.pool().begin().await?;
        staff::attempt_succeeded(&mut tx, &keys).await?;
        tx.commit().await?;
        return Ok(page(StatusCode::BAD_REQUEST, error));
    }
    let phc = state.hash_password(form.new.clone()).await?;
    let mut tx = state.pool().begin().await?;
    // Also forgets every throttle key of the name, this form's included.
    staff::set_password(&mut tx, &user.actor()?, &username, &phc).await?;
    tx.commit().await?;
    // set_password ended every session of the account, this one included.
    let clear = set_cookie(&state, session_cookie(&state), "", "/", 0);
    Ok(([(header::SET_COOKIE, clear)], Redirect::to("/accedi")).into_response())
}
