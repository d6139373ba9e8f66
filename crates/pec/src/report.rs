//! The outcome of `sigillo check` for one message: the JSON shape of ARCHITECTURE.md §4,
//! the decision table of §3, and the short Italian report for people.

use serde::Serialize;
use sigillo_signature::{Indication, SignatureReport, SubIndication};

use crate::attachments::Attachment;
use crate::daticert::Daticert;
use crate::envelope::{Envelope, Original};
use crate::kind::{PecType, ReceiptKind, ReceiptType};

/// Result of the provider-signature check (`pec.envelope_signature.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EnvelopeStatus {
    /// Intact and issued by a certificate chaining to a PEC provider anchor.
    Valid,
    /// Bytes changed after signing, or a signature that cannot be checked at all.
    Invalid,
    /// Intact, but the signer does not chain to a configured PEC provider anchor.
    Untrusted,
    /// No S/MIME signature.
    Missing,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnvelopeSignature {
    pub status: EnvelopeStatus,
    /// Subject of the signer certificate, when one was found.
    pub signer: Option<String>,
    /// Why, when not valid (Italian or the verifier's own words).
    pub detail: Option<String>,
    /// The stored bytes had bare LF and were checked in their canonical CRLF form.
    pub canonicalised: bool,
    /// The time the provider's certificate was judged at (the time of processing, or the
    /// time asked with `check --at`) and why; `None` when there was no signature to judge.
    pub judged_at: Option<chrono::DateTime<chrono::Utc>>,
    pub time_source: Option<sigillo_signature::TimeSource>,
    /// Why an `untrusted` envelope is not trusted, when revocation is the cause:
    /// `REVOKED_NO_POE` (the provider certificate was revoked by the time it is judged at:
    /// FORGED_ENVELOPE), or `TRY_LATER` (online revocation, no status to be had now: not
    /// trusted for now, and the intake asks again later instead of deciding).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subindication: Option<SubIndication>,
}

impl EnvelopeSignature {
    /// Whether the provider certificate's revocation status could not be had now.
    pub fn try_later(&self) -> bool {
        self.subindication == Some(SubIndication::TryLater)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct AttachmentReport {
    #[serde(flatten)]
    pub attachment: Attachment,
    /// The document-signature check (`sigillo_signature::verify_document`); for a detached
    /// `.p7s` and the file it signs, both carry the same result. `None` when not checked.
    pub signature: Option<SignatureReport>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    Register,
    Reject,
    Review,
    LinkReceipt,
}

/// Machine-readable reason codes (ARCHITECTURE.md §3, plus `WRAPPED_ENVELOPE` and
/// `UNCHECKED_ATTACHMENT` which the table does not cover).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReasonCode {
    NotPec,
    ForgedEnvelope,
    UnsignedAttachment,
    InvalidSignature,
    SignatureIndeterminate,
    /// A genuine envelope that reached us inside another message (mailing list, forward):
    /// it did not come straight from the sender's PEC box.
    WrappedEnvelope,
    /// Attachments present but document signatures were not verified.
    UncheckedAttachment,
}

/// Stored with the message's decision and read back as this type (`Deserialize`), never by key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Reason {
    pub code: ReasonCode,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PecReport {
    #[serde(rename = "type")]
    pub pec_type: PecType,
    pub receipt: Option<ReceiptType>,
    pub receipt_kind: Option<ReceiptKind>,
    pub envelope_signature: EnvelopeSignature,
    pub daticert: Option<Daticert>,
    pub wrapped: bool,
    pub mailing_list: Option<String>,
    /// `X-Riferimento-Message-ID` of the outer message (not part of the `check --json`
    /// contract; the notifier links receipts with it when daticert has no `msgid`).
    #[serde(skip)]
    pub riferimento_message_id: Option<String>,
    pub original: Option<Original>,
    /// The text of the original message with its digest and content (not part of the
    /// `check --json` contract, which lists documents under `attachments`; the register
    /// keeps it as the primary document of a message without attachments).
    #[serde(skip)]
    pub body: Option<Attachment>,
    pub warnings: Vec<String>,
}

/// Who sent a message and what it is about, as the register records them. One rule for the
/// record of a registration, the receipt's subject line and the review queue.
impl PecReport {
    /// The sender as the provider certified it (daticert `mittente`), else the original
    /// message's `From`; `None` when neither says anything.
    pub fn sender(&self) -> Option<String> {
        self.daticert
            .as_ref()
            .and_then(|d| d.mittente.clone())
            .or_else(|| self.original.as_ref().and_then(|o| o.from.clone()))
            .filter(|s| !s.trim().is_empty())
    }

