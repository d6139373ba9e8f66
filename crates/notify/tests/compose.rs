//! Receipts and notices: golden tests (fixture `*.input.json` in, the message parsed back with
//! mail-parser and compared with `*.expected.json` beside it) and checks of the Italian content.
//!
//! Regenerate the expected files after an intended change with
//! `SIGILLO_BLESS=1 cargo nextest run -p sigillo_notify --test compose` and review the diff.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeZone, Utc};
use mail_parser::{MessageParser, MimeHeaders};
use serde::Deserialize;
use serde_json::{Value, json};
use sigillo_notify::compose::{self, Stamp};
use sigillo_notify::model::{Composed, Context, Document, Ente, Notice, NoticeReason, Office, Receipt};

// --- fixtures: serde mirrors of the model (the model itself has no serde) -------------------

#[derive(Deserialize)]
struct Fixture {
    stamp: StampIn,
    context: ContextIn,
    receipt: Option<ReceiptIn>,
    notice: Option<NoticeIn>,
    /// Attached as Segnatura.xml (the real file is signed and changes with the test key).
    segnatura_xml: Option<String>,
}

#[derive(Deserialize)]
struct StampIn {
    date: DateTime<Utc>,
    message_id: String,
}

#[derive(Deserialize)]
struct ContextIn {
    name: String,
    ipa_code: String,
    aoo_code: String,
    aoo_name: String,
    register_code: String,
    timezone: String,
    office: OfficeIn,
    from: String,
}

#[derive(Deserialize)]
struct OfficeIn {
    name: String,
    email: Option<String>,
    phone: Option<String>,
    hours: Option<String>,
}

#[derive(Deserialize)]
struct ReceiptIn {
    to: String,
    number: i32,
    year: i32,
    registered_at: DateTime<Utc>,
    segnatura: String,
    subject: String,
    pec_delivered_at: Option<DateTime<Utc>>,
    pec_identificativo: Option<String>,
    in_reply_to: Option<String>,
    documents: Vec<DocumentIn>,
}

#[derive(Deserialize)]
struct DocumentIn {
    name: String,
    media_type: Option<String>,
    size: i64,
    sha256: String,
    primary: bool,
}

#[derive(Deserialize)]
struct NoticeIn {
    to: String,
    subject: String,
    received_at: Option<DateTime<Utc>>,
    in_reply_to: Option<String>,
    reasons: Vec<ReasonIn>,
}

#[derive(Deserialize)]
struct ReasonIn {
    code: String,
    file: Option<String>,
    detail: Option<String>,
}

impl ContextIn {
    fn model(self) -> Context {
        Context {
            ente: Ente {
                name: self.name,
                ipa_code: self.ipa_code,
                aoo_code: self.aoo_code,
                aoo_name: self.aoo_name,
                register_code: self.register_code,
                timezone: self.timezone.parse().unwrap(),
            },
            office: Office { name: self.office.name, email: self.office.email, phone: self.office.phone, hours: self.office.hours },
            from: self.from,
        }
    }
}

impl ReceiptIn {
    fn model(self) -> Receipt {
        Receipt {
            to: self.to,
            number: self.number,
            year: self.year,
            registered_at: self.registered_at,
            segnatura: self.segnatura,
            subject: self.subject,
            pec_delivered_at: self.pec_delivered_at,
            pec_identificativo: self.pec_identificativo,
            in_reply_to: self.in_reply_to,
            documents: self
                .documents
                .into_iter()
                .map(|d| Document { name: d.name, media_type: d.media_type, size: d.size, sha256: d.sha256, primary: d.primary })
                .collect(),
        }
    }
}

impl NoticeIn {
    fn model(self) -> Notice {
        Notice {
            to: self.to,
            subject: self.subject,
            received_at: self.received_at,
            in_reply_to: self.in_reply_to,
            reasons: self.reasons.into_iter().map(|r| NoticeReason { code: r.code, file: r.file, detail: r.detail }).collect(),
        }
    }
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/compose")
}

fn compose_fixture(path: &Path) -> Composed {
    let f: Fixture = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let ctx = f.context.model();
    let stamp = Stamp { date: f.stamp.date, message_id: f.stamp.message_id };
    match (f.receipt, f.notice) {
        (Some(r), None) => {
            compose::receipt_with(&ctx, &r.model(), f.segnatura_xml.as_deref().map(str::as_bytes), &stamp).unwrap()
        }
        (None, Some(n)) => compose::notice_with(&ctx, &n.model(), &stamp).unwrap(),
        _ => panic!("{}: exactly one of receipt and notice", path.display()),
    }
}

