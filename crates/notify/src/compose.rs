//! The Italian text and HTML of receipts and notices (askama templates), and the MIME message
//! (lettre's builder).
//!
//! Every message carries `Auto-Submitted: auto-replied` (RFC 3834) so that autoresponders and
//! other protocol systems do not answer it, `X-Sigillo-Kind: ricevuta|notifica`, our own
//! `Message-ID` (`<sigillo.{uuid}@{domain of the From}>`; provider receipts quote it back in
//! daticert `msgid`) and, when the citizen's Message-ID is known, `In-Reply-To`/`References`.
//! [`receipt`] and [`notice`] stamp the message with the current time and a fresh Message-ID;
//! the `*_with` variants take a [`Stamp`] so that tests get the same bytes every time.

use std::time::SystemTime;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use lettre::Message;
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart};

use crate::Error;
use crate::model::{Composed, Context, Ente, Notice, NoticeReason, Office, Outgoing, Receipt};

/// The date and the Message-ID of one outgoing message.
#[derive(Debug, Clone)]
pub struct Stamp {
    pub date: DateTime<Utc>,
    /// Without angle brackets.
    pub message_id: String,
}

impl Stamp {
    /// Now, and `sigillo.{random UUID}@{domain of ctx.from}`.
    pub fn new(ctx: &Context) -> Stamp {
        let domain = ctx.from.rsplit_once('@').map(|(_, d)| d.trim()).filter(|d| !d.is_empty()).unwrap_or("sigillo.invalid");
        Stamp { date: Utc::now(), message_id: format!("sigillo.{}@{domain}", uuid::Uuid::new_v4().simple()) }
    }
}

/// "Ricevuta di protocollazione n. 0000123 del 22/11/2026 - oggetto".
pub fn receipt_subject(ctx: &Context, receipt: &Receipt) -> String {
    let date = receipt.registered_at.with_timezone(&ctx.ente.timezone).format("%d/%m/%Y");
    one_line(&format!("Ricevuta di protocollazione n. {:07} del {date} - {}", receipt.number, subject_or_none(&receipt.subject)))
}

/// "Comunicazione di mancata protocollazione - oggetto".
pub fn notice_subject(notice: &Notice) -> String {
    one_line(&format!("Comunicazione di mancata protocollazione - {}", subject_or_none(&notice.subject)))
}

/// The "ricevuta di protocollazione", with `Segnatura.xml` attached when given.
pub fn receipt(ctx: &Context, receipt: &Receipt, segnatura_xml: Option<&[u8]>) -> Result<Composed, Error> {
    receipt_with(ctx, receipt, segnatura_xml, &Stamp::new(ctx))
}

/// [`receipt`] with a given date and Message-ID.
pub fn receipt_with(
    ctx: &Context,
    receipt: &Receipt,
    segnatura_xml: Option<&[u8]>,
    stamp: &Stamp,
) -> Result<Composed, Error> {
    let tz = ctx.ente.timezone;
    let registered = receipt.registered_at.with_timezone(&tz);
    let delivered = receipt.pec_delivered_at.map(|d| italian_date_time(d, tz));
    let view = ReceiptView {
        ente: &ctx.ente,
        office: &ctx.office,
        number: format!("{:07}", receipt.number),
        date: registered.format("%d/%m/%Y").to_string(),
        time: registered.format("%H:%M").to_string(),
        segnatura: &receipt.segnatura,
        oggetto: subject_or_none(&receipt.subject),
        presented: delivered.clone().unwrap_or_else(|| italian_date_time(receipt.registered_at, tz)),
        delivered,
        pec_identificativo: receipt.pec_identificativo.as_deref(),
        documents: receipt
            .documents
            .iter()
            .map(|d| DocumentView { name: &d.name, primary: d.primary, size: italian_size(d.size), sha256: &d.sha256 })
            .collect(),
        has_segnatura: segnatura_xml.is_some(),
    };
    let text = render(&ReceiptText(&view), "ricevuta.txt")?;
    let html = render(&ReceiptHtml(&view), "ricevuta.html")?;
    let alternative = MultiPart::alternative_plain_html(text, html);
    let body = match segnatura_xml {
        Some(xml) => MultiPart::mixed().multipart(alternative).singlepart(
            Attachment::new(crate::segnatura::FILE_NAME.to_owned())
                .body(xml.to_vec(), content_type(crate::segnatura::MEDIA_TYPE)?),
        ),
        None => alternative,
    };
    message(ctx, &[receipt.to.as_str()], receipt_subject(ctx, receipt), receipt.in_reply_to.as_deref(), Kind::Ricevuta, stamp, body)
}

/// The "comunicazione di mancata protocollazione".
pub fn notice(ctx: &Context, notice: &Notice) -> Result<Composed, Error> {
    notice_with(ctx, notice, &Stamp::new(ctx))
}

