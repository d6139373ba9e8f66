//! Assignment (smistamento): the assignment panel of a record (current assignments, the full
//! history, the forms to assign, take in charge, refuse and pass on), the inbox of offices
//! and people (`/assegnazioni`), the office page with its members, and the home page of
//! office staff. The rules (who may act, what is current) are `sigillo_store::assignment`'s.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sigillo_store::assignment::{self, Assignment, InboxOf, InboxView, Kind, State as AState, Step, Target};
use sigillo_store::ids::RegistrationId;
use sigillo_store::staff::{self, Role};
use sqlx::PgConnection;

use super::{Layout, parse_id};
use crate::auth::CurrentUser;
use crate::extract::{Form, Path, Query};
// The templates of this module call `|visible` on what citizens and staff wrote.
use crate::format::filters;
use crate::format::{counted_it, datetime_it};
use crate::pager::{COUNT_CAP, Pager, parse_page};
use crate::routes::DESK;
use crate::text::{FreeText, TextKind};
use crate::{AppError, AppState};

const PAGE_SIZE: i64 = 50;

/// Office staff open only the registrations assigned (now or before) to them or to their
/// offices; anybody else is answered "not found", as for a registration that does not exist.
pub async fn ensure_visible(conn: &mut PgConnection, user: &CurrentUser, id: RegistrationId) -> Result<(), AppError> {
    if user.0.role == Role::Ufficio && !assignment::visible_to(conn, id, user.0.user_id).await? {
        return Err(AppError::NotFound);
    }
    Ok(())
}

pub fn kind_it(kind: Kind) -> &'static str {
    match kind {
        Kind::Competenza => "Per competenza",
        Kind::Conoscenza => "Per conoscenza",
    }
}

fn state_it(state: AState) -> &'static str {
    match state {
        AState::Pending => "Da prendere in carico",
        AState::InCharge => "In carico",
        AState::Refused => "Rifiutata",
        AState::Passed => "Passata ad altro assegnatario",
        AState::Superseded => "Sostituita da una nuova assegnazione",
        AState::ForInformation => "Per conoscenza",
    }
}

/// A current assignment, as the record shows it.
pub struct CurrentView {
    pub kind: &'static str,
    pub target: String,
    pub state: &'static str,
    pub since: String,
    pub by: String,
    pub taken_by: String,
    pub note: String,
}

/// One step of the history: who, when, what, the reason or note.
pub struct StepView {
    pub at: String,
    pub by: String,
    pub what: String,
    pub target: String,
    pub text: String,
}

/// An assignment the logged-in person may act on.
pub struct ActionView {
    pub id: i64,
    pub target: String,
    pub pending: bool,
}

/// What the record page shows about assignment (`assignment_panel.html`).
pub struct Panel {
    pub current: Vec<CurrentView>,
    pub history: Vec<StepView>,
    pub annulled: bool,
    pub can_assign: bool,
    pub offices: Vec<staff::Office>,
    pub people: Vec<assignment::Person>,
    pub actions: Vec<ActionView>,
    /// The protocol office's attention: the competenza was refused and nobody has it now.
    pub refused: Option<String>,
}

fn history(rows: &[Assignment], tz: chrono_tz::Tz) -> Vec<StepView> {
    let label = |id: i64| rows.iter().find(|a| a.id == id).map(Assignment::target_label).unwrap_or_default();
    let mut steps: Vec<(chrono::DateTime<chrono::Utc>, i64, u8, StepView)> = Vec::new();
    for a in rows {
        let (what, target) = match a.passed_from {
            Some(from) => (format!("Passaggio da {} (per competenza)", label(from)), a.target_label()),
            None => (format!("Assegnazione {}", kind_it(a.kind).to_lowercase()), a.target_label()),
        };
        steps.push((
            a.assigned_at,
            a.id,
            0,
            StepView {
                at: datetime_it(a.assigned_at, tz),
                by: crate::labels::actor_it(&a.assigned_by),
                what,
                target,
                text: a.note.clone().unwrap_or_default(),
            },
        ));
        if let (Some(at), Some(by)) = (a.taken_at, &a.taken_by) {
            steps.push((
                at,
                a.id,
                1,
                StepView { at: datetime_it(at, tz), by: by.clone(), what: "Presa in carico".into(), target: a.target_label(), text: String::new() },
            ));
        }
        // A passing on shows once, as the assignment it made.
        if let (Some(Step::Rifiuto), Some(at), Some(by)) = (a.end_step, a.ended_at, &a.ended_by) {
            steps.push((
                at,
                a.id,
                2,
                StepView {
                    at: datetime_it(at, tz),
                    by: by.clone(),
                    what: "Rifiuto".into(),
                    target: a.target_label(),
                    text: a.end_reason.clone().unwrap_or_default(),
                },
            ));
        }
    }
    steps.sort_by_key(|s| (s.0, s.1, s.2));
    steps.into_iter().map(|s| s.3).collect()
}

