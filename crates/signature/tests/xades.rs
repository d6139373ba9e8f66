//! XAdES-B-B through `verify_document`, with signatures made by xmlsec1 from test keys:
//! enveloped (FatturaPA-shaped), enveloping and detached; valid, tampered content, tampered
//! SignedInfo, wrapping attacks, wrong certificate reference, plain XMLDSig. The verdicts
//! are the ETSI ones CAdES gets for the same faults; xmlsec1 (pinned key) is asked too.

// Helpers panic on purpose: a panic is a test failure with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{TimeZone, Utc};
use sigillo_signature::{Format, Indication, SignatureReport, SubIndication, TrustStore, verify_document};
use sigillo_testpki::xml::{self as txml, XADES_IDS, XadesShape};
use sigillo_testpki::{Ca, CaSpec, Leaf, LeafSpec};

const INVOICE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<p:FatturaElettronica xmlns:p="http://ivaservizi.agenziaentrate.gov.it/docs/xsd/fatture/v1.2" versione="FPR12">
  <FatturaElettronicaHeader><DatiTrasmissione><ProgressivoInvio>00001</ProgressivoInvio></DatiTrasmissione></FatturaElettronicaHeader>
  <FatturaElettronicaBody Id="body"><Importo>100.00</Importo></FatturaElettronicaBody>
</p:FatturaElettronica>
"#;
const SIGNING_TIME: &str = "2025-02-10T10:00:00Z";

struct Pki {
    trust: TrustStore,
    signer: Leaf,
    other: Leaf,
}

fn pki() -> Pki {
    let t = |y| Utc.with_ymd_and_hms(y, 1, 1, 0, 0, 0).unwrap();
    let ca = Ca::new_root_with(CaSpec { not_before: Some(t(2020)), not_after: Some(t(2045)), ..CaSpec::new("XAdES Test CA") });
    let person = |cn: &str| ca.issue(LeafSpec::person("Mario", cn, "TINIT-RSSMRA80A01H501U").validity(t(2024), t(2030)));
    Pki { trust: TrustStore::from_certificates([ca.cert_der()]).unwrap(), signer: person("Rossi"), other: person("Bianchi") }
}

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 1, 0, 0, 0).unwrap()
}

fn verdict(r: &SignatureReport) -> (Indication, Option<SubIndication>) {
    (r.verdict, r.subindication)
}

fn shapes() -> Vec<(&'static str, XadesShape)> {
    vec![
        ("enveloped", XadesShape::Enveloped(INVOICE.to_owned())),
        ("enveloping", XadesShape::Enveloping("<Istanza>accesso agli atti, pratica 42</Istanza>".to_owned())),
        ("detached", XadesShape::Detached { name: "istanza.pdf".into(), bytes: b"%PDF-1.7 istanza".to_vec() }),
    ]
}

fn detached_of(shape: &XadesShape) -> Option<&[u8]> {
    match shape {
        XadesShape::Detached { bytes, .. } => Some(bytes),
        _ => None,
    }
}

fn files_of(shape: &XadesShape) -> Vec<(&str, &[u8])> {
    match shape {
        XadesShape::Detached { name, bytes } => vec![(name.as_str(), bytes.as_slice())],
        _ => Vec::new(),
    }
}

#[test]
fn valid_xades_in_every_shape_passes_and_xmlsec1_agrees() {
    let p = pki();
    for (what, shape) in shapes() {
        let xml = txml::xades(&shape, &p.signer.key, p.signer.cert_der(), p.signer.cert_der(), SIGNING_TIME);
        let r = verify_document(xml.as_bytes(), detached_of(&shape), &p.trust, now());
        assert_eq!(verdict(&r), (Indication::TotalPassed, None), "{what}: {}", r.detail);
        assert_eq!(r.format, Format::Xades);
        assert_eq!(r.signers.len(), 1);
        let s = &r.signers[0];
        assert!(s.intact);
        assert_eq!(s.surname.as_deref(), Some("Rossi"));
        assert_eq!(s.signing_time, Some(Utc.with_ymd_and_hms(2025, 2, 10, 10, 0, 0).unwrap()));
        assert!(txml::xmlsec1_verifies_with_files(&xml, p.signer.cert_der(), XADES_IDS, &files_of(&shape)), "{what}");
        // Not trusted: the same signature, intact, chains nowhere.
        let r = verify_document(xml.as_bytes(), detached_of(&shape), &TrustStore::empty(), now());
        assert_eq!(verdict(&r), (Indication::Indeterminate, Some(SubIndication::NoCertificateChainFound)), "{what}");
    }
}

