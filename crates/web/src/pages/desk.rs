//! The desk registration: the protocol office registers what did not come through the PEC
//! intake (a paper letter, an ordinary e-mail, a fax, a document sent out, an internal one),
//! with its documents uploaded, in the same register (`sigillo_protocol::desk`).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::TimeZone as _;
use sigillo_protocol::SystemClock;
use sigillo_protocol::desk::{self, CorrespondentInput, Desk, DeskInput, FieldError, Upload};
use sigillo_store::register::{Channel, Direction, PaperDelivery};

use super::Layout;
use crate::auth::CurrentUser;
use crate::format::{channel_it, paper_delivery_it};
use crate::{AppError, AppState};

/// Rows of correspondents the form offers (blank rows are ignored).
const CORRESPONDENT_ROWS: usize = 3;

/// One choice of a select.
pub struct Choice {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

pub struct CorrespondentRow {
    pub n: usize,
    pub name: String,
    pub tax_code: String,
    pub address: String,
}

/// What the clerk typed, shown again with the error (files must be chosen again: a browser
/// never pre-fills a file input).
#[derive(Default)]
pub struct Values {
    direction: String,
    channel: String,
    paper_delivery: String,
    subject: String,
    received_date: String,
    received_time: String,
    sender_protocol_number: String,
    sender_protocol_date: String,
    paper_attachments: String,
    correspondents: Vec<(String, String, String)>,
    classification: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "desk_new.html")]
pub struct DeskPage {
    layout: Layout,
    directions: Vec<Choice>,
    channels: Vec<Choice>,
    deliveries: Vec<Choice>,
    subject: String,
    received_date: String,
    received_time: String,
    sender_protocol_number: String,
    sender_protocol_date: String,
    paper_attachments: String,
    correspondents: Vec<CorrespondentRow>,
    /// The classes of the titolario in force today (empty: none imported yet).
    classes: Vec<super::titolario::ClassOption>,
    error: Option<String>,
    /// The form field at fault, to point the clerk at it.
    error_field: String,
    had_files: bool,
    max_mb: usize,
}

fn page(
    user: &CurrentUser,
    v: Values,
    classes: Vec<super::titolario::ClassOption>,
    error: Option<(String, String)>,
    had_files: bool,
) -> DeskPage {
    let direction = if v.direction.is_empty() { "arrivo" } else { v.direction.as_str() };
    let channel = if v.channel.is_empty() { "carta" } else { v.channel.as_str() };
    let delivery = if v.paper_delivery.is_empty() { "consegna_a_mano" } else { v.paper_delivery.as_str() };
    let directions = Direction::ALL
        .into_iter()
        .map(|d| Choice {
            value: d.as_it(),
            label: match d {
                Direction::Incoming => "In arrivo",
                Direction::Outgoing => "In partenza",
                Direction::Internal => "Interna",
            },
            selected: d.as_it() == direction,
        })
        .collect();
    let channels = Channel::ALL
        .into_iter()
        .map(|c| Choice { value: c.as_str(), label: channel_it(c.as_str()), selected: c.as_str() == channel })
        .collect();
    let deliveries = PaperDelivery::ALL
        .into_iter()
        .map(|p| Choice { value: p.as_str(), label: paper_delivery_it(p.as_str()), selected: p.as_str() == delivery })
        .collect();
    let correspondents = (0..CORRESPONDENT_ROWS)
        .map(|i| {
            let (name, tax_code, address) = v.correspondents.get(i).cloned().unwrap_or_default();
            CorrespondentRow { n: i + 1, name, tax_code, address }
        })
        .collect();
    let (error, error_field) = match error {
        Some((field, message)) => (Some(message), field),
        None => (None, String::new()),
    };
    DeskPage {
        layout: Layout::new(user, "nuova", "Nuova registrazione"),
        directions,
        channels,
        deliveries,
        subject: v.subject,
        received_date: v.received_date,
        received_time: v.received_time,
        sender_protocol_number: v.sender_protocol_number,
        sender_protocol_date: v.sender_protocol_date,
        paper_attachments: if v.paper_attachments.is_empty() { "0".into() } else { v.paper_attachments },
        correspondents,
        classes,
        error,
        error_field,
        had_files,
        max_mb: desk::MAX_DOCUMENTS_BYTES >> 20,
    }
}

