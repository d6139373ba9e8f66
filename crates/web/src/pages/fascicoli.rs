//! Fascicoli: the list (`/fascicoli`, filtered by state, class and year) with the form that
//! opens a new one, the page of a fascicolo with its registrations and the close / reopen
//! button, and the "Fascicoli" panel of a registration's record with the form that adds it
//! to an open fascicolo. The rules (numbering, what may be added) are
//! `sigillo_store::fascicolo`'s and the database's.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sigillo_store::fascicolo::{self, Filter, NewFascicolo, State as FState};
use sigillo_store::ids::{FascicoloId, RegistrationId};
use sigillo_store::staff::{self, Role};
use sigillo_store::titolario as store_titolario;
use sqlx::PgConnection;

use super::titolario::{ClassOption, desk_options};
use super::{Layout, parse_id};
use crate::auth::CurrentUser;
use crate::extract::{Form, Path, Query};
// The templates of this module call `|visible` on what staff and citizens wrote.
use crate::format::filters;
use crate::format::{datetime_it, int_it};
use crate::pager::{Pager, parse_page};
use crate::routes::FILING;
use crate::text::{FreeText, TextKind};
use crate::{AppError, AppState};

const PAGE_SIZE: i64 = 50;
/// How many open fascicoli the record page's form offers (newest first).
const CHOICES: i64 = 500;

pub fn state_it(state: FState) -> &'static str {
    match state {
        FState::Open => "Aperto",
        FState::Closed => "Chiuso",
    }
}

fn can_file(user: &CurrentUser) -> bool {
    FILING.contains(&user.0.role)
}

pub struct RowView {
    pub id: FascicoloId,
    pub identifier: String,
    pub class: String,
    pub subject: String,
    pub office: String,
    pub state: &'static str,
    pub open: bool,
    pub opened: String,
    pub registrations: String,
}

pub struct OfficeOption {
    pub id: i64,
    pub label: String,
    pub selected: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "fascicoli.html")]
pub struct ListPage {
    layout: Layout,
    rows: Vec<RowView>,
    pager: String,
    /// The filters as typed.
    stato: String,
    classe: String,
    anno: String,
    can_create: bool,
    classes: Vec<ClassOption>,
    offices: Vec<OfficeOption>,
    /// The subject typed, when the form comes back with a fault.
    oggetto: String,
    error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    stato: Option<String>,
    classe: Option<String>,
    anno: Option<String>,
    pagina: Option<String>,
}

fn parse_filter(q: &ListQuery) -> Result<Filter, AppError> {
    let state = match q.stato.as_deref().map(str::trim).unwrap_or("") {
        "" | "tutti" => None,
        "aperti" => Some(FState::Open),
        "chiusi" => Some(FState::Closed),
        other => return Err(AppError::BadRequest(format!("stato: «{other}» non è aperti, chiusi o tutti"))),
    };
    let class_code = match q.classe.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        None => None,
        Some(c) if c.len() <= 32 && c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '.') => Some(c.to_owned()),
        Some(c) => return Err(AppError::BadRequest(format!("classe: «{c}» non è un codice del titolario"))),
    };
    let year = match q.anno.as_deref().map(str::trim).filter(|y| !y.is_empty()) {
        None => None,
        Some(y) => Some(
            y.parse::<i32>()
                .ok()
                .filter(|n| (1900..=9999).contains(n))
                .ok_or_else(|| AppError::BadRequest(format!("anno: «{y}» non è un anno")))?,
        ),
    };
    Ok(Filter { state, class_code, year })
}

async fn office_options(conn: &mut PgConnection, selected: Option<i64>) -> Result<Vec<OfficeOption>, AppError> {
    Ok(staff::list_offices(conn)
        .await?
        .into_iter()
        .filter(|o| o.active)
        .map(|o| OfficeOption { id: o.id, label: format!("{} — {}", o.code, o.name), selected: selected == Some(o.id) })
        .collect())
}

