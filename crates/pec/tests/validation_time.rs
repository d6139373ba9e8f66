//! The time certificates are judged at (issue 14, item 1): a PEC's attachments at the PEC's
//! time reference (daticert `<data>`), the provider's certificate at the time of the check,
//! a bare document at the time asked for; each report says which time and why.

use chrono::{DateTime, TimeZone, Utc};
use sigillo_pec::report::{Decision, EnvelopeStatus, ReasonCode};
use sigillo_pec::{Checker, FileReport, MessageReport, TimeSource, ValidationTime};
use sigillo_signature::Indication;
use sigillo_testpki::{Ca, CaSpec, Leaf, LeafSpec, SignOptions, sign_attached, sign_detached};

fn t(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 10, 0, 0).single().unwrap_or_default()
}

struct Pki {
    provider_ca: Ca,
    provider: Leaf,
    citizen_ca: Ca,
    /// Valid 2025-01-01 .. 2025-03-31 only.
    citizen: Leaf,
}

fn pki() -> Pki {
    let ca = |cn: &str| Ca::new_root_with(CaSpec { not_before: Some(t(2024, 1, 1)), not_after: Some(t(2045, 1, 1)), ..CaSpec::new(cn) });
    let provider_ca = ca("Test PEC Providers CA");
    let provider = provider_ca.issue(
        LeafSpec::pec_provider("Posta Certificata Test", "posta-certificata@pec.test.it").validity(t(2024, 6, 1), t(2040, 1, 1)),
    );
    let citizen_ca = ca("Test Qualified Signatures CA");
    let citizen = citizen_ca.issue(
        LeafSpec::person("Mario", "Rossi", "TINIT-RSSMRA80A01H501U").validity(
            Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).single().unwrap_or_default(),
            Utc.with_ymd_and_hms(2025, 3, 31, 23, 59, 59).single().unwrap_or_default(),
        ),
    );
    Pki { provider_ca, provider, citizen_ca, citizen }
}

