//! What a receipt or a notice says. The pipeline (or a staff action) fills these from the
//! registration and the classifier's report; [`crate::compose`] turns them into a message.

use chrono::{DateTime, Utc};

/// The ente and its AOO, as they appear in the segnatura and in every message.
#[derive(Debug, Clone)]
pub struct Ente {
    /// Denominazione of the amministrazione, e.g. "Comune di Roma".
    pub name: String,
    /// Codice IPA (`SIGILLO_IPA_CODE`).
    pub ipa_code: String,
    /// Codice univoco AOO (`SIGILLO_AOO_CODE`).
    pub aoo_code: String,
    /// Denominazione of the AOO, e.g. "Protocollo generale".
    pub aoo_name: String,
    /// The register (`SIGILLO_REGISTER_CODE`).
    pub register_code: String,
    /// The IANA zone dates are written in (`SIGILLO_TIMEZONE`).
    pub timezone: chrono_tz::Tz,
}

/// Where a citizen can ask a person.
#[derive(Debug, Clone)]
pub struct Office {
    /// e.g. "Ufficio Protocollo".
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// Opening hours, free text, e.g. "lun-ven 9-12".
    pub hours: Option<String>,
}

/// The sending side: the comune's PEC address (the From of every message).
#[derive(Debug, Clone)]
pub struct Context {
    pub ente: Ente,
    pub office: Office,
    /// The comune's PEC address, e.g. protocollo@pec.comune.example.it.
    pub from: String,
}

/// One registered document, as listed in the receipt and in Segnatura.xml.
#[derive(Debug, Clone)]
pub struct Document {
    pub name: String,
    pub media_type: Option<String>,
    pub size: i64,
    /// Lowercase hex.
    pub sha256: String,
    /// The first document is the primary one (Documento), the others Allegati.
    pub primary: bool,
}

/// A "ricevuta di protocollazione": the message was registered.
#[derive(Debug, Clone)]
pub struct Receipt {
    /// The citizen's address (daticert `risposte` or `mittente`).
    pub to: String,
    pub number: i32,
    pub year: i32,
    pub registered_at: DateTime<Utc>,
    /// The segnatura string as stored with the registration.
    pub segnatura: String,
    pub subject: String,
    /// The PEC delivery time certified by the provider (daticert `data`).
    pub pec_delivered_at: Option<DateTime<Utc>>,
    /// The provider's identificativo of the inbound PEC.
    pub pec_identificativo: Option<String>,
    /// Message-ID of the citizen's original message (for In-Reply-To / References).
    pub in_reply_to: Option<String>,
    pub documents: Vec<Document>,
}

/// Why a message was not registered, one line per cause.
#[derive(Debug, Clone)]
pub struct NoticeReason {
    /// The decision table's code: NOT_PEC, UNSIGNED_ATTACHMENT, INVALID_SIGNATURE, ...
    pub code: String,
    /// The attachment concerned, when there is one.
    pub file: Option<String>,
    /// The classifier's detail (Italian), shown after the plain explanation.
    pub detail: Option<String>,
}

/// A "comunicazione di mancata protocollazione": the message was not registered.
#[derive(Debug, Clone)]
pub struct Notice {
    pub to: String,
    /// The subject of the citizen's message.
    pub subject: String,
    /// When the message reached the comune (daticert `data`, or the time it was read).
    pub received_at: Option<DateTime<Utc>>,
    pub in_reply_to: Option<String>,
    pub reasons: Vec<NoticeReason>,
}

/// A message ready for the outbox: exactly the bytes that will be sent.
#[derive(Debug, Clone)]
pub struct Composed {
    /// Without angle brackets; provider receipts refer to it (daticert `msgid`).
    pub message_id: String,
    /// The bare addresses of the To field, in order: one, except for an outgoing
    /// registration sent as one message to several recipients.
    pub to: Vec<String>,
    pub subject: String,
    /// RFC 5322 bytes, CRLF line ends.
    pub raw: Vec<u8>,
}

/// A registration in partenza sent by PEC to one or several recipients in one message: the
/// documents go as attachments.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The recipients' PEC addresses (To).
    pub to: Vec<String>,
    pub number: i32,
    pub year: i32,
    pub registered_at: DateTime<Utc>,
    /// The segnatura string as stored with the registration; it prefixes the subject.
    pub segnatura: String,
    pub subject: String,
    /// The registration's documents, in order (the first one primary), with their bytes.
    pub files: Vec<OutgoingFile>,
}

/// One document of an outgoing registration.
#[derive(Debug, Clone)]
pub struct OutgoingFile {
    pub document: Document,
    pub content: Vec<u8>,
}

impl Outgoing {
    /// The registration as [`crate::segnatura::build`] reads it (the first recipient as `to`).
    pub fn as_receipt(&self) -> Receipt {
        Receipt {
            to: self.to.first().cloned().unwrap_or_default(),
            number: self.number,
            year: self.year,
            registered_at: self.registered_at,
            segnatura: self.segnatura.clone(),
            subject: self.subject.clone(),
            pec_delivered_at: None,
            pec_identificativo: None,
            in_reply_to: None,
            documents: self.files.iter().map(|f| f.document.clone()).collect(),
        }
    }
}
