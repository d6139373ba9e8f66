//! Name constraints on PEC envelopes (issue 16): a test CA shaped like AgID CA1, which
//! permits only its providers' e-mail domains and organisation names. A provider
//! certificate inside them is trusted; one with an e-mail domain or an organisation outside
//! them is not, whatever its signature says: the envelope is `untrusted`, FORGED_ENVELOPE.

use chrono::{DateTime, TimeZone, Utc};
use sigillo_pec::report::{Decision, EnvelopeStatus, ReasonCode};
use sigillo_pec::{Checker, MessageReport, ValidationTime};
use sigillo_signature::Indication;
use sigillo_testpki::oids::{AT_COUNTRY, AT_LOCALITY, AT_ORGANIZATION, AT_STATE};
use sigillo_testpki::{Ca, CaSpec, Leaf, LeafSpec, NameConstraints, PrivateKey, SignOptions, Subtree, sign_attached, sign_detached};

fn t(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 10, 0, 0).single().unwrap_or_default()
}

fn provider_dn(org: &str) -> Subtree {
    Subtree::Directory(vec![
        (AT_COUNTRY, "IT".to_owned()),
        (AT_STATE, "Roma".to_owned()),
        (AT_LOCALITY, "Roma".to_owned()),
        (AT_ORGANIZATION, org.to_owned()),
    ])
}

/// The constraints AgID CA1 carries, for a test provider: its host and a domain's
/// subdomains, its organisation; every IP address and (as the 2025 version) every DNS name
/// excluded.
fn agid_like(extra: Vec<Subtree>) -> NameConstraints {
    let mut permitted = vec![
        Subtree::Email("pec.test.it".to_owned()),
        Subtree::Email(".sicurezzapostale.test".to_owned()),
        provider_dn("Test PEC S.p.A."),
    ];
    permitted.extend(extra);
    NameConstraints {
        permitted,
        excluded: vec![Subtree::Ip(vec![0; 8]), Subtree::Ip(vec![0; 32]), Subtree::Dns(String::new())],
    }
}

fn ca_spec(nc: Option<NameConstraints>) -> CaSpec {
    CaSpec {
        not_before: Some(t(2024, 1, 1)),
        not_after: Some(t(2045, 1, 1)),
        name_constraints: nc,
        ..CaSpec::new("Test AgID CA1")
    }
}

fn provider(ca: &Ca, org: &str, email: &str) -> Leaf {
    ca.issue(LeafSpec::agid_provider(org, "Roma", "Roma", email).validity(t(2024, 6, 1), t(2040, 1, 1)))
}

fn envelope(signer: &Leaf) -> Vec<u8> {
    let at = t(2025, 2, 14);
    let opts = SignOptions { signing_time: Some(at), include_chain: true, ..SignOptions::default() };
    sigillo_testpki::pec::dated_transport("opec.nc@pec.test.it", "Istanza", at, &[], |c| sign_detached(signer, c, &opts))
}

