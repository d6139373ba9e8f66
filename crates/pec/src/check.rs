//! The whole check of one input: read the message as PEC, verify the provider's signature
//! and the documents' signatures, apply the decision table.

use std::time::SystemTime;

use chrono::{DateTime, Utc};
use sigillo_signature::{CmsStatus, SignatureReport, TimeSource, TrustStore, VerifyOptions, cms, verify_document_with};

use crate::envelope::{self, Envelope};
use crate::error::PecError;
use serde::Serialize;

use crate::attachments::Attachment;
use crate::report::{AttachmentReport, EnvelopeSignature, EnvelopeStatus, MessageReport};
use crate::signed::SignedLookup;

/// The time a check is made at, and why that time: the moment of processing ([`now`]) or a
/// time the user asked for ([`given`], `sigillo check --at`).
///
/// [`now`]: ValidationTime::now
/// [`given`]: ValidationTime::given
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidationTime {
    pub at: DateTime<Utc>,
    pub source: TimeSource,
}

impl ValidationTime {
    /// The time of processing, read from the caller's clock.
    pub fn now(at: DateTime<Utc>) -> Self {
        ValidationTime { at, source: TimeSource::Now }
    }

    /// A time the user chose instead of now.
    pub fn given(at: DateTime<Utc>) -> Self {
        ValidationTime { at, source: TimeSource::At }
    }
}

/// Trust anchors; build once, use for many files. The time of judgement is an input of each
/// check (`*_at`); the methods without `_at` use the default time given to [`Checker::new`].
/// Cloned to add the anchors of a trusted list's services granted at a given time.
#[derive(Clone)]
pub struct Checker {
    pec_trust: TrustStore,
    doc_trust: TrustStore,
    now: DateTime<Utc>,
}

impl Checker {
    /// A checker with no anchors: every provider signature is then `untrusted`.
    /// `now` is the time the methods without `_at` judge at; a long-running process passes
    /// its clock's time to the `_at` methods instead, message by message.
    pub fn new(now: SystemTime) -> Self {
        Self { pec_trust: TrustStore::empty(), doc_trust: TrustStore::empty(), now: DateTime::<Utc>::from(now) }
    }

    /// A checker whose PEC anchors are the ones the product ships (every version of AgID
    /// CA1, [`crate::anchors`]), with no document anchors yet.
    pub fn with_shipped_anchors(now: SystemTime) -> Self {
        let mut checker = Checker::new(now);
        for cert in crate::anchors::agid_ca1() {
            checker.pec_trust.add_certificate(cert);
        }
        checker
    }

    /// Asks `source` for the revocation status of document signing certificates and of
    /// the PEC provider's envelope certificate (`SIGILLO_REVOCATION=online`); `None` (the
    /// default) uses only the CRLs of the trust directory. A source may block: call the
    /// `check*` methods from a blocking thread.
    pub fn set_revocation(&mut self, source: Option<sigillo_signature::revocation::SharedSource>) {
        self.pec_trust.set_online(source.clone());
        self.doc_trust.set_online(source);
    }

    /// Adds the certificates of trusted-list services as document anchors, each one only
    /// while its service was granted: a document is judged with the services granted at
    /// its own time of judgement (a message's attachments at the PEC's time).
    pub fn add_listed_anchors(&mut self, anchors: impl IntoIterator<Item = sigillo_signature::ListedAnchor>) {
        self.doc_trust.add_listed(anchors);
    }

    /// The online revocation source in use, if any (kept when the trust directory is reloaded).
    pub fn revocation(&self) -> Option<sigillo_signature::revocation::SharedSource> {
        self.doc_trust.online().cloned()
    }

    fn default_time(&self) -> ValidationTime {
        ValidationTime::now(self.now)
    }

    /// Adds PEC provider CA certificates (one file of `--trust DIR/pec/`: PEM, PEM bundle
    /// or DER; CRLs too).
    pub fn add_pec_anchors(&mut self, file: &[u8]) -> Result<(), PecError> {
        add_anchors(&mut self.pec_trust, file)
    }

    /// Adds CA certificates for document signatures (`--trust DIR/signatures/`).
    pub fn add_document_anchors(&mut self, file: &[u8]) -> Result<(), PecError> {
        add_anchors(&mut self.doc_trust, file)
    }

    /// Checks one input file, told apart by its content, never by its name: a message
    /// (PEC envelope, receipt, plain mail) or a bare signed document (PDF, CMS `.p7m`/`.p7s`/
    /// `.tsd` in binary, base64 or PEM, XML, M7M). `file` is only copied into the report.
    ///
    /// Whatever is not a message (no e-mail header block: a `.doc`, a `.txt`, an image, a
    /// broken `.p7m`) is reported as a document, with the verdict of its signature
    /// (`NO_SIGNATURE_FOUND` when it has none). Errors are only empty input and messages
    /// that cannot be read (cut short, broken MIME); their `Display` is the one-line cause
    /// shown to the user.
    pub fn check(&self, file: &str, raw: &[u8]) -> Result<FileReport, PecError> {
        self.check_at(file, raw, self.default_time())
    }

