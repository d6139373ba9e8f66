//! Golden tests: PEC messages built with the test PKI (`tests/golden/*.eml`) and the
//! `sigillo check --json` report expected for each (`*.json` beside it).
//!
//! Normal runs only read and compare. `UPDATE_GOLDEN=1 cargo nextest run -p sigillo_pec
//! golden` rebuilds the PKI, the messages and the JSON files (`UPDATE_GOLDEN=json`: only the
//! JSON files); review the diff before committing. Each case also states the decision and envelope status it must have, so a
//! regenerated JSON cannot silently bless a wrong verdict.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use chrono::{TimeZone, Utc};
use sigillo_pec::report::{Decision, EnvelopeStatus};
use sigillo_pec::{Checker, FileReport};
use sigillo_testpki::pec::{self, Daticert, Part, ReceiptHeaders, TransportHeaders};
use sigillo_testpki::{Ca, CaSpec, Leaf, LeafSpec, SignOptions, sign_detached};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// The instant every golden check runs at: inside the fixtures' validity windows forever.
fn check_time() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_780_000_000) // 2026-05-28
}

struct Case {
    name: &'static str,
    decision: Decision,
    status: EnvelopeStatus,
}

const fn case(name: &'static str, decision: Decision, status: EnvelopeStatus) -> Case {
    Case { name, decision, status }
}

use Decision::{LinkReceipt, Register, Reject, Review};
use EnvelopeStatus::{Invalid, Missing, Untrusted, Valid};

const CASES: &[Case] = &[
    case("transport_genuine", Register, Valid),
    case("transport_genuine_sha1", Register, Valid),
    case("transport_breve", Register, Valid),
    case("transport_with_attachments", Reject, Valid),
    case("transport_signed_attachments", Register, Valid),
    case("transport_attachment_broken_p7m", Reject, Valid),
    case("transport_attachment_unknown_ca", Review, Valid),
    case("transport_lf_only_copy", Register, Valid),
    case("transport_unsigned_all_headers", Reject, Missing),
    case("transport_signed_by_lookalike", Reject, Untrusted),
    case("transport_postacert_altered", Reject, Invalid),
    case("transport_relabelled_receipt", Reject, Valid),
    case("transport_via_mailinglist", Review, Valid),
    case("anomalia", Reject, Valid),
    case("ricevuta_accettazione", LinkReceipt, Valid),
    case("ricevuta_non-accettazione", LinkReceipt, Valid),
    case("ricevuta_presa-in-carico", LinkReceipt, Valid),
    case("ricevuta_non-accettazione_virus", LinkReceipt, Valid),
    case("ricevuta_avvenuta-consegna", LinkReceipt, Valid),
    case("ricevuta_avvenuta-consegna_completa_allegati", LinkReceipt, Valid),
    case("ricevuta_avvenuta-consegna_breve", LinkReceipt, Valid),
    case("ricevuta_avvenuta-consegna_sintetica", LinkReceipt, Valid),
    case("ricevuta_errore-consegna", LinkReceipt, Valid),
    case("ricevuta_errore-consegna_virus", LinkReceipt, Valid),
    case("ricevuta_preavviso-errore-consegna", LinkReceipt, Valid),
    case("ricevuta_rilevazione-virus", LinkReceipt, Valid),
    case("plain_mail", Reject, Missing),
];

fn read_trust(sub: &str) -> Vec<Vec<u8>> {
    let d = dir().join("trust").join(sub);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&d)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

/// `UPDATE_GOLDEN=1` regenerates the PKI, the messages and the JSON; `UPDATE_GOLDEN=json`
/// rewrites only the JSON from the committed messages (for a change of the report).
fn update_mode() -> Option<String> {
    std::env::var("UPDATE_GOLDEN").ok().filter(|v| !v.is_empty())
}

