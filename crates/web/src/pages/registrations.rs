//! The registrations: list and search, one record, downloads, annulment (assignment:
//! `super::assignments`).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::HeaderMap;

use crate::extract::{Path, Query};
use crate::text::{FreeText, TextKind};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sigillo_store::ids::RegistrationId;
use sigillo_store::browse::{self, ListFilter, SearchText, StateFilter};
use sigillo_store::desk;

use crate::find::NumberQuery;
use crate::pager::{COUNT_CAP, Pager, parse_page};
use sigillo_store::export::{Period, period_bounds};
use sigillo_store::register::{self, Direction, DocumentRole, NewAnnulment, Sha256};


use super::{Layout, parse_date, parse_id};
// The templates of this module call `|visible` on what citizens wrote.
use crate::format::filters;
use crate::auth::CurrentUser;
use crate::format::{SignatureView, channel_it, date_it, datetime_it, direction_it, paper_delivery_it, signature_view, size_it};
use crate::{AppError, AppState};

const PAGE_SIZE: i64 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    dal: Option<String>,
    al: Option<String>,
    stato: Option<String>,
    mittente: Option<String>,
    q: Option<String>,
    pagina: Option<String>,
}

pub struct RowView {
    pub id: RegistrationId,
    pub number: String,
    pub date: String,
    pub correspondent: String,
    pub subject: String,
    pub annulled: bool,
    pub documents: i32,
    pub office: String,
}

pub struct Results {
    pub rows: Vec<RowView>,
    pub pager: Pager,
    pub searched: bool,
    /// A number or segnatura was searched and no registration has it.
    pub number_missing: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "registrations.html")]
pub struct ListPage {
    layout: Layout,
    dal: String,
    al: String,
    stato: String,
    mittente: String,
    q: String,
    results: Results,
}

#[derive(Template, WebTemplate)]
#[template(path = "registrations_results.html")]
pub struct ResultsPartial {
    results: Results,
}

fn correspondent(name: Option<&str>, address: Option<&str>) -> String {
    match (name, address) {
        (Some(n), Some(a)) => format!("{n} <{a}>"),
        (Some(n), None) => n.to_owned(),
        (None, Some(a)) => a.to_owned(),
        (None, None) => "—".to_owned(),
    }
}

/// Goes to a registration: a plain redirect, or for an htmx request (the search form swaps
/// only its results) `HX-Redirect`, so that the browser opens the record as a whole page.
fn open_record(htmx: bool, id: RegistrationId) -> Response {
    let to = format!("/registrazioni/{id}");
    if htmx {
        let mut res = axum::http::StatusCode::OK.into_response();
        if let Ok(v) = axum::http::HeaderValue::from_str(&to) {
            res.headers_mut().insert("hx-redirect", v);
        }
        return res;
    }
    Redirect::to(&to).into_response()
}

pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Result<Response, AppError> {
    let register = state.register();
    let htmx = headers.contains_key("hx-request");
    let from = parse_date("dal", q.dal.as_deref())?;
    let to = parse_date("al", q.al.as_deref())?;
    let page = parse_page(q.pagina.as_deref())?;
    let mut filter = ListFilter::default();
    if let Some(d) = from {
        filter.from = Some(period_bounds(register, Period::Day(d))?.0);
    }
    if let Some(d) = to {
        filter.to = Some(period_bounds(register, Period::Day(d))?.1);
    }
    filter.state = match q.stato.as_deref().unwrap_or("") {
        "" | "tutte" => StateFilter::All,
        "attive" => StateFilter::Active,
        "annullate" => StateFilter::Annulled,
        other => return Err(AppError::BadRequest(format!("stato: «{other}» non è tutte, attive o annullate"))),
    };
    let sender = FreeText::parse("mittente", TextKind::Search, q.mittente.as_deref().unwrap_or(""))?;
    filter.sender = (!sender.is_empty()).then(|| sender.into_string());
    let text = FreeText::parse("ricerca", TextKind::Search, q.q.as_deref().unwrap_or(""))?;
    filter.text = SearchText::parse(text.as_str())?;
    filter.offset = (page - 1) * PAGE_SIZE;
    let mut conn = state.pool().acquire().await?;
    // A protocol number, number/year or segnatura opens that registration; when none has
    // it, the text is searched as words (a subject may quote the number).
    let number_query = NumberQuery::parse(text.as_str());
    if let Some(nq) = &number_query
        && let Some(id) = desk::find_registration(&mut conn, register, nq.number, nq.year, nq.segnatura.as_deref()).await?
    {
        return Ok(open_record(htmx, id));
    }
    let (rows, _) = browse::list(&mut conn, register, &filter, PAGE_SIZE).await?;
    let counted = desk::count_registrations(&mut conn, register, &filter, COUNT_CAP + 1).await?;
    drop(conn);
    let tz = register.timezone;
    let link = |n: i64| {
        let params = [
            ("dal", q.dal.clone().unwrap_or_default()),
            ("al", q.al.clone().unwrap_or_default()),
            ("stato", q.stato.clone().unwrap_or_default()),
            ("mittente", q.mittente.clone().unwrap_or_default()),
            ("q", q.q.clone().unwrap_or_default()),
            ("pagina", n.to_string()),
        ];
        let params: Vec<_> = params.into_iter().filter(|(_, v)| !v.is_empty()).collect();
        format!("/registrazioni?{}", serde_urlencoded::to_string(params).unwrap_or_default())
    };
    let pager = Pager::new(page, PAGE_SIZE, counted, counted > COUNT_CAP, ("registrazione", "registrazioni"), link, Some("#risultati"));
    let results = Results {
        rows: rows
            .into_iter()
            .map(|r| RowView {
                id: r.id,
                number: format!("{}/{}", r.number, r.year),
                date: datetime_it(r.registered_at, tz),
                correspondent: correspondent(r.correspondent_name.as_deref(), r.correspondent_address.as_deref()),
                subject: r.subject,
                annulled: r.annulled,
                documents: r.documents,
                office: r.office.unwrap_or_else(|| "—".into()),
            })
            .collect(),
        pager,
        searched: filter.text.is_some() || filter.sender.is_some() || from.is_some() || to.is_some(),
        number_missing: number_query.map(|nq| nq.label()),
    };
    if htmx {
        return Ok(ResultsPartial { results }.into_response());
    }
    Ok(ListPage {
        layout: Layout::new(&user, "registrazioni", "Registrazioni"),
        dal: q.dal.unwrap_or_default(),
        al: q.al.unwrap_or_default(),
        stato: q.stato.unwrap_or_default(),
        mittente: q.mittente.unwrap_or_default(),
        q: q.q.unwrap_or_default(),
        results,
    }
    .into_response())
}

pub struct DocView {
    pub id: i64,
    pub name: String,
    pub role: &'static str,
    pub media_type: String,
    pub size: String,
    pub sha256: String,
    pub signature: Option<SignatureView>,
    /// The stored file no longer has the document's hash (or is missing): what is wrong, in
    /// Italian. Its signature verdict no longer says anything about what is on disk.
    pub damaged: Option<String>,
}

pub struct HistView {
    pub at: String,
    pub actor: String,
    pub action: String,
}

pub struct AnnulView {
    pub at: String,
    pub by: String,
    pub reason: String,
    pub act: String,
}

pub struct Field {
    pub label: &'static str,
    pub value: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "registration.html")]