    /// The display name the citizen's mail program wrote, only when it belongs to the
    /// [`sender`](Self::sender)'s address.
    pub fn sender_name(&self) -> Option<String> {
        let address = self.sender()?;
        self.original
            .as_ref()
            .filter(|o| o.from.as_deref().is_some_and(|f| f.eq_ignore_ascii_case(&address)))
            .and_then(|o| o.from_name.clone())
    }

    /// The original message's subject, else the one in daticert, trimmed; `None` when both
    /// are missing or blank.
    pub fn subject(&self) -> Option<String> {
        self.original
            .as_ref()
            .and_then(|o| o.subject.clone())
            .or_else(|| self.daticert.as_ref().and_then(|d| d.oggetto.clone()))
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    }

    /// [`subject`](Self::subject), or the words the register uses for a message without one.
    pub fn subject_or_none(&self) -> String {
        self.subject().unwrap_or_else(|| NO_SUBJECT.to_owned())
    }
}

/// What the register, receipts and notices say for a message without a subject.
pub const NO_SUBJECT: &str = "(senza oggetto)";

/// One line of `sigillo check --json` for a message.
#[derive(Debug, Clone, Serialize)]
pub struct MessageReport {
    pub file: String,
    pub pec: PecReport,
    pub attachments: Vec<AttachmentReport>,
    pub decision: Decision,
    pub reasons: Vec<Reason>,
}

/// The documents of a stored [`MessageReport`] (its JSON as the register keeps it), read back
/// without the rest: the office lists them before deciding on a rejected message. Its field
/// mirrors `MessageReport::attachments`; a test below keeps the two in step.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct AttachmentListing {
    pub attachments: Vec<crate::attachments::Attachment>,
}

impl MessageReport {
    /// Assembles the report and applies the decision table.
    pub fn new(
        file: &str,
        envelope: Envelope<'_>,
        envelope_signature: EnvelopeSignature,
        attachments: Vec<AttachmentReport>,
    ) -> Self {
        let (decision, reasons) = decide(&envelope, &envelope_signature, &attachments);
        let c = envelope.classification;
        MessageReport {
            file: file.to_owned(),
            pec: PecReport {
                pec_type: c.pec_type,
                receipt: c.receipt,
                receipt_kind: c.receipt_kind,
                envelope_signature,
                daticert: envelope.daticert,
                wrapped: envelope.wrapped,
                mailing_list: envelope.mailing_list,
                riferimento_message_id: envelope.riferimento_message_id,
                original: envelope.original,
                body: envelope.body,
                warnings: envelope.warnings,
            },
            attachments,
            decision,
            reasons,
        }
    }
}

