//! Administration: offices, staff accounts, API tokens, the policy switches (amministratore).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;

use crate::extract::Path;
use crate::text::{FreeText, TextKind};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sigillo_store::register::Sha256;
use sigillo_store::policy::{self, AnomalyPolicy, IndeterminatePolicy, Policy, UnsignedPolicy};
use sigillo_store::staff::{self, Role, Username};

use super::{Layout, parse_id};
use crate::auth::{CurrentUser, LOGIN_LIMITS, check_password_rule, random_token};
use crate::extract::Query;
use crate::format::datetime_it;
use crate::{AppError, AppState};

#[derive(Template, WebTemplate)]
#[template(path = "offices.html")]
pub struct OfficesPage {
    layout: Layout,
    offices: Vec<staff::Office>,
}

pub async fn offices(State(state): State<AppState>, user: CurrentUser) -> Result<OfficesPage, AppError> {
    let mut conn = state.pool().acquire().await?;
    Ok(OfficesPage { layout: Layout::new(&user, "uffici", "Uffici"), offices: staff::list_offices(&mut conn).await? })
}

#[derive(Deserialize)]
pub struct OfficeForm {
    codice: String,
    nome: String,
}

pub async fn create_office(
    State(state): State<AppState>,
    user: CurrentUser,
    crate::extract::Form(f): crate::extract::Form<OfficeForm>,
) -> Result<Response, AppError> {
    let name = FreeText::parse("nome", TextKind::Name, &f.nome)?;
    let code = FreeText::parse("codice", TextKind::Name, &f.codice)?;
    let mut tx = state.pool().begin().await?;
    staff::create_office(&mut tx, &user.actor()?, code.as_str(), name.as_str()).await?;
    tx.commit().await?;
    Ok(Redirect::to("/uffici").into_response())
}

pub async fn toggle_office(State(state): State<AppState>, user: CurrentUser, Path(id): Path<String>) -> Result<Response, AppError> {
    let id = parse_id(&id)?;
    let mut tx = state.pool().begin().await?;
    let active = staff::list_offices(&mut tx).await?.into_iter().find(|o| o.id == id).ok_or(AppError::NotFound)?.active;
    staff::set_office_active(&mut tx, &user.actor()?, id, !active).await?;
    tx.commit().await?;
    Ok(Redirect::to("/uffici").into_response())
}

pub struct UserView {
    pub username: String,
    pub full_name: String,
    pub role: &'static str,
    pub state: String,
    pub last_login: String,
    pub active: bool,
    pub locked: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "users.html")]
pub struct UsersPage {
    layout: Layout,
    users: Vec<UserView>,
    roles: Vec<&'static str>,
    error: Option<String>,
    /// What was just done, to confirm it.
    notice: Option<String>,
    /// A temporary password just set: (username, password), shown this once.
    temporary: Option<(String, String)>,
}

