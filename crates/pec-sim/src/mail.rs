//! PEC messages as a provider writes them (DM 2/11/2005, shapes in
//! `shared/reference/pec-format.md`): the transport envelope, the anomaly envelope and the
//! receipts, each an S/MIME `multipart/signed` entity signed by the provider certificate,
//! with `daticert.xml` and the submitted message as `postacert.eml`. The MIME is written by
//! `sigillo_testpki::pec`, shared with the workspace's test fixtures; the content, the
//! identifiers, the boundaries and the signing are pec-sim's.

use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use sigillo_testpki::pec::{self, Daticert, Part, ReceiptHeaders, TransportHeaders, base64_lines, contains};
use sigillo_testpki::{Leaf, SignOptions, sign_detached};

use crate::error::Error;

/// Provider timestamps are Italian local time, as in every real daticert.
pub const ZONE: Tz = chrono_tz::Europe::Rome;

/// The provider: who signs and in whose name envelopes and receipts go out.
#[derive(Clone)]
pub struct Provider {
    /// `posta-certificata@DOMAIN`, and the right-hand side of identifiers.
    pub domain: String,
    /// daticert `gestore-emittente`.
    pub gestore: String,
    pub signer: Leaf,
}

/// A message as the user submitted it, plus what the provider reads from it.
#[derive(Debug, Clone)]
pub struct Submission {
    /// The submitted bytes in canonical CRLF form (a `Message-ID` added when it had none):
    /// what goes into `postacert.eml`.
    pub raw: Vec<u8>,
    /// Envelope sender (`MAIL FROM`).
    pub mail_from: String,
    /// Address of the `From` header field, when there is one.
    pub header_from: Option<String>,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub reply_to: Option<String>,
    /// Decoded, control characters removed.
    pub subject: String,
    /// With angle brackets.
    pub message_id: String,
}

/// One recipient and whether it is a PEC mailbox (daticert `destinatari tipo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub address: String,
    pub certified: bool,
}

/// The receipts and notices pec-sim issues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Receipt {
    Accettazione,
    /// Formal checks failed: `why` goes to `errore-esteso`.
    NonAccettazione { why: String },
    /// Complete delivery receipt for one recipient (carries the original).
    AvvenutaConsegna { to: String },
    /// Delivery failed for one recipient; `errore` is a DTD value (`no-dest`, `altro`).
    ErroreConsegna { to: String, errore: &'static str, why: String },
}

impl Receipt {
    pub fn x_ricevuta(&self) -> &'static str {
        match self {
            Receipt::Accettazione => "accettazione",
            Receipt::NonAccettazione { .. } => "non-accettazione",
            Receipt::AvvenutaConsegna { .. } => "avvenuta-consegna",
            Receipt::ErroreConsegna { .. } => "errore-consegna",
        }
    }

    fn subject_prefix(&self) -> &'static str {
        match self {
            Receipt::Accettazione => "ACCETTAZIONE",
            Receipt::NonAccettazione { .. } => "AVVISO DI NON ACCETTAZIONE",
            Receipt::AvvenutaConsegna { .. } => "CONSEGNA",
            Receipt::ErroreConsegna { .. } => "AVVISO DI MANCATA CONSEGNA",
        }
    }
}

/// A syntactically plain address (`local@domain`), lower-cased domain, or `None`.
/// Strict on purpose: it ends up in header fields and file names of the mail store.
pub fn clean_address(s: &str) -> Option<String> {
    let s = s.trim().trim_start_matches('<').trim_end_matches('>').trim();
    let (local, domain) = s.rsplit_once('@')?;
    let ok_char = |c: char| c.is_ascii_graphic() && !"<>()[]\\,;:\"@/".contains(c);
    if local.is_empty()
        || domain.is_empty()
        || s.len() > 254
        || local.starts_with('.')
        || !local.chars().all(ok_char)
        || !domain.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    {
        return None;
    }
    Some(format!("{local}@{}", domain.to_ascii_lowercase()))
}

pub fn domain_of(address: &str) -> &str {
    address.rsplit_once('@').map(|(_, d)| d).unwrap_or_default()
}

