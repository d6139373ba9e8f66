//! `sigillo ingest`: the pipeline through the real binary and a real Postgres, with PEC
//! messages built by the test PKI.

use std::path::{Path, PathBuf};

use sigillo_e2e::pec_mail::{Attachment, Pki};
use sigillo_e2e::{Instance, stderr, stdout};

/// An instance with its trust directory, migrated; shared by the modules that drive
/// `sigillo ingest` (here and `policy_switches`).
pub(crate) struct Setup {
    pub(crate) app: Instance,
    pub(crate) pki: Pki,
    pub(crate) files: tempfile::TempDir,
}

pub(crate) async fn setup(extra: &[(&str, &str)]) -> Setup {
    let mut app = Instance::new().await;
    let files = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let trust = files.path().join("trust");
    pki.write_trust_dir(&trust);
    app.env.insert("SIGILLO_TRUST_DIR".into(), trust.display().to_string());
    for (k, v) in extra {
        app.env.insert((*k).into(), (*v).into());
    }
    let out = app.run(&["migrate"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    Setup { app, pki, files }
}

pub(crate) fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

async fn ingest(app: &Instance, files: &[&Path]) -> (std::process::Output, Vec<serde_json::Value>) {
    let mut args = vec!["ingest", "--json"];
    let paths: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    args.extend(paths.iter().map(String::as_str));
    let out = app.run(&args).await;
    let lines = stdout(&out).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    (out, lines)
}

async fn scalar(app: &Instance, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_owned())).fetch_one(&app.db.pool).await.unwrap()
}

#[tokio::test]
async fn a_signed_pec_is_registered_once_whatever_the_copies() {
    let s = setup(&[]).await;
    let raw = s.pki.transport("opec.1@pec.test.it", "Istanza di accesso agli atti", &[Attachment::SignedP7m { size: 2048 }]);
    let file = write(s.files.path(), "pec.eml", &raw);
    let (out, lines) = ingest(&s.app, &[&file]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let l = &lines[0];
    assert_eq!(l["file"], file.display().to_string());
    assert_eq!(l["decision"], "register", "{l}");
    assert_eq!(l["duplicate"], false);
    assert_eq!(l["reasons"], serde_json::json!([]));
    assert_eq!(l["protocol"]["number"], 1);
    assert_eq!(l["protocol"]["register"], "PG");
    assert!(l["protocol"]["segnatura"].as_str().unwrap().starts_with("c_h501|A1B2C3D|PG|"), "{l}");

    // The registration: sender and subject from daticert/postacert, the raw message linked,
    // receipt time from daticert, one document with its hash and signature report.
    let row: (String, String, i64, Option<chrono::DateTime<chrono::Utc>>, Option<String>) = sqlx::query_as(
        "select r.correspondent_address, r.subject, r.inbound_message_id, r.received_at, r.correspondent_name from registrations r",
    )
    .fetch_one(&s.app.db.pool)
    .await
    .unwrap();
    assert_eq!(row.0, "mario.rossi@pec.test.it");
    assert_eq!(row.4.as_deref(), Some("Mario Rossi"), "the display name of postacert's From");
    assert_eq!(row.1, "Istanza di accesso agli atti");
    assert_eq!(row.3.unwrap().to_rfc3339(), "2026-01-12T09:00:00+00:00");
    let raw_sha: Vec<u8> =
        sqlx::query_scalar("select raw_sha256 from inbound_messages where id = $1").bind(row.2).fetch_one(&s.app.db.pool).await.unwrap();
    use sha2::Digest;
    assert_eq!(raw_sha, sha2::Sha256::digest(&raw).to_vec());
    let hexsha = hex::encode(&raw_sha);
    let blob = s.app.data_dir.path().join("blobs").join(&hexsha[0..2]).join(&hexsha[2..4]).join(&hexsha);
    assert_eq!(std::fs::read(blob).unwrap(), raw, "the raw message is in the blob store");
    let docs: Vec<(String, Vec<u8>, serde_json::Value)> =
        sqlx::query_as("select name, sha256, signature_report from documents").fetch_all(&s.app.db.pool).await.unwrap();
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].0, "istanza-0.pdf.p7m");
    assert_eq!(docs[0].2["verdict"], "TOTAL_PASSED", "{}", docs[0].2);
    let dh = hex::encode(&docs[0].1);
    assert!(s.app.data_dir.path().join("blobs").join(&dh[0..2]).join(&dh[2..4]).join(&dh).is_file(), "document stored");

    // Same bytes again: same outcome, no second number.
    let (out, lines) = ingest(&s.app, &[&file]).await;
    assert!(out.status.success());
    assert_eq!(lines[0]["duplicate"], true);
    assert_eq!(lines[0]["decision"], "register");
    assert_eq!(lines[0]["protocol"]["number"], 1);

    // The same PEC delivered to another mailbox of the comune: other outer bytes, same
    // daticert identificativo and msgid.
    let mut copy = b"Delivered-To: ufficio.tecnico@pec.comune.test.it\r\n".to_vec();
    copy.extend_from_slice(&raw);
    let copy_file = write(s.files.path(), "copia.eml", &copy);
    let (out, lines) = ingest(&s.app, &[&copy_file]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(lines[0]["duplicate"], true, "{}", lines[0]);
    assert_eq!(lines[0]["protocol"]["number"], 1);
    assert_eq!(scalar(&s.app, "select count(*) from registrations").await, 1);
    assert_eq!(scalar(&s.app, "select count(*) from inbound_messages").await, 2);
    assert_eq!(scalar(&s.app, "select count(*) from inbound_messages where duplicate_of is not null").await, 1);

    // Another PEC gets the next number.
    let other = write(s.files.path(), "b.eml", &s.pki.transport("opec.2@pec.test.it", "Seconda istanza", &[]));
    let (_, lines) = ingest(&s.app, &[&other]).await;
    assert_eq!(lines[0]["protocol"]["number"], 2);
}