fn check(anchors: &[&Ca], signer: &Leaf) -> MessageReport {
    let mut checker = Checker::new(t(2025, 2, 14).into());
    for a in anchors {
        checker.add_pec_anchors(a.cert_pem().as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    }
    checker.check_message_at("nc.eml", &envelope(signer), ValidationTime::now(t(2025, 2, 14))).unwrap_or_else(|e| panic!("{e}"))
}

fn assert_forged(report: &MessageReport, cause: &str) {
    let sig = &report.pec.envelope_signature;
    assert_eq!(sig.status, EnvelopeStatus::Untrusted, "{sig:?}");
    let detail = sig.detail.clone().unwrap_or_default();
    assert!(detail.contains("outside the name constraints") && detail.contains(cause), "{detail}");
    assert_eq!(report.decision, Decision::Reject);
    assert_eq!(report.reasons.iter().map(|r| r.code).collect::<Vec<_>>(), [ReasonCode::ForgedEnvelope]);
}

#[test]
fn a_provider_inside_the_constraints_is_trusted() {
    let ca = Ca::new_root_with(ca_spec(Some(agid_like(vec![]))));
    for email in ["posta-certificata@pec.test.it", "posta-certificata@PEC.Test.IT", "x@gestore.sicurezzapostale.test"] {
        let report = check(&[&ca], &provider(&ca, "Test PEC S.p.A.", email));
        assert_eq!(report.pec.envelope_signature.status, EnvelopeStatus::Valid, "{email}: {:?}", report.pec.envelope_signature);
        assert_eq!(report.decision, Decision::Register, "{email}: {:?}", report.reasons);
    }
}

#[test]
fn an_e_mail_domain_outside_the_constraints_is_forged() {
    let ca = Ca::new_root_with(ca_spec(Some(agid_like(vec![]))));
    // Another domain; a subdomain of a host constraint; the bare domain of a dot constraint.
    for email in ["posta-certificata@pec.evil.it", "x@sub.pec.test.it", "x@sicurezzapostale.test"] {
        assert_forged(&check(&[&ca], &provider(&ca, "Test PEC S.p.A.", email)), email);
    }
}

#[test]
fn an_organisation_outside_the_constraints_is_forged() {
    let ca = Ca::new_root_with(ca_spec(Some(agid_like(vec![]))));
    let report = check(&[&ca], &provider(&ca, "Truffa PEC S.r.l.", "posta-certificata@pec.test.it"));
    assert_forged(&report, "Truffa PEC S.r.l.");
}

#[test]
fn without_constraints_the_same_certificates_are_trusted() {
    // The control: what the constraints refuse above is otherwise a good signature.
    let ca = Ca::new_root_with(ca_spec(None));
    let report = check(&[&ca], &provider(&ca, "Truffa PEC S.r.l.", "posta-certificata@pec.evil.it"));
    assert_eq!(report.pec.envelope_signature.status, EnvelopeStatus::Valid, "{:?}", report.pec.envelope_signature);
}

#[test]
fn an_anchors_constraints_bind_through_an_intermediate() {
    // The intermediate's own name is under the root's constraints too: "O=Sigillo Test PKI".
    let sub_dn = Subtree::Directory(vec![(AT_COUNTRY, "IT".to_owned()), (AT_ORGANIZATION, "Sigillo Test PKI".to_owned())]);
    let root = Ca::new_root_with(ca_spec(Some(agid_like(vec![sub_dn]))));
    let sub = root.new_intermediate_with(CaSpec { not_before: Some(t(2024, 1, 1)), ..CaSpec::new("Test Sub CA") });
    let issue = |ca: &Ca, email: &str| {
        ca.issue(LeafSpec::agid_provider("Test PEC S.p.A.", "Roma", "Roma", email).validity(t(2024, 6, 1), t(2040, 1, 1)))
    };
    let report = check(&[&root], &issue(&sub, "a@pec.test.it"));
    assert_eq!(report.pec.envelope_signature.status, EnvelopeStatus::Valid, "{:?}", report.pec.envelope_signature);
    assert_forged(&check(&[&root], &issue(&sub, "a@evil.it")), "a@evil.it");
    // A root that does not permit the intermediate's name refuses the whole path.
    let strict = Ca::new_root_with(ca_spec(Some(agid_like(vec![]))));
    let sub = strict.new_intermediate_with(CaSpec { not_before: Some(t(2024, 1, 1)), ..CaSpec::new("Test Sub CA") });
    assert_forged(&check(&[&strict], &issue(&sub, "a@pec.test.it")), "Test Sub CA");
}

#[test]
fn of_several_versions_of_one_anchor_the_one_that_permits_counts() {
    // One key, two certificates (AgID re-issued CA1 with a longer list): a provider added in
    // the later version is trusted through it, even when the older one is listed first.
    let key = PrivateKey::new(sigillo_testpki::KeyKind::Rsa2048);
    let old = Ca::new_root_with_key(ca_spec(Some(agid_like(vec![]))), key.clone());
    let new = Ca::new_root_with_key(
        ca_spec(Some(agid_like(vec![Subtree::Email("pec.nuovo.test".to_owned()), provider_dn("Nuovo PEC S.p.A.")]))),
        key,
    );
    let newcomer = provider(&old, "Nuovo PEC S.p.A.", "posta@pec.nuovo.test");
    assert_forged(&check(&[&old], &newcomer), "Nuovo PEC S.p.A.");
    let report = check(&[&old, &new], &newcomer);
    assert_eq!(report.pec.envelope_signature.status, EnvelopeStatus::Valid, "{:?}", report.pec.envelope_signature);
}

#[test]
fn document_signatures_obey_name_constraints_too() {
    let ca = Ca::new_root_with(CaSpec {
        name_constraints: Some(NameConstraints {
            permitted: vec![Subtree::Directory(vec![(AT_COUNTRY, "IT".to_owned())])],
            excluded: vec![Subtree::Email("evil.it".to_owned())],
        }),
        ..ca_spec(None)
    });
    let at = t(2025, 2, 14);
    let mut checker = Checker::new(at.into());
    checker.add_document_anchors(ca.cert_pem().as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    let verdict = |spec: LeafSpec| {
        let signer = ca.issue(spec.validity(t(2024, 6, 1), t(2040, 1, 1)));
        let doc = sign_attached(&signer, b"istanza", &SignOptions { signing_time: Some(at), ..SignOptions::default() });
        match checker.check_at("doc.p7m", &doc, ValidationTime::given(at)) {
            Ok(sigillo_pec::FileReport::Document(d)) => (d.signature.verdict, d.signature.signers[0].subindication, d.signature.detail),
            other => panic!("{other:?}"),
        }
    };
    let person = || LeafSpec::person("Mario", "Rossi", "TINIT-RSSMRA80A01H501U");
    assert_eq!(verdict(person()).0, Indication::TotalPassed);
    let foreign = verdict(LeafSpec { country: Some("FR".to_owned()), ..person() });
    assert_eq!((foreign.0, foreign.1), (Indication::Indeterminate, Some(sigillo_signature::SubIndication::ChainConstraintsFailure)), "{}", foreign.2);
    let excluded = verdict(LeafSpec { email: Some("mario@evil.it".to_owned()), ..person() });
    assert_eq!(excluded.0, Indication::Indeterminate, "{}", excluded.2);
}