/// The values typed into the creation form, to show them again with a fault.
#[derive(Default)]
struct Typed {
    class: String,
    subject: String,
    office: Option<i64>,
    error: Option<String>,
}

async fn list_page(state: &AppState, user: &CurrentUser, q: &ListQuery, typed: Typed) -> Result<ListPage, AppError> {
    let filter = parse_filter(q)?;
    let page = parse_page(q.pagina.as_deref())?;
    let register = state.register();
    let tz = register.timezone;
    let can_create = can_file(user);
    let classes = if can_create { desk_options(state, &typed.class).await? } else { Vec::new() };
    let mut conn = state.pool().acquire().await?;
    let (items, total) = fascicolo::list(&mut conn, register, &filter, PAGE_SIZE, (page - 1) * PAGE_SIZE).await?;
    let offices = if can_create { office_options(&mut conn, typed.office).await? } else { Vec::new() };
    drop(conn);
    let stato = q.stato.clone().unwrap_or_default().trim().to_owned();
    let classe = filter.class_code.clone().unwrap_or_default();
    let anno = filter.year.map(|y| y.to_string()).unwrap_or_default();
    let link = |n: i64| {
        let mut params: Vec<(&str, String)> = Vec::new();
        for (k, v) in [("stato", &stato), ("classe", &classe), ("anno", &anno)] {
            if !v.is_empty() {
                params.push((k, v.clone()));
            }
        }
        if n > 1 {
            params.push(("pagina", n.to_string()));
        }
        format!("/fascicoli?{}", serde_urlencoded::to_string(params).unwrap_or_default())
    };
    let pager = Pager::new(page, PAGE_SIZE, total, false, ("fascicolo", "fascicoli"), link, None);
    Ok(ListPage {
        layout: Layout::new(user, "fascicoli", "Fascicoli"),
        rows: items
            .into_iter()
            .map(|f| RowView {
                id: f.id,
                identifier: f.identifier.to_string(),
                class: format!("{} — {}", f.identifier.class_code, f.class_description),
                subject: f.subject,
                office: format!("{} — {}", f.office_code, f.office_name),
                state: state_it(f.state),
                open: f.state == FState::Open,
                opened: datetime_it(f.opened_at, tz),
                registrations: int_it(f.registrations),
            })
            .collect(),
        pager: pager.render()?,
        stato,
        classe,
        anno,
        can_create,
        classes,
        offices,
        oggetto: typed.subject,
        error: typed.error,
    })
}

/// `GET /fascicoli`.
pub async fn list(State(state): State<AppState>, user: CurrentUser, Query(q): Query<ListQuery>) -> Result<ListPage, AppError> {
    list_page(&state, &user, &q, Typed::default()).await
}

#[derive(Debug, Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    classe: String,
    #[serde(default)]
    oggetto: String,
    #[serde(default)]
    ufficio: String,
}

/// `POST /fascicoli`: opens a fascicolo in a class of the titolario in force today.
pub async fn create(State(state): State<AppState>, user: CurrentUser, Form(f): Form<CreateForm>) -> Result<Response, AppError> {
    let subject = FreeText::parse("oggetto", TextKind::Reason, &f.oggetto)?;
    let office = match f.ufficio.trim() {
        "" => None,
        o => Some(o.parse::<i64>().map_err(|_| AppError::BadRequest(format!("ufficio: «{o}» non è un ufficio")))?),
    };
    let refuse = |message: String| Typed { class: f.classe.clone(), subject: subject.as_str().to_owned(), office, error: Some(message) };
    let fault = if f.classe.trim().is_empty() {
        Some("Classe: scelga la classe del titolario".to_owned())
    } else if subject.is_empty() {
        Some("Oggetto: indichi l'oggetto del fascicolo".to_owned())
    } else if office.is_none() {
        Some("Ufficio responsabile: scelga un ufficio".to_owned())
    } else {
        None
    };
    if let Some(message) = fault {
        let page = list_page(&state, &user, &ListQuery::default(), refuse(message)).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    }
    let register = state.register();
    let mut tx = state.pool().begin().await?;
    let entry = match store_titolario::version_on(&mut tx, register, super::today(register.timezone)).await? {
        Some(v) => store_titolario::entry_by_code(&mut tx, v.id, &f.classe).await?,
        None => None,
    };
    let Some(entry) = entry else {
        drop(tx);
        let message = format!("Classe: «{}» non è una classe del titolario in vigore", f.classe.trim());
        let page = list_page(&state, &user, &ListQuery::default(), refuse(message)).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    };
    let new = NewFascicolo { entry_id: entry.id, subject: subject.as_str().to_owned(), office_id: office.unwrap_or_default() };
    let created = fascicolo::create(&mut tx, register, &user.actor()?, &new, None).await?;
    tx.commit().await?;
    tracing::info!(fascicolo.id = %created.id, "fascicolo opened");
    Ok(Redirect::to(&format!("/fascicoli/{}?esito=aperto", created.id)).into_response())
}

