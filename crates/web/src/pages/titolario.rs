//! The titolario of the AOO and the classification of registrations: the titolario page
//! with its versions and the CSV import, the "da classificare" list, the class of a
//! registration with its history on the record page, and the registration's Segnatura.xml
//! with its `Classifica`.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Multipart, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sigillo_protocol::titolario::{self, ImportInput};
use sigillo_store::browse;
use sigillo_store::ids::RegistrationId;
use sigillo_store::register::DocumentRole;
use sigillo_store::staff::Role;
use sigillo_store::titolario::{self as store, Level};
use sqlx::PgConnection;

use super::{Layout, parse_id};
use crate::auth::CurrentUser;
use crate::extract::{Form, Path, Query};
use crate::text::{FreeText, TextKind};
// The list calls `|visible` on what citizens wrote (correspondent, subject).
use crate::format::filters;
use crate::format::{channel_it, date_it, datetime_it, int_it};
use crate::pager::{Pager, parse_page};
use crate::routes::DESK;
use crate::{AppError, AppState};

/// Who may import a version of the titolario.
pub const IMPORTERS: &[Role] = &[Role::Responsabile, Role::Amministratore];

/// Rows of the "da classificare" list per page.
const PAGE_SIZE: i64 = 50;

/// One class offered by a select: its flat code and words.
pub struct ClassOption {
    pub code: String,
    pub label: String,
    pub selected: bool,
}

/// The classes of `version_id` that may classify, for a select (titoli with classi are not
/// offered, their classi are).
pub async fn class_options(conn: &mut PgConnection, version_id: i64, selected: &str) -> Result<Vec<ClassOption>, AppError> {
    Ok(store::entries(conn, version_id)
        .await?
        .into_iter()
        .filter(|e| e.leaf)
        .map(|e| ClassOption {
            selected: e.code.eq_ignore_ascii_case(selected.trim()),
            label: format!("{} — {}", e.code, e.description),
            code: e.code,
        })
        .collect())
}

/// The select of the desk form: the classes of the version in force today, if any.
pub async fn desk_options(state: &AppState, selected: &str) -> Result<Vec<ClassOption>, AppError> {
    let register = state.register();
    let mut conn = state.pool().acquire().await?;
    match store::version_on(&mut conn, register, super::today(register.timezone)).await? {
        Some(v) => class_options(&mut conn, v.id, selected).await,
        None => Ok(Vec::new()),
    }
}

pub struct VersionView {
    pub id: i64,
    pub name: String,
    pub period: String,
    pub imported: String,
    pub entries: String,
    pub current: bool,
}

pub struct EntryView {
    pub code: String,
    pub description: String,
    /// 0 titolo, 1 classe, 2 sottoclasse.
    pub depth: u8,
}

#[derive(Template, WebTemplate)]
#[template(path = "titolario.html")]
pub struct TitolarioPage {
    layout: Layout,
    versions: Vec<VersionView>,
    shown: Option<VersionView>,
    entries: Vec<EntryView>,
    can_import: bool,
    errors: Vec<String>,
    notice: Option<String>,
    name: String,
    valid_from: String,
    valid_to: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct TitolarioQuery {
    versione: Option<String>,
    esito: Option<String>,
}

fn period_it(from: chrono::NaiveDate, to: Option<chrono::NaiveDate>) -> String {
    match to {
        Some(to) => format!("dal {} al {}", date_it(from), date_it(to)),
        None => format!("dal {}", date_it(from)),
    }
}

async fn titolario_page(
    state: &AppState,
    user: &CurrentUser,
    version: Option<i64>,
    errors: Vec<String>,
    notice: Option<String>,
    values: (String, String, String),
) -> Result<TitolarioPage, AppError> {
    let register = state.register();
    let tz = register.timezone;
    let mut conn = state.pool().acquire().await?;
    let today = super::today(tz);
    let versions = store::versions(&mut conn, register).await?;
    let in_force = versions.iter().find(|v| v.valid_from <= today && v.valid_to.is_none_or(|t| t >= today)).map(|v| v.id);
    let chosen = version.or(in_force).or_else(|| versions.first().map(|v| v.id));
    let view = |v: &store::Version| VersionView {
        id: v.id,
        name: v.name.clone(),
        period: period_it(v.valid_from, v.valid_to),
        imported: format!("{} da {}", datetime_it(v.imported_at, tz), crate::labels::actor_it(&v.imported_by)),
        entries: int_it(v.entries),
        current: Some(v.id) == in_force,
    };
    let shown = match chosen {
        Some(id) => Some(view(versions.iter().find(|v| v.id == id).ok_or(AppError::NotFound)?)),
        None => None,
    };
    let entries = match &shown {
        Some(v) => store::entries(&mut conn, v.id)
            .await?
            .into_iter()
            .map(|e| EntryView {
                code: e.code,
                description: e.description,
                depth: match e.level {
                    Level::Titolo => 0,
                    Level::Classe => 1,
                    Level::Sottoclasse => 2,
                },
            })
            .collect(),
        None => Vec::new(),
    };
    Ok(TitolarioPage {
        layout: Layout::new(user, "titolario", "Titolario"),
        versions: versions.iter().map(view).collect(),
        shown,
        entries,
        can_import: IMPORTERS.contains(&user.0.role),
        errors,
        notice,
        name: values.0,
        valid_from: values.1,
        valid_to: values.2,
    })
}

pub async fn show(State(state): State<AppState>, user: CurrentUser, Query(q): Query<TitolarioQuery>) -> Result<TitolarioPage, AppError> {
    let version = match q.versione.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
        Some(v) => Some(parse_id(v)?),
        None => None,
    };
    let notice = (q.esito.as_deref() == Some("importata")).then(|| "La nuova versione del titolario è stata importata.".to_owned());
    titolario_page(&state, &user, version, Vec::new(), notice, Default::default()).await
}

