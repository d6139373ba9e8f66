//! Inputs that are not messages, or are damaged ones, give a clear error or a cautious
//! verdict: never a panic, never a registration.

use std::path::Path;
use std::time::{Duration, SystemTime};

use sigillo_pec::report::Decision;
use sigillo_pec::{Checker, FileReport, PecError};

fn checker() -> Checker {
    let mut c = Checker::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_780_000_000));
    let anchor = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/trust/pec/test-pec-providers-ca.pem"),
    )
    .unwrap_or_default();
    c.add_pec_anchors(&anchor).unwrap_or_else(|e| panic!("{e}"));
    let docs = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/trust/signatures/test-qualified-ca.pem"),
    )
    .unwrap_or_default();
    c.add_document_anchors(&docs).unwrap_or_else(|e| panic!("{e}"));
    c
}

fn golden(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name)).unwrap_or_default()
}

/// A message's report; a document (what a mangled message may become) is returned as its
/// verdict in `Err`, so that callers can tell it was not a message.
fn check(c: &Checker, raw: &[u8]) -> Result<sigillo_pec::MessageReport, String> {
    match c.check("x.eml", raw) {
        Ok(FileReport::Message(m)) => Ok(*m),
        Ok(FileReport::Document(d)) => Err(format!("document: {:?}", d.signature.verdict)),
        Err(e) => Err(e.to_string()),
    }
}

/// Only empty input is an error; anything else that is not a message is a document, with
/// the verdict of the signature it (does not) carry. (This test used to expect "non è un
/// messaggio" errors for binary and header-less text: issue 14 item 5.)
#[test]
fn not_messages_are_documents_and_empty_is_an_error() {
    let c = checker();
    for raw in [&b""[..], b"\r\n\r\n  \n"] {
        match c.check("x.eml", raw) {
            Err(e) => assert!(e.to_string().contains("file vuoto"), "{raw:?}: {e}"),
            Ok(r) => panic!("{raw:?} accepted: {r:?}"),
        }
    }
    let cases: &[&[u8]] = &[
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        b"\x00\x01\x02\x03\x04\x05",
        b"ciao,\nquesto non ha intestazioni\n",
        b"PK\x03\x04\x14\x00\x00\x00\x08\x00",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00\x00\x00junk",
    ];
    for raw in cases {
        match c.check("x.bin", raw) {
            Ok(FileReport::Document(d)) => {
                assert_eq!(d.signature.verdict, sigillo_signature::Indication::NoSignatureFound, "{raw:?}: {d:?}")
            }
            other => panic!("{raw:?}: {other:?}"),
        }
    }
}

/// Files are told apart by content: the name given is only a label in the report.
#[test]
fn documents_and_messages_by_content_not_by_name() {
    let c = checker();
    let envelope = golden("transport_genuine.eml");
    match c.check("busta.bin", &envelope) {
        Ok(FileReport::Message(m)) => assert_eq!(m.decision, Decision::Register),
        other => panic!("an envelope named .bin: {other:?}"),
    }
    let pdf = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n";
    // A p7m taken out of a golden envelope, saved under a message's name.
    let report = match c.check("x.eml", &golden("transport_signed_attachments.eml")) {
        Ok(FileReport::Message(m)) => *m,
        other => panic!("{other:?}"),
    };
    let p7m = report
        .attachments
        .iter()
        .find(|a| a.attachment.name.as_deref() == Some("dichiarazione.txt.p7m"))
        .map(|a| a.attachment.content.clone())
        .unwrap_or_default();
    let b64 = base64_lines(&p7m);
    let pem = format!("-----BEGIN PKCS7-----\n{b64}-----END PKCS7-----\n");
    for (label, bytes, verdict) in [
        ("istanza.eml", pdf.to_vec(), "NO_SIGNATURE_FOUND"),
        ("dichiarazione.eml", p7m.clone(), "TOTAL_PASSED"),
        ("dichiarazione-base64.txt", b64.clone().into_bytes(), "TOTAL_PASSED"),
        ("dichiarazione.pem", pem.into_bytes(), "TOTAL_PASSED"),
    ] {
        match c.check(label, &bytes) {
            Ok(FileReport::Document(d)) => {
                let json = serde_json::to_value(&d).unwrap_or_default();
                assert_eq!(json["signature"]["verdict"], verdict, "{label}: {json}");
                assert_eq!(json["file"], label);
            }
            other => panic!("{label}: {other:?}"),
        }
    }
}

fn base64_lines(data: &[u8]) -> String {
    use base64::Engine as _;
    let s = base64::engine::general_purpose::STANDARD.encode(data);
    s.as_bytes().chunks(64).map(|c| String::from_utf8_lossy(c).into_owned() + "\n").collect()
}

#[test]
fn truncated_envelope_is_an_error() {
    let c = checker();
    let raw = golden("transport_genuine.eml");
    // Cut inside the signature part.
    let cut = &raw[..raw.len() - 200];
    assert!(
        matches!(c.check("x.eml", cut), Err(PecError::Truncated(_))),
        "{:?}",
        check(&c, cut).map(|r| r.decision)
    );
}

/// Every prefix of a genuine envelope: no panic, and no prefix is registered.
#[test]
fn every_prefix_is_handled_and_never_registered() {
    let c = checker();
    for name in ["transport_genuine.eml", "transport_signed_attachments.eml", "transport_via_mailinglist.eml"] {
        let raw = golden(name);
        let full = check(&c, &raw).map(|r| r.decision);
        assert!(matches!(full, Ok(Decision::Register | Decision::Review)), "{name}: {full:?}");
        // The last bytes are the closing delimiter line and its CRLF.
        let keep = raw.len().saturating_sub(26);
        for end in (0..keep).step_by(7) {
            if let Ok(r) = check(&c, &raw[..end]) {
                assert!(
                    !matches!(r.decision, Decision::Register),
                    "{name} cut at {end}/{} was registered",
                    raw.len()
                );
            }
        }
    }
}

/// Flipping bytes anywhere never panics; flipping a byte of the signed part is never
/// registered.
#[test]
fn byte_flips_never_panic() {
    let c = checker();
    let raw = golden("transport_genuine.eml");
    let text = String::from_utf8_lossy(&raw);
    let signed_start = text.find("------SIGBOUNDARY\r\n").unwrap_or(0) + 19;
    let signed_end = text[signed_start..].find("\r\n------SIGBOUNDARY").map_or(0, |e| signed_start + e);
    for i in (0..raw.len()).step_by(3) {
        for flip in [0x01u8, 0x20, 0x80] {
            let mut m = raw.clone();
            m[i] ^= flip;
            let r = check(&c, &m);
            if (signed_start..signed_end).contains(&i)
                && let Ok(r) = r
            {
                assert_ne!(r.decision, Decision::Register, "flip {flip:#x} at {i} registered");
            }
        }
    }
}