async fn users_page(state: &AppState, user: &CurrentUser, error: Option<String>) -> Result<UsersPage, AppError> {
    let mut conn = state.pool().acquire().await?;
    let tz = state.register().timezone;
    let users = staff::list_users(&mut conn, &LOGIN_LIMITS, chrono::Utc::now())
        .await?
        .into_iter()
        .map(|u| UserView {
            state: if u.disabled_at.is_some() {
                "disattivato".into()
            } else if u.locked {
                "bloccato temporaneamente".into()
            } else if u.must_change_password {
                "attivo (password temporanea)".into()
            } else {
                "attivo".into()
            },
            active: u.disabled_at.is_none(),
            locked: u.locked,
            username: u.username,
            full_name: u.full_name,
            role: u.role.as_str(),
            last_login: u.last_login_at.map(|t| datetime_it(t, tz)).unwrap_or_else(|| "mai".into()),
        })
        .collect();
    Ok(UsersPage {
        layout: Layout::new(user, "utenti", "Utenti"),
        users,
        roles: Role::ALL.iter().map(|r| r.as_str()).collect(),
        error,
        notice: None,
        temporary: None,
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct UsersQuery {
    esito: Option<String>,
}

pub async fn users(State(state): State<AppState>, user: CurrentUser, Query(q): Query<UsersQuery>) -> Result<UsersPage, AppError> {
    let mut page = users_page(&state, &user, None).await?;
    page.notice = match q.esito.as_deref() {
        Some("sbloccato") => Some("Utente sbloccato: può accedere di nuovo.".into()),
        Some("riattivato") => Some("Utente riattivato.".into()),
        Some("disattivato") => Some("Utente disattivato: le sue sessioni sono terminate.".into()),
        Some("ruolo") => Some("Ruolo cambiato.".into()),
        _ => None,
    };
    Ok(page)
}

#[derive(Deserialize)]
pub struct UserForm {
    username: String,
    nome: String,
    ruolo: String,
    password: String,
}

pub async fn create_user(
    State(state): State<AppState>,
    user: CurrentUser,
    crate::extract::Form(f): crate::extract::Form<UserForm>,
) -> Result<Response, AppError> {
    let full_name = FreeText::parse("nome", TextKind::Name, &f.nome)?;
    let checked = Username::parse(&f.username)
        .map_err(|e| match e {
            sigillo_store::Error::Invalid { reason, .. } => format!("nome utente non valido: {reason}"),
            other => other.to_string(),
        })
        .and_then(|u| Role::parse(&f.ruolo).map(|r| (u, r)).map_err(|_| "ruolo non valido".to_owned()))
        .and_then(|(u, r)| check_password_rule(&f.password, u.as_str()).map(|()| (u, r)));
    let (username, role) = match checked {
        Ok(v) => v,
        Err(e) => return Ok((StatusCode::BAD_REQUEST, users_page(&state, &user, Some(e)).await?).into_response()),
    };
    let phc = state.hash_password(f.password.clone()).await?;
    let mut tx = state.pool().begin().await?;
    staff::create_user(&mut tx, &user.actor()?, &username, full_name.as_str(), role, &phc).await?;
    tx.commit().await?;
    Ok(Redirect::to("/utenti").into_response())
}

/// The account named in the path; an impossible name is no account.
fn account(name: &str) -> Result<Username, AppError> {
    Username::parse(name).map_err(|_| AppError::NotFound)
}

/// Runs an account change; a refusal the store explains (the last amministratore) comes
/// back on the users page, anything else as usual.
async fn account_change(state: &AppState, user: &CurrentUser, done: &str, result: Result<(), AppError>) -> Result<Response, AppError> {
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/utenti?esito={done}")).into_response()),
        Err(AppError::BadRequest(reason)) => {
            let reason = reason.strip_prefix("ruolo: ").unwrap_or(&reason).to_owned();
            Ok((StatusCode::CONFLICT, users_page(state, user, Some(reason)).await?).into_response())
        }
        Err(e) => Err(e),
    }
}

pub async fn disable_user(State(state): State<AppState>, user: CurrentUser, Path(name): Path<String>) -> Result<Response, AppError> {
    let username = account(&name)?;
    let result = async {
        let mut tx = state.pool().begin().await?;
        staff::disable_user(&mut tx, &user.actor()?, &username).await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    account_change(&state, &user, "disattivato", result).await
}

pub async fn enable_user(State(state): State<AppState>, user: CurrentUser, Path(name): Path<String>) -> Result<Response, AppError> {
    let username = account(&name)?;
    let mut tx = state.pool().begin().await?;
    staff::enable_user(&mut tx, &user.actor()?, &username).await?;
    tx.commit().await?;
    Ok(Redirect::to("/utenti?esito=riattivato").into_response())
}

pub async fn unlock_user(State(state): State<AppState>, user: CurrentUser, Path(name): Path<String>) -> Result<Response, AppError> {
    let username = account(&name)?;
    let mut tx = state.pool().begin().await?;
    staff::unlock_user(&mut tx, &user.actor()?, &username).await?;
    tx.commit().await?;
    Ok(Redirect::to("/utenti?esito=sbloccato").into_response())
}

#[derive(Deserialize)]
pub struct RoleForm {
    ruolo: String,
}

pub async fn set_role(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(name): Path<String>,
    crate::extract::Form(f): crate::extract::Form<RoleForm>,
) -> Result<Response, AppError> {
    let username = account(&name)?;
    let role = Role::parse(&f.ruolo).map_err(|_| AppError::BadRequest(format!("ruolo: «{}» non è un ruolo", f.ruolo)))?;
    let result = async {
        let mut tx = state.pool().begin().await?;
        staff::set_role(&mut tx, &user.actor()?, &username, role).await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    account_change(&state, &user, "ruolo", result).await
}

/// Sets a temporary password, shown once on the page: the person must change it at the next
/// login. Ends the account's sessions and lifts its lockout.
pub async fn reset_password(State(state): State<AppState>, user: CurrentUser, Path(name): Path<String>) -> Result<Response, AppError> {
    let username = account(&name)?;
    let password = temporary_password(username.as_str());
    let phc = state.hash_password(password.clone()).await?;
    let mut tx = state.pool().begin().await?;
    staff::reset_password(&mut tx, &user.actor()?, &username, &phc).await?;
    tx.commit().await?;
    if username.as_str() == user.0.username {
        // One's own: the session just ended with the others.
        return Ok(Redirect::to("/accedi").into_response());
    }
    let mut page = users_page(&state, &user, None).await?;
    page.temporary = Some((username.to_string(), password));
    Ok(page.into_response())
}

/// A temporary password: 16 characters in groups of 4 from an alphabet without look-alikes
/// (no 0/O, 1/l/I), about 90 bits, read out or written down without ambiguity.
fn temporary_password(username: &str) -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    // Bytes at or above the largest multiple of the alphabet's size are skipped: no bias.
    let bound = 256 - 256 % ALPHABET.len();
    loop {
        let mut chars = Vec::with_capacity(16);
        while chars.len() < 16 {
            let mut bytes = [0_u8; 32];
            rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut bytes);
            chars.extend(
                bytes.iter().map(|b| usize::from(*b)).filter(|b| *b < bound).map(|b| char::from(ALPHABET[b % ALPHABET.len()])),
            );
        }
        chars.truncate(16);
        let password = chars.chunks(4).map(|c| c.iter().collect::<String>()).collect::<Vec<_>>().join("-");
        if check_password_rule(&password, username).is_ok() {
            return password;
        }
    }
}

pub struct TokenView {
    pub id: i64,
    pub name: String,
    pub scope: &'static str,
    pub created: String,
    pub last_used: String,
    pub revoked: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "tokens.html")]
pub struct TokensPage {
    layout: Layout,
    tokens: Vec<TokenView>,
    new_token: Option<String>,
}

async fn tokens_page(state: &AppState, user: &CurrentUser, new_token: Option<String>) -> Result<TokensPage, AppError> {
    let mut conn = state.pool().acquire().await?;
    let tz = state.register().timezone;
    Ok(TokensPage {
        layout: Layout::new(user, "token", "Token API"),
        tokens: staff::list_api_tokens(&mut conn)
            .await?
            .into_iter()
            .map(|t| TokenView {
                id: t.id,
                name: t.name,
                scope: match t.scope {
                    staff::ApiScope::Read => "sola lettura",
                    staff::ApiScope::Write => "lettura e registrazione",
                },
                created: format!("{} da {}", datetime_it(t.created_at, tz), crate::labels::actor_it(&t.created_by)),
                last_used: t.last_used_at.map(|x| datetime_it(x, tz)).unwrap_or_else(|| "mai".into()),
                revoked: t.revoked_at.is_some(),
            })
            .collect(),
        new_token,
    })
}

pub async fn tokens(State(state): State<AppState>, user: CurrentUser) -> Result<TokensPage, AppError> {
    tokens_page(&state, &user, None).await
}

#[derive(Deserialize)]
pub struct TokenForm {
    nome: String,
    /// `read` (the default) or `write`.
    ambito: Option<String>,
}

pub async fn create_token(
    State(state): State<AppState>,
    user: CurrentUser,
    crate::extract::Form(f): crate::extract::Form<TokenForm>,
) -> Result<TokensPage, AppError> {
    let name = FreeText::parse("nome", TextKind::Name, &f.nome)?;
    let scope = match f.ambito.as_deref().map(str::trim) {
        None | Some("" | "read") => staff::ApiScope::Read,
        Some("write") => staff::ApiScope::Write,
        Some(other) => return Err(AppError::BadRequest(format!("ambito: «{other}» non è read o write"))),
    };
    let token = random_token();
    let mut tx = state.pool().begin().await?;
    staff::create_api_token(&mut tx, &user.actor()?, name.as_str(), scope, &Sha256::of(token.as_bytes())).await?;
    tx.commit().await?;
    // Shown once: only its hash is stored.
    tokens_page(&state, &user, Some(token)).await
}

pub async fn revoke_token(State(state): State<AppState>, user: CurrentUser, Path(id): Path<String>) -> Result<Response, AppError> {
    let id = parse_id(&id)?;
    let mut tx = state.pool().begin().await?;
    staff::revoke_api_token(&mut tx, &user.actor()?, id).await?;
    tx.commit().await?;
    Ok(Redirect::to("/token-api").into_response())
}

/// One switch of the policy page: its form name, the question, and the choices with the
/// one in force.
pub struct SwitchView {
    pub name: &'static str,
    pub label: &'static str,
    pub choices: Vec<Choice>,
}

pub struct Choice {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
    pub default: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "policy.html")]