/// [`notice`] with a given date and Message-ID.
pub fn notice_with(ctx: &Context, notice: &Notice, stamp: &Stamp) -> Result<Composed, Error> {
    let view = NoticeView {
        ente: &ctx.ente,
        office: &ctx.office,
        oggetto: subject_or_none(&notice.subject),
        received: notice.received_at.map(|d| italian_date_time(d, ctx.ente.timezone)),
        reasons: notice.reasons.iter().map(|r| reason_text(ctx, r)).collect(),
    };
    let text = render(&NoticeText(&view), "notifica.txt")?;
    let html = render(&NoticeHtml(&view), "notifica.html")?;
    message(
        ctx,
        &[notice.to.as_str()],
        notice_subject(notice),
        notice.in_reply_to.as_deref(),
        Kind::Notifica,
        stamp,
        MultiPart::alternative_plain_html(text, html),
    )
}

/// "{segnatura} - oggetto": the subject of an outgoing registration.
pub fn outgoing_subject(outgoing: &Outgoing) -> String {
    one_line(&format!("{} - {}", outgoing.segnatura, subject_or_none(&outgoing.subject)))
}

/// A registration in partenza as a message to one recipient: a short text, the
/// registration's documents and, when given, `Segnatura.xml`. Not `Auto-Submitted`: it is
/// the comune's own correspondence, which the recipient's protocol is expected to register.
pub fn outgoing(ctx: &Context, outgoing: &Outgoing, segnatura_xml: Option<&[u8]>) -> Result<Composed, Error> {
    outgoing_with(ctx, outgoing, segnatura_xml, &Stamp::new(ctx))
}

/// [`outgoing`] with a given date and Message-ID.
pub fn outgoing_with(ctx: &Context, outgoing: &Outgoing, segnatura_xml: Option<&[u8]>, stamp: &Stamp) -> Result<Composed, Error> {
    let registered = outgoing.registered_at.with_timezone(&ctx.ente.timezone);
    let view = OutgoingView {
        ente: &ctx.ente,
        office: &ctx.office,
        number: format!("{:07}", outgoing.number),
        date: registered.format("%d/%m/%Y").to_string(),
        segnatura: &outgoing.segnatura,
        oggetto: subject_or_none(&outgoing.subject),
        documents: outgoing
            .files
            .iter()
            .map(|f| DocumentView {
                name: &f.document.name,
                primary: f.document.primary,
                size: italian_size(f.document.size),
                sha256: &f.document.sha256,
            })
            .collect(),
        has_segnatura: segnatura_xml.is_some(),
    };
    let text = render(&OutgoingText(&view), "partenza.txt")?;
    let mut body = MultiPart::mixed().singlepart(lettre::message::SinglePart::plain(text));
    for f in &outgoing.files {
        let media_type = f.document.media_type.as_deref().unwrap_or("application/octet-stream");
        let ct = content_type(media_type).or_else(|_| content_type("application/octet-stream"))?;
        body = body.singlepart(Attachment::new(f.document.name.clone()).body(f.content.clone(), ct));
    }
    if let Some(xml) = segnatura_xml {
        body = body.singlepart(
            Attachment::new(crate::segnatura::FILE_NAME.to_owned()).body(xml.to_vec(), content_type(crate::segnatura::MEDIA_TYPE)?),
        );
    }
    let to: Vec<&str> = outgoing.to.iter().map(String::as_str).collect();
    message(ctx, &to, outgoing_subject(outgoing), None, Kind::Partenza, stamp, body)
}

/// One reason of a notice in plain Italian.
#[derive(Debug, Clone)]
pub struct ReasonText {
    pub code: String,
    /// What happened, in the citizen's terms.
    pub explanation: String,
    /// How to get the message registered.
    pub what_to_do: Option<String>,
    /// The classifier's detail, shown after the explanation.
    pub detail: Option<String>,
    /// "Motivo" (why a signature failed) or "Dettaglio".
    pub detail_label: &'static str,
}

