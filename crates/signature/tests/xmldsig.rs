//! The XMLDSig verifier against signatures made by `xmlsec1 --sign` with test keys, and
//! xmlsec1's own verdict on the same bytes: valid, tampered content, tampered SignedInfo,
//! wrong key, signature wrapping, DTDs, algorithms we refuse.

// Helpers panic on purpose: a panic is a test failure with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use sigillo_signature::cert::Certificate;
use sigillo_signature::xmldsig::{self, Covered, Limits, Verified, XmlSigFailure};
use sigillo_testpki::xml::{self as txml, C14N, EXC_C14N};
use sigillo_testpki::{Ca, KeyKind, Leaf, LeafSpec};

/// A FatturaPA-shaped document: a prefixed root, unprefixed children, attributes out of
/// order, an entity reference and a CDATA section, so that canonicalisation has work to do.
const INVOICE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<p:FatturaElettronica xmlns:p="http://ivaservizi.agenziaentrate.gov.it/docs/xsd/fatture/v1.2" versione="FPR12" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <FatturaElettronicaHeader>
    <DatiTrasmissione z="1" a="2"><ProgressivoInvio>00001</ProgressivoInvio></DatiTrasmissione>
    <Note>Rossi &amp; figli <![CDATA[<srl>]]></Note>
  </FatturaElettronicaHeader>
  <FatturaElettronicaBody Id="body"><Importo>100.00</Importo></FatturaElettronicaBody>
</p:FatturaElettronica>
"#;

fn signer(kind: KeyKind) -> Leaf {
    Ca::new_root("XML Test CA").issue(LeafSpec::new("Firmatario XML").key(kind))
}

fn cert(leaf: &Leaf) -> Certificate {
    Certificate::from_der(leaf.cert_der()).unwrap()
}

fn verify_with(xml: &str, certs: &[Certificate]) -> Result<Verified, XmlSigFailure> {
    let text = xmldsig::decode(xml.as_bytes(), Limits::default())?;
    let doc = xmldsig::parse(text, Limits::default())?;
    let sigs = xmldsig::find_signatures(&doc);
    let sig = *sigs.first().ok_or(XmlSigFailure::NoSignature)?;
    xmldsig::verify(&doc, sig, certs, &|_| None)
}

fn signed(leaf: &Leaf, c14n: &str) -> String {
    txml::sign(&txml::enveloped_template(INVOICE, &leaf.key, c14n), &leaf.key, leaf.cert_der(), &[])
}

#[test]
fn enveloped_signatures_verify_rsa_and_ecdsa_exclusive_and_inclusive() {
    for (kind, c14n) in [(KeyKind::Rsa2048, EXC_C14N), (KeyKind::Rsa2048, C14N), (KeyKind::P256, EXC_C14N), (KeyKind::P384, C14N)] {
        let leaf = signer(kind);
        let xml = signed(&leaf, c14n);
        let v = verify_with(&xml, &[cert(&leaf)]).unwrap_or_else(|e| panic!("{kind:?} {c14n}: {e}"));
        assert_eq!(v.signer, 0);
        assert_eq!(v.references.len(), 1);
        assert_eq!(v.references[0].covered, Covered::Document);
        assert!(v.references[0].enveloped);
        assert!(txml::xmlsec1_verifies(&xml, leaf.cert_der(), &[]), "xmlsec1 disagrees on {kind:?} {c14n}");
    }
}

#[test]
fn any_of_several_allowed_certificates_may_have_signed() {
    let (a, b) = (signer(KeyKind::Rsa2048), signer(KeyKind::Rsa2048));
    let xml = signed(&b, EXC_C14N);
    assert_eq!(verify_with(&xml, &[cert(&a), cert(&b)]).unwrap().signer, 1);
    let e = verify_with(&xml, &[cert(&a)]).unwrap_err();
    assert!(matches!(e, XmlSigFailure::NotSignedByAllowed(ref hint) if hint.contains("Firmatario XML")), "{e}");
    assert!(!txml::xmlsec1_verifies(&xml, a.cert_der(), &[]));
}

