//! Registrations that do not come from the PEC intake: a paper letter brought to the desk, an
//! ordinary e-mail, a fax, a document the comune sends out or an internal one, registered by
//! the protocol office in the dashboard or by a back-office system through the API.
//!
//! They take the next number of the same register as the PEC intake, through the same
//! function ([`sigillo_store::register::register_via`]): one numbering, one transaction, one
//! audit entry. Everything the caller gives is checked here first ([`validate`]), so a bad
//! field is refused with its name before any number is taken. The documents are hashed,
//! stored in the blob store (content-addressed and write-once, so storing them before the
//! transaction costs nothing if it rolls back) and their signatures checked by the same
//! classifier that judges a PEC's attachments (detached `.p7s` paired the same way).
//!
//! A request through the API carries an idempotency key ([`Idempotency`]): the same key again
//! gives back the registration it made, never a second number.

pub mod tax_code;

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use sigillo_pec::{Checker, ValidationTime};
use sigillo_store::PgPool;
use sigillo_store::blob::BlobStore;
use sigillo_store::idempotency;
use sigillo_store::register::{
    self, Actor, Channel, Direction, DocumentRole, NewCorrespondent, NewDocument, NewRegistration, PaperDelivery,
    Provenance, Register, Registration, Sha256,
};

use crate::Error;
use crate::clock::Clock;
use crate::titolario;

/// Longest subject (oggetto) accepted.
pub const MAX_SUBJECT_CHARS: usize = 2000;
/// Longest correspondent name.
pub const MAX_NAME_CHARS: usize = 300;
/// Longest address (postal or e-mail).
pub const MAX_ADDRESS_CHARS: usize = 500;
pub const MAX_CORRESPONDENTS: usize = 100;
pub const MAX_DOCUMENTS: usize = 50;
/// Largest total size of the documents of one registration.
pub const MAX_DOCUMENTS_BYTES: usize = 50 * 1024 * 1024;
/// Longest document name.
pub const MAX_FILE_NAME_CHARS: usize = 255;
/// Attachments on paper: a count, not an inventory.
pub const MAX_PAPER_ATTACHMENTS: i64 = 9999;

/// A correspondent as typed or sent, not yet checked.
#[derive(Debug, Clone, Default)]
pub struct CorrespondentInput {
    pub name: String,
    pub tax_code: Option<String>,
    pub address: Option<String>,
}

/// A document as uploaded or sent.
#[derive(Debug, Clone)]
pub struct Upload {
    pub name: String,
    pub media_type: String,
    pub content: Vec<u8>,
}

/// A registration as the desk form or the API gives it.
#[derive(Debug, Clone)]
pub struct DeskInput {
    pub direction: Direction,
    pub channel: Channel,
    pub paper_delivery: Option<PaperDelivery>,
    pub subject: String,
    /// When the document reached the comune (arrivo only).
    pub received_at: Option<DateTime<Utc>>,
    /// The sender's own protocol number and date (art. 53 e), when the document bears them.
    pub sender_protocol_number: Option<String>,
    pub sender_protocol_date: Option<NaiveDate>,
    pub correspondents: Vec<CorrespondentInput>,
    pub paper_attachments: i64,
    pub documents: Vec<Upload>,
    /// The flat code of a class of the titolario in force (`VI.3`), when given at creation.
    pub classification: Option<String>,
}

/// A field that cannot be registered: its name as the API spells it (`subject`,
/// `correspondents[0].tax_code`, `documents[1].content`) and the reason, in Italian.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError { field: field.into(), message: message.into() }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// A single line of text: trimmed, without control characters, at most `max` characters.
/// `None` when blank.
fn line(field: &str, value: &str, max: usize) -> Result<Option<String>, FieldError> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(None);
    }
    if v.chars().any(char::is_control) {
        return Err(FieldError::new(field, "contiene caratteri di controllo (a capo, tabulazioni o simili)"));
    }
    let n = v.chars().count();
    if n > max {
        return Err(FieldError::new(field, format!("è lungo {n} caratteri, il massimo è {max}")));
    }
    Ok(Some(v.to_owned()))
}

