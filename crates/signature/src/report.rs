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
    /// The revocation status of a certificate could not be had now (responder down,
    /// timeout, unusable answer): ask again later (ETSI EN 319 102-1 TRY_LATER).
    TryLater,
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

/// Why a signature was judged at the time it was (`judged_at` in the reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TimeSource {
    /// The PEC time reference: the moment the provider signed the envelope (daticert
    /// `<data>`), a time validation opposable to third parties (DPCM 22/2/2013 art. 41 c.4 c).
    PecTime,
    /// An intact signature timestamp from a trusted TSA (CAdES-T), the proof of existence.
    Timestamp,
    /// The time of the check.
    Now,
    /// A time the user asked for (`sigillo check --at`).
    At,
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
    /// A qualified electronic signature (ETSI TS 119 615): valid, its certificate states
    /// QcCompliance, QcSSCD and a QcType for signatures (or none), and its path ends at a
    /// CA/QC service of a trusted list granted at the time of judgement.
    pub qualified_signature: bool,
    /// The trusted-list service the signer's path ends at (granted at the time of
    /// judgement); `None` when it ends at a local anchor or nowhere.
    pub trust_service: Option<crate::trust::TrustService>,
    /// Every QCStatement of the signer certificate by name ("QcCompliance", "QcSSCD",
    /// "QcType-esign", …).
    pub qc_statements: Vec<String>,
    /// The signature value and the message digest verify and the signed bytes were not
    /// changed afterwards ("firma integra"); `false` also when the signer certificate is
    /// missing, so that integrity could not be checked.
    pub intact: bool,
    pub verdict: Indication,
    pub subindication: Option<SubIndication>,
    pub detail: String,
    /// The time this signer's certificates were judged at: its trusted timestamp when it
    /// has one, else the reference time the caller gave (see `time_source`).
    pub judged_at: Option<DateTime<Utc>>,
    pub time_source: Option<TimeSource>,
}

impl SignerReport {
    /// A report with its verdict and no certificate details yet: the caller fills in what
    /// it knows.
    pub fn bare(role: SignerRole, layer: usize, verdict: Indication, subindication: Option<SubIndication>, detail: String) -> Self {
        SignerReport {
            role,
            layer,
            subject: None,
            common_name: None,
            given_name: None,
            surname: None,
            fiscal_code: None,
            issuer: None,
            serial_number: None,
            email: None,
            not_before: None,
            not_after: None,
            signing_time: None,
            timestamp_time: None,
            digest_algorithm: None,
            qualified: false,
            qualified_signature: false,
            trust_service: None,
            qc_statements: Vec::new(),
            intact: false,
            verdict,
            subindication,
            detail,
            judged_at: None,
            time_source: None,
        }
    }
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
    /// The reference time the document was judged at, and why that time; a signer with a
    /// trusted timestamp is judged at the timestamp instead (its own `judged_at`).
    pub judged_at: DateTime<Utc>,
    pub time_source: TimeSource,
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
    /// `TRY_LATER` when the signer's revocation status could not be had now (online
    /// revocation, responder down): `Untrusted` for now, to be checked again.
    pub subindication: Option<SubIndication>,
}

impl Indication {
    /// The verdict in Italian, for people.
    pub fn text_it(self) -> &'static str {
        match self {
            Indication::TotalPassed => "Firma valida",
            Indication::TotalFailed => "Firma NON valida",
            Indication::Indeterminate => "Firma non verificabile (esito indeterminato)",
            Indication::NoSignatureFound => "Nessuna firma trovata",
        }
    }
}

