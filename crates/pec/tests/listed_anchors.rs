//! Trusted-list services as anchors (issue 16): a message's attachments are judged at the
//! PEC's time, with the services granted then; each signer names the service it chained to
//! and whether its signature is qualified (ETSI TS 119 615).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use sigillo_pec::report::{Decision, EnvelopeStatus};
use sigillo_pec::{Checker, FileReport, MessageReport, SubIndication, ValidationTime};
use sigillo_signature::cert::Certificate;
use sigillo_signature::{Indication, ListedAnchor, SignerReport, TrustService};
use sigillo_testpki::{Ca, CaSpec, Leaf, LeafSpec, SignOptions, sign_attached, sign_detached};

const CA_QC: &str = "http://uri.etsi.org/TrstSvc/Svctype/CA/QC";

fn t(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 10, 0, 0).single().unwrap()
}

fn ca(cn: &str) -> Ca {
    Ca::new_root_with(CaSpec { not_before: Some(t(2015, 1, 1)), not_after: Some(t(2045, 1, 1)), ..CaSpec::new(cn) })
}

fn listed(ca: &Ca, name: &str, granted: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)>) -> ListedAnchor {
    ListedAnchor {
        certificate: Certificate::from_der(ca.cert_der()).unwrap(),
        service: Arc::new(TrustService {
            name: name.into(),
            provider: "Test Provider S.p.A.".into(),
            territory: "IT".into(),
            type_id: CA_QC.into(),
            qualifications: Vec::new(),
        }),
        granted,
    }
}

struct Fixture {
    provider_ca: Ca,
    provider: Leaf,
    /// Granted 2018, withdrawn 2022-03-01.
    withdrawn_ca: Ca,
}

fn fixture() -> Fixture {
    let provider_ca = ca("Test PEC Providers CA");
    let provider = provider_ca
        .issue(LeafSpec::pec_provider("Posta Certificata Test", "posta-certificata@pec.test.it").validity(t(2016, 1, 1), t(2040, 1, 1)));
    Fixture { provider_ca, provider, withdrawn_ca: ca("Test QC CA withdrawn 2022") }
}

impl Fixture {
    fn checker(&self) -> Checker {
        let mut c = Checker::new(t(2030, 1, 1).into());
        c.add_pec_anchors(self.provider_ca.cert_pem().as_bytes()).unwrap();
        c.add_listed_anchors([listed(&self.withdrawn_ca, "Withdrawn CA", vec![(t(2018, 1, 1), Some(t(2022, 3, 1)))])]);
        c
    }

    /// A PEC sent at `pec_time` carrying a document Mario Rossi signed the day before.
    fn message(&self, signer: &Leaf, pec_time: DateTime<Utc>) -> Vec<u8> {
        let opts = SignOptions { signing_time: Some(pec_time - chrono::Duration::days(1)), ..SignOptions::default() };
        let doc = sign_attached(signer, b"Istanza, pratica 42\n", &opts);
        let atts = [("istanza.pdf.p7m", "application/pkcs7-mime", doc)];
        let env = SignOptions { signing_time: Some(pec_time), ..SignOptions::default() };
        sigillo_testpki::pec::dated_transport("opec.tl@pec.test.it", "Istanza", pec_time, &atts, |c| sign_detached(&self.provider, c, &env))
    }
}

fn person(ca: &Ca) -> Leaf {
    ca.issue(LeafSpec::person("Mario", "Rossi", "TINIT-RSSMRA80A01H501U").validity(t(2017, 1, 1), t(2035, 1, 1)))
}

fn first_signer(r: &MessageReport) -> &SignerReport {
    &r.attachments[0].signature.as_ref().unwrap().signers[0]
}