/// The record page's assignment panel for `user`.
pub async fn panel(
    conn: &mut PgConnection,
    user: &CurrentUser,
    id: RegistrationId,
    annulled: bool,
    tz: chrono_tz::Tz,
) -> Result<Panel, AppError> {
    let rows = assignment::of_registration(conn, id).await?;
    let mine = assignment::offices_of(conn, user.0.user_id).await?;
    let can_assign = DESK.contains(&user.0.role) && !annulled;
    let may_act = !annulled && crate::routes::ASSIGNEES.contains(&user.0.role);
    let offices: Vec<staff::Office> = if can_assign || may_act {
        staff::list_offices(conn).await?.into_iter().filter(|o| o.active).collect()
    } else {
        Vec::new()
    };
    let people = if can_assign || may_act { assignment::people(conn).await? } else { Vec::new() };
    let current_competenza = rows.iter().rev().find(|a| a.kind == Kind::Competenza);
    let refused = current_competenza
        .filter(|a| a.state() == AState::Refused)
        .map(|a| format!("{}: {}", a.target_label(), a.end_reason.clone().unwrap_or_default()));
    Ok(Panel {
        current: rows
            .iter()
            .filter(|a| a.state().is_current())
            .map(|a| CurrentView {
                kind: kind_it(a.kind),
                target: a.target_label(),
                state: state_it(a.state()),
                since: datetime_it(a.assigned_at, tz),
                by: crate::labels::actor_it(&a.assigned_by),
                taken_by: a.taken_by.clone().unwrap_or_default(),
                note: a.note.clone().unwrap_or_default(),
            })
            .collect(),
        history: history(&rows, tz),
        annulled,
        can_assign,
        actions: if may_act {
            rows.iter()
                .filter(|a| a.actionable_by(user.0.user_id, &mine))
                .map(|a| ActionView { id: a.id, target: a.target_label(), pending: a.state() == AState::Pending })
                .collect()
        } else {
            Vec::new()
        },
        offices,
        people,
        refused,
    })
}

/// The office or person a form names: `ufficio` (an office id) or `persona` (a user id),
/// exactly one.
fn target(ufficio: Option<&str>, persona: Option<&str>) -> Result<Target, AppError> {
    let pick = |v: Option<&str>| v.map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
    match (pick(ufficio), pick(persona)) {
        (Some(o), None) => o.parse::<i64>().map(Target::Office).map_err(|_| AppError::BadRequest(format!("ufficio: «{o}» non è un ufficio"))),
        (None, Some(p)) => p.parse::<i64>().map(Target::Person).map_err(|_| AppError::BadRequest(format!("persona: «{p}» non è una persona"))),
        (None, None) => Err(AppError::BadRequest(
            "Il modulo è incompleto: manca il campo «ufficio» (scelga un ufficio oppure una persona).".into(),
        )),
        (Some(_), Some(_)) => Err(AppError::BadRequest("ufficio, persona: scelga un ufficio oppure una persona, non entrambi".into())),
    }
}

#[derive(Deserialize)]
pub struct AssignForm {
    ufficio: Option<String>,
    persona: Option<String>,
    /// `competenza` (the default) or `conoscenza`.
    tipo: Option<String>,
    nota: Option<String>,
}

/// Assigns a registration (protocol office).
pub async fn assign(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Form(f): Form<AssignForm>,
) -> Result<Response, AppError> {
    let id = RegistrationId::new(parse_id(&id)?);
    let note = f.nota.as_deref().map(|n| FreeText::parse("nota", TextKind::Reason, n)).transpose()?;
    let target = target(f.ufficio.as_deref(), f.persona.as_deref())?;
    let kind = Kind::parse(f.tipo.as_deref().unwrap_or(""))?;
    let mut tx = state.pool().begin().await?;
    sigillo_store::browse::registration(&mut tx, state.register(), id).await?;
    assignment::assign(&mut tx, &user.actor()?, id, target, kind, note.as_ref().map(FreeText::as_str)).await?;
    tx.commit().await?;
    tracing::info!(registration.id = %id, kind = kind.as_str(), "assigned");
    Ok(Redirect::to(&format!("/registrazioni/{id}?esito=assegnata")).into_response())
}

