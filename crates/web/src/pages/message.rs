//! One inbound message as the office sees it before deciding: who sent it, why it was not
//! registered, its text and its attachments. The text is shown as text (an HTML body with
//! its tags removed, never rendered); the attachments and the original message are
//! downloads built by [`crate::download`], so nothing a citizen sent runs as our page.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::Response;
use sigillo_pec::attachments::Attachment;
use sigillo_store::browse;
use sigillo_store::ids::InboundId;
use sigillo_store::inbound::{self, MessageState};

use super::queue::reasons_it;
use super::{Layout, parse_id};
use crate::auth::CurrentUser;
use crate::extract::Path;
// The template calls `|visible` on what citizens wrote.
use crate::format::filters;
use crate::format::{datetime_it, size_it};
use crate::{AppError, AppState};

/// More text than this is cut on the page (the whole text is a download).
const SHOWN_TEXT_CHARS: usize = 100_000;

pub struct PartView {
    /// 0 is the text of the message, 1… the attachments in their order.
    pub index: usize,
    pub name: String,
    pub media_type: String,
    pub size: String,
    pub sha256: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "message.html")]
pub struct MessagePage {
    layout: Layout,
    id: InboundId,
    heading: String,
    state: &'static str,
    sender: String,
    subject: String,
    received: String,
    size: String,
    reasons: Vec<String>,
    last_error: Option<String>,
    registration: Option<String>,
    can_decide: bool,
    back: &'static str,
    /// The text of the message as plain text, and whether it was cut or taken from HTML.
    text: Option<String>,
    text_note: Option<&'static str>,
    parts: Vec<PartView>,
    unreadable: Option<String>,
}

fn state_it(s: MessageState) -> &'static str {
    match s {
        MessageState::Received => "Ricevuto, in elaborazione",
        MessageState::Registered => "Protocollato",
        MessageState::Rejected => "Scartato",
        MessageState::Review => "Da revisionare",
        MessageState::Receipt => "Ricevuta del gestore PEC",
        MessageState::Error => "In errore (nuovo tentativo o quarantena)",
    }
}

/// The stored bytes of a message, read outside the async runtime.
async fn raw_of(state: &AppState, id: InboundId) -> Result<(inbound::Inbound, Vec<u8>), AppError> {
    let mut conn = state.pool().acquire().await?;
    let row = inbound::by_id(&mut conn, id).await?;
    drop(conn);
    let blobs = state.blobs().clone();
    let hash = row.raw_sha256;
    let bytes = tokio::task::spawn_blocking(move || blobs.get(&hash))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?
        .map_err(|e| AppError::from(e).about(|| format!("Il messaggio n. {id} così come è stato ricevuto")))?;
    Ok((row, bytes))
}

/// The text and the attachments of a raw message, parsed as the classifier parses it.
async fn parts_of(raw: Vec<u8>) -> Result<Result<(Option<Attachment>, Vec<Attachment>), String>, AppError> {
    tokio::task::spawn_blocking(move || match sigillo_pec::envelope::parse(&raw) {
        Ok(env) => Ok((env.body, env.attachments)),
        Err(e) => Err(e.to_string()),
    })
    .await
    .map_err(|e| AppError::Internal(e.to_string()))
}

/// Bytes as text: UTF-8 when they are, else Latin-1 (every byte a character), the two
/// charsets Italian mail comes in.
fn decode(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

/// The readable text of an HTML body: no tags, no style or script content, the usual
/// entities decoded. What is left is shown escaped, as any text.
fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let lower = html.to_ascii_lowercase();
    let mut i = 0;
    while i < html.len() {
        let rest = &lower[i..];
        if rest.starts_with("<style") || rest.starts_with("<script") {
            let close = if rest.starts_with("<style") { "</style" } else { "</script" };
            // Past the closing tag's `>`.
            i = rest
                .find(close)
                .and_then(|p| rest[p..].find('>').map(|q| i + p + q + 1))
                .unwrap_or(html.len());
            continue;
        }
        if rest.starts_with('<') {
            let tag_end = rest.find('>').map_or(html.len(), |p| i + p + 1);
            let tag = &rest[..(tag_end - i).min(rest.len())];
            if ["<br", "<p", "</p", "<div", "</div", "<li", "<tr", "</h"].iter().any(|t| tag.starts_with(t)) {
                out.push('\n');
            }
            i = tag_end;
            continue;
        }
        let next = rest.find('<').map_or(html.len(), |p| i + p);
        out.push_str(&html[i..next]);
        i = next;
    }
    let out = out
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&agrave;", "à")
        .replace("&egrave;", "è")
        .replace("&eacute;", "é")
        .replace("&igrave;", "ì")
        .replace("&ograve;", "ò")
        .replace("&ugrave;", "ù")
        .replace("&amp;", "&");
    // At most one empty line in a row.
    let mut text = String::with_capacity(out.len());
    let mut blank = 0;
    for line in out.lines().map(str::trim_end) {
        blank = if line.trim().is_empty() { blank + 1 } else { 0 };
        if blank <= 1 {
            text.push_str(line);
            text.push('\n');
        }
    }
    text.trim().to_owned()
}