#[test]
fn tampered_content_is_a_hash_failure() {
    let p = pki();
    for (what, shape) in shapes() {
        let xml = txml::xades(&shape, &p.signer.key, p.signer.cert_der(), p.signer.cert_der(), SIGNING_TIME);
        let (tampered, detached): (String, Option<Vec<u8>>) = match &shape {
            XadesShape::Enveloped(_) => (xml.replace("100.00", "900.00"), None),
            XadesShape::Enveloping(_) => (xml.replace("pratica 42", "pratica 43"), None),
            XadesShape::Detached { bytes, .. } => (xml.clone(), Some([bytes.as_slice(), b" altered"].concat())),
        };
        assert!(tampered != xml || detached.is_some());
        let r = verify_document(tampered.as_bytes(), detached.as_deref(), &p.trust, now());
        assert_eq!(verdict(&r), (Indication::TotalFailed, Some(SubIndication::HashFailure)), "{what}: {}", r.detail);
        if detached.is_none() {
            assert!(!txml::xmlsec1_verifies(&tampered, p.signer.cert_der(), XADES_IDS), "{what}");
        }
    }
    // A detached signature without its file: the signed data are not found.
    let shape = &shapes()[2].1;
    let xml = txml::xades(shape, &p.signer.key, p.signer.cert_der(), p.signer.cert_der(), SIGNING_TIME);
    let r = verify_document(xml.as_bytes(), None, &p.trust, now());
    assert_eq!(verdict(&r), (Indication::Indeterminate, Some(SubIndication::SignedDataNotFound)), "{}", r.detail);
}

#[test]
fn tampered_signed_info_or_signed_properties_fail() {
    let p = pki();
    let shape = XadesShape::Enveloped(INVOICE.to_owned());
    let xml = txml::xades(&shape, &p.signer.key, p.signer.cert_der(), p.signer.cert_der(), SIGNING_TIME);
    // SignedInfo changed (its canonical form changes): the signature value fails.
    let tampered = xml.replacen("<ds:Reference URI=\"\">", "<ds:Reference URI=\"\" Id=\"x\">", 1);
    assert_ne!(tampered, xml);
    let r = verify_document(tampered.as_bytes(), None, &p.trust, now());
    assert_eq!(verdict(&r), (Indication::TotalFailed, Some(SubIndication::SigCryptoFailure)), "{}", r.detail);
    assert!(!txml::xmlsec1_verifies(&tampered, p.signer.cert_der(), XADES_IDS));
    // The claimed signing time moved: SignedProperties' digest fails.
    let tampered = xml.replace(SIGNING_TIME, "2025-02-11T10:00:00Z");
    let r = verify_document(tampered.as_bytes(), None, &p.trust, now());
    assert_eq!(verdict(&r), (Indication::TotalFailed, Some(SubIndication::HashFailure)), "{}", r.detail);
    assert!(!txml::xmlsec1_verifies(&tampered, p.signer.cert_der(), XADES_IDS));
}

#[test]
fn a_wrong_signing_certificate_reference_binds_no_certificate() {
    let p = pki();
    // Signed by Rossi, SigningCertificateV2 names Bianchi's certificate.
    let xml = txml::xades(&XadesShape::Enveloped(INVOICE.to_owned()), &p.signer.key, p.signer.cert_der(), p.other.cert_der(), SIGNING_TIME);
    assert!(txml::xmlsec1_verifies(&xml, p.signer.cert_der(), XADES_IDS), "cryptographically valid (xmlsec1 does not read XAdES)");
    let r = verify_document(xml.as_bytes(), None, &p.trust, now());
    assert_eq!(verdict(&r), (Indication::Indeterminate, Some(SubIndication::NoSigningCertificateFound)), "{}", r.detail);
    assert!(r.signers[0].detail.contains("names another certificate"), "{}", r.signers[0].detail);

    // KeyInfo swapped for Bianchi's certificate: nothing verifies the value.
    let b64 = |der: &[u8]| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(der)
    };
    let good = txml::xades(&XadesShape::Enveloped(INVOICE.to_owned()), &p.signer.key, p.signer.cert_der(), p.signer.cert_der(), SIGNING_TIME);
    let start = good.find("<ds:X509Certificate>").unwrap() + "<ds:X509Certificate>".len();
    let end = good.find("</ds:X509Certificate>").unwrap();
    let swapped = format!("{}{}{}", &good[..start], b64(p.other.cert_der()), &good[end..]);
    let r = verify_document(swapped.as_bytes(), None, &p.trust, now());
    assert_eq!(verdict(&r), (Indication::TotalFailed, Some(SubIndication::SigCryptoFailure)), "{}", r.detail);
}

