//! Issue 18 §5: blobs that are checked and healed. A flipped bit in a stored document or
//! raw message is reported by `sigillo blobs verify` with the registration that uses it,
//! shown on the record page and the home page, repaired by storing the same bytes again; the
//! service checks its share of the store on schedule and records the result.

use std::collections::BTreeMap;

use sigillo_e2e::pec_mail::Attachment;
use sigillo_e2e::{stderr, stdout, wait_for};
use sigillo_store::staff::Role;

use crate::web_common::{TestApp, spawn_app_with_pki};

fn blob_path(data_dir: &std::path::Path, sha: &[u8]) -> std::path::PathBuf {
    let hex = hex::encode(sha);
    data_dir.join("blobs").join(&hex[..2]).join(&hex[2..4]).join(hex)
}

/// Flips one bit in the middle of a stored file.
fn flip_a_bit(path: &std::path::Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x10;
    std::fs::write(path, bytes).unwrap();
}

/// How many blobs the store holds (files under `blobs/`, `tmp/` aside).
fn blob_count(data_dir: &std::path::Path) -> usize {
    let mut n = 0;
    for top in std::fs::read_dir(data_dir.join("blobs")).unwrap() {
        let top = top.unwrap().path();
        if top.file_name().is_some_and(|f| f == "tmp") {
            continue;
        }
        for sub in std::fs::read_dir(top).unwrap() {
            n += std::fs::read_dir(sub.unwrap().path()).unwrap().count();
        }
    }
    n
}

/// `sigillo blobs verify` on the app's database and data directory.
async fn blobs_verify(app: &TestApp) -> std::process::Output {
    let env = BTreeMap::from([
        ("SIGILLO_DATABASE_URL".to_owned(), app.db.url.clone()),
        ("SIGILLO_DATA_DIR".to_owned(), app.data_dir.path().display().to_string()),
        ("SIGILLO_IPA_CODE".to_owned(), "c_h501".to_owned()),
        ("SIGILLO_AOO_CODE".to_owned(), "A1B2C3D".to_owned()),
        ("SIGILLO_LOG".to_owned(), "warn".to_owned()),
    ]);
    sigillo_e2e::run_with_env(&env, &["blobs", "verify"]).await
}

