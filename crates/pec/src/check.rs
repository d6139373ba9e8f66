//! The whole check of one input: read the message as PEC, verify the provider's signature
//! and the documents' signatures, apply the decision table.

use std::time::SystemTime;

use chrono::{DateTime, Utc};
use sigillo_signature::{CmsStatus, SignatureReport, TrustStore, VerifyOptions, cms, verify_document, verify_document_with};

use crate::envelope::{self, Envelope};
use crate::error::PecError;
use serde::Serialize;

use crate::attachments::Attachment;
use crate::report::{AttachmentReport, EnvelopeSignature, EnvelopeStatus, MessageReport};
use crate::signed::SignedLookup;

/// Trust anchors and the time of the check; build once, use for many files.
pub struct Checker {
    pec_trust: TrustStore,
    doc_trust: TrustStore,
    now: DateTime<Utc>,
}

impl Checker {
    /// A checker with no anchors: every provider signature is then `untrusted`.
    /// `now` is the reference time for certificate validity.
    pub fn new(now: SystemTime) -> Self {
        Self { pec_trust: TrustStore::empty(), doc_trust: TrustStore::empty(), now: DateTime::<Utc>::from(now) }
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
        let is_document = match crate::sniff::sniff(raw)? {
            crate::sniff::Content::Document => true,
            crate::sniff::Content::Message => crate::sniff::looks_like_m7m(raw),
        };
        if is_document {
            let signature = verify_document(raw, None, &self.doc_trust, self.now);
            return Ok(FileReport::Document(DocumentReport { file: file.to_owned(), signature }));
        }
        self.check_message(file, raw).map(|m| FileReport::Message(Box::new(m)))
    }

    /// Former entry point, when the kind of file was told by its extension. The extension is
    /// now ignored: see [`Checker::check`].
    #[deprecated(note = "use Checker::check: files are told apart by content, not by extension")]
    pub fn check_file(&self, file: &str, raw: &[u8], _extension: Option<&str>) -> Result<FileReport, PecError> {
        self.check(file, raw)
    }

    /// Checks one message. `file` is only copied into the report.
    pub fn check_message(&self, file: &str, raw: &[u8]) -> Result<MessageReport, PecError> {
        let mut envelope = envelope::parse(raw)?;
        let signature = self.envelope_signature(&envelope);
        let attachments = std::mem::take(&mut envelope.attachments);
        let signatures = self.attachment_signatures(&attachments);
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
        attachments
            .iter()
            .zip(self.attachment_signatures(attachments))
            .map(|(a, signature)| AttachmentReport { attachment: a.clone(), signature: Some(signature) })
            .collect()
    }

    fn attachment_signatures(&self, attachments: &[Attachment]) -> Vec<SignatureReport> {
        let by_name = |name: &str| attachments.iter().find(|a| a.name.as_deref() == Some(name));
        // The verdict only: the attachment itself is the document, so a copy of a .p7m's
        // content in the report (never serialised, never read) would only cost a fresh
        // allocation the size of the document per message.
        let options = VerifyOptions { extract_content: false };
        let verify = |bytes: &[u8], detached: Option<&[u8]>| {
            verify_document_with(bytes, detached, &self.doc_trust, self.now, options)
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
        match &envelope.signed {
            SignedLookup::NotSigned => EnvelopeSignature {
                status: EnvelopeStatus::Missing,
                signer: None,
                detail: None,
                canonicalised: false,
            },
            SignedLookup::Malformed(why) => EnvelopeSignature {
                status: EnvelopeStatus::Invalid,
                signer: None,
                detail: Some(why.clone()),
                canonicalised: false,
            },
            SignedLookup::Signed(s) => {
                let check = cms::verify_detached(&s.signature, &s.content, &self.pec_trust, self.now);
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
                }
            }
        }
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