#[test]
fn tampered_content_fails_its_digest_and_xmlsec1_agrees() {
    let leaf = signer(KeyKind::Rsa2048);
    let xml = signed(&leaf, EXC_C14N);
    for tampered in [
        xml.replace("100.00", "900.00"),
        xml.replace(r#"z="1""#, r#"z="2""#),
        xml.replace("Rossi &amp; figli", "Rossi &amp; figlie"),
        xml.replace("<Importo>", "<Importo>0"),
    ] {
        assert_ne!(tampered, xml);
        assert_eq!(verify_with(&tampered, &[cert(&leaf)]).unwrap_err(), XmlSigFailure::DigestMismatch { uri: String::new() });
        assert!(!txml::xmlsec1_verifies(&tampered, leaf.cert_der(), &[]));
    }
    // Comments are not part of a URI="" reference, and serialisation details are not part
    // of the canonical form: these changes keep the signature valid, for xmlsec1 too.
    for harmless in [
        xml.replace("<Importo>", "<!-- nota --><Importo>"),
        xml.replace(r#"z="1" a="2""#, r#"a="2"   z="1""#),
        xml.replace("<ProgressivoInvio>00001</ProgressivoInvio>", "<ProgressivoInvio>0000&#x31;</ProgressivoInvio>"),
    ] {
        assert_ne!(harmless, xml);
        verify_with(&harmless, &[cert(&leaf)]).unwrap_or_else(|e| panic!("{e}: {harmless}"));
        assert!(txml::xmlsec1_verifies(&harmless, leaf.cert_der(), &[]));
    }
}

#[test]
fn tampered_signed_info_fails_the_signature_value() {
    let leaf = signer(KeyKind::Rsa2048);
    let xml = signed(&leaf, EXC_C14N);
    // The reference re-pointed at a part of the document, digest left as it was.
    let tampered = xml.replace(r#"<ds:Reference URI="">"#, r#"<ds:Reference URI="" Id="r">"#);
    assert_ne!(tampered, xml);
    assert!(matches!(verify_with(&tampered, &[cert(&leaf)]).unwrap_err(), XmlSigFailure::NotSignedByAllowed(_)));
    assert!(!txml::xmlsec1_verifies(&tampered, leaf.cert_der(), &[]));
    // A SignatureValue flipped in one character.
    let at = xml.find("<ds:SignatureValue>").unwrap() + "<ds:SignatureValue>".len() + 10;
    let mut bytes = xml.clone().into_bytes();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(bytes).unwrap();
    assert!(matches!(verify_with(&flipped, &[cert(&leaf)]).unwrap_err(), XmlSigFailure::NotSignedByAllowed(_)));
    assert!(!txml::xmlsec1_verifies(&flipped, leaf.cert_der(), &[]));
}

/// A reference to `#body`, signed; then the classic wrapping moves: a second element with
/// the same Id (ambiguous: refused), or the signed element moved into the signature's
/// Object with a forged one in its place (the reference still verifies, but it names the
/// node it covered, which is not the one in the document's place).
#[test]
fn signature_wrapping_is_refused_or_visible_to_the_caller() {
    let leaf = signer(KeyKind::Rsa2048);
    let close = INVOICE.rfind("</").unwrap();
    let template = format!(
        r##"{}<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="{EXC_C14N}"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#body"><ds:Transforms><ds:Transform Algorithm="{EXC_C14N}"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference></ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data><ds:X509Certificate/></ds:X509Data></ds:KeyInfo><ds:Object/></ds:Signature>{}"##,
        &INVOICE[..close],
        &INVOICE[close..]
    );
    let xml = txml::sign(&template, &leaf.key, leaf.cert_der(), &[("Id", "FatturaElettronicaBody")]);
    let v = verify_with(&xml, &[cert(&leaf)]).unwrap();
    let Covered::Element(node) = v.references[0].covered else { panic!("{:?}", v.references[0].covered) };
    {
        let text = xmldsig::decode(xml.as_bytes(), Limits::default()).unwrap();
        let doc = xmldsig::parse(text, Limits::default()).unwrap();
        assert_eq!(doc.element(node).unwrap().name.local_name, "FatturaElettronicaBody");
        assert_eq!(doc.parent(node), doc.document_element());
    }

    // Two elements with Id="body": which one was meant is ambiguous.
    let original = r#"<FatturaElettronicaBody Id="body"><Importo>100.00</Importo></FatturaElettronicaBody>"#;
    let forged = r#"<FatturaElettronicaBody Id="body"><Importo>999.00</Importo></FatturaElettronicaBody>"#;
    let twice = xml.replacen(original, &format!("{forged}{original}"), 1);
    assert_eq!(verify_with(&twice, &[cert(&leaf)]).unwrap_err(), XmlSigFailure::AmbiguousId { uri: "#body".into(), count: 2 });

    // The signed body hidden in ds:Object, a forged one (no Id) in its place.
    let moved = xml.replacen(original, &forged.replace(r#" Id="body""#, ""), 1).replace("<ds:Object/>", &format!("<ds:Object>{original}</ds:Object>"));
    let v = verify_with(&moved, &[cert(&leaf)]).expect("the signed bytes are intact, only moved");
    let text = xmldsig::decode(moved.as_bytes(), Limits::default()).unwrap();
    let doc = xmldsig::parse(text, Limits::default()).unwrap();
    let Covered::Element(node) = v.references[0].covered else { panic!() };
    assert_ne!(doc.parent(node), doc.document_element(), "the covered node is not the document's body");
}

#[test]
fn dtds_sha1_xpath_and_external_references_are_refused() {
    let leaf = signer(KeyKind::Rsa2048);
    let xml = signed(&leaf, EXC_C14N);
    let with_dtd = xml.replacen("<p:FatturaElettronica", "<!DOCTYPE p:FatturaElettronica [<!ENTITY x \"y\">]>\n<p:FatturaElettronica", 1);
    assert!(matches!(verify_with(&with_dtd, &[cert(&leaf)]).unwrap_err(), XmlSigFailure::Xml(_)));

    let sha1 = xml.replace(
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
    );
    assert!(matches!(verify_with(&sha1, &[cert(&leaf)]).unwrap_err(), XmlSigFailure::Unsupported(ref m) if m.contains("SHA-1")));

    // A valid signature (xmlsec1 made it) whose reference uses an XPath transform.
    let template = txml::enveloped_template(INVOICE, &leaf.key, EXC_C14N).replace(
        r#"<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>"#,
        r#"<ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116"><ds:XPath xmlns:ds="http://www.w3.org/2000/09/xmldsig#">not(ancestor-or-self::ds:Signature)</ds:XPath></ds:Transform>"#,
    );
    let xpath = txml::sign(&template, &leaf.key, leaf.cert_der(), &[]);
    assert!(txml::xmlsec1_verifies(&xpath, leaf.cert_der(), &[]));
    assert!(matches!(verify_with(&xpath, &[cert(&leaf)]).unwrap_err(), XmlSigFailure::Unsupported(ref m) if m.contains("xpath")));

    // No signature at all.
    assert_eq!(verify_with(INVOICE, &[cert(&leaf)]).unwrap_err(), XmlSigFailure::NoSignature);
}

#[test]
fn a_detached_reference_is_checked_against_the_bytes_the_caller_resolves() {
    let leaf = signer(KeyKind::P256);
    let content = b"contenuto del file firmato";
    let template = format!(
        r#"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="{EXC_C14N}"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"/><ds:Reference URI="documento.txt"><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue>{}</ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data><ds:X509Certificate/></ds:X509Data></ds:KeyInfo></ds:Signature>"#,
        {
            use base64::Engine as _;
            use sha2::Digest as _;
            base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(content))
        }
    );
    let xml = txml::sign_with_files(&template, &leaf.key, leaf.cert_der(), &[], &[("documento.txt", content)]);
    let text = xmldsig::decode(xml.as_bytes(), Limits::default()).unwrap();
    let doc = xmldsig::parse(text, Limits::default()).unwrap();
    let sig = xmldsig::find_signatures(&doc)[0];
    let certs = [cert(&leaf)];
    let v = xmldsig::verify(&doc, sig, &certs, &|uri| (uri == "documento.txt").then(|| content.to_vec())).unwrap();
    assert_eq!(v.references[0].covered, Covered::External);
    let e = xmldsig::verify(&doc, sig, &certs, &|_| Some(b"altro contenuto".to_vec())).unwrap_err();
    assert_eq!(e, XmlSigFailure::DigestMismatch { uri: "documento.txt".into() });
    let e = xmldsig::verify(&doc, sig, &certs, &|_| None).unwrap_err();
    assert!(matches!(e, XmlSigFailure::Dereference { .. }));
}