pub struct MemberView {
    pub id: RegistrationId,
    pub number: String,
    pub subject: String,
    pub registered: String,
    pub annulled: bool,
    pub added: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "fascicolo.html")]
pub struct DetailPage {
    layout: Layout,
    id: FascicoloId,
    identifier: String,
    class: String,
    subject: String,
    office: String,
    office_id: i64,
    state: &'static str,
    open: bool,
    opened: String,
    closed: String,
    members: Vec<MemberView>,
    /// Registrations an office member may not open (not assigned to them).
    hidden: usize,
    can_file: bool,
    notice: Option<&'static str>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ShowQuery {
    esito: Option<String>,
}

/// `GET /fascicoli/{id}`.
pub async fn show(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Query(q): Query<ShowQuery>,
) -> Result<DetailPage, AppError> {
    let id = FascicoloId::new(parse_id(&id)?);
    let register = state.register();
    let tz = register.timezone;
    let mut conn = state.pool().acquire().await?;
    let f = fascicolo::get(&mut conn, register, id).await?;
    let all = fascicolo::members(&mut conn, id).await?;
    let total = all.len();
    // Office staff see the fascicolo, and of its registrations those they may open.
    let mut members = Vec::with_capacity(total);
    for m in all {
        if user.0.role == Role::Ufficio && !sigillo_store::assignment::visible_to(&mut conn, m.registration_id, user.0.user_id).await? {
            continue;
        }
        members.push(m);
    }
    drop(conn);
    Ok(DetailPage {
        layout: Layout::new(&user, "fascicoli", format!("Fascicolo {}", f.identifier)),
        id,
        identifier: f.identifier.to_string(),
        class: format!("{} — {}", f.identifier.class_code, f.class_description),
        subject: f.subject,
        office: format!("{} — {}", f.office_code, f.office_name),
        office_id: f.office_id,
        state: state_it(f.state),
        open: f.state == FState::Open,
        opened: format!("{} ({})", datetime_it(f.opened_at, tz), crate::labels::actor_it(&f.created_by)),
        closed: f.closed_at.map(|t| datetime_it(t, tz)).unwrap_or_default(),
        hidden: total - members.len(),
        members: members
            .into_iter()
            .map(|m| MemberView {
                id: m.registration_id,
                number: format!("{}/{}", m.number, m.year),
                subject: m.subject,
                registered: datetime_it(m.registered_at, tz),
                annulled: m.annulled,
                added: format!("{} ({})", datetime_it(m.added_at, tz), crate::labels::actor_it(&m.added_by)),
            })
            .collect(),
        can_file: can_file(&user),
        notice: match q.esito.as_deref() {
            Some("aperto") => Some("Il fascicolo è stato aperto."),
            Some("chiuso") => Some("Il fascicolo è stato chiuso: non si possono più aggiungere registrazioni."),
            Some("riaperto") => Some("Il fascicolo è stato riaperto."),
            _ => None,
        },
    })
}