/// Wrapping: a second SignedProperties (or data object) carrying the same Id makes the
/// reference ambiguous: refused. The signed SignedProperties moved out of the signature's
/// own QualifyingProperties (a forged one in its place) leaves no bound certificate.
#[test]
fn wrapping_attacks_are_refused() {
    let p = pki();
    let xml = txml::xades(&XadesShape::Enveloping("<Istanza>pratica 42</Istanza>".into()), &p.signer.key, p.signer.cert_der(), p.signer.cert_der(), SIGNING_TIME);
    // A forged content object with the same Id, placed first.
    let forged = xml.replacen("<ds:Object Id=\"content\">", "<ds:Object Id=\"content\"><Istanza>pratica 666</Istanza></ds:Object><ds:Object Id=\"content\">", 1);
    assert_ne!(forged, xml);
    let r = verify_document(forged.as_bytes(), None, &p.trust, now());
    assert_eq!(verdict(&r), (Indication::TotalFailed, Some(SubIndication::FormatFailure)), "{}", r.detail);
    assert!(r.detail.contains("2 elements") || r.signers[0].detail.contains("2 elements"), "{}", r.signers[0].detail);

    // The genuine SignedProperties hidden in a new Object outside QualifyingProperties, an
    // unsigned QualifyingProperties with another signing time in its place.
    let start = xml.find("<xades:SignedProperties").unwrap();
    let end = xml.find("</xades:SignedProperties>").unwrap() + "</xades:SignedProperties>".len();
    let genuine = &xml[start..end];
    let fake = genuine.replace("Id=\"S1-props\"", "Id=\"S1-fake\"").replace(SIGNING_TIME, "2020-01-01T00:00:00Z");
    let moved = format!(
        "{}{fake}{}",
        &xml[..start],
        xml[end..].replacen("</ds:Signature>", &format!("<ds:Object>{}</ds:Object></ds:Signature>", genuine.replace("<xades:SignedProperties", "<xades:SignedProperties xmlns:xades=\"http://uri.etsi.org/01903/v1.3.2#\"")), 1)
    );
    let r = verify_document(moved.as_bytes(), None, &p.trust, now());
    assert_ne!(r.verdict, Indication::TotalPassed, "{}", r.signers[0].detail);
    assert_eq!(verdict(&r), (Indication::Indeterminate, Some(SubIndication::NoSigningCertificateFound)), "{}", r.signers[0].detail);
}

#[test]
fn plain_xmldsig_is_not_xades_and_dtds_are_refused() {
    let p = pki();
    let template = txml::enveloped_template(INVOICE, &p.signer.key, txml::EXC_C14N);
    let xml = txml::sign(&template, &p.signer.key, p.signer.cert_der(), &[]);
    let r = verify_document(xml.as_bytes(), None, &p.trust, now());
    assert_eq!(verdict(&r), (Indication::Indeterminate, Some(SubIndication::NoSigningCertificateFound)), "{}", r.detail);

    let xades = txml::xades(&XadesShape::Enveloped(INVOICE.to_owned()), &p.signer.key, p.signer.cert_der(), p.signer.cert_der(), SIGNING_TIME);
    let with_dtd = xades.replacen("<p:FatturaElettronica", "<!DOCTYPE p:FatturaElettronica [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><p:FatturaElettronica", 1);
    let r = verify_document(with_dtd.as_bytes(), None, &p.trust, now());
    assert_eq!(verdict(&r), (Indication::TotalFailed, Some(SubIndication::FormatFailure)), "{}", r.detail);
}