pub struct PolicyPage {
    layout: Layout,
    switches: Vec<SwitchView>,
    /// Who set the policy in force and when; `None`: the configuration's.
    set_by: Option<String>,
    error: Option<String>,
}

fn unsigned_it(v: UnsignedPolicy) -> &'static str {
    match v {
        UnsignedPolicy::Reject => "Scartare il messaggio e avvisare il mittente",
        UnsignedPolicy::RegisterFlag => {
            "Protocollare, segnalando i documenti non firmati (CAD art. 65 c.1 c-bis: istanza inviata dalla PEC del richiedente)"
        }
    }
}

fn anomaly_it(v: AnomalyPolicy) -> &'static str {
    match v {
        AnomalyPolicy::Reject => "Scartare il messaggio e avvisare il mittente",
        AnomalyPolicy::Review => "Mettere il messaggio in revisione per l'ufficio protocollo",
    }
}

fn indeterminate_it(v: IndeterminatePolicy) -> &'static str {
    match v {
        IndeterminatePolicy::Review => "Mettere il messaggio in revisione per l'ufficio protocollo",
        IndeterminatePolicy::Reject => "Scartare il messaggio e avvisare il mittente",
    }
}

async fn policy_page(state: &AppState, user: &CurrentUser, error: Option<String>) -> Result<PolicyPage, AppError> {
    let mut conn = state.pool().acquire().await?;
    let stored = policy::stored(&mut conn).await?;
    let tz = state.register().timezone;
    let current = stored.as_ref().map_or(state.config().policy, |s| s.policy);
    let default = Policy::default();
    fn switch<T: Copy + PartialEq>(
        name: &'static str,
        label: &'static str,
        all: &[T],
        as_str: fn(T) -> &'static str,
        text: fn(T) -> &'static str,
        current: T,
        default: T,
    ) -> SwitchView {
        SwitchView {
            name,
            label,
            choices: all
                .iter()
                .map(|&v| Choice { value: as_str(v), label: text(v), selected: v == current, default: v == default })
                .collect(),
        }
    }
    Ok(PolicyPage {
        layout: Layout::new(user, "politiche", "Politiche di protocollazione"),
        switches: vec![
            switch(
                "non_firmati",
                "Documenti allegati non firmati, da una PEC del mittente",
                &UnsignedPolicy::ALL,
                UnsignedPolicy::as_str,
                unsigned_it,
                current.unsigned,
                default.unsigned,
            ),
            switch(
                "anomalie",
                "Buste di anomalia (posta ordinaria arrivata alla casella PEC)",
                &AnomalyPolicy::ALL,
                AnomalyPolicy::as_str,
                anomaly_it,
                current.anomaly,
                default.anomaly,
            ),
            switch(
                "indeterminate",
                "Firme con esito indeterminato (INDETERMINATE)",
                &IndeterminatePolicy::ALL,
                IndeterminatePolicy::as_str,
                indeterminate_it,
                current.indeterminate,
                default.indeterminate,
            ),
        ],
        set_by: stored.map(|s| format!("{} il {}", crate::labels::actor_it(&s.updated_by), datetime_it(s.updated_at, tz))),
        error,
    })
}