/// The decision table of ARCHITECTURE.md §3.
pub fn decide(
    envelope: &Envelope<'_>,
    sig: &EnvelopeSignature,
    attachments: &[AttachmentReport],
) -> (Decision, Vec<Reason>) {
    let reason = |code, detail: &str| Reason { code, detail: detail.to_owned() };
    let forged = forged_reason(envelope, sig);
    match envelope.classification.pec_type {
        PecType::None => (
            Decision::Reject,
            vec![reason(ReasonCode::NotPec, "messaggio di posta ordinaria, non PEC")],
        ),
        PecType::Anomalia => (
            Decision::Reject,
            vec![reason(
                ReasonCode::NotPec,
                "busta di anomalia: il mittente non ha inviato da una casella PEC valida",
            )],
        ),
        // Receipts are linked whatever their signature says; an unverified one carries the
        // reason so that the linker can refuse to trust it.
        PecType::Ricevuta => (
            Decision::LinkReceipt,
            forged.map(|d| vec![reason(ReasonCode::ForgedEnvelope, &d)]).unwrap_or_default(),
        ),
        // Not known to be forged, not known to be genuine: never registered, people decide
        // (as for an attachment whose status cannot be had), after the intake's retries.
        PecType::PostaCertificata if sig.try_later() => (
            Decision::Review,
            vec![reason(
                ReasonCode::SignatureIndeterminate,
                &format!(
                    "firma del gestore PEC: stato di revoca del certificato non ottenibile ora (TRY_LATER){}",
                    sig.detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default()
                ),
            )],
        ),
        PecType::PostaCertificata => {
            if let Some(d) = forged {
                return (Decision::Reject, vec![reason(ReasonCode::ForgedEnvelope, &d)]);
            }
            let mut reasons = Vec::new();
            let mut decision = Decision::Register;
            let mut worsen = |d: Decision| {
                // reject > review > register
                decision = match (decision, d) {
                    (Decision::Reject, _) | (_, Decision::Reject) => Decision::Reject,
                    (Decision::Review, _) | (_, Decision::Review) => Decision::Review,
                    _ => d,
                };
            };
            if envelope.wrapped {
                worsen(Decision::Review);
                reasons.push(reason(
                    ReasonCode::WrappedEnvelope,
                    "la busta PEC è arrivata incapsulata in un altro messaggio (es. mailing list)",
                ));
            }
            for a in attachments {
                // A detached signature file is judged through the document it signs.
                if a.attachment.signs.is_some() {
                    continue;
                }
                let name = a.attachment.name.as_deref().unwrap_or("(senza nome)");
                match &a.signature {
                    None => {
                        worsen(Decision::Review);
                        reasons.push(reason(
                            ReasonCode::UncheckedAttachment,
                            &format!("{name}: firma del documento non verificata"),
                        ));
                    }
                    Some(s) => match s.verdict {
                        Indication::TotalPassed => {}
                        Indication::NoSignatureFound => {
                            worsen(Decision::Reject);
                            reasons.push(reason(
                                ReasonCode::UnsignedAttachment,
                                &format!("{name}: documento non firmato"),
                            ));
                        }
                        Indication::TotalFailed => {
                            worsen(Decision::Reject);
                            reasons.push(reason(
                                ReasonCode::InvalidSignature,
                                &format!("{name}: firma non valida{}", sub(s)),
                            ));
                        }
                        Indication::Indeterminate => {
                            worsen(Decision::Review);
                            reasons.push(reason(
                                ReasonCode::SignatureIndeterminate,
                                &format!("{name}: esito della firma indeterminato{}", sub(s)),
                            ));
                        }
                    },
                }
            }
            (decision, reasons)
        }
    }
}

fn sub(s: &SignatureReport) -> String {
    s.subindication.map(|x| format!(" ({})", screaming(&format!("{x:?}")))).unwrap_or_default()
}

/// `HashFailure` → `HASH_FAILURE`, the ETSI spelling used in the JSON.
fn screaming(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 8);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// Why the envelope cannot be taken as the provider's, if it cannot.
fn forged_reason(envelope: &Envelope<'_>, sig: &EnvelopeSignature) -> Option<String> {
    let base = match sig.status {
        EnvelopeStatus::Valid => None,
        EnvelopeStatus::Missing => Some("busta priva della firma del gestore PEC".to_owned()),
        EnvelopeStatus::Invalid => Some("firma del gestore non valida: contenuto modificato dopo la firma o firma illeggibile".to_owned()),
        EnvelopeStatus::Untrusted if sig.subindication == Some(SubIndication::RevokedNoPoe) => {
            Some("certificato del gestore PEC revocato prima della firma della busta".to_owned())
        }
        EnvelopeStatus::Untrusted if sig.try_later() => {
            Some("stato di revoca del certificato del gestore non ottenibile ora: firma non verificabile".to_owned())
        }
        EnvelopeStatus::Untrusted => Some("firma di un certificato che non appartiene a un gestore PEC riconosciuto".to_owned()),
    };
    let base = base.map(|b| match &sig.detail {
        Some(d) => format!("{b} ({d})"),
        None => b,
    });
    base.or_else(|| envelope.daticert_mismatch.clone())
}