fn part_view(index: usize, a: &Attachment) -> PartView {
    PartView {
        index,
        name: a.name.clone().unwrap_or_else(|| "(senza nome)".to_owned()),
        media_type: a.media_type.clone(),
        size: size_it(i64::try_from(a.size).unwrap_or(i64::MAX)),
        sha256: a.sha256.clone(),
    }
}

pub async fn show(State(state): State<AppState>, user: CurrentUser, Path(id): Path<String>) -> Result<MessagePage, AppError> {
    let id = InboundId::new(parse_id(&id)?);
    let mut conn = state.pool().acquire().await?;
    let m = browse::message_detail(&mut conn, id).await?;
    let registration = m.registration_id.map(|r| r.to_string());
    drop(conn);
    let mut conn = state.pool().acquire().await?;
    let row = inbound::by_id(&mut conn, id).await?;
    drop(conn);
    let (mut text, mut text_note, mut parts, mut unreadable) = (None, None, Vec::new(), None);
    // A message whose stored bytes cannot be read is still shown, with what the row says.
    let parsed = match raw_of(&state, id).await {
        Ok((_, raw)) => parts_of(raw).await?,
        Err(e) => {
            tracing::warn!(inbound_id = %id, "stored message not readable: {e}");
            Err("il file del messaggio non è leggibile nell'archivio".to_owned())
        }
    };
    match parsed {
        Ok((body, attachments)) => {
            if let Some(b) = &body {
                let decoded = decode(&b.content);
                let (t, note) = if b.media_type.starts_with("text/html") {
                    (html_to_text(&decoded), Some("Testo ricavato dalla versione HTML del messaggio (la formattazione non è riprodotta)."))
                } else {
                    (decoded, None)
                };
                let cut = t.chars().count() > SHOWN_TEXT_CHARS;
                text = Some(if cut { t.chars().take(SHOWN_TEXT_CHARS).collect() } else { t });
                text_note = if cut { Some("Il testo è troppo lungo e viene mostrato solo in parte: scarichi il testo completo.") } else { note };
                parts.push(part_view(0, b));
            }
            parts.extend(attachments.iter().enumerate().map(|(i, a)| part_view(i + 1, a)));
        }
        Err(cause) => unreadable = Some(cause),
    }
    let heading = format!("Messaggio n. {id}");
    let (active, back) = match m.state {
        MessageState::Review => ("revisione", "/revisione"),
        MessageState::Rejected => ("scartati", "/scartati"),
        _ => ("home", "/"),
    };
    Ok(MessagePage {
        layout: Layout::new(&user, active, heading.clone()),
        id,
        heading,
        state: state_it(m.state),
        sender: m.sender.filter(|s| !s.trim().is_empty()).unwrap_or_else(|| "(non indicato)".to_owned()),
        subject: m.subject.filter(|s| !s.trim().is_empty()).unwrap_or_else(|| "(non indicato)".to_owned()),
        received: datetime_it(m.first_seen_at, state.register().timezone),
        size: size_it(m.raw_size),
        reasons: reasons_it(&m.reasons),
        last_error: (row.state == MessageState::Error).then(|| row.last_error.clone().unwrap_or_default()),
        registration,
        can_decide: m.state.awaits_office() && m.registration_id.is_none() && m.duplicate_of.is_none(),
        back,
        text,
        text_note,
        parts,
        unreadable,
    })
}

/// One part of the message, as a safe download: 0 is its text, 1… its attachments.
pub async fn attachment(
    State(state): State<AppState>,
    _user: CurrentUser,
    Path((id, n)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let id = InboundId::new(parse_id(&id)?);
    let n: usize = n.parse().map_err(|_| AppError::NotFound)?;
    let (_, raw) = raw_of(&state, id).await?;
    let (body, attachments) = parts_of(raw).await?.map_err(|_| AppError::NotFound)?;
    let part = if n == 0 { body } else { attachments.into_iter().nth(n - 1) }.ok_or(AppError::NotFound)?;
    let name = part.name.clone().unwrap_or_else(|| format!("allegato-{n}"));
    Ok(crate::download::document(part.content, &part.media_type, &name))
}

/// The message as it was received (`.eml`), always saved.
pub async fn raw(State(state): State<AppState>, _user: CurrentUser, Path(id): Path<String>) -> Result<Response, AppError> {
    let id = InboundId::new(parse_id(&id)?);
    let (_, raw) = raw_of(&state, id).await?;
    Ok(crate::download::file(raw, "message/rfc822", &format!("messaggio-{id}.eml")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_becomes_text_without_markup() {
        let t = html_to_text("<html><head><style>p{color:red}</style><script>alert(1)</script></head><body><p>Gentile ufficio,</p><p>chiedo &amp; allego&nbsp;<b>due</b> file.</p></body></html>");
        assert_eq!(t, "Gentile ufficio,\n\nchiedo & allego due file.");
        assert_eq!(html_to_text("<p>a<"), "a");
    }

    #[test]
    fn latin1_is_read_when_utf8_is_not() {
        assert_eq!(decode(b"citt\xe0"), "città");
        assert_eq!(decode("città".as_bytes()), "città");
    }
}
