//! ETSI TS 119 612 trusted lists for Sigillo: the EU list of trusted lists (LOTL) and the
//! national lists it points at, each verified against the certificates allowed to sign it,
//! then read into their trust services with each service's status history.
//! Pure: bytes in, values out, no I/O (the binary fetches and stores).
//!
//! # Entry points
//! * [`verify_list`]: one list's enveloped XML signature checked with the allowed signer
//!   certificates, then the list read from the very tree that was verified.
//! * [`TrustSet::build`]: a first list (verified with the configured signers) and further
//!   lists matched to its pointers by territory (each verified with its pointer's
//!   certificates); a list that fails is left out with a warning.
//! * [`TrustSet::document_anchors`]: the CA/QC services granted at a given time, as trust
//!   anchors for document signatures.

mod model;
mod read;
mod set;

pub use model::{HistoryEntry, Pointer, Provider, Service, ServiceStatus, TrustedList, svc_type};
pub use set::{Anchor, Loaded, TrustSet};

use sigillo_signature::cert::Certificate;
use sigillo_signature::xmldsig::{self, Covered, Limits, XmlSigFailure};

/// Why a list was refused. One line, naming the cause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustListError {
    /// The XML signature is missing or does not verify with an allowed certificate.
    #[error("{0}")]
    Signature(#[from] XmlSigFailure),
    /// More than one signature: which one protects the list would be ambiguous.
    #[error("{0} XML signatures, a trusted list carries exactly one")]
    SeveralSignatures(usize),
    /// The signature verifies but does not cover the whole list (enveloped, `URI=""`).
    #[error("the signature does not cover the whole list: {0}")]
    NotCovered(String),
    /// Not a TS 119 612 list, or a field that cannot be read.
    #[error("not a valid trusted list: {0}")]
    Format(String),
    /// No certificate to verify the list with (a pointer without certificates, say).
    #[error("no certificate is allowed to sign this list")]
    NoSigners,
}

/// The TS 119 612 v2 namespace of the list's own elements.
pub const TSL_NS: &str = "http://uri.etsi.org/02231/v2#";

/// A list that verified, with the index (into the signers given) of the certificate whose
/// key signed it.
#[derive(Debug, Clone)]
pub struct VerifiedList {
    pub list: TrustedList,
    pub signer: Certificate,
}

/// Verifies `bytes` as a trusted list signed by one of `signers`, and reads it.
///
/// The list must carry exactly one `ds:Signature`, a child of the root, whose references
/// include `URI=""` with the enveloped-signature transform: the whole document except that
/// signature is then covered, and the list is read from the same parsed tree, so no element
/// outside what was signed can be read (no signature wrapping).
pub fn verify_list(bytes: &[u8], signers: &[Certificate]) -> Result<VerifiedList, TrustListError> {
    if signers.is_empty() {
        return Err(TrustListError::NoSigners);
    }
    let limits = Limits::default();
    let text = xmldsig::decode(bytes, limits)?;
    let doc = xmldsig::parse(text, limits)?;
    let root = doc.document_element().ok_or_else(|| TrustListError::Format("empty document".into()))?;
    if !doc.element(root).is_some_and(|e| e.name.matches(Some(TSL_NS), "TrustServiceStatusList")) {
        return Err(TrustListError::Format("the root element is not TrustServiceStatusList".into()));
    }
    let sigs = xmldsig::find_signatures(&doc);
    let sig = match sigs.as_slice() {
        [] => return Err(XmlSigFailure::NoSignature.into()),
        [one] => *one,
        many => return Err(TrustListError::SeveralSignatures(many.len())),
    };
    if doc.parent(sig.0) != Some(root) {
        return Err(TrustListError::NotCovered("the signature is not a child of TrustServiceStatusList".into()));
    }
    let verified = xmldsig::verify(&doc, sig, signers, &|_| None)?;
    if !verified.references.iter().any(|r| r.covered == Covered::Document && r.enveloped) {
        return Err(TrustListError::NotCovered("no enveloped reference to the whole document (URI=\"\")".into()));
    }
    let list = read::list(&doc, root)?;
    let signer = signers.get(verified.signer).cloned().ok_or(TrustListError::NoSigners)?;
    Ok(VerifiedList { list, signer })
}

/// Reads a list without verifying it: only to learn its territory and type, so that the
/// right pointer's certificates can then verify it with [`verify_list`]. Nothing read here
/// may be trusted.
pub fn peek(bytes: &[u8]) -> Result<TrustedList, TrustListError> {
    let limits = Limits::default();
    let text = xmldsig::decode(bytes, limits)?;
    let doc = xmldsig::parse(text, limits)?;
    let root = doc.document_element().ok_or_else(|| TrustListError::Format("empty document".into()))?;
    read::list(&doc, root)
}
