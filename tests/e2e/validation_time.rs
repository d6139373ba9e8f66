//! The time certificates are judged at (issue 14, item 1), through the real binary: a
//! citizen's certificate valid 2025-01-01..2025-03-31, a document signed in February, sent
//! by PEC on 14/02/2025 (registered, whenever it is read) and in September 2025 (review);
//! `sigillo check --at` judges at the time asked.

use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeZone, Utc};
use sigillo_e2e::{Instance, run_with_env, stderr, stdout};
use sigillo_testpki::{Ca, CaSpec, Leaf, LeafSpec, SignOptions, sign_attached, sign_detached};

fn t(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 10, 0, 0).single().unwrap()
}

struct Fixtures {
    dir: tempfile::TempDir,
    trust: PathBuf,
    feb: PathBuf,
    sep: PathBuf,
    doc: PathBuf,
}

fn fixtures() -> Fixtures {
    let ca = |cn: &str| Ca::new_root_with(CaSpec { not_before: Some(t(2024, 1, 1)), not_after: Some(t(2045, 1, 1)), ..CaSpec::new(cn) });
    let provider_ca = ca("Test PEC Providers CA");
    let provider: Leaf = provider_ca.issue(
        LeafSpec::pec_provider("Posta Certificata Test", "posta-certificata@pec.test.it").validity(t(2024, 6, 1), t(2040, 1, 1)),
    );
    let citizen_ca = ca("Test Qualified Signatures CA");
    let citizen = citizen_ca.issue(
        LeafSpec::person("Mario", "Rossi", "TINIT-RSSMRA80A01H501U")
            .validity(Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap(), Utc.with_ymd_and_hms(2025, 3, 31, 23, 59, 59).unwrap()),
    );
    let dir = tempfile::tempdir().unwrap();
    let trust = dir.path().join("trust");
    for (sub, pem) in [("pec", provider_ca.cert_pem()), ("signatures", citizen_ca.cert_pem())] {
        std::fs::create_dir_all(trust.join(sub)).unwrap();
        std::fs::write(trust.join(sub).join("ca.pem"), pem).unwrap();
    }
    let signed_in_feb = SignOptions { signing_time: Some(t(2025, 2, 10)), ..SignOptions::default() };
    let document = sign_attached(&citizen, b"Istanza di accesso agli atti, pratica 42\n", &signed_in_feb);
    let pec = |name: &str, ident: &str, at: DateTime<Utc>| {
        let atts = [("istanza.pdf.p7m", "application/pkcs7-mime", document.clone())];
        let opts = SignOptions { signing_time: Some(at), ..SignOptions::default() };
        let raw = sigillo_testpki::pec::dated_transport(ident, "Istanza", at, &atts, |c| sign_detached(&provider, c, &opts));
        write(dir.path(), name, &raw)
    };
    let feb = pec("feb.eml", "opec.feb@pec.test.it", t(2025, 2, 14));
    let sep = pec("sep.eml", "opec.sep@pec.test.it", t(2025, 9, 15));
    let doc = write(dir.path(), "istanza.pdf.p7m", &document);
    Fixtures { dir, trust, feb, sep, doc }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn json_lines(out: &std::process::Output) -> Vec<serde_json::Value> {
    stdout(out).lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

#[tokio::test]
async fn check_at_judges_the_envelope_at_the_time_asked_and_the_attachments_at_the_pec_time() {
    let f = fixtures();
    let env = Default::default();
    let (trust, feb, sep, doc) = (s(&f.trust), s(&f.feb), s(&f.sep), s(&f.doc));
    let out = run_with_env(&env, &["check", "--trust", &trust, "--json", "--at", "2025-10-01T12:00:00+02:00", &feb, &sep, &doc]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = json_lines(&out);
    let (feb, sep, doc) = (&lines[0], &lines[1], &lines[2]);
    assert_eq!(feb["decision"], "register", "{feb}");
    assert_eq!(feb["pec"]["envelope_signature"]["time_source"], "at", "{feb}");
    assert_eq!(feb["pec"]["envelope_signature"]["judged_at"], "2025-10-01T10:00:00Z", "{feb}");
    assert_eq!(feb["attachments"][0]["signature"]["time_source"], "pec-time", "{feb}");
    assert_eq!(feb["attachments"][0]["signature"]["judged_at"], "2025-02-14T10:00:00Z", "{feb}");
    assert_eq!(sep["decision"], "review", "{sep}");
    assert_eq!(sep["reasons"][0]["code"], "SIGNATURE_INDETERMINATE", "{sep}");
    // The bare document at the time asked: its certificate expired in March.
    assert_eq!(doc["signature"]["verdict"], "INDETERMINATE", "{doc}");
    assert_eq!(doc["signature"]["time_source"], "at", "{doc}");

    // The document at a time inside its certificate's validity; without --at, now.
    let out = run_with_env(&env, &["check", "--trust", &trust, "--json", "--at", "2025-02-20T00:00:00Z", &doc_path(&f)]).await;
    let doc = &json_lines(&out)[0];
    assert_eq!(doc["signature"]["verdict"], "TOTAL_PASSED", "{doc}");
    let out = run_with_env(&env, &["check", "--trust", &trust, "--json", &doc_path(&f)]).await;
    assert_eq!(json_lines(&out)[0]["signature"]["time_source"], "now");

    // The human report says it in Italian.
    let out = run_with_env(&env, &["check", "--trust", &trust, "--at", "2025-10-01T12:00:00+02:00", &s(&f.feb)]).await;
    let text = stdout(&out);
    assert!(text.contains("certificato valutato al 01/10/2025 10:00:00 UTC (data richiesta con --at)"), "{text}");
    assert!(text.contains("Firme valutate al 14/02/2025 10:00:00 UTC (riferimento temporale della PEC)"), "{text}");

    // A time that is not RFC 3339 is refused with the expected form.
    let out = run_with_env(&env, &["check", "--at", "14/02/2025", &s(&f.feb)]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("2025-02-14T10:00:00+01:00"), "{}", stderr(&out));
    drop(f.dir);
}

fn doc_path(f: &Fixtures) -> String {
    s(&f.doc)
}

/// `sigillo ingest` today (long after the certificate expired): the PEC of February is
/// registered, the one of September goes to review.
#[tokio::test]
async fn ingest_registers_the_february_pec_and_reviews_the_september_one() {
    let f = fixtures();
    let mut app = Instance::new().await;
    app.env.insert("SIGILLO_TRUST_DIR".into(), s(&f.trust));
    let out = app.run(&["migrate"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = app.run(&["ingest", "--json", &s(&f.feb), &s(&f.sep)]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = json_lines(&out);
    assert_eq!(lines[0]["decision"], "register", "{}", lines[0]);
    assert_eq!(lines[1]["decision"], "review", "{}", lines[1]);
    assert_eq!(lines[1]["reasons"][0]["code"], "SIGNATURE_INDETERMINATE", "{}", lines[1]);
}