async fn set_state(state: &AppState, user: &CurrentUser, id: &str, to: FState) -> Result<FascicoloId, AppError> {
    let id = FascicoloId::new(parse_id(id)?);
    let mut tx = state.pool().begin().await?;
    fascicolo::set_state(&mut tx, state.register(), &user.actor()?, id, to).await?;
    tx.commit().await?;
    tracing::info!(fascicolo.id = %id, state = to.as_str(), "fascicolo state changed");
    Ok(id)
}

/// `POST /fascicoli/{id}/chiudi`.
pub async fn close(State(state): State<AppState>, user: CurrentUser, Path(id): Path<String>) -> Result<Response, AppError> {
    let id = set_state(&state, &user, &id, FState::Closed).await?;
    Ok(Redirect::to(&format!("/fascicoli/{id}?esito=chiuso")).into_response())
}

/// `POST /fascicoli/{id}/riapri`.
pub async fn reopen(State(state): State<AppState>, user: CurrentUser, Path(id): Path<String>) -> Result<Response, AppError> {
    let id = set_state(&state, &user, &id, FState::Open).await?;
    Ok(Redirect::to(&format!("/fascicoli/{id}?esito=riaperto")).into_response())
}

/// A fascicolo the registration sits in, as its record shows it.
pub struct SummaryView {
    pub id: FascicoloId,
    pub identifier: String,
    pub subject: String,
    pub state: &'static str,
    pub added: String,
}

pub struct ChoiceView {
    pub id: FascicoloId,
    pub label: String,
}

/// What the record page shows about fascicoli (`fascicoli_panel.html`, as `fasc`).
pub struct Panel {
    pub list: Vec<SummaryView>,
    pub choices: Vec<ChoiceView>,
    pub can_add: bool,
    pub annulled: bool,
}

/// The record page's "Fascicoli" panel for `user`.
pub async fn panel(
    conn: &mut PgConnection,
    state: &AppState,
    user: &CurrentUser,
    id: RegistrationId,
    annulled: bool,
) -> Result<Panel, AppError> {
    let register = state.register();
    let tz = register.timezone;
    let list = fascicolo::of_registration(conn, id)
        .await?
        .into_iter()
        .map(|s| SummaryView {
            id: s.id,
            identifier: s.identifier.to_string(),
            subject: s.subject,
            state: state_it(s.state),
            added: format!("{} ({})", datetime_it(s.added_at, tz), crate::labels::actor_it(&s.added_by)),
        })
        .collect();
    let can_add = can_file(user) && !annulled;
    let choices = if can_add {
        fascicolo::open_without(conn, register, id, CHOICES)
            .await?
            .into_iter()
            .map(|(id, identifier, subject)| ChoiceView { id, label: format!("{identifier} — {subject}") })
            .collect()
    } else {
        Vec::new()
    };
    Ok(Panel { list, choices, can_add, annulled })
}

#[derive(Debug, Deserialize)]
pub struct AddForm {
    #[serde(default)]
    fascicolo: String,
}

/// `POST /registrazioni/{id}/fascicoli`: adds the registration to a fascicolo.
pub async fn add(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Form(f): Form<AddForm>,
) -> Result<Response, AppError> {
    let id = RegistrationId::new(parse_id(&id)?);
    let fascicolo_id = match f.fascicolo.trim() {
        "" => {
            return Err(AppError::Field {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                field: "fascicolo".into(),
                message: "scelga il fascicolo".into(),
            });
        }
        v => FascicoloId::new(v.parse::<i64>().map_err(|_| AppError::BadRequest(format!("fascicolo: «{v}» non è un fascicolo")))?),
    };
    let mut tx = state.pool().begin().await?;
    fascicolo::add(&mut tx, state.register(), &user.actor()?, fascicolo_id, id).await?;
    tx.commit().await?;
    tracing::info!(registration.id = %id, fascicolo.id = %fascicolo_id, "added to a fascicolo");
    Ok(Redirect::to(&format!("/registrazioni/{id}?esito=fascicolata#fascicoli")).into_response())
}