/// Loads an assignment of this register that `user` may act on; another's is refused (403).
async fn mine(state: &AppState, user: &CurrentUser, id: &str) -> Result<Assignment, AppError> {
    let id = parse_id(id)?;
    let mut conn = state.pool().acquire().await?;
    let a = assignment::get(&mut conn, id).await?;
    sigillo_store::browse::registration(&mut conn, state.register(), a.registration_id).await?;
    let offices = assignment::offices_of(&mut conn, user.0.user_id).await?;
    // Another's competenza is not theirs to touch (403); what is over, or for conoscenza,
    // the store answers with what state it is in.
    if matches!(a.state(), AState::Pending | AState::InCharge) && !a.actionable_by(user.0.user_id, &offices) {
        return Err(AppError::Refused("questa assegnazione non è rivolta a lei né a un suo ufficio".into()));
    }
    Ok(a)
}

pub async fn take(State(state): State<AppState>, user: CurrentUser, Path(id): Path<String>) -> Result<Response, AppError> {
    let a = mine(&state, &user, &id).await?;
    let mut tx = state.pool().begin().await?;
    let reg = assignment::take(&mut tx, &user.actor()?, user.0.user_id, a.id).await?;
    tx.commit().await?;
    tracing::info!(assignment.id = a.id, "taken in charge");
    Ok(Redirect::to(&format!("/registrazioni/{reg}?esito=presa-in-carico")).into_response())
}

#[derive(Deserialize)]
pub struct RefuseForm {
    motivo: String,
}

pub async fn refuse(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Form(f): Form<RefuseForm>,
) -> Result<Response, AppError> {
    let reason = FreeText::parse("motivo", TextKind::Reason, &f.motivo)?;
    if reason.is_empty() {
        return Err(AppError::Field {
            status: axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            field: "motivo".into(),
            message: "indichi il motivo del rifiuto".into(),
        });
    }
    let a = mine(&state, &user, &id).await?;
    let mut tx = state.pool().begin().await?;
    assignment::refuse(&mut tx, &user.actor()?, user.0.user_id, a.id, reason.as_str()).await?;
    tx.commit().await?;
    tracing::info!(assignment.id = a.id, "refused");
    // The registration goes back to the protocol office: office staff no longer see it in
    // their lists, and the record stays open to them (they acted on it).
    Ok(Redirect::to("/assegnazioni?esito=rifiutata").into_response())
}

#[derive(Deserialize)]
pub struct PassForm {
    ufficio: Option<String>,
    persona: Option<String>,
    nota: String,
}

pub async fn pass(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Form(f): Form<PassForm>,
) -> Result<Response, AppError> {
    let note = FreeText::parse("nota", TextKind::Reason, &f.nota)?;
    if note.is_empty() {
        return Err(AppError::Field {
            status: axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            field: "nota".into(),
            message: "indichi una nota per chi riceve la registrazione".into(),
        });
    }
    let target = target(f.ufficio.as_deref(), f.persona.as_deref())?;
    let a = mine(&state, &user, &id).await?;
    let mut tx = state.pool().begin().await?;
    assignment::pass(&mut tx, &user.actor()?, user.0.user_id, a.id, target, note.as_str()).await?;
    tx.commit().await?;
    tracing::info!(assignment.id = a.id, "passed on");
    Ok(Redirect::to("/assegnazioni?esito=passata").into_response())
}

/// One line of the inbox.
pub struct InboxRow {
    pub assignment_id: i64,
    pub registration_id: RegistrationId,
    pub number: String,
    pub subject: String,
    pub annulled: bool,
    pub kind: &'static str,
    pub target: String,
    pub assigned_at: String,
    pub assigned_by: String,
    pub note: String,
    pub taken_by: String,
    pub actionable: bool,
}

pub struct OfficeOption {
    pub id: i64,
    pub label: String,
    pub selected: bool,
}

pub struct Tab {
    pub code: &'static str,
    pub label: &'static str,
    pub count: String,
    pub href: String,
    pub current: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "assignments.html")]
pub struct InboxPage {
    layout: Layout,
    heading: String,
    tabs: Vec<Tab>,
    view: &'static str,
    rows: Vec<InboxRow>,
    pager: Pager,
    offices: Vec<OfficeOption>,
    notice: Option<&'static str>,
}

#[derive(Debug, Default, Deserialize)]
pub struct InboxQuery {
    vista: Option<String>,
    ufficio: Option<String>,
    pagina: Option<String>,
    esito: Option<String>,
}