pub async fn policy_form(State(state): State<AppState>, user: CurrentUser) -> Result<PolicyPage, AppError> {
    policy_page(&state, &user, None).await
}

#[derive(Deserialize)]
pub struct PolicyForm {
    non_firmati: String,
    anomalie: String,
    indeterminate: String,
}

pub async fn set_policy(
    State(state): State<AppState>,
    user: CurrentUser,
    crate::extract::Form(f): crate::extract::Form<PolicyForm>,
) -> Result<Response, AppError> {
    let parsed = UnsignedPolicy::parse(&f.non_firmati).zip(AnomalyPolicy::parse(&f.anomalie)).zip(IndeterminatePolicy::parse(&f.indeterminate));
    let Some(((unsigned, anomaly), indeterminate)) = parsed else {
        let page = policy_page(&state, &user, Some("scelta non valida".into())).await?;
        return Ok((StatusCode::BAD_REQUEST, page).into_response());
    };
    let new = Policy { unsigned, anomaly, indeterminate };
    let mut tx = state.pool().begin().await?;
    let before = policy::current(&mut tx, state.config().policy).await?;
    if before != new {
        policy::set(&mut tx, &user.actor()?, before, new).await?;
    }
    tx.commit().await?;
    Ok(Redirect::to("/politiche").into_response())
}