/// The report as compared: attachment signatures reduced to the fields of the §4 contract
/// (verdict, subindication, format, and who signed with what outcome), so that the
/// signature crate can add detail to its reports without touching these files; its own
/// tests pin that detail. Field order stays that of the real output.
fn projected(report: &sigillo_pec::MessageReport) -> String {
    use serde::Serialize;
    use sigillo_signature::{Format, Indication, SubIndication};

    #[derive(Serialize)]
    struct Projected<'a> {
        file: &'a str,
        pec: &'a sigillo_pec::report::PecReport,
        attachments: Vec<Att<'a>>,
        decision: sigillo_pec::report::Decision,
        reasons: &'a [sigillo_pec::report::Reason],
    }
    #[derive(Serialize)]
    struct Att<'a> {
        #[serde(flatten)]
        attachment: &'a sigillo_pec::attachments::Attachment,
        signature: Option<Sig<'a>>,
    }
    #[derive(Serialize)]
    struct Sig<'a> {
        verdict: Indication,
        subindication: Option<SubIndication>,
        format: Format,
        signers: Vec<Signer<'a>>,
    }
    #[derive(Serialize)]
    struct Signer<'a> {
        subject: Option<&'a str>,
        verdict: Indication,
        subindication: Option<SubIndication>,
    }
    let p = Projected {
        file: &report.file,
        pec: &report.pec,
        attachments: report
            .attachments
            .iter()
            .map(|a| Att {
                attachment: &a.attachment,
                signature: a.signature.as_ref().map(|s| Sig {
                    verdict: s.verdict,
                    subindication: s.subindication,
                    format: s.format,
                    signers: s
                        .signers
                        .iter()
                        .map(|x| Signer { subject: x.subject.as_deref(), verdict: x.verdict, subindication: x.subindication })
                        .collect(),
                }),
            })
            .collect(),
        decision: report.decision,
        reasons: &report.reasons,
    };
    serde_json::to_string_pretty(&p).unwrap_or_default() + "\n"
}

