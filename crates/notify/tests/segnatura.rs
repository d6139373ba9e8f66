//! Segnatura.xml: validity against the AgID schemas (xmllint), escaping, and the enveloped
//! XAdES signature checked independently: digests over `xmllint --exc-c14n` output, RSA
//! verification with the certificate from `ds:KeyInfo`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, TimeZone, Utc};
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::{DecodePublicKey, EncodePrivateKey, LineEnding};
use rsa::signature::Verifier;
use sha2::{Digest, Sha256};
use sigillo_notify::Error;
use sigillo_notify::model::{Context, Document, Ente, Office, Outgoing, OutgoingFile, Receipt};
use sigillo_notify::segnatura::{self, Classifica, Options, Seal};
use sigillo_testpki::{Ca, LeafSpec, PrivateKey};
use x509_cert::der::{Decode, Encode};

const SPECS: &str = "/work/shared/specs/segnatura";

fn specs_dir() -> PathBuf {
    // The shared specs live next to the repository; fall back to the absolute path of the
    // development machines.
    let near = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/specs/segnatura");
    if near.join("segnatura_protocollo.xsd").exists() { near } else { PathBuf::from(SPECS) }
}

fn ctx() -> Context {
    Context {
        ente: Ente {
            name: "Comune di Roccafiorita & Uniti".into(),
            ipa_code: "c_h501".into(),
            aoo_code: "A1B2C3D".into(),
            aoo_name: "Protocollo \"generale\"".into(),
            register_code: "PG".into(),
            timezone: chrono_tz::Europe::Rome,
        },
        office: Office {
            name: "Ufficio Protocollo".into(),
            email: Some("protocollo@comune.example.it".into()),
            phone: Some("+39 06 0000000".into()),
            hours: Some("lun-ven 9-12".into()),
        },
        from: "protocollo@pec.comune.example.it".into(),
    }
}

fn doc(name: &str, content: &[u8], primary: bool, media_type: Option<&str>) -> Document {
    Document {
        name: name.into(),
        media_type: media_type.map(Into::into),
        size: content.len() as i64,
        sha256: Sha256::digest(content).iter().map(|b| format!("{b:02x}")).collect(),
        primary,
    }
}

fn receipt(subject: &str, registered_at: DateTime<Utc>) -> Receipt {
    Receipt {
        to: "mario.rossi@pec.example.it".into(),
        number: 123,
        year: 2026,
        registered_at,
        segnatura: "c_h501|A1B2C3D|PG|0000123|22/11/2026".into(),
        subject: subject.into(),
        pec_delivered_at: Some(Utc.with_ymd_and_hms(2026, 11, 22, 9, 15, 2).unwrap()),
        pec_identificativo: Some("opec21.20261122101502.12345.01.1.1@pec.example.it".into()),
        in_reply_to: Some("abc@example.it".into()),
        documents: vec![
            doc("domanda.pdf.p7m", b"primary", true, Some("application/pkcs7-mime")),
            doc("planimetria <1> & \"2\".pdf", b"attachment 1", false, Some("application/pdf")),
            doc("foto.jpg", b"attachment 2", false, None),
        ],
    }
}

fn registered() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 13, 3, 7).unwrap()
}

struct TestSeal {
    seal: Seal,
    cert_der: Vec<u8>,
}

fn test_seal() -> TestSeal {
    let ca = Ca::new_root("Test Qualified Seal CA");
    let leaf = ca.issue(LeafSpec::new("Comune di Roccafiorita - sigillo"));
    let PrivateKey::Rsa(key) = &leaf.key else { panic!("RSA leaf expected") };
    let key_pem = key.to_pkcs8_pem(LineEnding::LF).unwrap();
    let seal = Seal::from_pem(&key_pem, &leaf.cert_pem()).unwrap();
    TestSeal { seal, cert_der: leaf.cert_der.clone() }
}

fn options(seal: &Seal) -> Options<'_> {
    Options { seal: Some(seal), signing_time: Utc.with_ymd_and_hms(2026, 11, 22, 13, 3, 8).unwrap(), classifica: None }
}