/// The short report in Italian for `sigillo check` without `--json`.
pub fn human_it(r: &MessageReport) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(s, "{}", r.file);
    let tipo = match (&r.pec.pec_type, &r.pec.receipt) {
        (PecType::PostaCertificata, _) => "busta di trasporto PEC (posta certificata)".to_owned(),
        (PecType::Anomalia, _) => "busta di anomalia (il messaggio originale non è una PEC valida)".to_owned(),
        (PecType::Ricevuta, Some(t)) => match (&r.pec.receipt_kind, t) {
            (Some(k), ReceiptType::AvvenutaConsegna) => format!("ricevuta/avviso PEC: {} ({})", receipt_it(t), kind_it(k)),
            _ => format!("ricevuta/avviso PEC: {}", receipt_it(t)),
        },
        (PecType::Ricevuta, None) => "ricevuta PEC".to_owned(),
        (PecType::None, _) => "posta ordinaria (nessuna busta PEC)".to_owned(),
    };
    let _ = writeln!(s, "  Tipo:            {tipo}");
    let es = &r.pec.envelope_signature;
    let stato = match es.status {
        EnvelopeStatus::Valid => "valida",
        EnvelopeStatus::Invalid => "NON VALIDA (contenuto alterato o firma illeggibile)",
        EnvelopeStatus::Untrusted => "non attendibile (certificato non di un gestore PEC riconosciuto)",
        EnvelopeStatus::Missing => "assente",
    };
    let _ = write!(s, "  Firma gestore:   {stato}");
    if let Some(signer) = &es.signer {
        let _ = write!(s, " — {signer}");
    }
    s.push('\n');
    if let Some(d) = &es.detail {
        let _ = writeln!(s, "                   {d}");
    }
    if let (Some(at), Some(source)) = (es.judged_at, es.time_source) {
        let _ = writeln!(s, "                   certificato valutato al {}", judged_it(at, source));
    }
    if r.pec.wrapped {
        let _ = writeln!(
            s,
            "  Attenzione:      busta incapsulata in un altro messaggio{}",
            r.pec.mailing_list.as_deref().map(|l| format!(" (mailing list {l})")).unwrap_or_default()
        );
    }
    if let Some(d) = &r.pec.daticert {
        if let Some(g) = &d.gestore_emittente {
            let _ = writeln!(s, "  Gestore:         {g}");
        }
        if let Some(t) = &d.data {
            let _ = writeln!(s, "  Data:            {}", t.format("%d/%m/%Y %H:%M:%S %:z"));
        }
        if let Some(m) = &d.mittente {
            let _ = writeln!(s, "  Mittente:        {m}");
        }
        if let Some(o) = &d.oggetto {
            let _ = writeln!(s, "  Oggetto:         {o}");
        }
        if let Some(i) = &d.identificativo {
            let _ = writeln!(s, "  Identificativo:  {i}");
        }
        if let Some(c) = &d.consegna {
            let _ = writeln!(s, "  Consegna a:      {c}");
        }
        if let Some(e) = &d.errore_esteso {
            let _ = writeln!(s, "  Errore:          {e}");
        }
    } else if let Some(o) = &r.pec.original {
        if let Some(m) = &o.from {
            let _ = writeln!(s, "  Mittente:        {m}");
        }
        if let Some(subj) = &o.subject {
            let _ = writeln!(s, "  Oggetto:         {subj}");
        }
    }
    if r.attachments.is_empty() {
        let _ = writeln!(s, "  Allegati:        nessuno");
    } else {
        let _ = writeln!(s, "  Allegati:        {}", r.attachments.len());
        // One reference time for every attachment of a message (a timestamped signature
        // is judged at its timestamp instead, shown in the JSON per signer).
        if let Some(sig) = r.attachments.iter().find_map(|a| a.signature.as_ref()) {
            let _ = writeln!(s, "  Firme valutate al {}", judged_it(sig.judged_at, sig.time_source));
        }
        for a in &r.attachments {
            let at = &a.attachment;
            let firma = match (&a.signature, &at.signs) {
                (_, Some(doc)) => format!("firma separata di {doc}"),
                (None, _) => "firma non verificata".to_owned(),
                (Some(sig), _) => format!("{}{}", verdict_it(sig.verdict), sub(sig)),
            };
            let _ = writeln!(
                s,
                "    - {} ({}, {} byte) — {}\n      sha256 {}",
                at.name.as_deref().unwrap_or("(senza nome)"),
                at.media_type,
                at.size,
                firma,
                at.sha256
            );
        }
    }
    let esito = match r.decision {
        Decision::Register => "da protocollare",
        Decision::Reject => "da respingere",
        Decision::Review => "da esaminare (decide l'ufficio protocollo)",
        Decision::LinkReceipt => "ricevuta da collegare al messaggio inviato",
    };
    let _ = writeln!(s, "  Esito:           {esito}");
    for reason in &r.reasons {
        let _ = writeln!(s, "    motivo: {}", reason.detail);
    }
    for w in &r.pec.warnings {
        let _ = writeln!(s, "  Avviso: {w}");
    }
    s
}