/// Copies of one PEC (other outer bytes, the same daticert identificativo and msgid), each
/// ingested by its own process at the same moment: the decisions race on the unique index of
/// the PEC, one takes a number and the others are recorded as its duplicates, with no number
/// lost (the register's counter stays at 1).
#[tokio::test]
async fn copies_of_one_pec_ingested_at_once_take_one_number() {
    let s = setup(&[]).await;
    let raw = s.pki.transport("opec.gara@pec.test.it", "Istanza concorrente", &[Attachment::SignedP7m { size: 4096 }]);
    const COPIES: usize = 6;
    let files: Vec<PathBuf> = (0..COPIES)
        .map(|i| {
            let mut copy = format!("Delivered-To: casella{i}@pec.comune.test.it\r\n").into_bytes();
            copy.extend_from_slice(&raw);
            write(s.files.path(), &format!("copia-{i}.eml"), &copy)
        })
        .collect();
    let runs = files.iter().map(|f| async { ingest(&s.app, &[f.as_path()]).await });
    let results = futures_util::future::join_all(runs).await;
    let mut duplicates = 0;
    for (out, lines) in &results {
        assert!(out.status.success(), "{}", stderr(out));
        assert_eq!(lines[0]["decision"], "register", "{}", lines[0]);
        assert_eq!(lines[0]["protocol"]["number"], 1, "{}", lines[0]);
        duplicates += usize::from(lines[0]["duplicate"] == true);
    }
    assert_eq!(duplicates, COPIES - 1);
    assert_eq!(scalar(&s.app, "select count(*) from registrations").await, 1);
    assert_eq!(scalar(&s.app, "select coalesce(max(last_number), 0)::bigint from register_counters").await, 1);
    assert_eq!(scalar(&s.app, "select count(*) from inbound_messages").await, COPIES as i64);
    assert_eq!(scalar(&s.app, "select count(*) from inbound_messages where duplicate_of is not null").await, COPIES as i64 - 1);
    assert_eq!(scalar(&s.app, "select count(*) from inbound_messages where state = 'registered'").await, COPIES as i64);
}