#[test]
fn attachments_are_judged_with_the_services_granted_at_the_pec_time() {
    let f = fixture();
    let checker = f.checker();
    let citizen = person(&f.withdrawn_ca);
    // Checked in 2023, after the withdrawal: the envelope is judged then, the attachment at
    // the PEC's time.
    let at = ValidationTime::given(t(2023, 6, 1));

    // Sent in 2021, while the service was granted: valid, and the service is named.
    let r = checker.check_message_at("2021.eml", &f.message(&citizen, t(2021, 6, 1)), at).unwrap();
    assert_eq!(r.pec.envelope_signature.status, EnvelopeStatus::Valid);
    let sig = r.attachments[0].signature.as_ref().unwrap();
    assert_eq!((sig.verdict, sig.subindication), (Indication::TotalPassed, None), "{}", sig.detail);
    assert_eq!(sig.judged_at, t(2021, 6, 1));
    assert_eq!(r.decision, Decision::Register);
    let s = first_signer(&r);
    assert_eq!(s.trust_service.as_ref().map(|x| (x.name.as_str(), x.territory.as_str())), Some(("Withdrawn CA", "IT")));
    assert!(s.qualified_signature);

    // Sent in June 2022, after the withdrawal: the service vouches for nothing then.
    let r = checker.check_message_at("2022.eml", &f.message(&citizen, t(2022, 6, 1)), at).unwrap();
    let sig = r.attachments[0].signature.as_ref().unwrap();
    assert_eq!((sig.verdict, sig.subindication), (Indication::Indeterminate, Some(SubIndication::NoCertificateChainFound)));
    assert_eq!(r.decision, Decision::Review);
    assert!(first_signer(&r).trust_service.is_none());
    assert!(!first_signer(&r).qualified_signature);
}

#[test]
fn a_bare_document_is_judged_with_the_services_of_its_own_time() {
    let f = fixture();
    let checker = f.checker();
    let doc = sign_attached(&person(&f.withdrawn_ca), b"Istanza\n", &SignOptions { signing_time: Some(t(2020, 1, 1)), ..SignOptions::default() });
    let verdict = |at| match checker.check_at("doc.p7m", &doc, ValidationTime::given(at)).unwrap() {
        FileReport::Document(d) => (d.signature.verdict, d.signature.subindication),
        other => panic!("{other:?}"),
    };
    assert_eq!(verdict(t(2021, 1, 1)), (Indication::TotalPassed, None));
    assert_eq!(verdict(t(2017, 6, 1)), (Indication::Indeterminate, Some(SubIndication::NoCertificateChainFound)));
    assert_eq!(verdict(t(2023, 1, 1)), (Indication::Indeterminate, Some(SubIndication::NoCertificateChainFound)));
}

#[test]
fn a_signature_is_qualified_only_with_qc_statements_and_a_ca_qc_service() {
    let f = fixture();
    let local_ca = ca("Test local CA");
    let mut checker = f.checker();
    checker.add_document_anchors(local_ca.cert_pem().as_bytes()).unwrap();
    let at = ValidationTime::given(t(2021, 1, 1));
    let signer_of = |leaf: &Leaf| {
        let doc = sign_attached(leaf, b"Istanza\n", &SignOptions { signing_time: Some(t(2020, 12, 1)), ..SignOptions::default() });
        match checker.check_at("doc.p7m", &doc, at).unwrap() {
            FileReport::Document(d) => {
                assert_eq!(d.signature.verdict, Indication::TotalPassed, "{}", d.signature.detail);
                d.signature.signers[0].clone()
            }
            other => panic!("{other:?}"),
        }
    };
    // QcCompliance, QcSSCD, QcType-esign under a CA/QC service: qualified.
    let qes = signer_of(&person(&f.withdrawn_ca));
    assert!(qes.qualified && qes.qualified_signature, "{:?}", qes.qc_statements);
    // No QC statements, same service: named, not qualified.
    let plain = f.withdrawn_ca.issue(LeafSpec::new("Anna Bianchi").validity(t(2017, 1, 1), t(2035, 1, 1)));
    let s = signer_of(&plain);
    assert_eq!(s.trust_service.as_ref().map(|x| x.name.as_str()), Some("Withdrawn CA"));
    assert!(!s.qualified && !s.qualified_signature);
    // QC statements under a local anchor (no trusted list): no service, not qualified.
    let s = signer_of(&person(&local_ca));
    assert!(s.qualified && !s.qualified_signature && s.trust_service.is_none());
    // The JSON of `check --json` carries both.
    let json = serde_json::to_value(&qes).unwrap();
    assert_eq!(json["qualified_signature"], true);
    assert_eq!(json["trust_service"]["name"], "Withdrawn CA");
    assert_eq!(json["trust_service"]["territory"], "IT");
    assert_eq!(json["trust_service"]["type"], CA_QC);
}