/// `xml` with a XAdES-T SignatureTimeStamp: an RFC 3161 token by `tsa` at `at` over the
/// exclusive canonical form of ds:SignatureValue (written here by hand from the signed
/// text: xmlsec1 writes no attribute on it, and base64 needs no escaping), added as an
/// unsigned property. `over` replaces the stamped bytes (a token over something else).
fn with_signature_timestamp(xml: &str, tsa: &Leaf, at: chrono::DateTime<Utc>, over: Option<&[u8]>) -> String {
    use base64::Engine as _;
    let start = xml.find("<ds:SignatureValue>").expect("a SignatureValue");
    let end = xml[start..].find("</ds:SignatureValue>").expect("its end") + start;
    let value = &xml[start + "<ds:SignatureValue>".len()..end];
    let canonical = format!(r#"<ds:SignatureValue xmlns:ds="http://www.w3.org/2000/09/xmldsig#">{value}</ds:SignatureValue>"#);
    let token = sigillo_testpki::timestamp_token(tsa, over.unwrap_or(canonical.as_bytes()), at);
    let token = base64::engine::general_purpose::STANDARD.encode(token);
    let unsigned = format!(
        r#"<xades:UnsignedProperties><xades:UnsignedSignatureProperties><xades:SignatureTimeStamp><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><xades:EncapsulatedTimeStamp>{token}</xades:EncapsulatedTimeStamp></xades:SignatureTimeStamp></xades:UnsignedSignatureProperties></xades:UnsignedProperties>"#
    );
    let close = xml.find("</xades:QualifyingProperties>").expect("QualifyingProperties");
    format!("{}{unsigned}{}", &xml[..close], &xml[close..])
}

/// XAdES-T (issue 16): an intact signature timestamp from a trusted TSA is the proof of
/// existence, as for CAdES-T. A certificate expired now but valid at the timestamp passes,
/// judged at the timestamp; without it, or with a token over other bytes, it does not.
#[test]
fn a_signature_timestamp_is_the_proof_of_existence() {
    let t = |y, m, d| Utc.with_ymd_and_hms(y, m, d, 10, 0, 0).unwrap();
    let ca = Ca::new_root_with(CaSpec { not_before: Some(t(2020, 1, 1)), not_after: Some(t(2045, 1, 1)), ..CaSpec::new("XAdES-T Test CA") });
    let trust = TrustStore::from_certificates([ca.cert_der()]).unwrap();
    // Valid 2021-2023; judged in 2025.
    let signer = ca.issue(LeafSpec::person("Mario", "Rossi", "TINIT-RSSMRA80A01H501U").validity(t(2021, 1, 1), t(2023, 1, 1)));
    let tsa = ca.issue(LeafSpec::tsa("XAdES-T Test TSA").validity(t(2020, 1, 1), t(2040, 1, 1)));
    let stamped_at = t(2022, 3, 1);
    for (what, shape) in shapes() {
        let xml = txml::xades(&shape, &signer.key, signer.cert_der(), signer.cert_der(), "2022-03-01T09:00:00Z");
        let stamped = with_signature_timestamp(&xml, &tsa, stamped_at, None);
        // The unsigned property is outside what the signature covers: xmlsec1 still verifies.
        assert!(txml::xmlsec1_verifies_with_files(&stamped, signer.cert_der(), XADES_IDS, &files_of(&shape)), "{what}");
        let r = verify_document(stamped.as_bytes(), detached_of(&shape), &trust, now());
        assert_eq!(verdict(&r), (Indication::TotalPassed, None), "{what}: {}", r.detail);
        assert_eq!(r.signers[0].timestamp_time, Some(stamped_at), "{what}");
        assert_eq!(r.signers[0].judged_at, Some(stamped_at), "{what}");

        // No timestamp: the expired certificate has no proof of existence.
        let r = verify_document(xml.as_bytes(), detached_of(&shape), &trust, now());
        assert_eq!(verdict(&r), (Indication::Indeterminate, Some(SubIndication::OutOfBoundsNoPoe)), "{what}: {}", r.detail);
        // A token over other bytes: the file was altered (HASH_FAILURE), as for CAdES-T.
        let forged = with_signature_timestamp(&xml, &tsa, stamped_at, Some(b"another signature value"));
        let r = verify_document(forged.as_bytes(), detached_of(&shape), &trust, now());
        assert_eq!(verdict(&r), (Indication::TotalFailed, Some(SubIndication::HashFailure)), "{what}: {}", r.detail);
        // A TSA nobody trusts proves nothing.
        let stranger = Ca::new_root("Stranger TSA CA").issue(LeafSpec::tsa("Stranger TSA").validity(t(2020, 1, 1), t(2040, 1, 1)));
        let r = verify_document(with_signature_timestamp(&xml, &stranger, stamped_at, None).as_bytes(), detached_of(&shape), &trust, now());
        assert_eq!(verdict(&r), (Indication::Indeterminate, Some(SubIndication::OutOfBoundsNoPoe)), "{what}: {}", r.detail);
    }
}