#[tokio::test]
async fn each_kind_of_message_lands_in_its_state_with_reasons() {
    let s = setup(&[]).await;
    let d = s.files.path();
    let cases = [
        (write(d, "anomalia.eml", &s.pki.anomaly("opec.a@pec.test.it", "Domanda")), "reject", "rejected", Some("NOT_PEC")),
        (write(d, "falsa.eml", &s.pki.forged("opec.f@pec.test.it", "Domanda")), "reject", "rejected", Some("FORGED_ENVELOPE")),
        (
            write(d, "nonfirmato.eml", &s.pki.transport("opec.u@pec.test.it", "Domanda", &[Attachment::Unsigned])),
            "reject",
            "rejected",
            Some("UNSIGNED_ATTACHMENT"),
        ),
        (write(d, "ricevuta.eml", &s.pki.receipt("opec.r@pec.test.it", "avvenuta-consegna")), "link-receipt", "receipt", None),
        (write(d, "ordinaria.eml", b"From: a@b.it\r\nTo: c@d.it\r\nSubject: ciao\r\n\r\nciao\r\n"), "reject", "rejected", Some("NOT_PEC")),
    ];
    let paths: Vec<&Path> = cases.iter().map(|c| c.0.as_path()).collect();
    let (out, lines) = ingest(&s.app, &paths).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(lines.len(), cases.len());
    for ((file, decision, state, code), line) in cases.iter().zip(&lines) {
        assert_eq!(line["file"], file.display().to_string());
        assert_eq!(line["decision"], *decision, "{line}");
        assert_eq!(line["state"], *state, "{line}");
        assert!(line["protocol"].is_null());
        if let Some(code) = code {
            assert_eq!(line["reasons"][0]["code"], *code, "{line}");
        }
    }
    assert_eq!(scalar(&s.app, "select count(*) from registrations").await, 0);
    assert_eq!(scalar(&s.app, "select count(*) from inbound_messages where state = 'rejected'").await, 4);
    assert_eq!(scalar(&s.app, "select count(*) from inbound_messages where state = 'receipt'").await, 1);
    assert_eq!(
        scalar(&s.app, "select count(*) from inbound_messages where pec_receipt = 'avvenuta-consegna' and pec_identificativo = 'opec.r@pec.test.it'").await,
        1
    );
}

#[tokio::test]
async fn a_message_the_classifier_refuses_is_kept_in_error_then_quarantined_and_blocks_nothing() {
    let s = setup(&[("SIGILLO_INTAKE_MAX_ATTEMPTS", "2")]).await;
    let bad = write(s.files.path(), "vuoto.eml", b"");
    let good = write(s.files.path(), "buona.eml", &s.pki.transport("opec.g@pec.test.it", "Istanza", &[]));
    let (out, lines) = ingest(&s.app, &[&bad, &good]).await;
    assert_eq!(out.status.code(), Some(2), "a message in error is reported");
    assert!(stderr(&out).contains("vuoto.eml") && stderr(&out).contains("non classificabile"), "{}", stderr(&out));
    assert_eq!(lines[0]["state"], "error", "{}", lines[0]);
    assert!(lines[0]["decision"].is_null());
    assert!(lines[0]["error"].as_str().unwrap().contains("vuoto"), "{}", lines[0]);
    assert_eq!(lines[1]["decision"], "register", "the next message passes");
    assert_eq!(lines[1]["protocol"]["number"], 1);
    let (attempts, cause): (i32, String) =
        sqlx::query_as("select attempts, last_error from inbound_messages where state = 'error'").fetch_one(&s.app.db.pool).await.unwrap();
    assert_eq!(attempts, 1);
    assert!(cause.contains("non classificabile"), "{cause}");

    // Second attempt: out of attempts, quarantined; a third run does not try again.
    let (_, lines) = ingest(&s.app, &[&bad]).await;
    assert_eq!(lines[0]["state"], "error");
    let (_, lines) = ingest(&s.app, &[&bad]).await;
    assert_eq!(lines[0]["state"], "error");
    assert_eq!(scalar(&s.app, "select attempts::bigint from inbound_messages where state = 'error'").await, 2);
}

#[tokio::test]
async fn ingest_names_the_file_and_the_cause_of_usage_errors() {
    let s = setup(&[]).await;
    let out = s.app.run(&["ingest", "--json", "/nonexistent/x.eml"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("/nonexistent/x.eml") && stderr(&out).contains("impossibile leggere"), "{}", stderr(&out));

    let mut env = s.app.env.clone();
    env.remove("SIGILLO_TRUST_DIR");
    let f = write(s.files.path(), "a.eml", b"Subject: x\r\n\r\nx\r\n");
    let out = sigillo_e2e::run_with_env(&env, &["ingest", f.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("SIGILLO_TRUST_DIR"), "{}", stderr(&out));
}