pub struct DetailPage {
    layout: Layout,
    id: RegistrationId,
    heading: String,
    segnatura: String,
    subject: String,
    fields: Vec<Field>,
    annulment: Option<AnnulView>,
    documents: Vec<DocView>,
    has_message: bool,
    /// The stored raw message no longer has its hash: what is wrong, in Italian.
    message_damaged: Option<String>,
    message_fields: Vec<Field>,
    /// What was sent to the citizen about the message (receipt, notices, re-sends).
    sent: Vec<super::outbox::OutboxView>,
    history: Vec<HistView>,
    /// The classification block (`classification_panel.html`).
    classification: super::titolario::Panel,
    /// The "Invio PEC" block (`outgoing_panel.html`), for a registration in partenza.
    outgoing: Option<super::outgoing::Panel>,
    assign: super::assignments::Panel,
    /// The "Fascicoli" panel (`fascicoli_panel.html`).
    fasc: super::fascicoli::Panel,
    notice: Option<&'static str>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ShowQuery {
    esito: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Query(sq): Query<ShowQuery>,
) -> Result<DetailPage, AppError> {
    let id = RegistrationId::new(parse_id(&id)?);
    let register = state.register();
    let tz = register.timezone;
    let mut conn = state.pool().acquire().await?;
    let r = browse::registration(&mut conn, register, id).await?;
    super::assignments::ensure_visible(&mut conn, &user, id).await?;
    let history = browse::history(&mut conn, "registration", &id.to_string()).await?;
    let classification = super::titolario::panel(&mut conn, &state, &user, id, r.registered_at, r.annulment.is_some()).await?;
    let assign = super::assignments::panel(&mut conn, &user, id, r.annulment.is_some(), tz).await?;
    let fasc = super::fascicoli::panel(&mut conn, &state, &user, id, r.annulment.is_some()).await?;
    let sent = match &r.message {
        Some(m) => super::outbox::views(&mut conn, m.id, tz).await?,
        None => Vec::new(),
    };
    let outgoing = super::outgoing::panel(&mut conn, &state, &user, &r).await?;
    drop(conn);
    // Every stored file of the record is read and hashed for the page: a flipped bit shows
    // here at once, not at the next night's check nor only when someone downloads the file.
    // A few milliseconds per megabyte, read on a blocking thread.
    let hashes: Vec<Sha256> =
        r.documents.iter().map(|d| d.sha256).chain(r.message.as_ref().map(|m| m.raw_sha256)).collect();
    let blobs = state.blobs().clone();
    let mut health = tokio::task::spawn_blocking(move || {
        hashes.iter().map(|h| blobs.check(h).map(|health| damage_it(&health))).collect::<Result<Vec<_>, _>>()
    })
    .await
    .map_err(|e| AppError::Internal(e.to_string()))?
    .map_err(AppError::Store)?;
    let message_damaged = if r.message.is_some() { health.pop().flatten() } else { None };
    let dash = || "—".to_owned();
    let who = match r.direction {
        Direction::Incoming => "Mittente",
        Direction::Outgoing => "Destinatario",
        Direction::Internal => "Corrispondente",
    };
    let channel = match r.paper_delivery {
        Some(p) => format!("{} ({})", channel_it(r.channel.as_str()), paper_delivery_it(p.as_str())),
        None => channel_it(r.channel.as_str()).to_owned(),
    };
    let mut fields = vec![
        Field { label: "Numero di protocollo", value: format!("{}/{}", r.number, r.year) },
        Field { label: "Data di registrazione", value: datetime_it(r.registered_at, tz) },
        Field {
            label: if r.message.is_some() { "Data di ricezione (consegna PEC)" } else { "Data di ricezione" },
            value: r.received_at.map(|t| datetime_it(t, tz)).unwrap_or_else(dash),
        },
        Field { label: "Direzione", value: direction_it(r.direction).into() },
        Field { label: "Canale", value: channel },
        Field { label: who, value: r.correspondent_name.clone().unwrap_or_else(dash) },
        Field {
            label: match r.direction {
                Direction::Incoming => "Indirizzo del mittente",
                Direction::Outgoing => "Indirizzo del destinatario",
                Direction::Internal => "Indirizzo del corrispondente",
            },
            value: r.correspondent_address.clone().unwrap_or_else(dash),
        },
    ];
    if let Some(tax) = r.correspondents.first().and_then(|c| c.tax_code.clone()) {
        fields.push(Field { label: "Codice fiscale o partita IVA", value: tax });
    }
    for c in r.correspondents.iter().skip(1) {
        let mut value = c.name.clone();
        if let Some(t) = &c.tax_code {
            value.push_str(&format!(", C.F./P.IVA {t}"));
        }
        if let Some(a) = &c.address {
            value.push_str(&format!(", {a}"));
        }
        fields.push(Field {
            label: match r.direction {
                Direction::Outgoing => "Altro destinatario",
                _ => "Altro corrispondente",
            },
            value,
        });
    }
    fields.extend([
        Field { label: "Protocollo del mittente", value: r.sender_protocol_number.clone().unwrap_or_else(dash) },
        Field { label: "Data del protocollo del mittente", value: r.sender_protocol_date.map(date_it).unwrap_or_else(dash) },
        Field { label: "Allegati su carta", value: r.paper_attachments.to_string() },
        Field { label: "Registrata da", value: crate::labels::actor_it(&r.created_by) },
    ]);
    let message_fields = match &r.message {
        None => Vec::new(),
        Some(m) => vec![
            Field { label: "Ricevuto il", value: datetime_it(m.first_seen_at, tz) },
            Field { label: "Identificativo PEC (daticert)", value: m.pec_identificativo.clone().unwrap_or_else(dash) },
            Field { label: "Message-ID (daticert)", value: m.pec_msgid.clone().unwrap_or_else(dash) },
            Field { label: "Dimensione", value: size_it(m.raw_size) },
            Field { label: "Impronta SHA-256", value: m.raw_sha256.to_hex() },
        ]
        .into_iter()
        // A message registered by the office after a rejection keeps the pipeline's reasons;
        // one the intake registered with reasons was let through by the comune's policy
        // (unsigned documents under "register and flag"): they are its flags.
        .chain(Some(super::queue::reasons_it(&m.reasons).join("; ")).filter(|r| !r.is_empty()).map(|value| Field {
            label: if r.created_by == "intake" {
                "Segnalazioni (protocollato secondo le politiche dell'ente)"
            } else {
                "Motivi dello scarto automatico (protocollato d'ufficio)"
            },
            value,
        }))
        .collect(),
    };
    Ok(DetailPage {
        layout: Layout::new(&user, "registrazioni", format!("Protocollo n. {}/{}", r.number, r.year)),
        id,
        heading: format!("Protocollo n. {} del {}", r.number, datetime_it(r.registered_at, tz)),
        segnatura: r.segnatura.clone(),
        subject: r.subject.clone(),
        fields,
        annulment: r.annulment.as_ref().map(|a| AnnulView {
            at: datetime_it(a.annulled_at, tz),
            by: crate::labels::actor_it(&a.annulled_by),
            reason: a.reason.clone(),
            act: a.authorising_act.clone(),
        }),
        documents: r
            .documents
            .iter()
            .enumerate()
            .map(|(i, d)| DocView {
                id: d.id,
                name: d.name.clone(),
                role: match d.role {
                    DocumentRole::Primary => "Documento principale",
                    DocumentRole::Attachment => "Allegato",
                },
                media_type: d.media_type.clone(),
                size: size_it(d.size_bytes),
                sha256: d.sha256.to_hex(),
                signature: d.signature_report.as_ref().map(|rep| signature_view(rep, tz)),
                damaged: health.get(i).cloned().flatten(),
            })
            .collect(),
        has_message: r.message.is_some(),
        message_damaged,
        message_fields,
        sent,
        history: history
            .into_iter()
            .map(|h| HistView {
                at: datetime_it(h.at, tz),
                actor: crate::labels::actor_it(&h.actor),
                action: crate::labels::action_it(h.action).to_owned(),
            })
            .collect(),
        classification,
        outgoing,
        assign,
        fasc,
        notice: match sq.esito.as_deref() {
            Some("annullata") => Some("La registrazione è stata annullata."),
            Some("fascicolata") => Some("La registrazione è stata inserita nel fascicolo."),
            Some("assegnata") => Some("L'assegnazione è stata registrata."),
            Some("classificata") => Some("La classificazione è stata registrata."),
            Some("presa-in-carico") => Some("La registrazione è ora in carico a lei."),
            Some("protocollata") => Some("Il messaggio è stato protocollato d'ufficio."),
            Some("registrata") => Some("Il documento è stato registrato a protocollo."),
            Some("reinviata") => Some("Il messaggio al mittente è stato rimesso in coda di invio."),
            Some("inviata-pec") => Some("La registrazione è in coda di invio via PEC: un messaggio per destinatario."),
            _ => None,
        },
    })
}