/// `POST /titolario`: a CSV file imported as a new version.
pub async fn import(State(state): State<AppState>, user: CurrentUser, mut form: Multipart) -> Result<Response, AppError> {
    let unreadable = |_| AppError::BadRequest("Il modulo inviato non si può leggere (troppo grande o interrotto).".into());
    let (mut name, mut from, mut to, mut csv) = (String::new(), String::new(), String::new(), Vec::new());
    while let Some(field) = form.next_field().await.map_err(unreadable)? {
        match field.name().unwrap_or("") {
            "file" => csv = field.bytes().await.map_err(unreadable)?.to_vec(),
            other => {
                let other = other.to_owned();
                let text = field.text().await.map_err(unreadable)?;
                crate::text::check_field(&other, &text)?;
                match other.as_str() {
                    "nome" => name = text,
                    "valido_dal" => from = text,
                    "valido_al" => to = text,
                    _ => {}
                }
            }
        }
    }
    let values = (name.clone(), from.clone(), to.clone());
    let refuse = |errors: Vec<String>| refuse_import(&state, &user, errors, values.clone());
    let date = |label: &str, v: &str| {
        chrono::NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d").map_err(|_| format!("{label}: «{}» non è una data valida", v.trim()))
    };
    let valid_from = match date("Valida dal", &from) {
        Ok(d) => d,
        Err(e) => return refuse(vec![e]).await,
    };
    let valid_to = match to.trim() {
        "" => None,
        v => match date("Valida fino al", v) {
            Ok(d) => Some(d),
            Err(e) => return refuse(vec![e]).await,
        },
    };
    if csv.is_empty() {
        return refuse(vec!["File CSV: scelga il file da importare".into()]).await;
    }
    let input = ImportInput { name, valid_from, valid_to, csv };
    match titolario::import(state.pool(), state.register(), &user.actor()?, input).await {
        Ok(imported) => Ok(Redirect::to(&format!("/titolario?versione={}&esito=importata", imported.version_id)).into_response()),
        Err(sigillo_protocol::Error::Titolario(lines)) => refuse(lines.iter().map(ToString::to_string).collect()).await,
        Err(sigillo_protocol::Error::Invalid(f)) => {
            let label = match f.field.as_str() {
                "name" => "Nome della versione",
                "valid_from" => "Valida dal",
                "valid_to" => "Valida fino al",
                other => other,
            };
            refuse(vec![format!("{label}: {}", f.message)]).await
        }
        Err(e) => Err(e.into()),
    }
}

/// The titolario page again with the import's faults and what was typed, 422.
async fn refuse_import(
    state: &AppState,
    user: &CurrentUser,
    errors: Vec<String>,
    values: (String, String, String),
) -> Result<Response, AppError> {
    let page = titolario_page(state, user, None, errors, None, values).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

pub struct UnclassifiedView {
    pub id: RegistrationId,
    pub number: String,
    pub at: String,
    pub channel: &'static str,
    pub correspondent: String,
    pub subject: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "to_classify.html")]