impl SubIndication {
    /// The sub-indication explained in Italian.
    pub fn text_it(self) -> &'static str {
        use SubIndication::*;
        match self {
            FormatFailure => "struttura della firma non conforme o documento modificato dopo la firma",
            HashFailure => "il contenuto non corrisponde a quello firmato",
            SigCryptoFailure => "il valore della firma non è verificabile con la chiave del certificato",
            Revoked => "certificato revocato",
            RevokedNoPoe => "certificato revocato prima del momento della verifica",
            TryLater => "stato di revoca del certificato non ottenibile ora (servizio OCSP/CRL non raggiungibile): riprovare",
            Expired | OutOfBoundsNoPoe | OutOfBoundsNotRevoked => {
                "certificato scaduto (nessuna marca temporale ne prova l'esistenza prima della scadenza)"
            }
            NotYetValid => "certificato non ancora valido alla data di firma",
            SigConstraintsFailure => "la firma non rispetta i requisiti richiesti",
            ChainConstraintsFailure => {
                "il certificato non rispetta i vincoli della catena (manca l'uso nonRepudiation, o nomi fuori da quelli ammessi dalla CA)"
            }
            CertificateChainGeneralFailure => "errore nella verifica della catena dei certificati",
            CryptoConstraintsFailure | CryptoConstraintsFailureNoPoe => {
                "algoritmo non più ammesso (MD5, SHA-1 o chiave troppo corta)"
            }
            NoSigningCertificateFound => {
                "certificato del firmatario assente o non legato alla firma (firma non CAdES-BES)"
            }
            NoCertificateChainFound => "certificato non emesso da un certificatore attendibile",
            SignedDataNotFound => "manca il documento firmato (firma separata senza il file)",
            FormatNotSupported => "formato di firma riconosciuto ma non verificabile (XAdES/XML)",
        }
    }
}

impl SignerReport {
    /// The checks of this signer as Italian tools show them: integrity ("Firma integra"),
    /// trust ("Certificato attendibile"), legal status ("Certificato qualificato").
    pub fn checks_it(&self) -> Vec<String> {
        let mut out = Vec::new();
        let sub = self.subindication;
        out.push(if self.intact {
            "Firma integra".to_owned()
        } else if self.subject.is_none() && sub == Some(SubIndication::NoSigningCertificateFound) {
            "Integrità non verificabile: certificato del firmatario assente".to_owned()
        } else {
            format!("Firma NON integra: {}", sub.map_or("verifica crittografica fallita", SubIndication::text_it))
        });
        if self.intact {
            out.push(match (self.verdict, sub) {
                (Indication::TotalPassed, _) => "Certificato attendibile".to_owned(),
                (_, Some(s)) => format!("Certificato non attendibile: {}", s.text_it()),
                (_, None) => "Certificato non attendibile".to_owned(),
            });
        }
        if self.subject.is_some() {
            out.push(if self.qualified {
                "Certificato qualificato (QcCompliance)".to_owned()
            } else {
                "Certificato non qualificato".to_owned()
            });
        }
        out
    }
}

impl SignatureReport {
    /// A short Italian summary for people (`sigillo check` without `--json`): the verdict,
    /// then per signer who signed and the checks of [`SignerReport::checks_it`]. Names and
    /// codici fiscali are in it: print it to the user, never log it.
    pub fn summary_it(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let _ = write!(s, "{}", self.verdict.text_it());
        if let Some(sub) = self.subindication {
            let _ = write!(s, ": {}", sub.text_it());
        }
        s.push('\n');
        for (i, signer) in self.signers.iter().enumerate() {
            let who = signer.common_name.as_deref().or(signer.subject.as_deref()).unwrap_or("firmatario sconosciuto");
            let role = match signer.role {
                SignerRole::Signer => "Firmatario",
                SignerRole::Countersigner => "Controfirma",
            };
            let _ = write!(s, "{role} {}: {who}", i + 1);
            if let Some(cf) = &signer.fiscal_code {
                let _ = write!(s, " (codice fiscale {cf})");
            }
            s.push('\n');
            if let Some(issuer) = &signer.issuer {
                let _ = writeln!(s, "  Emesso da: {issuer}");
            }
            if let Some(t) = signer.timestamp_time {
                let _ = writeln!(s, "  Marca temporale: {}", t.format("%d/%m/%Y %H:%M:%S UTC"));
            } else if let Some(t) = signer.signing_time {
                let _ = writeln!(s, "  Data di firma dichiarata: {}", t.format("%d/%m/%Y %H:%M:%S UTC"));
            }
            for c in signer.checks_it() {
                let _ = writeln!(s, "  {c}");
            }
            let _ = writeln!(s, "  Esito: {}", signer.verdict.text_it());
        }
        s
    }
}