/// What a mail client sees: the message parsed back with mail-parser.
fn parsed(composed: &Composed) -> Value {
    let raw = &composed.raw;
    assert!(
        raw.windows(2).filter(|w| w[1] == b'\n').all(|w| w[0] == b'\r'),
        "every line must end with CRLF"
    );
    let m = MessageParser::default().parse(raw).expect("mail-parser parses the message");
    let addr = |a: Option<&mail_parser::Address>| {
        let a = a.and_then(|a| a.first()).unwrap();
        json!({ "name": a.name(), "address": a.address() })
    };
    let text_header = |name: &str| m.header_raw(name).map(|v| v.trim().to_owned());
    let content_type = |ct: Option<&mail_parser::ContentType>| {
        ct.map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or_default()))
    };
    json!({
        "composed": { "message_id": composed.message_id, "to": composed.to.join(", "), "subject": composed.subject },
        "headers": {
            "from": addr(m.from()),
            "to": addr(m.to()),
            "subject": m.subject(),
            "date": m.date().map(|d| d.to_rfc3339()),
            "message_id": m.message_id(),
            "in_reply_to": m.in_reply_to().as_text(),
            "references": m.references().as_text(),
            "auto_submitted": text_header("Auto-Submitted"),
            "x_sigillo_kind": text_header("X-Sigillo-Kind"),
            "mime_version": text_header("MIME-Version"),
            "content_type": content_type(m.content_type()),
        },
        "text": m.body_text(0),
        "html": m.body_html(0),
        "attachments": m.attachments().map(|a| json!({
            "name": a.attachment_name(),
            "content_type": content_type(a.content_type()),
            "content": String::from_utf8_lossy(a.contents()),
        })).collect::<Vec<_>>(),
    })
}

#[test]
fn golden_messages() {
    let bless = std::env::var_os("SIGILLO_BLESS").is_some();
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".input.json"))
        .collect();
    inputs.sort();
    assert!(inputs.len() >= 4, "fixtures missing in {}", fixtures_dir().display());
    let mut failures = Vec::new();
    for input in inputs {
        let got = parsed(&compose_fixture(&input));
        let expected_path = PathBuf::from(input.to_string_lossy().replace(".input.json", ".expected.json"));
        let pretty = serde_json::to_string_pretty(&got).unwrap() + "\n";
        if bless {
            std::fs::write(&expected_path, &pretty).unwrap();
            continue;
        }
        let expected: Value = serde_json::from_slice(
            &std::fs::read(&expected_path).unwrap_or_else(|e| panic!("{}: {e} (run with SIGILLO_BLESS=1)", expected_path.display())),
        )
        .unwrap();
        if expected != got {
            failures.push(format!("{}:\n{pretty}", expected_path.display()));
        }
    }
    assert!(failures.is_empty(), "golden mismatch (SIGILLO_BLESS=1 regenerates):\n{}", failures.join("\n"));
}

// --- content checks -------------------------------------------------------------------------

fn ctx() -> Context {
    let f: Fixture =
        serde_json::from_slice(&std::fs::read(fixtures_dir().join("receipt_full.input.json")).unwrap()).unwrap();
    f.context.model()
}

fn stamp() -> Stamp {
    Stamp { date: Utc.with_ymd_and_hms(2026, 11, 22, 13, 3, 9).unwrap(), message_id: "sigillo.test@pec.comune.example.it".into() }
}

fn notice_with(reasons: Vec<NoticeReason>) -> Notice {
    Notice {
        to: "mario.rossi@pec.example.it".into(),
        subject: "Istanza".into(),
        received_at: None,
        in_reply_to: None,
        reasons,
    }
}

fn reason(code: &str, file: Option<&str>, detail: Option<&str>) -> NoticeReason {
    NoticeReason { code: code.into(), file: file.map(Into::into), detail: detail.map(Into::into) }
}

fn bodies(c: &Composed) -> (String, String) {
    let m = MessageParser::default().parse(&c.raw).unwrap();
    (m.body_text(0).unwrap().into_owned(), m.body_html(0).unwrap().into_owned())
}