pub struct ToClassifyPage {
    layout: Layout,
    rows: Vec<UnclassifiedView>,
    pager: String,
    total: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    pagina: Option<String>,
}

/// `GET /da-classificare`: the registrations without a class, newest first.
pub async fn to_classify(State(state): State<AppState>, user: CurrentUser, Query(q): Query<ListQuery>) -> Result<ToClassifyPage, AppError> {
    let page = parse_page(q.pagina.as_deref())?;
    let register = state.register();
    let tz = register.timezone;
    let mut conn = state.pool().acquire().await?;
    let total = store::to_classify_count(&mut conn, register).await?;
    let rows = store::to_classify_page(&mut conn, register, (page - 1) * PAGE_SIZE, PAGE_SIZE).await?;
    drop(conn);
    let pager = Pager::new(
        page,
        PAGE_SIZE,
        total,
        false,
        ("registrazione da classificare", "registrazioni da classificare"),
        |p| format!("/da-classificare?pagina={p}"),
        None,
    );
    Ok(ToClassifyPage {
        layout: Layout::new(&user, "da-classificare", "Da classificare"),
        rows: rows
            .into_iter()
            .map(|r| UnclassifiedView {
                id: r.id,
                number: format!("{}/{}", r.number, r.year),
                at: datetime_it(r.registered_at, tz),
                channel: channel_it(r.channel.as_str()),
                correspondent: r.correspondent_name.unwrap_or_else(|| "—".into()),
                subject: r.subject,
            })
            .collect(),
        pager: pager.render()?,
        total: int_it(total),
    })
}

pub struct ChangeView {
    pub at: String,
    pub by: String,
    pub old: String,
    pub new: String,
    pub reason: String,
}

/// The classification block of the record page (`classification_panel.html`, included in it).
pub struct Panel {
    pub(super) id: RegistrationId,
    pub(super) csrf: String,
    pub(super) class: Option<String>,
    pub(super) version: Option<String>,
    pub(super) history: Vec<ChangeView>,
    /// The classes the clerk may choose (empty: no form).
    pub(super) options: Vec<ClassOption>,
    pub(super) can_classify: bool,
    /// Why the form is not offered, when the clerk could classify.
    pub(super) unavailable: Option<String>,
    pub(super) has_segnatura: bool,
}

/// The record page's classification block for `id`, registered at `registered_at`.
pub async fn panel(
    conn: &mut PgConnection,
    state: &AppState,
    user: &CurrentUser,
    id: RegistrationId,
    registered_at: chrono::DateTime<chrono::Utc>,
    annulled: bool,
) -> Result<Panel, AppError> {
    let register = state.register();
    let tz = register.timezone;
    let class = store::class_of(conn, id).await?;
    let history = store::history(conn, id).await?;
    let can_classify = DESK.contains(&user.0.role) && !annulled;
    let day = titolario::day_of(register, registered_at);
    let (options, unavailable) = if can_classify {
        match store::version_on(conn, register, day).await? {
            Some(v) => (class_options(conn, v.id, class.as_ref().map_or("", |c| c.code.as_str())).await?, None),
            None => (Vec::new(), Some(format!("Nessuna versione del titolario è in vigore il {}: la importi dalla pagina Titolario.", date_it(day)))),
        }
    } else {
        (Vec::new(), None)
    };
    Ok(Panel {
        id,
        csrf: user.0.csrf_token.clone(),
        class: class.as_ref().map(|c| format!("{} — {}", c.code, c.description)),
        version: class.map(|c| c.version),
        history: history
            .into_iter()
            .map(|h| ChangeView {
                at: datetime_it(h.at, tz),
                by: crate::labels::actor_it(&h.by),
                old: match (h.old_code, h.old_description) {
                    (Some(c), Some(d)) => format!("{c} — {d}"),
                    _ => "non classificata".into(),
                },
                new: format!("{} — {}", h.new_code, h.new_description),
                reason: h.reason.unwrap_or_default(),
            })
            .collect(),
        options,
        can_classify,
        unavailable,
        has_segnatura: state.outbox().is_some_and(|o| o.seal.is_some()),
    })
}