pub async fn form(State(state): State<AppState>, user: CurrentUser) -> Result<DeskPage, AppError> {
    let classes = super::titolario::desk_options(&state, "").await?;
    Ok(page(&user, Values::default(), classes, None, false))
}

/// The form's label of a field named as the domain names it, for the error message.
fn label_it(field: &str) -> String {
    let (row, rest) = match field.strip_prefix("correspondents[").and_then(|r| r.split_once("].")) {
        Some((n, f)) => (n.parse::<usize>().ok().map(|n| n + 1), f),
        None => (None, field),
    };
    let doc = field.strip_prefix("documents[").and_then(|r| r.split_once(']')).and_then(|(n, _)| n.parse::<usize>().ok());
    let base = match rest {
        "subject" => "Oggetto",
        "paper_delivery" => "Modalità di consegna",
        "paper_attachments" => "Allegati cartacei",
        "received_at" => "Data di ricezione",
        "sender_protocol_number" => "Protocollo del mittente",
        "sender_protocol_date" => "Data del protocollo del mittente",
        "correspondents" => "Corrispondenti",
        "name" => "Nome o denominazione",
        "tax_code" => "Codice fiscale o partita IVA",
        "address" => "Indirizzo o PEC",
        "documents" => "Documenti",
        "classification" => "Classificazione",
        _ if doc.is_some() => "Documento",
        other => other,
    };
    match (row, doc) {
        (Some(n), _) => format!("Corrispondente {n}, {base}"),
        (None, Some(n)) => format!("{base} {}", n + 1),
        _ => base.to_owned(),
    }
}

/// Reads the multipart form: its text fields and its files.
async fn read_form(mut form: Multipart) -> Result<(Values, Vec<Upload>), AppError> {
    let unreadable = |_| AppError::BadRequest("Il modulo inviato non si può leggere (troppo grande o interrotto).".into());
    let mut v = Values { correspondents: vec![Default::default(); CORRESPONDENT_ROWS], ..Values::default() };
    let mut uploads = Vec::new();
    while let Some(field) = form.next_field().await.map_err(unreadable)? {
        let name = field.name().unwrap_or("").to_owned();
        if name == "documenti" {
            let file_name = field.file_name().unwrap_or("").to_owned();
            let media_type = field.content_type().unwrap_or("application/octet-stream").to_owned();
            let content = field.bytes().await.map_err(unreadable)?.to_vec();
            // An empty file input still sends one part without a name or bytes.
            if !file_name.is_empty() || !content.is_empty() {
                uploads.push(Upload { name: file_name, media_type, content });
            }
            continue;
        }
        let text = field.text().await.map_err(unreadable)?;
        crate::text::check_field(&name, &text)?;
        let row = |prefix: &str| name.strip_prefix(prefix).and_then(|n| n.parse::<usize>().ok()).filter(|n| (1..=CORRESPONDENT_ROWS).contains(n));
        match name.as_str() {
            "direzione" => v.direction = text,
            "canale" => v.channel = text,
            "modalita" => v.paper_delivery = text,
            "oggetto" => v.subject = text,
            "data_ricezione" => v.received_date = text,
            "ora_ricezione" => v.received_time = text,
            "protocollo_mittente" => v.sender_protocol_number = text,
            "data_protocollo_mittente" => v.sender_protocol_date = text,
            "allegati_cartacei" => v.paper_attachments = text,
            "classe" => v.classification = text,
            _ => {
                if let Some(n) = row("nome_") {
                    v.correspondents[n - 1].0 = text;
                } else if let Some(n) = row("cf_") {
                    v.correspondents[n - 1].1 = text;
                } else if let Some(n) = row("indirizzo_") {
                    v.correspondents[n - 1].2 = text;
                }
            }
        }
    }
    Ok((v, uploads))
}