#[test]
fn every_notice_reason_has_its_italian_sentence() {
    let ctx = ctx();
    let cases: [(&str, Option<&str>, &[&str]); 6] = [
        ("NOT_PEC", None, &["posta elettronica certificata (PEC)", "da una casella PEC", "protocollo@pec.comune.example.it"]),
        ("UNSIGNED_ATTACHMENT", Some("domanda.pdf"), &["Il file «domanda.pdf» non è firmato digitalmente", "CAdES", ".p7m", "PAdES"]),
        ("INVALID_SIGNATURE", Some("allegato.pdf.p7m"), &["La firma digitale del file «allegato.pdf.p7m» non è valida", "Motivo: HASH_FAILURE"]),
        ("FORGED_ENVELOPE", None, &["autenticità della busta PEC", "gestore PEC"]),
        ("SIGNATURE_INDETERMINATE", Some("x.p7m"), &["file «x.p7m»", "certificato di firma è scaduto o revocato"]),
        ("SOMETHING_NEW", None, &["non ha superato i controlli previsti per la protocollazione", "Dettaglio: HASH_FAILURE"]),
    ];
    for (code, file, phrases) in cases {
        let n = notice_with(vec![reason(code, file, Some("HASH_FAILURE"))]);
        let c = compose::notice_with(&ctx, &n, &stamp()).unwrap();
        let (text, html) = bodies(&c);
        for phrase in phrases {
            assert!(text.contains(phrase), "{code}: text lacks {phrase:?}:\n{text}");
            assert!(html.contains(phrase), "{code}: html lacks {phrase:?}:\n{html}");
        }
        // The office contact is in every notice.
        assert!(text.contains("Ufficio Protocollo") && text.contains("protocollo@comune.example.it"), "{text}");
        assert!(text.contains("Cosa fare:"), "{code}: {text}");
    }
}

#[test]
fn receipt_lists_every_document_with_its_sha256() {
    let f: Fixture =
        serde_json::from_slice(&std::fs::read(fixtures_dir().join("receipt_full.input.json")).unwrap()).unwrap();
    let ctx = f.context.model();
    let r = f.receipt.unwrap().model();
    assert!(r.documents.len() >= 3);
    let c = compose::receipt_with(&ctx, &r, None, &stamp()).unwrap();
    let (text, html) = bodies(&c);
    for d in &r.documents {
        assert!(text.contains(&d.sha256) && text.contains(&d.name), "{}: {text}", d.name);
        assert!(html.contains(&d.sha256), "{}", d.name);
    }
    assert!(text.contains("art. 18-bis della legge 7 agosto 1990, n. 241"), "{text}");
    assert_eq!(c.subject, "Ricevuta di protocollazione n. 0000123 del 22/11/2026 - Richiesta di accesso agli atti");
}

#[test]
fn receipt_html_escapes_the_subject() {
    let ctx = ctx();
    let mut f: Fixture =
        serde_json::from_slice(&std::fs::read(fixtures_dir().join("receipt_full.input.json")).unwrap()).unwrap();
    let mut r = f.receipt.take().unwrap().model();
    r.subject = "<script>alert(1)</script> & \"saldo\" è 100 €".into();
    let c = compose::receipt_with(&ctx, &r, None, &stamp()).unwrap();
    let (text, html) = bodies(&c);
    assert!(!html.contains("<script>"), "{html}");
    // askama writes numeric character references
    assert!(html.contains("&#60;script&#62;alert(1)&#60;/script&#62; &#38; &#34;saldo&#34; è 100 €"), "{html}");
    assert!(text.contains("Oggetto: <script>alert(1)</script> & \"saldo\" è 100 €"), "{text}");
    // The Subject header round-trips through encoded words.
    let m = MessageParser::default().parse(&c.raw).unwrap();
    assert_eq!(m.subject().unwrap(), c.subject);
    assert!(c.subject.ends_with("- <script>alert(1)</script> & \"saldo\" è 100 €"));
}

#[test]
fn fresh_stamp_message_id_uses_the_from_domain() {
    let ctx = ctx();
    let n = notice_with(vec![reason("NOT_PEC", None, None)]);
    let a = compose::notice(&ctx, &n).unwrap();
    let b = compose::notice(&ctx, &n).unwrap();
    assert_ne!(a.message_id, b.message_id);
    assert!(a.message_id.starts_with("sigillo.") && a.message_id.ends_with("@pec.comune.example.it"), "{}", a.message_id);
    let m = MessageParser::default().parse(&a.raw).unwrap();
    assert_eq!(m.message_id(), Some(a.message_id.as_str()));
    assert_eq!(m.header_raw("Auto-Submitted").map(str::trim), Some("auto-replied"));
    assert_eq!(m.header_raw("X-Sigillo-Kind").map(str::trim), Some("notifica"));
    assert!(m.in_reply_to().as_text().is_none());
}