/// Bare LF → CRLF, and a final CRLF: S/MIME signs the canonical form.
pub fn to_crlf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 50 + 2);
    let mut prev = 0u8;
    for &b in bytes {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn no_controls(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>().trim().to_owned()
}

impl Submission {
    /// Reads what the provider needs from the submitted bytes. Never fails: a message
    /// without the fields gets empty values, and the formal checks report them.
    pub fn parse(raw: &[u8], mail_from: &str, id_domain: &str) -> Submission {
        let mut raw = to_crlf(raw);
        let parsed = mail_parser::MessageParser::default().parse(&raw);
        let addrs = |a: Option<&mail_parser::Address<'_>>| -> Vec<String> {
            a.map(|a| a.iter().filter_map(|x| x.address().and_then(clean_address)).collect()).unwrap_or_default()
        };
        let (header_from, to, cc, reply_to, subject, message_id) = match &parsed {
            Some(m) => (
                addrs(m.from()).into_iter().next(),
                addrs(m.to()),
                addrs(m.cc()),
                addrs(m.reply_to()).into_iter().next(),
                m.subject().map(no_controls).unwrap_or_default(),
                m.message_id().map(no_controls).filter(|id| !id.is_empty() && !id.contains(['<', '>', ' '])),
            ),
            None => (None, Vec::new(), Vec::new(), None, String::new(), None),
        };
        let message_id = match message_id {
            Some(id) => format!("<{id}>"),
            None => {
                // As a submission MTA does (RFC 6409 §8.3): the id is what receipts refer to.
                let id = format!("<{}.pec-sim@{id_domain}>", random_hex(12));
                let mut with = format!("Message-ID: {id}\r\n").into_bytes();
                with.extend_from_slice(&raw);
                raw = with;
                id
            }
        };
        Submission { raw, mail_from: mail_from.to_owned(), header_from, to, cc, reply_to, subject, message_id }
    }

    /// The sender as certified: the `From` address, else the envelope sender.
    pub fn sender(&self) -> &str {
        self.header_from.as_deref().unwrap_or(&self.mail_from)
    }
}