/// What is wrong with a stored file, for the clerk; `None` when it is sound.
fn damage_it(health: &sigillo_store::blob::Health) -> Option<String> {
    use sigillo_store::blob::Health;
    match health {
        Health::Intact { .. } => None,
        Health::Missing => Some("il file non è più nell'archivio".to_owned()),
        Health::Damaged { .. } => Some("il file archiviato non corrisponde più alla sua impronta SHA-256".to_owned()),
    }
}

async fn blob(state: &AppState, hash: Sha256) -> Result<Vec<u8>, AppError> {
    let blobs = state.blobs().clone();
    tokio::task::spawn_blocking(move || blobs.get(&hash))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?
        .map_err(AppError::from)
}

pub async fn document(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, doc)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let (id, doc) = (RegistrationId::new(parse_id(&id)?), parse_id(&doc)?);
    let mut conn = state.pool().acquire().await?;
    super::assignments::ensure_visible(&mut conn, &user, id).await?;
    let d = browse::document(&mut conn, state.register(), id, doc).await?;
    drop(conn);
    let bytes = blob(&state, d.sha256).await.map_err(|e| e.about(|| format!("Il documento «{}»", d.name)))?;
    Ok(crate::download::document(bytes, &d.media_type, &d.name))
}

pub async fn raw_message(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let id = RegistrationId::new(parse_id(&id)?);
    let mut conn = state.pool().acquire().await?;
    super::assignments::ensure_visible(&mut conn, &user, id).await?;
    let r = browse::registration(&mut conn, state.register(), id).await?;
    drop(conn);
    let m = r.message.ok_or(AppError::NotFound)?;
    let bytes = blob(&state, m.raw_sha256)
        .await
        .map_err(|e| e.about(|| format!("Il messaggio originale del protocollo n. {}/{}", r.number, r.year)))?;
    let name = format!("protocollo-{}-{}.eml", r.number, r.year);
    Ok(crate::download::file(bytes, "message/rfc822", &name))
}

