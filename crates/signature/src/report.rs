//! Report types (serde shape of ARCHITECTURE.md §4) and the ETSI EN 319 102-1 vocabulary.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Main indication, as EU DSS prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Indication {
    TotalPassed,
    Indeterminate,
    TotalFailed,
    NoSignatureFound,
}

/// Sub-indications (ETSI EN 319 102-1 §5.1.3, DSS `SubIndication`), plus
/// `FORMAT_NOT_SUPPORTED` for formats this verifier recognises but cannot check (XAdES).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SubIndication {
    FormatFailure,
    HashFailure,
    SigCryptoFailure,
    Revoked,
    Expired,
    NotYetValid,
    SigConstraintsFailure,
    ChainConstraintsFailure,
    CertificateChainGeneralFailure,
    CryptoConstraintsFailure,
    CryptoConstraintsFailureNoPoe,
    NoSigningCertificateFound,
    NoCertificateChainFound,
    RevokedNoPoe,
    OutOfBoundsNoPoe,
    OutOfBoundsNotRevoked,
    SignedDataNotFound,
    FormatNotSupported,
}

impl SubIndication {
    /// The main indication this sub-indication belongs to.
    pub fn indication(self) -> Indication {
        use SubIndication::*;
        match self {
            FormatFailure | HashFailure | SigCryptoFailure | Revoked | Expired | NotYetValid => Indication::TotalFailed,
            _ => Indication::Indeterminate,
        }
    }
}

/// Signature format of the outermost container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Format {
    #[serde(rename = "CAdES")]
    Cades,
    #[serde(rename = "CAdES-detached")]
    CadesDetached,
    #[serde(rename = "PAdES")]
    Pades,
    #[serde(rename = "XAdES")]
    Xades,
    /// RFC 5544 TimeStampedData (.tsd).
    #[serde(rename = "TSD")]
    Tsd,
    /// Italian M7M (MIME p7m + timestamp).
    #[serde(rename = "M7M")]
    M7m,
    #[serde(rename = "none")]
    None,
}

/// How a signer relates to the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SignerRole {
    /// A signer of the content (parallel signers are all `signer`).
    Signer,
    /// A countersignature (controfirma) over another signer's signature.
    Countersigner,
}

/// One signer of a document, with its own verdict.
#[derive(Debug, Clone, Serialize)]
pub struct SignerReport {
    pub role: SignerRole,
    /// Envelope depth: 0 for the outermost p7m, 1 for a p7m inside it, …; for PDFs the
    /// signature's position in the file.
    pub layer: usize,
    pub subject: Option<String>,
    pub common_name: Option<String>,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    /// Codice fiscale from the subject serialNumber `TINIT-…`.
    pub fiscal_code: Option<String>,
    pub issuer: Option<String>,
    pub serial_number: Option<String>,
    pub email: Option<String>,
    pub not_before: Option<DateTime<Utc>>,
    pub not_after: Option<DateTime<Utc>>,
    /// Claimed by the signer (signed signingTime or PDF /M): not a proof of time.
    pub signing_time: Option<DateTime<Utc>>,
    /// Time of an intact signature timestamp (CAdES-T), the proof of existence used.
    pub timestamp_time: Option<DateTime<Utc>>,
    pub digest_algorithm: Option<&'static str>,
    /// QcCompliance statement in the certificate.
    pub qualified: bool,
    pub verdict: Indication,
    pub subindication: Option<SubIndication>,
    pub detail: String,
}

/// The verification report of one document.
#[derive(Debug, Clone, Serialize)]
pub struct SignatureReport {
    pub verdict: Indication,
    pub subindication: Option<SubIndication>,
    pub format: Format,
    /// Container encoding of the outermost layer: "DER", "BER", "base64", "PEM", "PDF", "XML", "MIME".
    pub encoding: Option<&'static str>,
    pub signers: Vec<SignerReport>,
    /// Number of nested envelopes (p7m inside p7m counts 2).
    pub envelopes: usize,
    /// Short explanation of the verdict.
    pub detail: String,
    /// The signed content extracted from the innermost envelope (CAdES enveloping only);
    /// not serialised.
    #[serde(skip)]
    pub content: Option<Vec<u8>>,
}

/// Status of a detached CMS check (the PEC envelope signature).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CmsStatus {
    Valid,
    /// The bytes changed after signing, or the cryptography failed.
    Invalid,
    /// Intact, but the signer does not chain to a trust anchor (or its certificate is
    /// expired / revoked at the reference time).
    Untrusted,
    /// Not a parseable CMS SignedData.
    Malformed,
}

/// Who signed a CMS, for reports.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SignerInfoSummary {
    pub subject: String,
    pub common_name: Option<String>,
    pub issuer: String,
    pub serial_number: String,
    pub email: Option<String>,
    pub signing_time: Option<DateTime<Utc>>,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    pub digest_algorithm: Option<&'static str>,
}

/// The result of [`crate::cms::verify_detached`].
#[derive(Debug, Clone, Serialize)]
pub struct CmsCheck {
    pub status: CmsStatus,
    /// The first signer (PEC envelopes have one).
    pub signer: Option<SignerInfoSummary>,
    pub detail: String,
}