#[tokio::test]
async fn a_flipped_bit_is_reported_with_its_registration_shown_as_damage_and_healed_by_the_same_bytes() {
    let (app, pki) = spawn_app_with_pki().await;
    app.add_user("op", Role::Operatore).await;
    let raw = pki.transport("opec.blob@pec.test.it", "Istanza con allegato firmato", &[Attachment::SignedP7m { size: 4096 }]);
    let (line, msg_id) = app.ingest("pec.eml", &raw).await;
    assert_eq!(line["protocol"]["number"], 1, "{line}");
    let (reg_id, segnatura, doc_sha, raw_sha): (i64, String, Vec<u8>, Vec<u8>) = sqlx::query_as(
        "select r.id, r.segnatura, d.sha256, m.raw_sha256 from registrations r
         join documents d on d.registration_id = r.id join inbound_messages m on m.id = r.inbound_message_id",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let s = app.login("op").await;
    let page = app.get(&s, &format!("/registrazioni/{reg_id}")).await.text().await.unwrap();
    assert!(page.contains("Firma valida") && !page.contains("danneggiato"), "{page}");
    let out = blobs_verify(&app).await;
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let stored = blob_count(app.data_dir.path());
    assert!(stored >= 2, "the raw message and the document");
    assert!(stdout(&out).contains(&format!("archivio integro: {stored} file verificati")), "{}", stdout(&out));

    // One bit flipped in the document and one in the raw message.
    flip_a_bit(&blob_path(app.data_dir.path(), &doc_sha));
    flip_a_bit(&blob_path(app.data_dir.path(), &raw_sha));

    // The record page says so at once, instead of "Firma valida".
    let page = app.get(&s, &format!("/registrazioni/{reg_id}")).await.text().await.unwrap();
    assert!(page.contains("Documento danneggiato"), "{page}");
    assert!(!page.contains("Firma valida"), "a damaged document is not shown as validly signed: {page}");
    assert!(page.contains("Messaggio originale danneggiato"), "{page}");

    // The command names both, with the registration and the message that use them.
    let out = blobs_verify(&app).await;
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "damage found: {text}{}", stderr(&out));
    assert!(text.contains(&format!("danneggiato {}: its content now hashes to", hex::encode(&doc_sha))), "{text}");
    assert!(text.contains(&format!("usato da: documento «istanza-0.pdf.p7m» della registrazione {segnatura}")), "{text}");
    assert!(text.contains(&format!("danneggiato {}: ", hex::encode(&raw_sha))), "{text}");
    assert!(text.contains(&format!("usato da: messaggio originale n. {msg_id} (registrazione {segnatura})")), "{text}");
    assert!(text.contains(&format!("archivio danneggiato: 2 file su {stored}")), "{text}");
    let recorded: (String, i32, i32, i64) =
        sqlx::query_as("select trigger::text, prefixes, damaged, blobs from blob_checks order by id desc limit 1")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(recorded, ("command".to_owned(), 256, 2, stored as i64));

    // The home page shows the result of the latest check.
    let home = app.get(&s, "/").await.text().await.unwrap();
    assert!(home.contains(r#"id="conteggio-danneggiati">2<"#), "{home}");
    assert!(home.contains(&hex::encode(&doc_sha)) && home.contains(&segnatura), "{home}");

    // Storing the same bytes again heals: the raw message by ingesting the same file, the
    // document by another copy of the same PEC (other outer bytes, same attachment).
    let (again, _) = app.ingest("pec.eml", &raw).await;
    assert_eq!(again["duplicate"], true, "{again}");
    let mut copy = b"Delivered-To: ufficio.tecnico@pec.comune.test.it\r\n".to_vec();
    copy.extend_from_slice(&raw);
    let (copy_line, _) = app.ingest("copia.eml", &copy).await;
    assert_eq!(copy_line["protocol"]["number"], 1, "the same PEC, not a new registration: {copy_line}");
    assert_eq!(std::fs::read(blob_path(app.data_dir.path(), &raw_sha)).unwrap(), raw);

    // The home page marks them repaired before the next check; the check finds nothing.
    let home = app.get(&s, "/").await.text().await.unwrap();
    assert_eq!(home.matches("riparato dopo il controllo").count(), 2, "{home}");
    let out = blobs_verify(&app).await;
    assert!(out.status.success(), "{}", stdout(&out));
    let with_copy = blob_count(app.data_dir.path());
    assert_eq!(with_copy, stored + 1, "the copy's raw bytes are one more blob");
    assert!(stdout(&out).contains(&format!("archivio integro: {with_copy} file verificati")), "{}", stdout(&out));
    let page = app.get(&s, &format!("/registrazioni/{reg_id}")).await.text().await.unwrap();
    assert!(page.contains("Firma valida") && !page.contains("danneggiato"), "{page}");
    let home = app.get(&s, "/").await.text().await.unwrap();
    assert!(home.contains("nessun file danneggiato"), "{home}");
}

/// The service checks a share of the store on schedule (here every second, half of the
/// fan-out directories each time) and records each run: two runs cover the whole store,
/// the second starting where the first stopped, and the damage is recorded by the run
/// whose half holds it.
#[tokio::test]
async fn the_service_checks_its_share_of_the_store_on_schedule_and_records_the_result() {
    let s = crate::intake_ingest::setup(&[]).await;
    let raw = s.pki.transport("opec.sched@pec.test.it", "Istanza", &[Attachment::SignedP7m { size: 2048 }]);
    let file = crate::intake_ingest::write(s.files.path(), "pec.eml", &raw);
    let out = s.app.run(&["ingest", file.to_str().unwrap()]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let doc_sha: Vec<u8> = sqlx::query_scalar("select sha256 from documents").fetch_one(&s.app.db.pool).await.unwrap();
    flip_a_bit(&blob_path(s.app.data_dir.path(), &doc_sha));

    let _service = s.app.serve(&[("SIGILLO_BLOB_VERIFY_PERCENT", "50"), ("SIGILLO_BLOB_VERIFY_INTERVAL_SECS", "1")]);
    let pool = &s.app.db.pool;
    wait_for(60, "two scheduled checks", || async {
        sqlx::query_scalar::<_, i64>("select count(*) from blob_checks where trigger = 'schedule'").fetch_one(pool).await.unwrap_or(0) >= 2
    })
    .await;
    let runs: Vec<(i32, i32, i32, i64)> = sqlx::query_as(
        "select first_prefix, prefixes, damaged, blobs from blob_checks where trigger = 'schedule' order by id limit 2",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!((runs[0].0, runs[0].1), (0, 128), "{runs:?}");
    assert_eq!((runs[1].0, runs[1].1), (128, 128), "the next run starts where the last stopped: {runs:?}");
    let stored = blob_count(s.app.data_dir.path()) as i64;
    assert_eq!(runs[0].3 + runs[1].3, stored, "the two halves cover every blob once: {runs:?}");
    let damaged_half = if doc_sha[0] < 128 { &runs[0] } else { &runs[1] };
    let other_half = if doc_sha[0] < 128 { &runs[1] } else { &runs[0] };
    assert_eq!((damaged_half.2, other_half.2), (1, 0), "{runs:?}");
    let recorded: (Vec<u8>, String) =
        sqlx::query_as("select sha256, problem from blob_check_damage").fetch_one(pool).await.unwrap();
    assert_eq!(recorded.0, doc_sha);
    assert!(recorded.1.contains("now hashes to"), "{}", recorded.1);
}