#[derive(Debug, Deserialize)]
pub struct ClassifyForm {
    #[serde(default)]
    classe: String,
    #[serde(default)]
    motivo: String,
}

/// `POST /registrazioni/{id}/classifica`: the first class, or a change with its reason.
pub async fn classify(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Form(form): Form<ClassifyForm>,
) -> Result<Response, AppError> {
    let id = RegistrationId::new(parse_id(&id)?);
    let reason = FreeText::parse("Motivo del cambio", TextKind::Reason, &form.motivo)?;
    let reason = Some(reason.as_str()).filter(|m| !m.is_empty());
    match titolario::classify(state.pool(), state.register(), id, &form.classe, &user.actor()?, reason).await {
        Ok(_) => Ok(Redirect::to(&format!("/registrazioni/{id}?esito=classificata#classificazione")).into_response()),
        Err(sigillo_protocol::Error::Invalid(f)) => {
            let label = if f.field == "reason" { "Motivo del cambio" } else { "Classe" };
            Err(AppError::Field { status: StatusCode::UNPROCESSABLE_ENTITY, field: label.into(), message: f.message })
        }
        Err(e) => Err(e.into()),
    }
}

/// `GET /registrazioni/{id}/segnatura.xml`: the registration's Segnatura.xml as it stands
/// now, with its class (`Classifica`), sealed with the ente's seal. Without a seal there is
/// no schema-valid Segnatura (`ds:Signature` is mandatory): the page says so.
pub async fn segnatura(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, AppError> {
    let id = RegistrationId::new(parse_id(&id)?);
    let register = state.register();
    let mut conn = state.pool().acquire().await?;
    let r = browse::registration(&mut conn, register, id).await?;
    let class = store::class_of(&mut conn, id).await?;
    drop(conn);
    let Some(config) = state.outbox().filter(|o| o.seal.is_some()) else {
        return Err(unavailable(
            "richiede il sigillo elettronico dell'ente (SIGILLO_SEAL_KEY e SIGILLO_SEAL_CERT), che non è configurato",
        ));
    };
    let xml = build_segnatura(config, &r, class.as_ref())?;
    let name = format!("attachment; filename=\"Segnatura-{}-{}.xml\"", r.year, r.number);
    Ok(([(header::CONTENT_TYPE, "application/xml".to_owned()), (header::CONTENT_DISPOSITION, name)], xml).into_response())
}

/// Segnatura.xml cannot be made for this registration or with this configuration (409: the
/// request is fine, the state is not; 403 would say the role is not allowed).
fn unavailable(message: &str) -> AppError {
    AppError::Field { status: StatusCode::CONFLICT, field: "Segnatura.xml".into(), message: message.to_owned() }
}

fn build_segnatura(
    config: &sigillo_notify::outbox::OutboxConfig,
    r: &browse::RegistrationDetail,
    class: Option<&store::Class>,
) -> Result<Vec<u8>, AppError> {
    use sigillo_notify::model::{Document, Receipt};
    use sigillo_notify::segnatura::{Classifica, Options};
    let receipt = Receipt {
        to: r.correspondent_address.clone().or_else(|| r.correspondent_name.clone()).unwrap_or_default(),
        number: r.number.get(),
        year: r.year,
        registered_at: r.registered_at,
        segnatura: r.segnatura.clone(),
        subject: r.subject.clone(),
        pec_delivered_at: None,
        pec_identificativo: None,
        in_reply_to: None,
        documents: r
            .documents
            .iter()
            .map(|d| Document {
                name: d.name.clone(),
                media_type: Some(d.media_type.clone()),
                size: d.size_bytes,
                sha256: d.sha256.to_hex(),
                primary: d.role == DocumentRole::Primary,
            })
            .collect(),
    };
    if receipt.documents.is_empty() {
        return Err(unavailable("la registrazione non ha documenti, e Segnatura.xml richiede un documento principale"));
    }
    let classifica = class.map(|c| Classifica { code: c.code.clone(), name: c.description.clone() });
    let opts = Options { seal: config.seal.as_ref(), signing_time: chrono::Utc::now(), classifica: classifica.as_ref() };
    sigillo_notify::segnatura::build(&config.ctx, &receipt, &opts).map_err(|e| match e {
        sigillo_notify::Error::Seal(cause) => unavailable(&format!("non generata: {cause}")),
        other => AppError::from(other),
    })
}