/// The inbox: what waits to be taken in charge, what the person has in charge, what they
/// receive for conoscenza; for the protocol office also the refused assignments. With
/// `ufficio`, that office's lists (its members and the protocol office only).
pub async fn inbox(State(state): State<AppState>, user: CurrentUser, Query(q): Query<InboxQuery>) -> Result<InboxPage, AppError> {
    let desk = DESK.contains(&user.0.role);
    let (view, code) = match q.vista.as_deref().unwrap_or("") {
        "" | "da-prendere" => (InboxView::ToTake, "da-prendere"),
        "in-carico" => (InboxView::InCharge, "in-carico"),
        "conoscenza" => (InboxView::ForInformation, "conoscenza"),
        "rifiutate" if desk => (InboxView::Refused, "rifiutate"),
        "rifiutate" => return Err(AppError::Refused("le assegnazioni rifiutate sono dell'ufficio protocollo".into())),
        other => {
            return Err(AppError::BadRequest(format!("vista: «{other}» non è da-prendere, in-carico, conoscenza o rifiutate")));
        }
    };
    let page = parse_page(q.pagina.as_deref())?;
    let office = match q.ufficio.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
        None => None,
        Some(v) => Some(v.parse::<i64>().map_err(|_| AppError::BadRequest(format!("ufficio: «{v}» non è un ufficio")))?),
    };
    let register = state.register();
    let tz = register.timezone;
    let mut conn = state.pool().acquire().await?;
    let mine = assignment::offices_of(&mut conn, user.0.user_id).await?;
    if let Some(o) = office
        && !desk
        && !mine.contains(&o)
    {
        return Err(AppError::Refused("può vedere solo le assegnazioni dei suoi uffici".into()));
    }
    let all_offices = staff::list_offices(&mut conn).await?;
    let offices: Vec<staff::Office> = all_offices.into_iter().filter(|o| desk || mine.contains(&o.id)).collect();
    let person = InboxOf::Person { user: user.0.user_id, offices: &mine };
    let of = office.map_or(person, InboxOf::Office);
    let (items, total) = assignment::inbox(&mut conn, register, of, view, PAGE_SIZE, (page - 1) * PAGE_SIZE, COUNT_CAP).await?;
    let counts = assignment::inbox_counts(&mut conn, register, person, desk, COUNT_CAP).await?;
    drop(conn);
    let link = |vista: &str, n: i64| {
        let mut params = vec![("vista", vista.to_owned())];
        if let Some(o) = office {
            params.push(("ufficio", o.to_string()));
        }
        if n > 1 {
            params.push(("pagina", n.to_string()));
        }
        format!("/assegnazioni?{}", serde_urlencoded::to_string(params).unwrap_or_default())
    };
    let mut tabs = vec![
        ("da-prendere", "Da prendere in carico", counts.to_take),
        ("in-carico", "In carico a me", counts.in_charge),
        ("conoscenza", "Per conoscenza", counts.for_information),
    ];
    if desk {
        tabs.push(("rifiutate", "Rifiutate", counts.refused.unwrap_or_default()));
    }
    let pager = Pager::new(page, PAGE_SIZE, total.count + i64::from(total.more), total.more, ("assegnazione", "assegnazioni"), |n| link(code, n), None);
    let office_name = office.and_then(|o| offices.iter().find(|x| x.id == o)).map(|o| format!("{} — {}", o.code, o.name));
    Ok(InboxPage {
        layout: Layout::new(&user, "assegnazioni", "Assegnazioni"),
        heading: match office_name {
            Some(n) => format!("Assegnazioni dell'ufficio {n}"),
            None => "Le mie assegnazioni".to_owned(),
        },
        tabs: tabs
            .into_iter()
            .map(|(c, label, n)| Tab {
                code: c,
                // The counters are the person's own; an office's lists say their total below.
                label: if c == "in-carico" && office.is_some() { "In carico" } else { label },
                count: counted_it(n),
                href: link(c, 1),
                current: c == code,
            })
            .collect(),
        view: code,
        rows: items
            .into_iter()
            .map(|i| InboxRow {
                assignment_id: i.assignment_id,
                registration_id: i.registration_id,
                number: format!("{}/{}", i.number, i.year),
                subject: i.subject,
                annulled: i.annulled,
                kind: kind_it(i.kind),
                target: i.target,
                assigned_at: datetime_it(i.assigned_at, tz),
                assigned_by: crate::labels::actor_it(&i.assigned_by),
                note: match view {
                    InboxView::Refused => i.end_reason.unwrap_or_default(),
                    _ => i.note.unwrap_or_default(),
                },
                taken_by: i.taken_by.or(i.ended_by).unwrap_or_default(),
                actionable: view == InboxView::ToTake && !i.annulled,
            })
            .collect(),
        pager,
        offices: offices
            .iter()
            .map(|o| OfficeOption { id: o.id, label: format!("{} — {}", o.code, o.name), selected: office == Some(o.id) })
            .collect(),
        notice: match q.esito.as_deref() {
            Some("rifiutata") => Some("L'assegnazione è stata rifiutata e torna all'ufficio protocollo."),
            Some("passata") => Some("La registrazione è stata passata al nuovo assegnatario."),
            _ => None,
        },
    })
}