#[test]
fn receipt_carries_a_real_sealed_segnatura() {
    use rsa::pkcs8::{EncodePrivateKey, LineEnding};
    use sigillo_notify::segnatura::{self, Options, Seal};
    use sigillo_testpki::{Ca, LeafSpec, PrivateKey};

    let f: Fixture =
        serde_json::from_slice(&std::fs::read(fixtures_dir().join("receipt_full.input.json")).unwrap()).unwrap();
    let ctx = f.context.model();
    let r = f.receipt.unwrap().model();
    let leaf = Ca::new_root("Seal CA").issue(LeafSpec::new("Sigillo"));
    let PrivateKey::Rsa(key) = &leaf.key else { panic!() };
    let seal = Seal::from_pem(&key.to_pkcs8_pem(LineEnding::LF).unwrap(), &leaf.cert_pem()).unwrap();
    let xml = segnatura::build(&ctx, &r, &Options { seal: Some(&seal), signing_time: r.registered_at, classifica: None }).unwrap();
    let c = compose::receipt(&ctx, &r, Some(&xml)).unwrap();
    let m = MessageParser::default().parse(&c.raw).unwrap();
    let att: Vec<_> = m.attachments().collect();
    assert_eq!(att.len(), 1);
    assert_eq!(att[0].attachment_name(), Some("Segnatura.xml"));
    let ct = att[0].content_type().unwrap();
    assert_eq!((ct.ctype(), ct.subtype()), ("application", Some("xml")));
    assert_eq!(att[0].contents(), xml.as_slice());
}

/// A registration in partenza: the subject is the segnatura and the oggetto, the documents
/// go as they are, then Segnatura.xml; it is the comune's correspondence, not an automatic
/// reply (no Auto-Submitted, which would make the recipient's protocol ignore it).
#[test]
fn an_outgoing_registration_carries_its_documents_and_segnatura() {
    use sigillo_notify::model::{Outgoing, OutgoingFile};
    let pdf = b"%PDF-1.4\n% lettera\n%%EOF\n".to_vec();
    let outgoing = Outgoing {
        to: vec!["mario.rossi@pec.example.it".into()],
        number: 42,
        year: 2026,
        registered_at: Utc.with_ymd_and_hms(2026, 11, 22, 13, 3, 8).unwrap(),
        segnatura: "c_h501|A1B2C3D|PG|2026-11-22|42".into(),
        subject: "Comunicazione di avvio del procedimento".into(),
        files: vec![OutgoingFile {
            document: Document {
                name: "avvio.pdf".into(),
                media_type: Some("application/pdf".into()),
                size: pdf.len() as i64,
                sha256: "ab".repeat(32),
                primary: true,
            },
            content: pdf.clone(),
        }],
    };
    let c = compose::outgoing_with(&ctx(), &outgoing, Some(b"<xml/>"), &stamp()).unwrap();
    assert_eq!(c.subject, "c_h501|A1B2C3D|PG|2026-11-22|42 - Comunicazione di avvio del procedimento");
    assert_eq!(c.to, ["mario.rossi@pec.example.it"]);
    let m = MessageParser::default().parse(&c.raw).unwrap();
    assert_eq!(m.header_raw("X-Sigillo-Kind").map(str::trim), Some("partenza"));
    assert!(m.header_raw("Auto-Submitted").is_none());
    let text = m.body_text(0).unwrap().into_owned();
    assert!(text.contains("Protocollo n. 0000042 del 22/11/2026") && text.contains("avvio.pdf"), "{text}");
    let att: Vec<_> = m.attachments().collect();
    assert_eq!(att.len(), 2);
    assert_eq!((att[0].attachment_name(), att[0].contents()), (Some("avvio.pdf"), pdf.as_slice()));
    assert_eq!((att[1].attachment_name(), att[1].contents()), (Some("Segnatura.xml"), b"<xml/>".as_slice()));

    // One message to two recipients: both in To, in order, and both for RCPT TO.
    let both = Outgoing { to: vec!["mario.rossi@pec.example.it".into(), "Anna.Bianchi@PEC.example.it".into()], ..outgoing };
    let c = compose::outgoing_with(&ctx(), &both, None, &stamp()).unwrap();
    assert_eq!(c.to, ["mario.rossi@pec.example.it", "Anna.Bianchi@PEC.example.it"]);
    let m = MessageParser::default().parse(&c.raw).unwrap();
    let to: Vec<_> = m.to().unwrap().iter().map(|a| a.address().unwrap().to_owned()).collect();
    assert_eq!(to, ["mario.rossi@pec.example.it", "Anna.Bianchi@PEC.example.it"]);
    assert_eq!(m.attachments().count(), 1, "no Segnatura.xml given");
    // No recipient: an error, not a message without To.
    let none = Outgoing { to: Vec::new(), ..both };
    assert!(compose::outgoing_with(&ctx(), &none, None, &stamp()).is_err());
}