    /// [`Checker::check`] at `when`: a bare document is judged at `when` (or at its trusted
    /// timestamp), a message as [`Checker::check_message_at`] says.
    pub fn check_at(&self, file: &str, raw: &[u8], when: ValidationTime) -> Result<FileReport, PecError> {
        // Told apart as delivered (a NUL in a header does not make a message a document);
        // a document is then verified as it is, byte for byte.
        let (delivered, _) = as_delivered(raw);
        let is_document = match crate::sniff::sniff(&delivered)? {
            crate::sniff::Content::Document => true,
            crate::sniff::Content::Message => crate::sniff::looks_like_m7m(&delivered),
        };
        if is_document {
            let options = VerifyOptions { time_source: when.source, ..VerifyOptions::default() };
            let signature = verify_document_with(raw, None, &self.doc_trust, when.at, options);
            return Ok(FileReport::Document(DocumentReport { file: file.to_owned(), signature }));
        }
        self.check_message_at(file, raw, when).map(|m| FileReport::Message(Box::new(m)))
    }

    /// Former entry point, when the kind of file was told by its extension. The extension is
    /// now ignored: see [`Checker::check`].
    #[deprecated(note = "use Checker::check: files are told apart by content, not by extension")]
    pub fn check_file(&self, file: &str, raw: &[u8], _extension: Option<&str>) -> Result<FileReport, PecError> {
        self.check(file, raw)
    }

    /// Checks one message. `file` is only copied into the report.
    pub fn check_message(&self, file: &str, raw: &[u8]) -> Result<MessageReport, PecError> {
        self.check_message_at(file, raw, self.default_time())
    }

    /// Checks one message processed at `when`. The provider's certificate is judged at
    /// `when`; when the envelope is valid, trusted and its daticert agrees with it, the
    /// attachments' certificates are judged at the PEC's time reference (daticert `<data>`,
    /// the moment the provider signed: DPCM 22/2/2013 art. 41 c.4 c makes it a time
    /// validation opposable to third parties), so that a document signed and sent while its
    /// certificate was valid stays valid when it is read, checked again or registered later.
    /// Otherwise they are judged at `when`.
    ///
    /// A message holding NUL bytes is judged as an IMAP server delivers it: see
    /// [`as_delivered`]. The report says so in its warnings.
    pub fn check_message_at(&self, file: &str, raw: &[u8], when: ValidationTime) -> Result<MessageReport, PecError> {
        let (delivered, nuls) = as_delivered(raw);
        let mut envelope = envelope::parse(&delivered)?;
        if nuls > 0 {
            envelope.warnings.push(format!(
                "il messaggio contiene {nuls} byte NUL: è stato esaminato come lo consegna un server IMAP \
                 (Dovecot), con ogni NUL sostituito dal byte 0x80; la copia archiviata è quella ricevuta, \
                 byte per byte"
            ));
        }
        let signature = self.envelope_signature_at(&envelope, when);
        let attachments = std::mem::take(&mut envelope.attachments);
        let signatures = self.attachment_signatures(&attachments, attachment_time(&envelope, &signature, when));
        // Moved, not cloned: an attachment can be most of the message.
        let attachments = attachments
            .into_iter()
            .zip(signatures)
            .map(|(attachment, signature)| AttachmentReport { attachment, signature: Some(signature) })
            .collect();
        Ok(MessageReport::new(file, envelope, signature, attachments))
    }

    /// Every attachment's document signature. A detached `.p7s` is checked against the
    /// file it accompanies, and both entries carry that result (ARCHITECTURE.md §3).
    pub fn attachment_reports(&self, attachments: &[Attachment]) -> Vec<AttachmentReport> {
        self.attachment_reports_at(attachments, self.default_time())
    }

    /// [`Checker::attachment_reports`] judged at `when` (for a PEC, its time reference).
    pub fn attachment_reports_at(&self, attachments: &[Attachment], when: ValidationTime) -> Vec<AttachmentReport> {
        attachments
            .iter()
            .zip(self.attachment_signatures(attachments, when))
            .map(|(a, signature)| AttachmentReport { attachment: a.clone(), signature: Some(signature) })
            .collect()
    }

    fn attachment_signatures(&self, attachments: &[Attachment], when: ValidationTime) -> Vec<SignatureReport> {
        let by_name = |name: &str| attachments.iter().find(|a| a.name.as_deref() == Some(name));
        // The verdict only: the attachment itself is the document, so a copy of a .p7m's
        // content in the report (never serialised, never read) would only cost a fresh
        // allocation the size of the document per message.
        let options = VerifyOptions { extract_content: false, time_source: when.source };
        let verify = |bytes: &[u8], detached: Option<&[u8]>| {
            verify_document_with(bytes, detached, &self.doc_trust, when.at, options)
        };
        attachments
            .iter()
            .map(|a| {
                if let Some(doc) = a.signs.as_deref().and_then(by_name) {
                    verify(&a.content, Some(&doc.content))
                } else if let Some(p7s) = a.detached_signature.as_deref().and_then(by_name) {
                    verify(&p7s.content, Some(&a.content))
                } else {
                    verify(&a.content, None)
                }
            })
            .collect()
    }