/// The counters the home pages show ("1.000+" past the count's limit).
pub struct CountsView {
    pub to_take: String,
    pub in_charge: String,
    pub for_information: String,
    /// Empty for those who do not see the refused list (everyone but the protocol office).
    pub refused: String,
}

/// The counters of `user`'s inbox; `offices` are theirs ([`assignment::offices_of`]).
pub async fn counts(conn: &mut PgConnection, state: &AppState, user: &CurrentUser, offices: &[i64]) -> Result<CountsView, AppError> {
    let person = InboxOf::Person { user: user.0.user_id, offices };
    let desk = DESK.contains(&user.0.role);
    let c = assignment::inbox_counts(conn, state.register(), person, desk, COUNT_CAP).await?;
    Ok(CountsView {
        to_take: counted_it(c.to_take),
        in_charge: counted_it(c.in_charge),
        for_information: counted_it(c.for_information),
        refused: c.refused.map(counted_it).unwrap_or_default(),
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "home_office.html")]
pub struct OfficeHome {
    layout: Layout,
    to_take: String,
    in_charge: String,
    for_information: String,
    offices: Vec<staff::Office>,
}

/// The home page of office staff: their inbox's counters and their offices.
pub async fn office_home(state: &AppState, user: &CurrentUser) -> Result<Response, AppError> {
    let mut conn = state.pool().acquire().await?;
    let mine = assignment::offices_of(&mut conn, user.0.user_id).await?;
    let c = counts(&mut conn, state, user, &mine).await?;
    let offices = staff::list_offices(&mut conn).await?.into_iter().filter(|o| mine.contains(&o.id)).collect();
    Ok(OfficeHome {
        layout: Layout::new(user, "home", "Cruscotto"),
        to_take: c.to_take,
        in_charge: c.in_charge,
        for_information: c.for_information,
        offices,
    }
    .into_response())
}

pub struct MemberView {
    pub username: String,
    pub full_name: String,
    pub added: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "office.html")]
pub struct OfficePage {
    layout: Layout,
    office: staff::Office,
    members: Vec<MemberView>,
}

/// An office and its members (the amministratore adds and removes them).
pub async fn office(State(state): State<AppState>, user: CurrentUser, Path(id): Path<String>) -> Result<OfficePage, AppError> {
    let id = parse_id(&id)?;
    let mut conn = state.pool().acquire().await?;
    let office = staff::list_offices(&mut conn).await?.into_iter().find(|o| o.id == id).ok_or(AppError::NotFound)?;
    let tz = state.register().timezone;
    let members = assignment::members(&mut conn, id)
        .await?
        .into_iter()
        .map(|m| MemberView {
            username: m.username,
            full_name: m.full_name,
            added: format!("{} ({})", datetime_it(m.added_at, tz), crate::labels::actor_it(&m.added_by)),
        })
        .collect();
    Ok(OfficePage { layout: Layout::new(&user, "uffici", format!("Ufficio {}", office.code)), office, members })
}

#[derive(Deserialize)]
pub struct MemberForm {
    username: String,
}

pub async fn add_member(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Form(f): Form<MemberForm>,
) -> Result<Response, AppError> {
    let id = parse_id(&id)?;
    let username = FreeText::parse("username", TextKind::Name, &f.username)?;
    let mut tx = state.pool().begin().await?;
    assignment::add_member(&mut tx, &user.actor()?, id, username.as_str()).await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/uffici/{id}")).into_response())
}

pub async fn remove_member(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, username)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let id = parse_id(&id)?;
    let mut tx = state.pool().begin().await?;
    assignment::remove_member(&mut tx, &user.actor()?, id, &username).await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/uffici/{id}")).into_response())
}