/// The Italian explanation of a reason code; unknown codes get a generic sentence.
pub fn reason_text(ctx: &Context, reason: &NoticeReason) -> ReasonText {
    let pec = &ctx.from;
    let file = reason.file.as_deref().map(|f| format!("«{f}»"));
    let (explanation, what_to_do, detail_label) = match reason.code.as_str() {
        "NOT_PEC" => (
            "Il messaggio non è arrivato come posta elettronica certificata (PEC): per esempio è stato \
             inviato da una casella di posta elettronica ordinaria."
                .to_owned(),
            Some(format!(
                "invii di nuovo la comunicazione da una casella PEC all'indirizzo PEC del Comune {pec}."
            )),
            "Dettaglio",
        ),
        "UNSIGNED_ATTACHMENT" => (
            match &file {
                Some(f) => format!("Il file {f} non è firmato digitalmente."),
                None => "Un file allegato non è firmato digitalmente.".to_owned(),
            },
            Some(format!(
                "firmi il file con una firma digitale o con un'altra firma elettronica qualificata, in \
                 formato CAdES (il file firmato ha estensione .p7m) oppure, per i documenti PDF, in \
                 formato PAdES (la firma è contenuta nel PDF), e lo invii di nuovo via PEC all'indirizzo {pec}."
            )),
            "Dettaglio",
        ),
        "INVALID_SIGNATURE" => (
            match &file {
                Some(f) => format!(
                    "La firma digitale del file {f} non è valida: per esempio il file è stato modificato \
                     dopo la firma oppure la firma è danneggiata."
                ),
                None => "La firma digitale di un file allegato non è valida: per esempio il file è stato \
                         modificato dopo la firma oppure la firma è danneggiata."
                    .to_owned(),
            },
            Some(format!(
                "firmi di nuovo il documento originale, senza modificarlo dopo la firma, e lo invii di \
                 nuovo via PEC all'indirizzo {pec}."
            )),
            "Motivo",
        ),
        "FORGED_ENVELOPE" => (
            "Non è stato possibile verificare l'autenticità della busta PEC del messaggio: la firma del \
             gestore PEC manca, non è valida oppure non appartiene a un gestore PEC riconosciuto."
                .to_owned(),
            Some(format!(
                "invii di nuovo il messaggio dalla Sua casella PEC all'indirizzo {pec}; se il problema si \
                 ripete, contatti il Suo gestore PEC."
            )),
            "Dettaglio",
        ),
        "SIGNATURE_INDETERMINATE" => (
            match &file {
                Some(f) => format!(
                    "Non è stato possibile confermare la validità della firma digitale del file {f}: per \
                     esempio il certificato di firma è scaduto o revocato, oppure è stato rilasciato da un \
                     certificatore non presente negli elenchi di fiducia."
                ),
                None => "Non è stato possibile confermare la validità della firma digitale di un file \
                         allegato: per esempio il certificato di firma è scaduto o revocato, oppure è stato \
                         rilasciato da un certificatore non presente negli elenchi di fiducia."
                    .to_owned(),
            },
            Some(format!(
                "verifichi che il Suo certificato di firma sia valido, firmi di nuovo il documento e lo \
                 invii di nuovo via PEC all'indirizzo {pec}."
            )),
            "Motivo",
        ),
        _ => (
            match &file {
                Some(f) => format!("Il file {f} non ha superato i controlli previsti per la protocollazione."),
                None => "Il messaggio non ha superato i controlli previsti per la protocollazione.".to_owned(),
            },
            Some("per chiarimenti contatti l'ufficio indicato di seguito.".to_owned()),
            "Dettaglio",
        ),
    };
    ReasonText {
        code: reason.code.clone(),
        explanation,
        what_to_do,
        detail: reason.detail.clone().filter(|d| !d.trim().is_empty()),
        detail_label,
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Ricevuta,
    Notifica,
    Partenza,
}

fn message(
    ctx: &Context,
    to: &[&str],
    subject: String,
    in_reply_to: Option<&str>,
    kind: Kind,
    stamp: &Stamp,
    body: MultiPart,
) -> Result<Composed, Error> {
    let from_address = ctx
        .from
        .trim()
        .parse()
        .map_err(|e| Error::Invalid { field: "from", cause: format!("{e}") })?;
    if to.is_empty() {
        return Err(Error::Invalid { field: "to", cause: "no recipient".into() });
    }
    let to_mailboxes = to
        .iter()
        .map(|a| a.trim().parse::<Mailbox>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Invalid { field: "to", cause: format!("{e}") })?;
    let recipients = to_mailboxes.iter().map(|m| m.email.to_string()).collect();
    let message_id = stamp.message_id.trim_matches(|c| c == '<' || c == '>').to_owned();
    let mut builder = Message::builder().from(Mailbox::new(Some(one_line(&ctx.ente.name)), from_address));
    for m in to_mailboxes {
        builder = builder.to(m);
    }
    builder = builder
        .subject(subject.clone())
        .date(SystemTime::from(stamp.date))
        .message_id(Some(format!("<{message_id}>")))
        .header(SigilloKind(kind));
    if !matches!(kind, Kind::Partenza) {
        builder = builder.header(AutoSubmitted);
    }
    if let Some(id) = in_reply_to.map(|s| s.trim().trim_matches(|c| c == '<' || c == '>')).filter(|s| !s.is_empty()) {
        if id.contains(|c: char| c.is_whitespace() || c.is_control() || c == '<' || c == '>') {
            return Err(Error::Invalid { field: "in_reply_to", cause: "not a Message-ID".into() });
        }
        builder = builder.in_reply_to(format!("<{id}>")).references(format!("<{id}>"));
    }
    let message = builder.multipart(body).map_err(|e| Error::Invalid { field: "message", cause: e.to_string() })?;
    // The bare addresses: what SMTP's RCPT TO and the outbox need.
    Ok(Composed { message_id, to: recipients, subject, raw: message.formatted() })
}

/// `Auto-Submitted: auto-replied` (RFC 3834 §5).
#[derive(Debug, Clone)]
struct AutoSubmitted;

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }
    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoSubmitted)
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-replied".to_owned())
    }
}