#[test]
fn golden() {
    let mode = update_mode();
    if mode.as_deref().is_some_and(|m| m != "json") {
        generate::all(&dir());
    }
    let mut checker = Checker::new(check_time());
    for a in read_trust("pec") {
        checker.add_pec_anchors(&a).unwrap_or_else(|e| panic!("{e}"));
    }
    for a in read_trust("signatures") {
        checker.add_document_anchors(&a).unwrap_or_else(|e| panic!("{e}"));
    }
    let mut failures = Vec::new();
    for c in CASES {
        let eml = dir().join(format!("{}.eml", c.name));
        let raw = std::fs::read(&eml).unwrap_or_else(|e| panic!("{}: {e}", eml.display()));
        let file = format!("{}.eml", c.name);
        let report = match checker.check(&file, &raw) {
            Ok(FileReport::Message(m)) => *m,
            other => panic!("{file}: {other:?}"),
        };
        if report.decision != c.decision || report.pec.envelope_signature.status != c.status {
            failures.push(format!(
                "{file}: decision {:?} status {:?}, expected {:?} {:?} ({:?})",
                report.decision, report.pec.envelope_signature.status, c.decision, c.status, report.reasons
            ));
        }
        let json = projected(&report);
        let json_path = dir().join(format!("{}.json", c.name));
        if mode.is_some() {
            std::fs::write(&json_path, &json).unwrap_or_else(|e| panic!("{e}"));
        }
        let expected = std::fs::read_to_string(&json_path).unwrap_or_default();
        if expected != json {
            failures.push(format!("{file}: JSON differs from {}:\n{json}", json_path.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// What the generated receipts must say, checked apart from the JSON so that a regenerated
/// golden file cannot bless a wrong reading.
#[test]
fn receipt_types_and_kinds() {
    let checker = Checker::new(check_time());
    let cases: &[(&str, &str, Option<&str>, bool)] = &[
        // (file, X-Ricevuta, receipt kind, carries the original)
        ("ricevuta_accettazione", "accettazione", None, false),
        ("ricevuta_non-accettazione_virus", "non-accettazione", None, false),
        ("ricevuta_presa-in-carico", "presa-in-carico", None, false),
        ("ricevuta_avvenuta-consegna", "avvenuta-consegna", Some("completa"), true),
        ("ricevuta_avvenuta-consegna_breve", "avvenuta-consegna", Some("breve"), true),
        ("ricevuta_avvenuta-consegna_sintetica", "avvenuta-consegna", Some("sintetica"), false),
        ("ricevuta_errore-consegna_virus", "errore-consegna", None, false),
        ("ricevuta_preavviso-errore-consegna", "preavviso-errore-consegna", None, false),
        ("ricevuta_rilevazione-virus", "rilevazione-virus", None, false),
    ];
    for (name, receipt, kind, original) in cases {
        let raw = std::fs::read(dir().join(format!("{name}.eml"))).unwrap_or_default();
        let Ok(FileReport::Message(r)) = checker.check(name, &raw) else { panic!("{name}") };
        let json = serde_json::to_value(&*r).unwrap_or_default();
        assert_eq!(json["pec"]["type"], "ricevuta", "{name}");
        assert_eq!(json["pec"]["receipt"], *receipt, "{name}");
        assert_eq!(json["pec"]["receipt_kind"].as_str(), *kind, "{name}");
        assert_eq!(json["decision"], "link-receipt", "{name}");
        assert_eq!(r.pec.original.is_some(), *original, "{name}");
        assert!(r.pec.warnings.is_empty(), "{name}: {:?}", r.pec.warnings);
    }
    let raw = std::fs::read(dir().join("transport_breve.eml")).unwrap_or_default();
    let Ok(FileReport::Message(r)) = checker.check("transport_breve", &raw) else { panic!("transport_breve") };
    assert_eq!(r.pec.receipt_kind, Some(sigillo_pec::kind::ReceiptKind::Breve));
}

/// The bare document written beside the messages is the one signed in them: valid against
/// the golden document anchors, and recognised as a document by content.
#[test]
fn golden_document() {
    let mut checker = Checker::new(check_time());
    for a in read_trust("signatures") {
        checker.add_document_anchors(&a).unwrap_or_else(|e| panic!("{e}"));
    }
    let raw = std::fs::read(dir().join("documents/dichiarazione.txt.p7m")).unwrap_or_default();
    match checker.check("dichiarazione.eml", &raw) {
        Ok(FileReport::Document(d)) => {
            assert_eq!(d.signature.verdict, sigillo_signature::Indication::TotalPassed, "{:?}", d.signature)
        }
        other => panic!("{other:?}"),
    }
}

mod generate {
    use super::*;

    fn t(y: i32, m: u32, d: u32) -> chrono::DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).single().unwrap_or_default()
    }

    struct Pki {
        provider_ca: Ca,
        provider: Leaf,
        lookalike: Leaf,
        citizen: Leaf,
        citizen_ca: Ca,
    }

    fn pki() -> Pki {
        let ca_spec = |cn: &str| CaSpec {
            not_before: Some(t(2025, 1, 1)),
            not_after: Some(t(2045, 1, 1)),
            ..CaSpec::new(cn)
        };
        let provider_ca = Ca::new_root_with(ca_spec("Test PEC Providers CA"));
        // Same names as the genuine ones, different keys: only the chain tells them apart.
        let lookalike_ca = Ca::new_root_with(ca_spec("Test PEC Providers CA"));
        let leaf = || {
            LeafSpec::pec_provider("Posta Certificata Test", "posta-certificata@pec.test.it")
                .validity(t(2025, 1, 1), t(2040, 1, 1))
        };
        let provider = provider_ca.issue(leaf());
        let lookalike = lookalike_ca.issue(leaf());
        let citizen_ca = Ca::new_root_with(ca_spec("Test Qualified Signatures CA"));
        let citizen = citizen_ca.issue(
            LeafSpec::person("Mario", "Rossi", "TINIT-RSSMRA80A01H501U").validity(t(2025, 1, 1), t(2040, 1, 1)),
        );
        Pki { provider_ca, provider, lookalike, citizen, citizen_ca }
    }

    fn opts() -> SignOptions {
        SignOptions { signing_time: Some(t(2025, 11, 10)), ..SignOptions::default() }
    }

    const IDENT: &str = "opec210.20251110100000.12345.1.1.1@pec.test.it";

    struct Att {
        name: &'static str,
        media: &'static str,
        bytes: Vec<u8>,
    }

    fn sha256_hex(data: &[u8]) -> String {
        use sha2::Digest as _;
        sha2::Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
    }

    fn att(name: &'static str, media: &'static str, bytes: Vec<u8>) -> Att {
        Att { name, media, bytes }
    }

    /// The citizen's message: text only when `atts` is empty, else HTML with an inline
    /// logo referenced by cid (body, not a document) plus the attachments.
    fn original(atts: &[Att]) -> String {
        let head = "Date: Mon, 10 Nov 2025 10:00:00 +0100\r\n\
            From: Mario Rossi <mario.rossi@pec.test.it>\r\n\
            To: protocollo@pec.comune.test.it\r\n\
            Subject: Istanza di accesso agli atti\r\n\
            Message-ID: <opec210.20251110100000.12345.1.1.1@pec.test.it>\r\n\
            X-Riferimento-Message-ID: <client-1@mua.test>\r\n\
            X-TipoRicevuta: completa\r\n\
            MIME-Version: 1.0\r\n";
        if atts.is_empty() {
            return format!(
                "{head}Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
                 Buongiorno, chiedo l'accesso agli atti della pratica 42.\r\nMario Rossi\r\n"
            );
        }
        let png = b"\x89PNG\r\n\x1a\nlogo";
        let related = Part::multipart(
            "related",
            "orig-rel",
            vec![
                Part::new(
                    "Content-Type: text/html; charset=utf-8\r\n",
                    "<p>Buongiorno, allego l'istanza firmata.</p><img src=\"cid:logo@mua.test\">",
                ),
                Part::new(
                    "Content-Type: image/png; name=\"logo.png\"\r\nContent-ID: <logo@mua.test>\r\n\
                     Content-Disposition: inline; filename=\"logo.png\"\r\nContent-Transfer-Encoding: base64\r\n",
                    pec::base64_lines(png),
                ),
            ],
        );
        let mut parts = vec![related];
        parts.extend(atts.iter().map(|a| Part::attachment(a.name, a.media, &a.bytes)));
        format!("{head}{}", text(&Part::multipart("mixed", "orig-mixed", parts).to_bytes()))
    }

    /// Generated messages are ASCII (attachments in base64).
    fn text(bytes: &[u8]) -> String {
        String::from_utf8_lossy(bytes).into_owned()
    }

    /// Extra elements of a daticert's `dati`.
    #[derive(Default)]
    struct Dati<'a> {
        ricevuta: Option<&'a str>,
        consegna: bool,
        ricezione: &'a [&'a str],
        errore_esteso: Option<&'a str>,
    }

    fn daticert(tipo: &str, errore: &str, dati: Dati<'_>) -> String {
        Daticert {
            tipo,
            errore,
            mittente: "mario.rossi@pec.test.it",
            destinatari: vec![("certificato", "protocollo@pec.comune.test.it")],
            risposte: "mario.rossi@pec.test.it",
            oggetto: "Istanza di accesso agli atti",
            gestore: "TEST PEC S.p.A.",
            zona: "+0100",
            giorno: "10/11/2025",
            ora: "10:00:00",
            identificativo: IDENT,
            msgid: "<client-1@mua.test>",
            ricevuta: dati.ricevuta,
            consegna: if dati.consegna { vec!["protocollo@pec.comune.test.it"] } else { Vec::new() },
            ricezione: dati.ricezione.to_vec(),
            errore_esteso: dati.errore_esteso,
        }
        .xml()
    }

    /// The signed entity of an envelope or receipt (CRLF); no daticert part when
    /// `daticert` is `None` (anomaly envelopes).
    fn inner(text_: &str, daticert: Option<&str>, postacert: Option<&str>) -> String {
        let qp = |media: &str| {
            format!(
                "Content-Type: {media}; charset=\"iso-8859-1\"\r\nContent-Disposition: inline\r\n\
                 Content-Transfer-Encoding: quoted-printable\r\n"
            )
        };
        let alternative = Part::multipart(
            "alternative",
            "env-alt",
            vec![
                Part::new(qp("text/plain"), text_),
                Part::new(qp("text/html"), format!("<html><body><p>{text_}</p></body></html>")),
            ],
        );
        let mut parts = vec![alternative];
        parts.extend(daticert.map(Part::daticert));
        parts.extend(postacert.map(|p| Part::postacert(p.as_bytes())));
        text(&Part::multipart("mixed", "env-mixed", parts).to_bytes())
    }

    fn signed(outer_headers: &str, content: &str, signer: Option<&Leaf>, sha1: bool) -> String {
        let Some(leaf) = signer else {
            // Same headers, no signature: the content is the message body.
            return text(&pec::unsigned(outer_headers, content.as_bytes()));
        };
        let o = if sha1 { SignOptions { digest: sigillo_testpki::DigestAlg::Sha1, ..opts() } } else { opts() };
        let micalg = if sha1 { "sha1" } else { "sha-256" };
        text(&pec::signed(outer_headers, content.as_bytes(), "----SIGBOUNDARY", micalg, |c| sign_detached(leaf, c, &o)))
    }

    fn transport_headers(x_trasporto: &str, subject_prefix: &str) -> String {
        TransportHeaders {
            return_path: Some("posta-certificata@pec.test.it"),
            date: "Mon, 10 Nov 2025 10:00:00 +0100",
            sender: "mario.rossi@pec.test.it",
            provider: "posta-certificata@pec.test.it",
            reply_to: "mario.rossi@pec.test.it",
            to: vec!["protocollo@pec.comune.test.it"],
            cc: Vec::new(),
            subject: &format!("{subject_prefix}: Istanza di accesso agli atti"),
            message_id: IDENT,
            riferimento: "<client-1@mua.test>",
            x_trasporto,
            tipo_ricevuta: Some("completa"),
        }
        .render()
    }

    fn receipt_headers(x_ricevuta: &str, subject_prefix: &str) -> String {
        ReceiptHeaders {
            date: "Mon, 10 Nov 2025 10:00:01 +0100",
            from: "posta-certificata@pec.test.it",
            to: "protocollo@pec.comune.test.it",
            subject: &format!("{subject_prefix}: Istanza di accesso agli atti"),
            message_id: &format!("{IDENT}.r"),
            riferimento: "<client-1@mua.test>",
            x_ricevuta,
            tipo_ricevuta: None,
        }
        .render()
    }

    const TRANSPORT_TEXT: &str = "Messaggio di posta certificata: il messaggio originale =E8 incluso in allegato.";

    pub fn all(dir: &Path) {
        let pki = pki();
        let write = |name: &str, bytes: &[u8]| {
            std::fs::write(dir.join(name), bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        };
        std::fs::create_dir_all(dir.join("trust/pec")).unwrap_or_else(|e| panic!("{e}"));
        std::fs::create_dir_all(dir.join("trust/signatures")).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.join("trust/pec/test-pec-providers-ca.pem"), pki.provider_ca.cert_pem())
            .unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.join("trust/signatures/test-qualified-ca.pem"), pki.citizen_ca.cert_pem())
            .unwrap_or_else(|e| panic!("{e}"));

        let plain = original(&[]);
        let pdf = b"%PDF-1.4\n% istanza di prova\n%%EOF\n".to_vec();
        let p7s = sign_detached(&pki.citizen, &pdf, &opts());
        let p7m = sigillo_testpki::sign_attached(&pki.citizen, b"Dichiarazione sostitutiva", &opts());
        let with_atts = original(&[
            att("istanza.pdf", "application/pdf", pdf.clone()),
            att("istanza.pdf.p7s", "application/pkcs7-signature", p7s.clone()),
            att("note.txt", "text/plain", "Nota: perch\u{e8} no.".as_bytes().to_vec()),
        ]);
        // A bare signed document, for `sigillo check` on documents (tests/e2e/check_cli.rs at the workspace root).
        std::fs::create_dir_all(dir.join("documents")).unwrap_or_else(|e| panic!("{e}"));
        write("documents/dichiarazione.txt.p7m", &p7m);
        let signed_atts = original(&[
            att("istanza.pdf", "application/pdf", pdf.clone()),
            att("istanza.pdf.p7s", "application/pkcs7-signature", p7s),
            att("dichiarazione.txt.p7m", "application/pkcs7-mime", p7m.clone()),
        ]);
        // The citizen's p7m was damaged before sending: the provider faithfully signs it.
        let mut broken = p7m.clone();
        let at = broken.windows(10).position(|w| w == b"Dichiarazi").unwrap_or(0);
        broken[at] = b'd';
        let broken_atts = original(&[att("dichiarazione.txt.p7m", "application/pkcs7-mime", broken)]);
        let unknown_ca = Ca::new_root_with(CaSpec {
            not_before: Some(t(2025, 1, 1)),
            not_after: Some(t(2045, 1, 1)),
            ..CaSpec::new("Unknown Signatures CA")
        });
        let stranger = unknown_ca.issue(
            LeafSpec::person("Anna", "Bianchi", "TINIT-BNCNNA80A41H501X").validity(t(2025, 1, 1), t(2040, 1, 1)),
        );
        let unknown_atts = original(&[att(
            "dichiarazione.txt.p7m",
            "application/pkcs7-mime",
            sigillo_testpki::sign_attached(&stranger, b"Dichiarazione sostitutiva", &opts()),
        )]);
        let dc_transport = daticert("posta-certificata", "nessuno", Dati { ricevuta: Some("completa"), ..Dati::default() });
        let th = transport_headers("posta-certificata", "POSTA CERTIFICATA");
        let genuine_inner = inner(TRANSPORT_TEXT, Some(&dc_transport), Some(&plain));

        let genuine = signed(&th, &genuine_inner, Some(&pki.provider), false);
        write("transport_genuine.eml", genuine.as_bytes());
        write("transport_genuine_sha1.eml", signed(&th, &genuine_inner, Some(&pki.provider), true).as_bytes());
        write(
            "transport_with_attachments.eml",
            signed(&th, &inner(TRANSPORT_TEXT, Some(&dc_transport), Some(&with_atts)), Some(&pki.provider), false).as_bytes(),
        );
        for (name, orig) in [
            ("transport_signed_attachments.eml", &signed_atts),
            ("transport_attachment_broken_p7m.eml", &broken_atts),
            ("transport_attachment_unknown_ca.eml", &unknown_atts),
        ] {
            write(name, signed(&th, &inner(TRANSPORT_TEXT, Some(&dc_transport), Some(orig)), Some(&pki.provider), false).as_bytes());
        }
        write("transport_lf_only_copy.eml", genuine.replace("\r\n", "\n").as_bytes());
        write("transport_unsigned_all_headers.eml", signed(&th, &genuine_inner, None, false).as_bytes());
        write("transport_signed_by_lookalike.eml", signed(&th, &genuine_inner, Some(&pki.lookalike), false).as_bytes());
        let altered = genuine.replacen("pratica 42", "pratica 43", 1);
        assert_ne!(altered, genuine);
        write("transport_postacert_altered.eml", altered.as_bytes());

        // A genuine, signed receipt whose unsigned outer header is rewritten to pass as an
        // envelope: the signed daticert still says "accettazione".
        let dc_acc = daticert("accettazione", "nessuno", Dati::default());
        let acc = signed(
            &receipt_headers("accettazione", "ACCETTAZIONE"),
            &inner("Ricevuta di accettazione", Some(&dc_acc), None),
            Some(&pki.provider),
            false,
        );
        write("ricevuta_accettazione.eml", acc.as_bytes());
        write(
            "transport_relabelled_receipt.eml",
            acc.replace("X-Ricevuta: accettazione", "X-Trasporto: posta-certificata").as_bytes(),
        );

        // Mailman-style wrapping: the signed entity becomes the first part of a
        // multipart/mixed with a footer.
        let sig_entity = signed("", &genuine_inner, Some(&pki.provider), false);
        let sig_entity = sig_entity.strip_prefix("MIME-Version: 1.0\r\n").unwrap_or(&sig_entity);
        let wrapped = format!(
            "{th}List-Id: Lista di prova <lista.test.it>\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=\"===============ML==\"\r\n\r\n\
             --===============ML==\r\n{sig_entity}\r\n\
             --===============ML==\r\nContent-Type: text/plain; charset=\"us-ascii\"\r\n\r\n\
             _______________________________________________\r\nLista mailing list\r\n\
             --===============ML==--\r\n"
        );
        write("transport_via_mailinglist.eml", wrapped.as_bytes());

        // Anomaly envelope: ordinary mail wrapped and signed by the recipient's provider; no
        // daticert (the DTD has no tipo for it).
        let anomaly_inner = inner("Anomalia nel messaggio", None, Some(&plain));
        write(
            "anomalia.eml",
            signed(&transport_headers("errore", "ANOMALIA MESSAGGIO"), &anomaly_inner, Some(&pki.provider), false)
                .as_bytes(),
        );

        // (file suffix, X-Ricevuta, subject prefix, errore, extra daticert, postacert carried)
        let kind = |k| Dati { ricevuta: Some(k), consegna: true, ..Dati::default() };
        let error = |consegna, e| Dati { consegna, errore_esteso: Some(e), ..Dati::default() };
        let ricezione = |r: &'static [&'static str]| Dati { ricezione: r, ..Dati::default() };
        // A short ("breve") delivery receipt carries the original with every attachment
        // replaced by its hash; a synthetic one carries no original at all.
        let hashed_atts = original(&[
            att("istanza.pdf", "text/plain", sha256_hex(&pdf).into_bytes()),
            att("dichiarazione.txt.p7m", "text/plain", sha256_hex(&p7m).into_bytes()),
        ]);
        let full_atts = signed_atts.as_str();
        type Receipt<'a> = (&'a str, &'a str, &'a str, &'a str, Dati<'a>, Option<&'a str>);
        let receipts: Vec<Receipt<'_>> = vec![
            ("", "non-accettazione", "AVVISO DI NON ACCETTAZIONE", "altro", error(false, "Destinatario non valido"), None),
            ("_virus", "non-accettazione", "AVVISO DI NON ACCETTAZIONE PER VIRUS", "virus", error(false, "Virus rilevato nel messaggio"), None),
            ("", "presa-in-carico", "PRESA IN CARICO", "nessuno", ricezione(&["protocollo@pec.comune.test.it", "ufficio@pec.comune.test.it"]), None),
            ("", "avvenuta-consegna", "CONSEGNA", "nessuno", kind("completa"), Some(plain.as_str())),
            ("_completa_allegati", "avvenuta-consegna", "CONSEGNA", "nessuno", kind("completa"), Some(full_atts)),
            ("_breve", "avvenuta-consegna", "CONSEGNA", "nessuno", kind("breve"), Some(hashed_atts.as_str())),
            ("_sintetica", "avvenuta-consegna", "CONSEGNA", "nessuno", kind("sintetica"), None),
            ("", "errore-consegna", "AVVISO DI MANCATA CONSEGNA", "no-dest", error(true, "5.1.1 - TEST PEC S.p.A. - indirizzo non valido"), None),
            ("_virus", "errore-consegna", "AVVISO DI MANCATA CONSEGNA PER VIRUS", "virus", error(true, "Virus rilevato"), None),
            ("", "preavviso-errore-consegna", "AVVISO DI MANCATA CONSEGNA PER SUP. TEMPO MASSIMO", "altro", Dati { consegna: true, ..Dati::default() }, None),
            ("", "rilevazione-virus", "AVVISO DI RILEVAZIONE VIRUS", "virus", ricezione(&["protocollo@pec.comune.test.it"]), None),
        ];
        for (suffix, tipo, prefix, errore, dati, post) in receipts {
            let dc = daticert(tipo, errore, dati);
            let msg = signed(&receipt_headers(tipo, prefix), &inner(prefix, Some(&dc), post), Some(&pki.provider), false);
            write(&format!("ricevuta_{tipo}{suffix}.eml"), msg.as_bytes());
        }

        // A transport envelope asking for short receipts; the header name in capitals, as
        // no provider writes it, still counts.
        let dc_breve = daticert("posta-certificata", "nessuno", Dati { ricevuta: Some("breve"), ..Dati::default() });
        let th_breve = th.replace("X-TipoRicevuta: completa", "X-TIPORICEVUTA: breve");
        assert_ne!(th_breve, th);
        write(
            "transport_breve.eml",
            signed(&th_breve, &inner(TRANSPORT_TEXT, Some(&dc_breve), Some(&plain)), Some(&pki.provider), false).as_bytes(),
        );

        write("plain_mail.eml", plain.as_bytes());
    }
}

/// A report stored as JSON lists its documents back through `AttachmentListing`: the register
/// reads it that way, so a renamed field here must fail this test, not blank the office's page.
#[test]
fn a_stored_report_lists_its_documents_back() {
    let checker = Checker::new(check_time());
    let mut with_documents = 0;
    for c in CASES {
        let raw = std::fs::read(dir().join(format!("{}.eml", c.name))).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        let Ok(FileReport::Message(report)) = checker.check(c.name, &raw) else { continue };
        let stored = serde_json::to_value(&*report).unwrap();
        let listing: sigillo_pec::report::AttachmentListing = serde_json::from_value(stored).unwrap();
        let expected: Vec<_> = report
            .attachments
            .iter()
            .map(|a| sigillo_pec::attachments::Attachment { content: Vec::new(), ..a.attachment.clone() })
            .collect();
        assert_eq!(listing.attachments, expected, "{}", c.name);
        with_documents += usize::from(!expected.is_empty());
    }
    assert!(with_documents > 0, "no golden message has documents: the test proves nothing");
}