/// RFC 2047 for header text that is not plain ASCII; folded encoded words.
pub fn header_text(s: &str) -> String {
    let s = no_controls(s);
    if s.is_ascii() && s.len() <= 900 {
        return s;
    }
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in s.chars() {
        if chunk.len() + c.len_utf8() > 45 {
            words.push(std::mem::take(&mut chunk));
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(chunk);
    }
    words
        .iter()
        .map(|w| format!("=?utf-8?B?{}?=", base64::engine::general_purpose::STANDARD.encode(w.as_bytes())))
        .collect::<Vec<_>>()
        .join("\r\n ")
}

static SEQ: AtomicU64 = AtomicU64::new(0);

impl Provider {
    /// `posta-certificata@DOMAIN`.
    pub fn address(&self) -> String {
        format!("posta-certificata@{}", self.domain)
    }

    /// A new provider identifier, shaped like the OpenPEC-derived ones real providers use
    /// (`opec…`), unique within the process and, through the random part, across restarts.
    pub fn new_ident(&self, now: DateTime<Utc>) -> String {
        let n = SEQ.fetch_add(1, Ordering::Relaxed) + 1;
        format!(
            "opec-sim.{}.{}.{n}.{}@{}",
            now.with_timezone(&ZONE).format("%Y%m%d%H%M%S"),
            std::process::id(),
            random_hex(3),
            self.domain
        )
    }

    /// The transport envelope (`X-Trasporto: posta-certificata`) of `sub` for `recipients`.
    pub fn transport(
        &self,
        sub: &Submission,
        ident: &str,
        recipients: &[Recipient],
        now: DateTime<Utc>,
    ) -> Result<Vec<u8>, Error> {
        let local = now.with_timezone(&ZONE);
        let dc = self.daticert(sub, ident, recipients, "posta-certificata", "nessuno", (Some("completa"), None, None), now)?;
        let text = format!(
            "Messaggio di posta certificata\r\n\r\nIl giorno {} alle ore {} il messaggio\r\n\"{}\" è stato inviato da \"{}\"\r\n\
             indirizzato a:\r\n{}\r\nIl messaggio originale è incluso in allegato.\r\nIdentificativo messaggio: {ident}\r\n",
            local.format("%d/%m/%Y"),
            local.format("%H:%M:%S"),
            sub.subject,
            sub.sender(),
            recipients.iter().map(|r| r.address.as_str()).collect::<Vec<_>>().join("\r\n"),
        );
        let content = inner(&text, Some(&dc), Some(&sub.raw));
        let headers = self.envelope_headers(sub, "posta-certificata", "POSTA CERTIFICATA", ident, recipients, now);
        Ok(self.signed(&headers, &content))
    }

    /// The anomaly envelope (`X-Trasporto: errore`): what arrived is not a valid PEC.
    /// No daticert.xml, as the technical rules give it no `tipo` (pec-format.md §4).
    pub fn anomaly(&self, sub: &Submission, ident: &str, recipients: &[Recipient], why: &str, now: DateTime<Utc>) -> Vec<u8> {
        let local = now.with_timezone(&ZONE);
        let text = format!(
            "Anomalia nel messaggio\r\n\r\nIl giorno {} alle ore {} è stato ricevuto il messaggio\r\n\"{}\" proveniente da \"{}\"\r\n\
             ed indirizzato a:\r\n{}\r\nTali dati non sono stati certificati per il seguente errore:\r\n{why}\r\n\
             Il messaggio originale è incluso in allegato.\r\n",
            local.format("%d/%m/%Y"),
            local.format("%H:%M:%S"),
            sub.subject,
            sub.sender(),
            recipients.iter().map(|r| r.address.as_str()).collect::<Vec<_>>().join("\r\n"),
        );
        let content = inner(&text, None, Some(&sub.raw));
        let headers = self.envelope_headers(sub, "errore", "ANOMALIA MESSAGGIO", ident, recipients, now);
        self.signed(&headers, &content)
    }

    /// A receipt or notice about `sub` (provider identifier `ident`) for its sender.
    pub fn receipt(
        &self,
        sub: &Submission,
        ident: &str,
        recipients: &[Recipient],
        receipt: &Receipt,
        now: DateTime<Utc>,
    ) -> Result<Vec<u8>, Error> {
        let local = now.with_timezone(&ZONE);
        let when = format!("Il giorno {} alle ore {}", local.format("%d/%m/%Y"), local.format("%H:%M:%S"));
        let to_list = recipients.iter().map(|r| r.address.as_str()).collect::<Vec<_>>().join("\r\n");
        let (errore, extra, text, original): (&str, _, String, bool) = match receipt {
            Receipt::Accettazione => (
                "nessuno",
                (None, None, None),
                format!(
                    "Ricevuta di accettazione\r\n\r\n{when} il messaggio\r\n\"{}\" proveniente da \"{}\"\r\n\
                     ed indirizzato a:\r\n{to_list}\r\nè stato accettato dal sistema ed inoltrato.\r\nIdentificativo messaggio: {ident}\r\n",
                    sub.subject,
                    sub.sender()
                ),
                false,
            ),
            Receipt::NonAccettazione { why } => (
                "altro",
                (None, None, Some(why.as_str())),
                format!(
                    "Avviso di non accettazione\r\n\r\n{when} nel messaggio\r\n\"{}\" proveniente da \"{}\"\r\n\
                     ed indirizzato a:\r\n{to_list}\r\nè stato rilevato un problema che ne impedisce l'accettazione\r\n\
                     a causa di: {why}\r\nIl messaggio non è stato accettato.\r\nIdentificativo messaggio: {ident}\r\n",
                    sub.subject,
                    sub.sender()
                ),
                false,
            ),
            Receipt::AvvenutaConsegna { to } => (
                "nessuno",
                (Some("completa"), Some(to.as_str()), None),
                format!(
                    "Ricevuta di avvenuta consegna\r\n\r\n{when} il messaggio\r\n\"{}\" proveniente da \"{}\"\r\n\
                     ed indirizzato a \"{to}\"\r\nè stato consegnato nella casella di destinazione.\r\n\
                     Identificativo messaggio: {ident}\r\n",
                    sub.subject,
                    sub.sender()
                ),
                true,
            ),
            Receipt::ErroreConsegna { to, errore, why } => (
                *errore,
                (None, Some(to.as_str()), Some(why.as_str())),
                format!(
                    "Avviso di mancata consegna\r\n\r\n{when} nel messaggio\r\n\"{}\" proveniente da \"{}\"\r\n\
                     ed indirizzato a \"{to}\"\r\nè stato rilevato un errore: {why}\r\nIl messaggio non è stato consegnato.\r\n\
                     Identificativo messaggio: {ident}\r\n",
                    sub.subject,
                    sub.sender()
                ),
                false,
            ),
        };
        let dc = self.daticert(sub, ident, recipients, receipt.x_ricevuta(), errore, extra, now)?;
        let content = inner(&text, Some(&dc), original.then_some(sub.raw.as_slice()));
        let receipt_id = self.new_ident(now);
        let headers = ReceiptHeaders {
            date: &rfc2822(now),
            from: &self.address(),
            to: sub.sender(),
            subject: &header_text(&format!("{}: {}", receipt.subject_prefix(), sub.subject)),
            message_id: &receipt_id,
            riferimento: &sub.message_id,
            x_ricevuta: receipt.x_ricevuta(),
            tipo_ricevuta: matches!(receipt, Receipt::AvvenutaConsegna { .. }).then_some("completa"),
        }
        .render();
        Ok(self.signed(&headers, &content))
    }

    #[allow(clippy::too_many_arguments)] // one call per message kind, all named at the call site
    fn daticert(
        &self,
        sub: &Submission,
        ident: &str,
        recipients: &[Recipient],
        tipo: &str,
        errore: &str,
        (ricevuta, consegna, errore_esteso): (Option<&str>, Option<&str>, Option<&str>),
        now: DateTime<Utc>,
    ) -> Result<String, Error> {
        let local = now.with_timezone(&ZONE);
        let (zona, giorno, ora) =
            (local.format("%z").to_string(), local.format("%d/%m/%Y").to_string(), local.format("%H:%M:%S").to_string());
        let xml = Daticert {
            tipo,
            errore,
            mittente: sub.sender(),
            destinatari: recipients
                .iter()
                .map(|r| (if r.certified { "certificato" } else { "esterno" }, r.address.as_str()))
                .collect(),
            risposte: sub.reply_to.as_deref().unwrap_or(sub.sender()),
            oggetto: &sub.subject,
            gestore: &self.gestore,
            zona: &zona,
            giorno: &giorno,
            ora: &ora,
            identificativo: ident,
            msgid: &sub.message_id,
            ricevuta,
            consegna: consegna.into_iter().collect(),
            ricezione: Vec::new(),
            errore_esteso,
        };
        Ok(xml.xml())
    }

    fn envelope_headers(
        &self,
        sub: &Submission,
        x_trasporto: &str,
        prefix: &str,
        ident: &str,
        recipients: &[Recipient],
        now: DateTime<Utc>,
    ) -> String {
        // To/Cc are copied from the original; without them, the envelope recipients.
        let to: Vec<&str> = if sub.to.is_empty() && sub.cc.is_empty() {
            recipients.iter().map(|r| r.address.as_str()).collect()
        } else {
            sub.to.iter().map(String::as_str).collect()
        };
        let provider = self.address();
        let subject = header_text(&format!("{prefix}: {}", sub.subject));
        TransportHeaders {
            return_path: None,
            date: &rfc2822(now),
            sender: sub.sender(),
            provider: &provider,
            reply_to: sub.reply_to.as_deref().unwrap_or(sub.sender()),
            to,
            cc: sub.cc.iter().map(String::as_str).collect(),
            subject: &subject,
            message_id: ident,
            riferimento: &sub.message_id,
            x_trasporto,
            tipo_ricevuta: (x_trasporto == "posta-certificata").then_some("completa"),
        }
        .render()
    }

    /// `headers` + the S/MIME `multipart/signed` entity over `content` (which ends in CRLF).
    fn signed(&self, headers: &str, content: &[u8]) -> Vec<u8> {
        pec::signed(headers, content, &boundary_for(content), "sha-256", |signed_part| {
            sign_detached(&self.signer, signed_part, &SignOptions::default())
        })
    }
}

/// A MIME boundary that does not occur in `content`.
fn boundary_for(content: &[u8]) -> String {
    loop {
        let b = format!("----------=_pec-sim_{}", random_hex(12));
        if !contains(content, b.as_bytes()) {
            return b;
        }
    }
}

fn rfc2822(now: DateTime<Utc>) -> String {
    now.with_timezone(&ZONE).format("%a, %d %b %Y %H:%M:%S %z").to_string()
}

/// The signed content: `multipart/mixed` of the text, daticert.xml and postacert.eml.
fn inner(text: &str, daticert: Option<&str>, postacert: Option<&[u8]>) -> Vec<u8> {
    let mut parts = vec![Part::new(
        "Content-Type: text/plain; charset=\"utf-8\"\r\nContent-Transfer-Encoding: base64\r\n\
         Content-Disposition: inline\r\n",
        base64_lines(text.as_bytes()),
    )];
    parts.extend(daticert.map(Part::daticert));
    parts.extend(postacert.map(Part::postacert));
    let boundary = loop {
        let b = format!("----------=_pec-sim-mixed_{}", random_hex(12));
        if !parts.iter().any(|p| contains(&p.to_bytes(), b.as_bytes())) {
            break b;
        }
    };
    Part::multipart("mixed", &boundary, parts).to_bytes()
}