fn xmllint(args: &[&str], input: &[u8]) -> (bool, Vec<u8>, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.xml");
    std::fs::write(&file, input).unwrap();
    let out = Command::new("xmllint")
        .args(args)
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("xmllint is required by these tests (Debian: libxml2-utils; scripts/test installs it): {e}"));
    (out.status.success(), out.stdout, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn assert_schema_valid(xml: &[u8], xsd: &str) {
    let schema = specs_dir().join(xsd);
    let (ok, _, stderr) = xmllint(&["--noout", "--nonet", "--schema", schema.to_str().unwrap()], xml);
    assert!(ok, "not valid against {xsd}: {stderr}\n{}", String::from_utf8_lossy(xml));
}

fn exc_c14n(xml: &[u8]) -> Vec<u8> {
    let (ok, stdout, stderr) = xmllint(&["--exc-c14n"], xml);
    assert!(ok, "xmllint --exc-c14n failed: {stderr}");
    stdout
}

fn xpath_string(xml: &[u8], expr: &str) -> String {
    let (ok, stdout, stderr) = xmllint(&["--xpath", expr], xml);
    assert!(ok, "xmllint --xpath {expr}: {stderr}");
    let mut s = String::from_utf8(stdout).unwrap();
    // xmllint ends its output with a newline
    if s.ends_with('\n') {
        s.pop();
    }
    s
}

/// The bytes from `<tag` (at `start` or later) to the end of `</tag>`.
fn element<'a>(xml: &'a str, qname: &str) -> &'a str {
    let start = xml.find(&format!("<{qname} ")).or_else(|| xml.find(&format!("<{qname}>"))).unwrap();
    let close = format!("</{qname}>");
    let end = xml[start..].find(&close).unwrap() + start + close.len();
    &xml[start..end]
}

fn text_of<'a>(xml: &'a str, qname: &str) -> &'a str {
    let e = element(xml, qname);
    let open_end = e.find('>').unwrap() + 1;
    &e[open_end..e.len() - qname.len() - 3]
}

fn without_declaration(xml: &str) -> &str {
    xml.strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n").expect("XML declaration")
}

fn build(subject: &str) -> String {
    let seal = test_seal();
    String::from_utf8(segnatura::build(&ctx(), &receipt(subject, registered()), &options(&seal.seal)).unwrap()).unwrap()
}

#[test]
fn segnatura_validates_against_both_agid_schemas() {
    let xml = build("Richiesta di accesso agli atti");
    assert_schema_valid(xml.as_bytes(), "segnatura_protocollo.xsd");
    // pec_message.xsd imports the same type: the file travelling over PEC validates there too.
    assert_schema_valid(xml.as_bytes(), "pec_message.xsd");
}