/// `X-Sigillo-Kind: ricevuta|notifica`, for filters and for our own intake.
#[derive(Debug, Clone)]
struct SigilloKind(Kind);

impl Header for SigilloKind {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("X-Sigillo-Kind")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        match s.trim() {
            "ricevuta" => Ok(SigilloKind(Kind::Ricevuta)),
            "notifica" => Ok(SigilloKind(Kind::Notifica)),
            "partenza" => Ok(SigilloKind(Kind::Partenza)),
            other => Err(format!("unknown X-Sigillo-Kind {other:?}").into()),
        }
    }
    fn display(&self) -> HeaderValue {
        let v = match self.0 {
            Kind::Ricevuta => "ricevuta",
            Kind::Notifica => "notifica",
            Kind::Partenza => "partenza",
        };
        HeaderValue::new(Self::name(), v.to_owned())
    }
}

fn content_type(s: &str) -> Result<ContentType, Error> {
    ContentType::parse(s).map_err(|e| Error::Invalid { field: "content type", cause: e.to_string() })
}

fn render<T: askama::Template>(t: &T, template: &'static str) -> Result<String, Error> {
    t.render().map_err(|source| Error::Template { template, source })
}

/// "22/11/2026 alle ore 10:15:02" in the register's zone.
fn italian_date_time(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%d/%m/%Y alle ore %H:%M:%S").to_string()
}

/// "1.234.567 byte".
fn italian_size(size: i64) -> String {
    let digits = size.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    if size < 0 {
        out.insert(0, '-');
    }
    format!("{out} byte")
}

fn subject_or_none(s: &str) -> &str {
    if s.trim().is_empty() { sigillo_pec::report::NO_SUBJECT } else { s }
}

/// Headers are one line: control characters (CR, LF, TAB, …) become spaces.
fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>().trim().to_owned()
}

struct DocumentView<'a> {
    name: &'a str,
    primary: bool,
    size: String,
    sha256: &'a str,
}

struct ReceiptView<'a> {
    ente: &'a Ente,
    office: &'a Office,
    number: String,
    date: String,
    time: String,
    segnatura: &'a str,
    oggetto: &'a str,
    delivered: Option<String>,
    presented: String,
    pec_identificativo: Option<&'a str>,
    documents: Vec<DocumentView<'a>>,
    has_segnatura: bool,
}

struct OutgoingView<'a> {
    ente: &'a Ente,
    office: &'a Office,
    number: String,
    date: String,
    segnatura: &'a str,
    oggetto: &'a str,
    documents: Vec<DocumentView<'a>>,
    has_segnatura: bool,
}

struct NoticeView<'a> {
    ente: &'a Ente,
    office: &'a Office,
    oggetto: &'a str,
    received: Option<String>,
    reasons: Vec<ReasonText>,
}

#[derive(askama::Template)]
#[template(path = "ricevuta.txt")]
struct ReceiptText<'a>(&'a ReceiptView<'a>);

#[derive(askama::Template)]
#[template(path = "ricevuta.html")]
struct ReceiptHtml<'a>(&'a ReceiptView<'a>);

#[derive(askama::Template)]
#[template(path = "partenza.txt")]
struct OutgoingText<'a>(&'a OutgoingView<'a>);

#[derive(askama::Template)]
#[template(path = "notifica.txt")]
struct NoticeText<'a>(&'a NoticeView<'a>);

#[derive(askama::Template)]
#[template(path = "notifica.html")]
struct NoticeHtml<'a>(&'a NoticeView<'a>);

// The text and HTML templates read the same view; `Deref` lets them name its fields directly.
macro_rules! view_deref {
    ($($wrapper:ident => $view:ident),*) => {$(
        impl<'a> std::ops::Deref for $wrapper<'a> {
            type Target = $view<'a>;
            fn deref(&self) -> &$view<'a> {
                self.0
            }
        }
    )*};
}
view_deref!(
    ReceiptText => ReceiptView,
    ReceiptHtml => ReceiptView,
    NoticeText => NoticeView,
    NoticeHtml => NoticeView,
    OutgoingText => OutgoingView
);