    /// The provider-signature check of an envelope already read: the detached CMS over the
    /// signed part's bytes in canonical CRLF form, by `sigillo_signature` (the one CMS
    /// verifier of the workspace).
    pub fn envelope_signature(&self, envelope: &Envelope<'_>) -> EnvelopeSignature {
        self.envelope_signature_at(envelope, self.default_time())
    }

    /// [`Checker::envelope_signature`] with the provider's certificate judged at `when`.
    pub fn envelope_signature_at(&self, envelope: &Envelope<'_>, when: ValidationTime) -> EnvelopeSignature {
        match &envelope.signed {
            SignedLookup::NotSigned => EnvelopeSignature {
                status: EnvelopeStatus::Missing,
                signer: None,
                detail: None,
                canonicalised: false,
                judged_at: None,
                time_source: None,
                subindication: None,
            },
            SignedLookup::Malformed(why) => EnvelopeSignature {
                status: EnvelopeStatus::Invalid,
                signer: None,
                detail: Some(why.clone()),
                canonicalised: false,
                judged_at: None,
                time_source: None,
                subindication: None,
            },
            SignedLookup::Signed(s) => {
                let check = cms::verify_detached(&s.signature, &s.content, &self.pec_trust, when.at);
                let status = match check.status {
                    CmsStatus::Valid => EnvelopeStatus::Valid,
                    CmsStatus::Invalid | CmsStatus::Malformed => EnvelopeStatus::Invalid,
                    CmsStatus::Untrusted => EnvelopeStatus::Untrusted,
                };
                EnvelopeSignature {
                    status,
                    signer: check.signer.map(|s| s.subject),
                    detail: (status != EnvelopeStatus::Valid).then_some(check.detail),
                    canonicalised: s.recanonicalised,
                    judged_at: Some(when.at),
                    time_source: Some(when.source),
                    subindication: check.subindication,
                }
            }
        }
    }
}

/// The time a message's attachments are judged at: the PEC's time reference when the
/// provider's signature vouches for it (valid, trusted, over a daticert that agrees with
/// the envelope), else the time of the check.
fn attachment_time(envelope: &Envelope<'_>, signature: &EnvelopeSignature, when: ValidationTime) -> ValidationTime {
    let vouched = signature.status == EnvelopeStatus::Valid && envelope.daticert_mismatch.is_none();
    match envelope.daticert.as_ref().and_then(|d| d.data).filter(|_| vouched) {
        Some(data) => ValidationTime { at: data.with_timezone(&Utc), source: TimeSource::PecTime },
        None => when,
    }
}

fn add_anchors(store: &mut TrustStore, file: &[u8]) -> Result<(), PecError> {
    // PEM bundles, DER and CRLs are all understood by the trust store itself.
    store.add(file).map_err(|e| PecError::BadAnchor(e.to_string()))
}

/// What `check_file` found: one JSON line of `sigillo check --json`.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum FileReport {
    // Boxed: a message report is much larger than a document report.
    Message(Box<MessageReport>),
    Document(DocumentReport),
}

/// A bare signed document: `{"file", "signature": {…}}`.
#[derive(Debug, Clone, Serialize)]
pub struct DocumentReport {
    pub file: String,
    pub signature: SignatureReport,
}

impl FileReport {
    /// The short Italian report for people.
    pub fn human_it(&self) -> String {
        match self {
            FileReport::Message(m) => crate::report::human_it(m),
            FileReport::Document(d) => crate::report::human_document_it(d),
        }
    }
}

/// The message as an IMAP server hands it to a client: every NUL byte replaced by 0x80,
/// with how many there were.
///
/// RFC 5322 forbids NUL in a message and IMAP cannot carry it in a literal (RFC 3501 §4.3),
/// so Dovecot rewrites each NUL as 0x80 when it delivers a message (`istream-nonuls`). A
/// message read from the mailbox never holds one; the same bytes pushed by hand with
/// `sigillo ingest` would, and would be refused as "contenuto binario" although the
/// provider's signature covers nothing outside the signed part. Judging both copies alike
/// gives one decision for one message whatever the channel; the stored raw bytes are left
/// as they came. A NUL inside the signed part breaks its signature either way.
pub fn as_delivered(raw: &[u8]) -> (std::borrow::Cow<'_, [u8]>, usize) {
    let nuls = memchr::memchr_iter(0, raw).count();
    if nuls == 0 {
        return (std::borrow::Cow::Borrowed(raw), 0);
    }
    let replaced = raw.iter().map(|&b| if b == 0 { 0x80 } else { b }).collect();
    (std::borrow::Cow::Owned(replaced), nuls)
}