impl Pki {
    fn checker(&self, default_time: DateTime<Utc>) -> Checker {
        let mut c = Checker::new(default_time.into());
        c.add_pec_anchors(self.provider_ca.cert_pem().as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        c.add_document_anchors(self.citizen_ca.cert_pem().as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        c
    }

    /// A document signed by the citizen in February 2025.
    fn document(&self) -> Vec<u8> {
        let opts = SignOptions { signing_time: Some(t(2025, 2, 10)), ..SignOptions::default() };
        sign_attached(&self.citizen, b"Istanza di accesso agli atti, pratica 42\n", &opts)
    }

    /// A PEC certified at `pec_time` carrying the February document.
    fn pec(&self, pec_time: DateTime<Utc>) -> Vec<u8> {
        let atts = [("istanza.pdf.p7m", "application/pkcs7-mime", self.document())];
        let ident = format!("opec.{}@pec.test.it", pec_time.timestamp());
        let opts = SignOptions { signing_time: Some(pec_time), ..SignOptions::default() };
        sigillo_testpki::pec::dated_transport(&ident, "Istanza", pec_time, &atts, |c| sign_detached(&self.provider, c, &opts))
    }
}

fn attachment_signature(r: &MessageReport) -> &sigillo_signature::SignatureReport {
    r.attachments.first().and_then(|a| a.signature.as_ref()).unwrap_or_else(|| panic!("no attachment signature: {r:?}"))
}

/// Checked more than a year later, with the certificate long expired: the PEC of 14/02/2025
/// is registered, its document judged at the PEC's time.
#[test]
fn pec_of_february_with_a_certificate_valid_until_march_registers() {
    let pki = pki();
    let now = t(2026, 5, 28);
    let report = pki.checker(now).check_message_at("feb.eml", &pki.pec(t(2025, 2, 14)), ValidationTime::now(now)).unwrap();
    assert_eq!(report.pec.envelope_signature.status, EnvelopeStatus::Valid, "{:?}", report.pec.envelope_signature);
    assert_eq!(report.decision, Decision::Register, "{:?}", report.reasons);
    let sig = attachment_signature(&report);
    assert_eq!(sig.verdict, Indication::TotalPassed, "{}", sig.detail);
    assert_eq!((sig.judged_at, sig.time_source), (t(2025, 2, 14), TimeSource::PecTime));
    assert_eq!(sig.signers[0].judged_at, Some(t(2025, 2, 14)));
    assert_eq!(sig.signers[0].time_source, Some(TimeSource::PecTime));
    // The provider's certificate is judged at the time of processing.
    assert_eq!(report.pec.envelope_signature.judged_at, Some(now));
    assert_eq!(report.pec.envelope_signature.time_source, Some(TimeSource::Now));
}

/// The same certificate in a PEC of September 2025, after its expiry: review.
#[test]
fn pec_of_september_with_the_expired_certificate_goes_to_review() {
    let pki = pki();
    let now = t(2026, 5, 28);
    let report = pki.checker(now).check_message_at("sep.eml", &pki.pec(t(2025, 9, 15)), ValidationTime::now(now)).unwrap();
    assert_eq!(report.decision, Decision::Review, "{:?}", report.reasons);
    assert_eq!(report.reasons.iter().map(|r| r.code).collect::<Vec<_>>(), [ReasonCode::SignatureIndeterminate]);
    let sig = attachment_signature(&report);
    assert_eq!(sig.verdict, Indication::Indeterminate, "{}", sig.detail);
    assert_eq!((sig.judged_at, sig.time_source), (t(2025, 9, 15), TimeSource::PecTime));
}

/// A checker made before the certificate existed (a service started in December 2024)
/// registers a PEC of February 2025 when each message is checked at its own time.
#[test]
fn a_checker_made_before_the_certificate_existed_judges_each_message_at_its_time() {
    let pki = pki();
    let started = t(2024, 12, 1);
    let checker = pki.checker(started);
    let pec = pki.pec(t(2025, 2, 14));
    let report = checker.check_message_at("feb.eml", &pec, ValidationTime::now(t(2025, 2, 14))).unwrap();
    assert_eq!(report.decision, Decision::Register, "{:?}", report.reasons);
}

/// A PEC whose provider signature is not trusted gives no time reference: its attachments
/// are judged at the time of the check.
#[test]
fn an_untrusted_envelope_gives_no_time_reference() {
    let pki = pki();
    let now = t(2026, 5, 28);
    let mut checker = Checker::new(now.into());
    checker.add_document_anchors(pki.citizen_ca.cert_pem().as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    let report = checker.check_message_at("feb.eml", &pki.pec(t(2025, 2, 14)), ValidationTime::now(now)).unwrap();
    assert_eq!(report.pec.envelope_signature.status, EnvelopeStatus::Untrusted);
    let sig = attachment_signature(&report);
    assert_eq!((sig.judged_at, sig.time_source), (now, TimeSource::Now));
    assert_ne!(sig.verdict, Indication::TotalPassed);
}

/// A bare document is judged now, or at the time asked for; the JSON says which and why.
#[test]
fn a_bare_document_is_judged_now_or_at_the_time_asked() {
    let pki = pki();
    let doc = pki.document();
    let checker = pki.checker(t(2026, 5, 28));
    let Ok(FileReport::Document(now)) = checker.check("istanza.p7m", &doc) else { panic!("not a document") };
    assert_ne!(now.signature.verdict, Indication::TotalPassed);
    assert_eq!(now.signature.time_source, TimeSource::Now);
    let Ok(FileReport::Document(at)) = checker.check_at("istanza.p7m", &doc, ValidationTime::given(t(2025, 2, 20))) else {
        panic!("not a document")
    };
    assert_eq!(at.signature.verdict, Indication::TotalPassed, "{}", at.signature.detail);
    let json = serde_json::to_value(FileReport::Document(at)).unwrap_or_default();
    assert_eq!(json["signature"]["judged_at"], "2025-02-20T10:00:00Z", "{json}");
    assert_eq!(json["signature"]["time_source"], "at", "{json}");
    assert_eq!(json["signature"]["signers"][0]["time_source"], "at", "{json}");
}

/// The report's fields and their serde names.
#[test]
fn message_report_json_says_when_and_why() {
    let pki = pki();
    let now = t(2026, 5, 28);
    let report = pki.checker(now).check_message_at("feb.eml", &pki.pec(t(2025, 2, 14)), ValidationTime::given(now)).unwrap();
    let json = serde_json::to_value(&report).unwrap_or_default();
    assert_eq!(json["pec"]["envelope_signature"]["time_source"], "at", "{json}");
    assert_eq!(json["pec"]["envelope_signature"]["judged_at"], "2026-05-28T10:00:00Z", "{json}");
    assert_eq!(json["attachments"][0]["signature"]["time_source"], "pec-time", "{json}");
    assert_eq!(json["attachments"][0]["signature"]["judged_at"], "2025-02-14T10:00:00Z", "{json}");
    let human = sigillo_pec::human_it(&report);
    assert!(human.contains("Firme valutate al 14/02/2025 10:00:00 UTC (riferimento temporale della PEC)"), "{human}");
}
