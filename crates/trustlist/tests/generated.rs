//! Trusted lists made with the test PKI and signed by xmlsec1: a test LOTL pointing at a
//! test national list whose services are granted, withdrawn, or granted later; a list
//! whose signature covers only part of it; a service injected after signing.

// Helpers panic on purpose: a panic is a test failure with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, TimeZone, Utc};
use sigillo_signature::cert::Certificate;
use sigillo_signature::xmldsig::XmlSigFailure;
use sigillo_testpki::trustlist::{GENERIC, GRANTED, LOTL, TestList, TestPointer, TestService, WITHDRAWN};
use sigillo_testpki::{Ca, Leaf, LeafSpec};
use sigillo_trustlist::{TrustListError, TrustSet, verify_list};

fn t(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap()
}

fn cert(der: &[u8]) -> Certificate {
    Certificate::from_der(der).unwrap()
}

struct Fixture {
    eu_operator: Leaf,
    it_operator: Leaf,
    ca_granted: Ca,
    ca_withdrawn: Ca,
    ca_later: Ca,
}

fn fixture() -> Fixture {
    let root = Ca::new_root("Test Scheme Operators Root");
    Fixture {
        eu_operator: root.issue(LeafSpec::new("Test LOTL operator")),
        it_operator: root.issue(LeafSpec::new("Test IT scheme operator")),
        ca_granted: Ca::new_root("Test QC CA granted"),
        ca_withdrawn: Ca::new_root("Test QC CA withdrawn"),
        ca_later: Ca::new_root("Test QC CA granted later"),
    }
}

fn lotl(f: &Fixture) -> TestList {
    TestList {
        territory: "EU".into(),
        tsl_type: LOTL.into(),
        sequence: 7,
        issued: t(2024, 1, 1),
        next_update: t(2024, 7, 1),
        pointers: vec![TestPointer {
            territory: "IT".into(),
            location: "https://example.invalid/TSL-IT.xml".into(),
            certs_der: vec![f.it_operator.cert_der().to_vec()],
        }],
        services: vec![],
    }
}

fn national(f: &Fixture) -> TestList {
    let svc = |ca: &Ca, name: &str, status: &str, since, history: Vec<(String, DateTime<Utc>)>| {
        TestService::ca_qc(ca.cert_der(), name, status, since, history)
    };
    TestList {
        territory: "IT".into(),
        tsl_type: GENERIC.into(),
        sequence: 42,
        issued: t(2024, 1, 2),
        next_update: t(2024, 7, 2),
        pointers: vec![],
        services: vec![
            svc(&f.ca_granted, "Granted CA", GRANTED, t(2016, 7, 1), vec![]),
            svc(&f.ca_withdrawn, "Withdrawn CA", WITHDRAWN, t(2022, 3, 1), vec![(GRANTED.into(), t(2018, 1, 1))]),
            svc(&f.ca_later, "Later CA", GRANTED, t(2023, 6, 1), vec![]),
        ],
    }
}

#[test]
fn a_test_lotl_and_national_list_give_the_services_granted_at_each_time() {
    let f = fixture();
    let lotl_xml = lotl(&f).signed(&f.eu_operator.key, f.eu_operator.cert_der());
    let it_xml = national(&f).signed(&f.it_operator.key, f.it_operator.cert_der());
    let set = TrustSet::build(
        ("lotl.xml", lotl_xml.as_bytes()),
        &[("it.xml", it_xml.as_bytes())],
        &[cert(f.eu_operator.cert_der())],
    )
    .unwrap();
    assert!(set.left_out.is_empty(), "{:?}", set.left_out);
    assert_eq!(set.lists[1].list.sequence_number, 42);
    assert_eq!(set.lists[1].list.service_count(), 3);

    let names = |at| {
        let mut v: Vec<String> = set.document_anchors(at).into_iter().map(|a| a.service).collect();
        v.sort();
        v
    };
    assert_eq!(names(t(2021, 1, 1)), ["Granted CA", "Withdrawn CA"]);
    assert_eq!(names(t(2023, 1, 1)), ["Granted CA"]);
    assert_eq!(names(t(2024, 1, 1)), ["Granted CA", "Later CA"]);
    assert_eq!(names(t(2017, 1, 1)), ["Granted CA"]);

    // The national list signed by the wrong operator is left out, named.
    let forged = national(&f).signed(&f.eu_operator.key, f.eu_operator.cert_der());
    let set = TrustSet::build(
        ("lotl.xml", lotl_xml.as_bytes()),
        &[("forged-it.xml", forged.as_bytes())],
        &[cert(f.eu_operator.cert_der())],
    )
    .unwrap();
    assert_eq!(set.lists.len(), 1);
    assert_eq!(set.left_out[0].0, "forged-it.xml");
    assert!(matches!(set.left_out[0].1, TrustListError::Signature(XmlSigFailure::NotSignedByAllowed(_))));
    assert!(set.document_anchors(t(2024, 1, 1)).is_empty());
}

#[test]
fn a_service_injected_after_signing_breaks_the_list() {
    let f = fixture();
    let it_xml = national(&f).signed(&f.it_operator.key, f.it_operator.cert_der());
    let signers = [cert(f.it_operator.cert_der())];
    assert!(verify_list(it_xml.as_bytes(), &signers).is_ok());
    // The attacker's CA as a fourth service of the provider.
    let evil = Ca::new_root("Evil CA");
    let mut extra = national(&f);
    extra.services.truncate(1);
    extra.services[0].cert_der = evil.cert_der().to_vec();
    let extra_xml = extra.xml();
    let start = extra_xml.find("<TSPService>").unwrap();
    let end = extra_xml.find("</TSPService>").unwrap() + "</TSPService>".len();
    let injected = it_xml.replacen("</TSPServices>", &format!("{}</TSPServices>", &extra_xml[start..end]), 1);
    assert_ne!(injected, it_xml);
    let e = verify_list(injected.as_bytes(), &signers).unwrap_err();
    assert_eq!(e, TrustListError::Signature(XmlSigFailure::DigestMismatch { uri: String::new() }));
}

/// A signature that verifies but covers only SchemeInformation (`URI="#si"`): the
/// services, outside it, could be anything. Refused.
#[test]
fn a_signature_over_part_of_the_list_is_refused() {
    let f = fixture();
    let xml = national(&f).xml().replacen("<SchemeInformation>", "<SchemeInformation Id=\"si\">", 1);
    let close = xml.rfind("</").unwrap();
    let template = format!(
        r##"{}<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#si"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference></ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data><ds:X509Certificate/></ds:X509Data></ds:KeyInfo></ds:Signature>{}"##,
        &xml[..close],
        &xml[close..]
    );
    let signed = sigillo_testpki::xml::sign(&template, &f.it_operator.key, f.it_operator.cert_der(), &[("Id", "SchemeInformation")]);
    let e = verify_list(signed.as_bytes(), &[cert(f.it_operator.cert_der())]).unwrap_err();
    assert!(matches!(e, TrustListError::NotCovered(_)), "{e}");
}