/// A plausible e-mail address (PEC or ordinary): one `@`, a local part, a domain with a dot.
pub(crate) fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else { return false };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(|c| c.is_whitespace() || matches!(c, '<' | '>' | ',' | ';' | '"'))
}

/// The media type's essence (`type/subtype`), lower case; parameters are dropped.
fn media_type(field: &str, value: &str) -> Result<String, FieldError> {
    let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let token = |s: &str| {
        !s.is_empty() && s.len() <= 127 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    match essence.split_once('/') {
        Some((t, s)) if token(t) && token(s) => Ok(essence),
        _ => Err(FieldError::new(field, format!("«{}» non è un tipo MIME (per esempio application/pdf)", value.trim()))),
    }
}

fn file_name(field: &str, value: &str) -> Result<String, FieldError> {
    let name = line(field, value, MAX_FILE_NAME_CHARS)?.ok_or_else(|| FieldError::new(field, "manca il nome del file"))?;
    if name.contains(['/', '\\']) || name == "." || name == ".." {
        return Err(FieldError::new(field, "il nome del file non può contenere / o \\"));
    }
    Ok(name)
}

/// What a checked input registers, documents aside (they are processed after).
#[derive(Debug, Clone)]
pub struct Checked {
    pub record: NewRegistration,
    pub via: Provenance,
}

/// Checks everything the caller gave, at time `now`; the first fault found is returned with
/// its field. Nothing is written.
pub fn validate(input: &DeskInput, now: DateTime<Utc>) -> Result<Checked, FieldError> {
    let subject = line("subject", &input.subject, MAX_SUBJECT_CHARS)?
        .ok_or_else(|| FieldError::new("subject", "l'oggetto è obbligatorio"))?;

    match (input.channel, input.paper_delivery) {
        (Channel::Carta, None) => {
            return Err(FieldError::new(
                "paper_delivery",
                "per un documento cartaceo indichi la modalità: consegna_a_mano, posta o raccomandata",
            ));
        }
        (Channel::Carta, Some(_)) | (_, None) => {}
        (_, Some(_)) => {
            return Err(FieldError::new("paper_delivery", "la modalità di consegna vale solo per il canale carta"));
        }
    }
    if !(0..=MAX_PAPER_ATTACHMENTS).contains(&input.paper_attachments) {
        return Err(FieldError::new("paper_attachments", format!("deve essere un numero da 0 a {MAX_PAPER_ATTACHMENTS}")));
    }
    let paper_attachments = i32::try_from(input.paper_attachments).unwrap_or(0);

    if let Some(at) = input.received_at {
        if input.direction != Direction::Incoming {
            return Err(FieldError::new("received_at", "la data di ricezione vale solo per i documenti in arrivo"));
        }
        if at > now + chrono::Duration::minutes(5) {
            return Err(FieldError::new("received_at", "la data di ricezione è nel futuro"));
        }
        if at.date_naive() < NaiveDate::from_ymd_opt(1990, 1, 1).unwrap_or(NaiveDate::MIN) {
            return Err(FieldError::new("received_at", "la data di ricezione è precedente al 1990"));
        }
    }
    let sender_protocol_number = line("sender_protocol_number", input.sender_protocol_number.as_deref().unwrap_or(""), 100)?;
    if let Some(d) = input.sender_protocol_date
        && d > now.date_naive()
    {
        return Err(FieldError::new("sender_protocol_date", "la data del protocollo del mittente è nel futuro"));
    }

    if input.correspondents.len() > MAX_CORRESPONDENTS {
        return Err(FieldError::new("correspondents", format!("al massimo {MAX_CORRESPONDENTS} corrispondenti")));
    }
    if input.correspondents.is_empty() && input.direction != Direction::Internal {
        let who = if input.direction == Direction::Incoming { "il mittente" } else { "almeno un destinatario" };
        return Err(FieldError::new("correspondents", format!("indichi {who}")));
    }
    let e_mail = matches!(input.channel, Channel::Pec | Channel::Peo);
    let mut correspondents = Vec::with_capacity(input.correspondents.len());
    for (i, c) in input.correspondents.iter().enumerate() {
        let field = |f: &str| format!("correspondents[{i}].{f}");
        let name = line(&field("name"), &c.name, MAX_NAME_CHARS)?
            .ok_or_else(|| FieldError::new(field("name"), "manca il nome del corrispondente"))?;
        let tax_code = match c.tax_code.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            None => None,
            Some(t) => Some(tax_code::validate(t).map_err(|m| FieldError::new(field("tax_code"), m))?.0),
        };
        let address = line(&field("address"), c.address.as_deref().unwrap_or(""), MAX_ADDRESS_CHARS)?;
        match &address {
            Some(a) if (e_mail || a.contains('@')) && !is_email(a) => {
                return Err(FieldError::new(field("address"), format!("«{a}» non è un indirizzo e-mail valido")));
            }
            None if e_mail => {
                return Err(FieldError::new(field("address"), "per PEC ed e-mail indichi l'indirizzo di posta del corrispondente"));
            }
            _ => {}
        }
        correspondents.push(NewCorrespondent { name, tax_code, address });
    }

    if input.documents.len() > MAX_DOCUMENTS {
        return Err(FieldError::new("documents", format!("al massimo {MAX_DOCUMENTS} documenti")));
    }
    let mut total = 0_usize;
    let mut names = std::collections::HashSet::new();
    for (i, d) in input.documents.iter().enumerate() {
        let name = file_name(&format!("documents[{i}].name"), &d.name)?;
        if !names.insert(name.to_lowercase()) {
            return Err(FieldError::new(format!("documents[{i}].name"), format!("«{name}» è già tra i documenti")));
        }
        media_type(&format!("documents[{i}].media_type"), &d.media_type)?;
        if d.content.is_empty() {
            return Err(FieldError::new(format!("documents[{i}].content"), "il documento è vuoto"));
        }
        total = total.saturating_add(d.content.len());
    }
    if total > MAX_DOCUMENTS_BYTES {
        return Err(FieldError::new("documents", format!("i documenti superano {} MB in totale", MAX_DOCUMENTS_BYTES >> 20)));
    }

    let first = correspondents.first();
    Ok(Checked {
        record: NewRegistration {
            direction: input.direction,
            correspondent_name: first.map(|c| c.name.clone()),
            correspondent_address: first.and_then(|c| c.address.clone()),
            subject,
            sender_protocol_number,
            sender_protocol_date: input.sender_protocol_date,
            received_at: input.received_at,
            inbound_message_id: None,
            documents: Vec::new(),
        },
        via: Provenance { channel: input.channel, paper_delivery: input.paper_delivery, paper_attachments, correspondents },
    })
}

