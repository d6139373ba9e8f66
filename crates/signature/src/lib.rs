//! Signature verification for Sigillo: CAdES (.p7m/.p7s, nested, parallel, countersigned,
//! timestamped, .tsd, .m7m), PAdES and the PEC provider's S/MIME envelope signature.
//! Pure: bytes in, report out, no I/O.
//!
//! # Why our own BER reader on the RustCrypto 0.2/0.7 generation
//!
//! We use the stable RustCrypto generation (`der`/`const-oid` 0.7/0.9 era: `rsa` 0.9,
//! `p256`/`p384` 0.13, `sha1`/`sha2`/`md-5` 0.10) and read CMS with the small BER reader in
//! [`ber`] instead of `cms`:
//! * `der` 0.7 (`cms` 0.2.3) rejects indefinite lengths outright, and about half of the real
//!   Italian .p7m files are BER with indefinite lengths.
//! * `der` 0.8's `ber` feature (`cms` 0.3.0-rc) reads indefinite lengths but still rejects
//!   definite-length constructed OCTET STRINGs, and it needs `rsa` 0.10 release candidates.
//! * Either way `der` re-sorts SET OF on decode, so re-encoding a decoded SignedAttributes
//!   loses the stored bytes; the signature must be checked over the bytes *as stored* and
//!   only then over the DER-sorted form (the dss667 ArubaPEC file needs the second). Keeping
//!   borrowed slices of the input gives us both without fighting the typed decoder.
//!
//! Certificates, CRLs and TSTInfo are read with the same reader; `cms` 0.2.3 and
//! `x509-cert` 0.2 serve as independent cross-checks in the test PKI's tests.
//!
//! # Entry points
//! * [`verify_document`]: a document signature (CAdES/PAdES/XAdES detection by content) →
//!   [`SignatureReport`] with an ETSI verdict.
//! * [`cms::verify_detached`]: the PEC envelope's detached S/MIME signature → [`CmsCheck`].
//! * [`extract_signed_content`]: the innermost content of a (nested) p7m.
//! * [`TrustStore`]: anchors and CRLs from bytes.

pub mod ber;
pub mod cert;
pub mod cms;
pub mod crypto;
mod document;
mod input;
mod mime;
pub mod names;
mod pdf;
pub mod oids;
pub mod qualification;
pub mod report;
pub mod revocation;
mod rsa_verify;
pub mod signed_data;
pub mod signer;
pub mod trust;
mod verdict;
mod xades;
mod xml;
pub mod xmldsig;

pub use document::{VerifyOptions, extract_signed_content, verify_document, verify_document_with};

pub use report::{
    CmsCheck, CmsStatus, Format, Indication, SignatureReport, SignerInfoSummary, SignerReport, SignerRole,
    SubIndication, TimeSource,
};
pub use trust::{ListedAnchor, TrustService, TrustStore};

/// Errors of the parsing layers. Verification entry points do not return errors: they
/// fold every failure into their report.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("malformed ASN.1: {0}")]
    Asn1(String),
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("invalid certificate: {0}")]
    Certificate(String),
    #[error("no certificate or CRL found in the input")]
    NoCertificate,
    #[error("not a signed file: {0}")]
    NotSigned(String),
    #[error("malformed PDF: {0}")]
    Pdf(String),
}