#[test]
fn segnatura_carries_the_registration() {
    let xml = build("Richiesta di accesso agli atti");
    assert!(xml.contains(r#"<prot:SegnaturaInformatica xmlns:prot="http://www.agid.gov.it/protocollo/" prot:lang="it" prot:versione="3.0.0">"#));
    assert_eq!(text_of(&xml, "prot:CodiceAmministrazione"), "c_h501");
    assert_eq!(text_of(&xml, "prot:CodiceAOO"), "A1B2C3D");
    assert_eq!(text_of(&xml, "prot:CodiceRegistro"), "PG");
    assert_eq!(text_of(&xml, "prot:NumeroRegistrazione"), "0000123");
    assert_eq!(text_of(&xml, "prot:DataRegistrazione"), "2026-11-22");
    assert_eq!(text_of(&xml, "prot:OraRegistrazione"), "14:03:07+01:00");
    assert_eq!(text_of(&xml, "prot:Denominazione"), "Non classificato");
    assert!(xml.contains(r#"<prot:IndirizzoTelematico prot:tipo="smtp">mario.rossi@pec.example.it</prot:IndirizzoTelematico>"#));
    assert!(xml.contains(r#"<prot:IndirizzoTelematico prot:tipo="smtp">protocollo@pec.comune.example.it</prot:IndirizzoTelematico>"#));

    // Impronta = base64 of the SHA-256 digest, for the primary document and every attachment.
    let primary = element(&xml, "prot:DocumentoPrimario");
    assert!(primary.contains(r#"prot:mimeType="application/pkcs7-mime" prot:nomeFile="domanda.pdf.p7m""#));
    assert!(primary.contains(&format!(
        r#"<prot:Impronta prot:algoritmo="SHA-256">{}</prot:Impronta>"#,
        BASE64.encode(Sha256::digest(b"primary"))
    )));
    let names = xpath_string(xml.as_bytes(), "//*[local-name()='Allegato']/@*[local-name()='nomeFile']");
    assert!(names.contains("nomeFile=\"planimetria &lt;1&gt; &amp; &quot;2&quot;.pdf\""), "{names}");
    let allegati = xpath_string(xml.as_bytes(), "string(//*[local-name()='Allegato'][2]/*[local-name()='Impronta'])");
    assert_eq!(allegati, BASE64.encode(Sha256::digest(b"attachment 2")));
    assert!(xml.contains(r#"prot:mimeType="application/octet-stream" prot:nomeFile="foto.jpg""#));
}

/// A registration in partenza sent as one message to two recipients: the ente is the
/// Mittente, each recipient a Destinatario in the order given, and the file validates.
#[test]
fn an_outgoing_segnatura_names_every_recipient() {
    let seal = test_seal();
    let r = receipt("Comunicazione di avvio del procedimento", registered());
    let outgoing = Outgoing {
        to: vec!["mario.rossi@pec.example.it".into(), "anna.bianchi@pec.example.it".into()],
        number: r.number,
        year: r.year,
        registered_at: r.registered_at,
        segnatura: r.segnatura.clone(),
        subject: r.subject.clone(),
        files: r.documents.iter().map(|d| OutgoingFile { document: d.clone(), content: Vec::new() }).collect(),
    };
    let xml = String::from_utf8(segnatura::build_outgoing(&ctx(), &outgoing, &options(&seal.seal)).unwrap()).unwrap();
    assert_schema_valid(xml.as_bytes(), "segnatura_protocollo.xsd");
    assert_schema_valid(xml.as_bytes(), "pec_message.xsd");
    let mittente = element(&xml, "prot:Mittente");
    assert!(mittente.contains("<prot:Amministrazione>") && mittente.contains("protocollo@pec.comune.example.it"), "{mittente}");
    let destinatari = xpath_string(
        xml.as_bytes(),
        "concat(//*[local-name()='Destinatario'][1]//*[local-name()='IndirizzoTelematico'], ' ', \
         //*[local-name()='Destinatario'][2]//*[local-name()='IndirizzoTelematico'], ' ', count(//*[local-name()='Destinatario']))",
    );
    assert_eq!(destinatari, "mario.rossi@pec.example.it anna.bianchi@pec.example.it 2");
    // No recipient at all is refused: the schema wants at least one Destinatario.
    let nobody = Outgoing { to: Vec::new(), ..outgoing };
    assert!(matches!(segnatura::build_outgoing(&ctx(), &nobody, &options(&seal.seal)), Err(Error::Invalid { .. })));
}

#[test]
fn segnatura_date_is_in_the_register_time_zone() {
    // 23:30 UTC on 31 December is already 1 January in Rome.
    let seal = test_seal();
    let r = receipt("x", Utc.with_ymd_and_hms(2026, 12, 31, 23, 30, 0).unwrap());
    let xml = String::from_utf8(segnatura::build(&ctx(), &r, &options(&seal.seal)).unwrap()).unwrap();
    assert_eq!(text_of(&xml, "prot:DataRegistrazione"), "2027-01-01");
    assert_eq!(text_of(&xml, "prot:OraRegistrazione"), "00:30:00+01:00");
}

#[test]
fn segnatura_classifica_when_given() {
    let seal = test_seal();
    let c = Classifica { code: "VI.3".into(), name: "Edilizia privata <SUE>".into() };
    let opts = Options { classifica: Some(&c), ..options(&seal.seal) };
    let xml = String::from_utf8(segnatura::build(&ctx(), &receipt("x", registered()), &opts).unwrap()).unwrap();
    assert_eq!(text_of(&xml, "prot:CodiceFlat"), "VI.3");
    assert_eq!(text_of(&xml, "prot:Denominazione"), "Edilizia privata &lt;SUE&gt;");
    assert_schema_valid(xml.as_bytes(), "segnatura_protocollo.xsd");
}

#[test]
fn segnatura_escapes_markup_quotes_and_non_ascii() {
    let subject = "Domanda <urgente> & \"saldo\" dell'IMU: è di 100 € \u{1} fine";
    let xml = build(subject);
    assert_schema_valid(xml.as_bytes(), "segnatura_protocollo.xsd");
    // Canonical escaping in text: & < > escaped, quotes literal, non-ASCII as UTF-8; a control
    // character XML cannot carry becomes U+FFFD.
    assert_eq!(
        text_of(&xml, "prot:Oggetto"),
        "Domanda &lt;urgente&gt; &amp; \"saldo\" dell'IMU: è di 100 € \u{FFFD} fine"
    );
    let parsed = xpath_string(xml.as_bytes(), "string(//*[local-name()='Oggetto'])");
    assert_eq!(parsed, "Domanda <urgente> & \"saldo\" dell'IMU: è di 100 € \u{FFFD} fine");
    // Attributes: the ente's name with & and the AOO's with double quotes.
    let aoo = xpath_string(xml.as_bytes(), "string(//*[local-name()='CodiceAOO']/@*[local-name()='descrizione'])");
    assert_eq!(aoo, "Protocollo \"generale\"");
    let ente = xpath_string(xml.as_bytes(), "string(//*[local-name()='CodiceAmministrazione']/@*[local-name()='descrizione'])");
    assert_eq!(ente, "Comune di Roccafiorita & Uniti");
}

#[test]
fn segnatura_signed_parts_are_already_canonical() {
    let xml = build("Oggetto con <markup> & \"virgolette\" e CR\r dentro, è €");
    let body = without_declaration(&xml);
    // What the enveloped reference digests: the document without ds:Signature.
    let signature = element(body, "ds:Signature");
    let unsigned = body.replacen(signature, "", 1);
    assert_eq!(String::from_utf8(exc_c14n(unsigned.as_bytes())).unwrap(), unsigned);
    // SignedInfo and SignedProperties, each as its own canonical subset.
    for part in [element(body, "ds:SignedInfo"), element(body, "xades:SignedProperties")] {
        assert_eq!(String::from_utf8(exc_c14n(part.as_bytes())).unwrap(), part);
    }
}

#[test]
fn segnatura_signature_verifies() {
    let seal = test_seal();
    let xml = String::from_utf8(segnatura::build(&ctx(), &receipt("Verifica", registered()), &options(&seal.seal)).unwrap()).unwrap();
    verify(&xml, &seal.cert_der).unwrap();
}

#[test]
fn segnatura_tampering_is_detected() {
    let seal = test_seal();
    let xml = String::from_utf8(segnatura::build(&ctx(), &receipt("Verifica", registered()), &options(&seal.seal)).unwrap()).unwrap();
    let changed = xml.replace("<prot:NumeroRegistrazione>0000123<", "<prot:NumeroRegistrazione>0000124<");
    assert_eq!(verify(&changed, &seal.cert_der).unwrap_err(), "document digest");
    let changed = xml.replace("2026-11-22T13:03:08Z", "2026-11-22T13:03:09Z");
    assert_eq!(verify(&changed, &seal.cert_der).unwrap_err(), "signed properties digest");
}

/// An independent check of the enveloped XAdES signature: canonical forms from xmllint,
/// digests with sha2, the RSA PKCS#1 v1.5 signature with the `rsa` crate.
fn verify(xml: &str, expected_cert: &[u8]) -> Result<(), &'static str> {
    let body = without_declaration(xml);
    let signature = element(body, "ds:Signature");
    let signed_info = element(signature, "ds:SignedInfo");
    let digests: Vec<&str> = signed_info
        .split("<ds:DigestValue>")
        .skip(1)
        .map(|s| &s[..s.find("</ds:DigestValue>").unwrap()])
        .collect();
    assert_eq!(digests.len(), 2);
    assert!(signed_info.contains(r#"<ds:Reference Id="sigillo-segnatura-reference" URI="">"#));
    assert!(signed_info.contains(r##"<ds:Reference Type="http://uri.etsi.org/01903#SignedProperties" URI="#sigillo-segnatura-signed-properties">"##));

    // Reference 1: the whole document, enveloped-signature transform, Exclusive C14N.
    let unsigned = body.replacen(signature, "", 1);
    if BASE64.encode(Sha256::digest(exc_c14n(unsigned.as_bytes()))) != digests[0] {
        return Err("document digest");
    }
    // Reference 2: the XAdES SignedProperties.
    let props = element(signature, "xades:SignedProperties");
    if BASE64.encode(Sha256::digest(exc_c14n(props.as_bytes()))) != digests[1] {
        return Err("signed properties digest");
    }
    // The certificate in KeyInfo is the seal's, and SigningCertificateV2 names it.
    let cert_der = BASE64.decode(text_of(signature, "ds:X509Certificate")).unwrap();
    assert_eq!(cert_der, expected_cert);
    let cert_digest = props.split("<ds:DigestValue xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">").nth(1).unwrap();
    let cert_digest = &cert_digest[..cert_digest.find('<').unwrap()];
    if BASE64.encode(Sha256::digest(&cert_der)) != cert_digest {
        return Err("certificate digest");
    }
    // SignatureValue over the canonical SignedInfo.
    let cert = x509_cert::Certificate::from_der(&cert_der).unwrap();
    let spki = cert.tbs_certificate.subject_public_key_info.to_der().unwrap();
    let key = VerifyingKey::<Sha256>::new(rsa::RsaPublicKey::from_public_key_der(&spki).unwrap());
    let value = BASE64.decode(text_of(signature, "ds:SignatureValue")).unwrap();
    key.verify(&exc_c14n(signed_info.as_bytes()), &Signature::try_from(value.as_slice()).unwrap())
        .map_err(|_| "signature value")
}

#[test]
fn segnatura_without_seal_tells_the_sysadmin() {
    let opts = Options { seal: None, signing_time: registered(), classifica: None };
    let err = segnatura::build(&ctx(), &receipt("x", registered()), &opts).unwrap_err();
    assert!(matches!(err, Error::Seal(_)), "{err:?}");
    assert!(err.to_string().contains("no qualified electronic seal configured"), "{err}");
}

#[test]
fn seal_key_must_match_certificate() {
    let ca = Ca::new_root("Test CA");
    let a = ca.issue(LeafSpec::new("A"));
    let b = ca.issue(LeafSpec::new("B"));
    let PrivateKey::Rsa(key_a) = &a.key else { panic!() };
    let PrivateKey::Rsa(key_b) = &b.key else { panic!() };
    if key_a == key_b {
        return; // the test PKI's key pool repeated a key; nothing to compare
    }
    let err = Seal::from_pem(&key_a.to_pkcs8_pem(LineEnding::LF).unwrap(), &b.cert_pem()).unwrap_err();
    assert!(err.to_string().contains("does not belong"), "{err}");
    let err = Seal::from_pem("not a key", &b.cert_pem()).unwrap_err();
    assert!(matches!(err, Error::Seal(_)));
}

#[test]
fn segnatura_rejects_what_the_schema_would() {
    let seal = test_seal();
    let mut c = ctx();
    c.ente.register_code = "Protocollo generale".into();
    let err = segnatura::build(&c, &receipt("x", registered()), &options(&seal.seal)).unwrap_err();
    assert!(matches!(err, Error::Invalid { field: "ente.register_code", .. }), "{err:?}");
    let mut r = receipt("x", registered());
    r.documents.clear();
    let err = segnatura::build(&ctx(), &r, &options(&seal.seal)).unwrap_err();
    assert!(matches!(err, Error::Invalid { field: "receipt.documents", .. }), "{err:?}");
    let mut r = receipt("x", registered());
    r.documents[0].sha256 = "abc".into();
    assert!(segnatura::build(&ctx(), &r, &options(&seal.seal)).is_err());
}

#[test]
fn a_seal_certificate_file_may_carry_its_chain() {
    let ca = Ca::new_root("Test Qualified Seal CA");
    let leaf = ca.issue(LeafSpec::new("Comune di Roccafiorita - sigillo"));
    let PrivateKey::Rsa(key) = &leaf.key else { panic!("RSA leaf expected") };
    let key_pem = key.to_pkcs8_pem(LineEnding::LF).unwrap();
    // The seal's own certificate first, then its CA: the first one is the seal's.
    let chain = format!("{}{}", leaf.cert_pem(), ca.cert_pem());
    let seal = Seal::from_pem(&key_pem, &chain).unwrap();
    assert_eq!(seal.certificate_der(), &leaf.cert_der[..]);
    // The CA first is refused: its key is not the seal's.
    let reversed = format!("{}{}", ca.cert_pem(), leaf.cert_pem());
    assert!(Seal::from_pem(&key_pem, &reversed).unwrap_err().to_string().contains("does not belong"));
    assert!(Seal::from_pem(&key_pem, "").is_err());
}