/// An API request's idempotency key, with the SHA-256 of the request it came with.
#[derive(Debug, Clone)]
pub struct Idempotency {
    pub token_id: i64,
    pub key: String,
    pub request_sha256: Sha256,
}

/// What the desk needs.
pub struct Desk<'a> {
    pub pool: &'a PgPool,
    pub blobs: &'a BlobStore,
    pub register: &'a Register,
    /// The classifier in use ([`crate::trust::SharedChecker::current`]): the anchors document
    /// signatures are judged against. Without it signatures are still read and checked, and
    /// none reaches a trusted anchor (INDETERMINATE), which the record then shows.
    pub checker: Option<Arc<Checker>>,
    pub clock: &'a dyn Clock,
}

/// A registration made now, or the one an earlier request with the same key made.
#[derive(Debug, Clone)]
pub enum Outcome {
    Created(Registration),
    Replayed(Registration),
}

impl Outcome {
    pub fn registration(&self) -> &Registration {
        match self {
            Outcome::Created(r) | Outcome::Replayed(r) => r,
        }
    }
}

/// Registers `input`: checks it, stores and checks its documents, then one transaction takes
/// the number and writes the registration, its correspondents, documents and audit entry (and
/// the idempotency key, when given).
pub async fn register(ctx: &Desk<'_>, actor: &Actor, input: DeskInput, idem: Option<&Idempotency>) -> Result<Outcome, Error> {
    let now = ctx.clock.now();
    let Checked { mut record, via } = validate(&input, now).map_err(Error::Invalid)?;
    let classification = input.classification.as_deref().map(str::trim).filter(|c| !c.is_empty()).map(str::to_owned);
    if let Some(idem) = idem {
        // The common retry: answered without touching the documents again.
        let mut conn = ctx.pool.acquire().await.map_err(sigillo_store::Error::from)?;
        if let Some(used) = idempotency::find(&mut conn, idem.token_id, &idem.key).await? {
            return replay(&mut conn, ctx.register, idem, &used).await;
        }
    }
    if let Some(code) = &classification {
        // Refused before any document is stored or number taken; checked again below
        // against the registration's own day.
        let mut conn = ctx.pool.acquire().await.map_err(sigillo_store::Error::from)?;
        titolario::resolve(&mut conn, ctx.register, titolario::day_of(ctx.register, now), code, "classification").await?;
    }
    record.documents = documents(ctx, input.documents, now).await?;

    let mut tx = ctx.pool.begin().await.map_err(sigillo_store::Error::from)?;
    if let Some(idem) = idem {
        // Requests with one key queue here; the second one finds what the first committed.
        idempotency::lock(&mut tx, idem.token_id, &idem.key).await?;
        if let Some(used) = idempotency::find(&mut tx, idem.token_id, &idem.key).await? {
            return replay(&mut tx, ctx.register, idem, &used).await;
        }
    }
    let registration = register::register_via(&mut tx, ctx.register, actor, &record, &via, None).await?;
    if let Some(code) = &classification {
        // An error here rolls the registration back with its number: no gap.
        let day = titolario::day_of(ctx.register, registration.registered_at);
        let entry = titolario::resolve(&mut tx, ctx.register, day, code, "classification").await?;
        sigillo_store::titolario::classify(&mut tx, registration.id, entry.id, actor, None).await?;
    }
    if let Some(idem) = idem {
        idempotency::record(&mut tx, idem.token_id, &idem.key, &idem.request_sha256, registration.id).await?;
    }
    tx.commit().await.map_err(sigillo_store::Error::from)?;
    tracing::info!(registration.id = %registration.id, channel = via.channel.as_str(), "registered at the desk");
    Ok(Outcome::Created(registration))
}