#[derive(Template, WebTemplate)]
#[template(path = "annul.html")]
pub struct AnnulPage {
    layout: Layout,
    id: RegistrationId,
    heading: String,
    subject: String,
    reason: String,
    act: String,
    confirm: bool,
    error: Option<String>,
}

async fn annul_page(
    state: &AppState,
    user: &CurrentUser,
    id: RegistrationId,
    reason: String,
    act: String,
    confirm: bool,
    error: Option<String>,
) -> Result<AnnulPage, AppError> {
    let mut conn = state.pool().acquire().await?;
    let r = browse::registration(&mut conn, state.register(), id).await?;
    if r.annulment.is_some() {
        return Err(AppError::BadRequest("la registrazione è già annullata".into()));
    }
    Ok(AnnulPage {
        layout: Layout::new(user, "registrazioni", format!("Annullamento del protocollo n. {}/{}", r.number, r.year)),
        id,
        heading: format!("Annullamento del protocollo n. {}/{}", r.number, r.year),
        subject: r.subject,
        reason,
        act,
        confirm,
        error,
    })
}

pub async fn annul_form(State(state): State<AppState>, user: CurrentUser, Path(id): Path<String>) -> Result<AnnulPage, AppError> {
    annul_page(&state, &user, RegistrationId::new(parse_id(&id)?), String::new(), String::new(), false, None).await
}

#[derive(Deserialize)]
pub struct AnnulForm {
    motivo: String,
    atto: String,
    /// `rivedi` shows the confirmation step; `conferma` annuls.
    passo: String,
}

pub async fn annul(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    crate::extract::Form(f): crate::extract::Form<AnnulForm>,
) -> Result<Response, AppError> {
    let id = RegistrationId::new(parse_id(&id)?);
    let reason = FreeText::parse("motivo", TextKind::Reason, &f.motivo)?.into_string();
    let act = FreeText::parse("provvedimento", TextKind::Reference, &f.atto)?.into_string();
    if reason.is_empty() || act.is_empty() {
        let error = Some("Indichi il motivo dell'annullamento e gli estremi del provvedimento che lo autorizza.".to_owned());
        let page = annul_page(&state, &user, id, reason, act, false, error).await?;
        return Ok((axum::http::StatusCode::BAD_REQUEST, page).into_response());
    }
    if f.passo != "conferma" {
        return Ok(annul_page(&state, &user, id, reason, act, true, None).await?.into_response());
    }
    let mut tx = state.pool().begin().await?;
    // Only registrations of this register can be annulled from here.
    browse::registration(&mut tx, state.register(), id).await?;
    register::annul(&mut tx, id, &user.actor()?, &NewAnnulment { reason, authorising_act: act }).await?;
    tx.commit().await?;
    tracing::info!(registration.id = %id, "annulled");
    Ok(Redirect::to(&format!("/registrazioni/{id}?esito=annullata")).into_response())
}