/// The short Italian report for a bare signed document.
pub fn human_document_it(d: &crate::check::DocumentReport) -> String {
    let s = &d.signature;
    let mut out = format!("{}\n  Firma:           {}{}\n", d.file, verdict_it(s.verdict), sub(s));
    out.push_str(&format!("  Formato:         {}\n", format_it(s.format)));
    if !s.signers.is_empty() {
        out.push_str(&format!("  Valutata al:     {}\n", judged_it(s.judged_at, s.time_source)));
    }
    for signer in &s.signers {
        let who = signer.common_name.as_deref().or(signer.subject.as_deref()).unwrap_or("(sconosciuto)");
        out.push_str(&format!("  Firmatario:      {who} — {}{}\n", verdict_it(signer.verdict), signer.subindication.map(|x| format!(" ({})", screaming(&format!("{x:?}")))).unwrap_or_default()));
        if let Some(service) = &signer.trust_service {
            let qualified = if signer.qualified_signature { "Firma qualificata, " } else { "" };
            out.push_str(&format!("                   {qualified}servizio: {} ({})\n", service.name, service.territory));
        }
    }
    if !s.detail.is_empty() {
        out.push_str(&format!("  Dettaglio:       {}\n", s.detail));
    }
    out
}

/// When a certificate was judged and why that time, for people.
fn judged_it(at: chrono::DateTime<chrono::Utc>, source: sigillo_signature::TimeSource) -> String {
    use sigillo_signature::TimeSource;
    let why = match source {
        TimeSource::PecTime => "riferimento temporale della PEC",
        TimeSource::Timestamp => "marca temporale",
        TimeSource::Now => "ora del controllo",
        TimeSource::At => "data richiesta con --at",
    };
    format!("{} ({why})", at.format("%d/%m/%Y %H:%M:%S UTC"))
}

/// The format's usual name (their enum's serde names), without an exhaustive match on a
/// type that grows with every new format.
fn format_it(f: sigillo_signature::Format) -> String {
    match format!("{f:?}").as_str() {
        "Cades" => "CAdES".to_owned(),
        "CadesDetached" => "CAdES (firma separata)".to_owned(),
        "Pades" => "PAdES".to_owned(),
        "Xades" => "XAdES".to_owned(),
        "Tsd" => "TSD (marca temporale)".to_owned(),
        "M7m" => "M7M".to_owned(),
        "None" => "nessuna firma".to_owned(),
        other => other.to_owned(),
    }
}

fn receipt_it(t: &ReceiptType) -> String {
    match t {
        ReceiptType::Accettazione => "ricevuta di accettazione".to_owned(),
        ReceiptType::NonAccettazione => "avviso di non accettazione".to_owned(),
        ReceiptType::PresaInCarico => "ricevuta di presa in carico".to_owned(),
        ReceiptType::AvvenutaConsegna => "ricevuta di avvenuta consegna".to_owned(),
        ReceiptType::ErroreConsegna => "avviso di mancata consegna".to_owned(),
        ReceiptType::PreavvisoErroreConsegna => "preavviso di mancata consegna".to_owned(),
        ReceiptType::RilevazioneVirus => "avviso di rilevazione virus".to_owned(),
        ReceiptType::Other(v) => format!("tipo non previsto ({v})"),
    }
}

fn kind_it(k: &ReceiptKind) -> &str {
    match k {
        ReceiptKind::Completa => "completa",
        ReceiptKind::Breve => "breve",
        ReceiptKind::Sintetica => "sintetica",
        ReceiptKind::Other(v) => v,
    }
}

fn verdict_it(v: Indication) -> &'static str {
    match v {
        Indication::TotalPassed => "firma valida",
        Indication::TotalFailed => "firma NON valida",
        Indication::Indeterminate => "firma da verificare (esito indeterminato)",
        Indication::NoSignatureFound => "non firmato",
    }
}