/// What the trusted list says of the certificates its service issued (the `Qualifications`
/// extension) overrides what a certificate says of itself, for the certificates that meet
/// the criteria (ETSI TS 119 612 §5.5.9.2, TS 119 615).
#[test]
fn the_lists_qualifications_override_what_the_certificate_says() {
    use sigillo_signature::qualification::{Assert, Criteria, Criterion, Qualification, Qualifier};
    const POLICY: &str = "1.3.76.38.1.1.1";
    let f = fixture();
    let policy = |oid: &str| Criteria {
        assert: Assert::All,
        items: vec![Criterion::PolicySet(vec![sigillo_signature::oids::from_dotted(oid).unwrap()])],
    };
    let with = |qualifications: Vec<Qualification>| {
        let mut c = Checker::new(t(2030, 1, 1).into());
        let mut anchor = listed(&f.withdrawn_ca, "Withdrawn CA", vec![(t(2018, 1, 1), Some(t(2022, 3, 1)))]);
        anchor.service = Arc::new(TrustService { qualifications, ..(*anchor.service).clone() });
        c.add_listed_anchors([anchor]);
        c
    };
    let qualified_signature = |checker: &Checker, leaf: &Leaf| {
        let doc = sign_attached(leaf, b"Istanza\n", &SignOptions { signing_time: Some(t(2020, 12, 1)), ..SignOptions::default() });
        match checker.check_at("doc.p7m", &doc, ValidationTime::given(t(2021, 1, 1))).unwrap() {
            FileReport::Document(d) => {
                assert_eq!(d.signature.verdict, Indication::TotalPassed, "{}", d.signature.detail);
                d.signature.signers[0].qualified_signature
            }
            other => panic!("{other:?}"),
        }
    };
    // A qualified certificate that does not state its key is on a QSCD, under the policy the
    // provider uses for remote signing.
    let remote = f.withdrawn_ca.issue(LeafSpec {
        no_qscd: true,
        policies: vec![POLICY.into()],
        ..LeafSpec::person("Mario", "Rossi", "TINIT-RSSMRA80A01H501U").validity(t(2017, 1, 1), t(2035, 1, 1))
    });
    let full = person(&f.withdrawn_ca);
    let managed = Qualification { qualifiers: vec![Qualifier::WithQscd], criteria: policy(POLICY) };
    assert!(!qualified_signature(&with(vec![]), &remote), "no QcSSCD and the list says nothing");
    assert!(qualified_signature(&with(vec![managed.clone()]), &remote), "QCQSCDManagedOnBehalf for its policy");
    // A qualification for another policy does not apply.
    let other = Qualification { qualifiers: vec![Qualifier::WithQscd], criteria: policy("1.3.76.38.1.1.2") };
    assert!(!qualified_signature(&with(vec![other]), &remote));
    // NotQualified, or issued to a legal person, takes a certificate's own claim away.
    let all_nonrep = |q: Qualifier| Qualification {
        qualifiers: vec![q],
        criteria: Criteria { assert: Assert::AtLeastOne, items: vec![Criterion::KeyUsage(vec![(1, true)])] },
    };
    assert!(qualified_signature(&with(vec![]), &full));
    assert!(!qualified_signature(&with(vec![all_nonrep(Qualifier::NotQualified)]), &full));
    assert!(!qualified_signature(&with(vec![all_nonrep(Qualifier::ForLegalPerson)]), &full));
    // A criterion we cannot evaluate never applies its qualifiers, even under assert="none".
    let unknown = Qualification {
        qualifiers: vec![Qualifier::NotQualified],
        criteria: Criteria { assert: Assert::None, items: vec![Criterion::Unsupported] },
    };
    assert!(qualified_signature(&with(vec![unknown]), &full));
}