async fn replay(
    conn: &mut sqlx::PgConnection,
    register: &Register,
    idem: &Idempotency,
    used: &idempotency::Used,
) -> Result<Outcome, Error> {
    if used.request_sha256 != idem.request_sha256 {
        return Err(Error::IdempotencyConflict(idem.key.clone()));
    }
    Ok(Outcome::Replayed(register::by_id(conn, register, used.registration_id).await?))
}

/// Hashes and stores the documents and checks their signatures, on a blocking thread; the
/// first is the primary document.
async fn documents(ctx: &Desk<'_>, uploads: Vec<Upload>, now: DateTime<Utc>) -> Result<Vec<NewDocument>, Error> {
    if uploads.is_empty() {
        return Ok(Vec::new());
    }
    let blobs = ctx.blobs.clone();
    let checker = ctx.checker.clone().unwrap_or_else(|| Arc::new(Checker::new(now.into())));
    tokio::task::spawn_blocking(move || -> Result<Vec<NewDocument>, Error> {
        let files = uploads.into_iter().map(|u| (u.name, u.media_type, u.content)).collect();
        let attachments = sigillo_pec::attachments::from_files(files);
        let reports = checker.attachment_reports_at(&attachments, ValidationTime::now(now));
        let mut out = Vec::with_capacity(reports.len());
        for (i, report) in reports.into_iter().enumerate() {
            let a = &report.attachment;
            let sha256 = blobs.put(&a.content)?;
            out.push(NewDocument {
                name: a.name.clone().unwrap_or_else(|| format!("documento-{}", i + 1)),
                media_type: a.media_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase(),
                size_bytes: i64::try_from(a.size).unwrap_or(i64::MAX),
                sha256,
                role: if i == 0 { DocumentRole::Primary } else { DocumentRole::Attachment },
                signature_report: report.signature.as_ref().and_then(|s| serde_json::to_value(s).ok()),
            });
        }
        Ok(out)
    })
    .await
    .map_err(|e| Error::Task(format!("document check interrupted: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> DeskInput {
        DeskInput {
            direction: Direction::Incoming,
            channel: Channel::Carta,
            paper_delivery: Some(PaperDelivery::Raccomandata),
            subject: "Richiesta di accesso agli atti".into(),
            received_at: None,
            sender_protocol_number: None,
            sender_protocol_date: None,
            correspondents: vec![CorrespondentInput {
                name: "Mario Rossi".into(),
                tax_code: Some("rssmra85t10a562s".into()),
                address: Some("Via Roma 1, 00100 Roma".into()),
            }],
            paper_attachments: 2,
            documents: vec![Upload { name: "lettera.pdf".into(), media_type: "application/pdf".into(), content: b"%PDF".to_vec() }],
            classification: None,
        }
    }

    fn now() -> DateTime<Utc> {
        "2026-12-06T10:00:00Z".parse().unwrap()
    }

    fn field_of(i: DeskInput) -> String {
        validate(&i, now()).unwrap_err().field
    }

    #[test]
    fn a_paper_letter_is_checked_into_its_record() {
        let c = validate(&input(), now()).unwrap();
        assert_eq!(c.record.correspondent_name.as_deref(), Some("Mario Rossi"));
        assert_eq!(c.via.correspondents[0].tax_code.as_deref(), Some("RSSMRA85T10A562S"));
        assert_eq!(c.via.paper_attachments, 2);
        assert_eq!(c.via.paper_delivery, Some(PaperDelivery::Raccomandata));
    }

    #[test]
    fn each_bad_field_is_named() {
        assert_eq!(field_of(DeskInput { subject: "  ".into(), ..input() }), "subject");
        assert_eq!(field_of(DeskInput { paper_delivery: None, ..input() }), "paper_delivery");
        assert_eq!(field_of(DeskInput { channel: Channel::Fax, ..input() }), "paper_delivery");
        assert_eq!(field_of(DeskInput { paper_attachments: -1, ..input() }), "paper_attachments");
        assert_eq!(field_of(DeskInput { correspondents: vec![], ..input() }), "correspondents");
        let mut i = input();
        i.correspondents[0].tax_code = Some("RSSMRA85T10A562T".into());
        assert_eq!(field_of(i), "correspondents[0].tax_code");
        let mut i = input();
        i.correspondents[0].name = String::new();
        assert_eq!(field_of(i), "correspondents[0].name");
        let mut i = DeskInput { channel: Channel::Pec, paper_delivery: None, ..input() };
        i.correspondents[0].address = Some("non-una-mail".into());
        assert_eq!(field_of(i), "correspondents[0].address");
        let mut i = input();
        i.documents[0].content.clear();
        assert_eq!(field_of(i), "documents[0].content");
        let mut i = input();
        i.documents[0].media_type = "pdf".into();
        assert_eq!(field_of(i), "documents[0].media_type");
        let mut i = input();
        i.documents[0].name = "../x.pdf".into();
        assert_eq!(field_of(i), "documents[0].name");
        let future = now() + chrono::Duration::days(1);
        assert_eq!(field_of(DeskInput { received_at: Some(future), ..input() }), "received_at");
        assert_eq!(
            field_of(DeskInput { direction: Direction::Outgoing, received_at: Some(now()), ..input() }),
            "received_at"
        );
    }

    #[test]
    fn an_internal_document_needs_no_correspondent() {
        let i = DeskInput { direction: Direction::Internal, channel: Channel::Altro, paper_delivery: None, correspondents: vec![], ..input() };
        assert!(validate(&i, now()).is_ok());
    }
}