/// The form's values as the desk's input; a value the form itself cannot read is named.
fn input(v: &Values, uploads: Vec<Upload>, tz: chrono_tz::Tz) -> Result<DeskInput, FieldError> {
    let direction = Direction::parse_it(v.direction.trim()).ok_or_else(|| FieldError::new("direction", "scelga la direzione"))?;
    let channel = Channel::parse(v.channel.trim()).ok_or_else(|| FieldError::new("channel", "scelga il canale"))?;
    // The delivery select is always sent; it only means something for paper.
    let paper_delivery = match channel {
        Channel::Carta => Some(
            PaperDelivery::parse(v.paper_delivery.trim())
                .ok_or_else(|| FieldError::new("paper_delivery", "scelga la modalità di consegna"))?,
        ),
        _ => None,
    };
    let received_at = match (v.received_date.trim(), v.received_time.trim()) {
        ("", "") => None,
        ("", _) => return Err(FieldError::new("received_at", "indichi anche la data, non solo l'ora")),
        (d, t) => {
            let date = chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .map_err(|_| FieldError::new("received_at", format!("«{d}» non è una data valida")))?;
            let time = if t.is_empty() {
                chrono::NaiveTime::MIN
            } else {
                chrono::NaiveTime::parse_from_str(t, "%H:%M")
                    .map_err(|_| FieldError::new("received_at", format!("«{t}» non è un'ora valida (HH:MM)")))?
            };
            let local = tz
                .from_local_datetime(&date.and_time(time))
                .earliest()
                .ok_or_else(|| FieldError::new("received_at", "ora inesistente (cambio dell'ora legale)"))?;
            Some(local.with_timezone(&chrono::Utc))
        }
    };
    let sender_protocol_date = match v.sender_protocol_date.trim() {
        "" => None,
        d => Some(
            chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .map_err(|_| FieldError::new("sender_protocol_date", format!("«{d}» non è una data valida")))?,
        ),
    };
    let paper_attachments = match v.paper_attachments.trim() {
        "" => 0,
        n => n.parse::<i64>().map_err(|_| FieldError::new("paper_attachments", format!("«{n}» non è un numero")))?,
    };
    let correspondents = v
        .correspondents
        .iter()
        .filter(|(n, c, a)| !(n.trim().is_empty() && c.trim().is_empty() && a.trim().is_empty()))
        .map(|(name, tax_code, address)| CorrespondentInput {
            name: name.clone(),
            tax_code: Some(tax_code.clone()),
            address: Some(address.clone()),
        })
        .collect();
    Ok(DeskInput {
        direction,
        channel,
        paper_delivery,
        subject: v.subject.clone(),
        received_at,
        sender_protocol_number: Some(v.sender_protocol_number.clone()),
        sender_protocol_date,
        correspondents,
        paper_attachments,
        documents: uploads,
        classification: Some(v.classification.clone()).filter(|c| !c.trim().is_empty()),
    })
}

pub async fn create(State(state): State<AppState>, user: CurrentUser, form: Multipart) -> Result<Response, AppError> {
    let (values, uploads) = read_form(form).await?;
    let had_files = !uploads.is_empty();
    let register = state.register();
    let classes = super::titolario::desk_options(&state, &values.classification).await?;
    let refuse = |values: Values, e: FieldError| {
        let message = format!("{}: {}", label_it(&e.field), e.message);
        (StatusCode::UNPROCESSABLE_ENTITY, page(&user, values, classes, Some((e.field, message)), had_files)).into_response()
    };
    let input = match input(&values, uploads, register.timezone) {
        Ok(i) => i,
        Err(e) => return Ok(refuse(values, e)),
    };
    let ctx = Desk { pool: state.pool(), blobs: state.blobs(), register, checker: state.desk_checker(), clock: &SystemClock };
    match desk::register(&ctx, &user.actor()?, input, None).await {
        Ok(outcome) => {
            let id = outcome.registration().id;
            Ok(Redirect::to(&format!("/registrazioni/{id}?esito=registrata")).into_response())
        }
        Err(sigillo_protocol::Error::Invalid(e)) => Ok(refuse(values, e)),
        Err(e) => Err(e.into()),
    }
}
