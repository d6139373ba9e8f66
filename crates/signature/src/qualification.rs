//! Whether a signature is a qualified electronic signature (ETSI TS 119 615 §4.3): what the
//! signer's certificate says of itself (QCStatements, ETSI EN 319 412-5), overridden by what
//! the trusted list says of the certificates its CA/QC service issued (the service's
//! `Qualifications` extension, ETSI TS 119 612 §5.5.9.2: qualifiers for the certificates
//! that meet the criteria).

use crate::cert::Certificate;

/// A qualifier of the `Qualifications` extension
/// (`http://uri.etsi.org/TrstSvc/TrustedList/SvcInfoExt/…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qualifier {
    /// `QCStatement`: qualified, whatever the certificate says.
    QcStatement,
    /// `NotQualified`.
    NotQualified,
    /// `QCWithSSCD`, `QCWithQSCD`, `QCQSCDManagedOnBehalf`: the key is on a (Q)SCD.
    WithQscd,
    /// `QCNoSSCD`, `QCNoQSCD`: it is not.
    NoQscd,
    /// `QCSSCDStatusAsInCert`, `QCQSCDStatusAsInCert`: as the certificate says.
    QscdAsInCert,
    /// `QCForESig`: for electronic signatures.
    ForESig,
    /// `QCForESeal`: for electronic seals.
    ForESeal,
    /// `QCForWSA`: for website authentication.
    ForWebsite,
    /// `QCForLegalPerson`: issued to a legal person (a seal, never a person's signature).
    ForLegalPerson,
}

impl Qualifier {
    /// The qualifier a URI names; `None` for one we do not know (then ignored).
    pub fn from_uri(uri: &str) -> Option<Qualifier> {
        let tail = uri.trim().rsplit('/').next().unwrap_or_default();
        Some(match tail {
            "QCStatement" => Qualifier::QcStatement,
            "NotQualified" => Qualifier::NotQualified,
            "QCWithSSCD" | "QCWithQSCD" | "QCQSCDManagedOnBehalf" => Qualifier::WithQscd,
            "QCNoSSCD" | "QCNoQSCD" => Qualifier::NoQscd,
            "QCSSCDStatusAsInCert" | "QCQSCDStatusAsInCert" => Qualifier::QscdAsInCert,
            "QCForESig" => Qualifier::ForESig,
            "QCForESeal" => Qualifier::ForESeal,
            "QCForWSA" => Qualifier::ForWebsite,
            "QCForLegalPerson" => Qualifier::ForLegalPerson,
            _ => return None,
        })
    }
}

/// How the criteria of a list combine (`CriteriaList@assert`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assert {
    All,
    AtLeastOne,
    None,
}

/// One criterion of a `CriteriaList`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Criterion {
    /// `KeyUsage`: each bit (0 = digitalSignature … 8 = decipherOnly) set or clear as given.
    KeyUsage(Vec<(u8, bool)>),
    /// `PolicySet`: the certificate carries every one of these policies (OID content octets).
    PolicySet(Vec<Vec<u8>>),
    /// A nested `CriteriaList`.
    List(Criteria),
    /// `otherCriteriaList` or anything else we cannot evaluate: never met, so that a
    /// qualifier is never applied on a guess.
    Unsupported,
}

/// A `CriteriaList`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Criteria {
    pub assert: Assert,
    pub items: Vec<Criterion>,
}

impl Criteria {
    /// Whether `cert` meets these criteria. A list holding a criterion we cannot evaluate is
    /// not met, whatever its `assert`.
    pub fn matches(&self, cert: &Certificate) -> bool {
        let mut met = Vec::with_capacity(self.items.len());
        for item in &self.items {
            met.push(match item {
                Criterion::KeyUsage(bits) => bits.iter().all(|(bit, set)| key_usage_bit(cert, *bit) == *set),
                Criterion::PolicySet(oids) => oids.iter().all(|o| cert.policies.contains(o)),
                Criterion::List(inner) => inner.matches(cert),
                Criterion::Unsupported => return false,
            });
        }
        match self.assert {
            Assert::All => met.iter().all(|m| *m),
            Assert::AtLeastOne => met.iter().any(|m| *m),
            Assert::None => !met.iter().any(|m| *m),
        }
    }
}

/// A `QualificationElement`: its qualifiers hold for the certificates meeting its criteria.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Qualification {
    pub qualifiers: Vec<Qualifier>,
    pub criteria: Criteria,
}

fn key_usage_bit(cert: &Certificate, bit: u8) -> bool {
    // Bit 0 (digitalSignature) is the high bit of the first octet.
    cert.key_usage.is_some_and(|ku| bit < 16 && ku & (0x8000 >> bit) != 0)
}

/// Whether `cert`, issued under a CA/QC service with `qualifications`, is a qualified
/// certificate for electronic signatures whose key is on a qualified signature creation
/// device. From the certificate: QcCompliance, QcSSCD, and QcType esign (or no QcType: before
/// 2016 every qualified certificate was one for signatures). Then every qualification whose
/// criteria the certificate meets overrides what its qualifiers speak of.
pub fn qualified_for_esig(cert: &Certificate, qualifications: &[Qualification]) -> bool {
    let types: Vec<&String> = cert.qc_statements.iter().filter(|s| s.starts_with("QcType")).collect();
    let mut qualified = cert.qc_compliance;
    let mut qscd = cert.qc_sscd;
    let mut esig = types.is_empty() || types.iter().any(|t| *t == "QcType-esign");
    for q in qualifications.iter().filter(|q| q.criteria.matches(cert)) {
        for qualifier in &q.qualifiers {
            match qualifier {
                Qualifier::QcStatement => qualified = true,
                Qualifier::NotQualified => qualified = false,
                Qualifier::WithQscd => qscd = true,
                Qualifier::NoQscd => qscd = false,
                Qualifier::QscdAsInCert => qscd = cert.qc_sscd,
                Qualifier::ForESig => esig = true,
                Qualifier::ForESeal | Qualifier::ForWebsite | Qualifier::ForLegalPerson => esig = false,
            }
        }
    }
    qualified && qscd && esig
}
