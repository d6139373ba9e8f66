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

/// A blob the database references but the store lacks (deleted by hand, a backup restored
/// without its blobs) is as lost as a damaged one: `sigillo blobs verify` names it with what
/// uses it and exits 1, the run is recorded with it as missing, and the home page shows it.
#[tokio::test]
async fn a_blob_missing_from_the_store_is_reported_with_its_registration_recorded_and_shown() {
    let (app, pki) = spawn_app_with_pki().await;
    app.add_user("op", Role::Operatore).await;
    let raw = pki.transport("opec.missing@pec.test.it", "Istanza con allegato firmato", &[Attachment::SignedP7m { size: 4096 }]);
    let (line, _) = app.ingest("pec.eml", &raw).await;
    assert_eq!(line["protocol"]["number"], 1, "{line}");
    let (segnatura, doc_sha): (String, Vec<u8>) =
        sqlx::query_as("select r.segnatura, d.sha256 from registrations r join documents d on d.registration_id = r.id")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    let stored = blob_count(app.data_dir.path());
    std::fs::remove_file(blob_path(app.data_dir.path(), &doc_sha)).unwrap();

    let out = blobs_verify(&app).await;
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "a missing blob is found: {text}{}", stderr(&out));
    let hex = hex::encode(&doc_sha);
    assert!(text.contains(&format!("mancante {hex}: registrato nel database ma assente dall'archivio")), "{text}");
    assert!(text.contains(&format!("usato da: documento «istanza-0.pdf.p7m» della registrazione {segnatura}")), "{text}");
    assert!(text.contains("archivio incompleto: 1 file registrati nel database mancano dall'archivio"), "{text}");
    assert!(!text.contains("archivio danneggiato") && !text.contains("danneggiato "), "nothing is damaged: {text}");
    let recorded: (i32, i64) = sqlx::query_as("select damaged, blobs from blob_checks order by id desc limit 1")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(recorded, (1, stored as i64 - 1), "the missing blob counted as a fault, not as a file checked");
    let fault: (Vec<u8>, String) =
        sqlx::query_as("select sha256, fault::text from blob_check_damage").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(fault, (doc_sha.clone(), "missing".to_owned()));

    let s = app.login("op").await;
    let home = app.get(&s, "/").await.text().await.unwrap();
    assert!(home.contains(r#"id="conteggio-mancanti">1<"#) && home.contains(r#"id="conteggio-danneggiati">0<"#), "{home}");
    assert!(home.contains("file-mancante") && home.contains(&hex) && home.contains(&segnatura), "{home}");
    assert!(home.contains(">mancante</span>"), "{home}");

    // Stored again (the same PEC ingested once more), it is whole again.
    let mut copy = b"Delivered-To: ufficio.tecnico@pec.comune.test.it\r\n".to_vec();
    copy.extend_from_slice(&raw);
    app.ingest("copia.eml", &copy).await;
    let out = blobs_verify(&app).await;
    assert!(out.status.success(), "{}", stdout(&out));
}

/// The service's scheduled check looks for missing blobs in its share too.
#[tokio::test]
async fn the_scheduled_check_records_a_missing_raw_message() {
    let s = crate::intake_ingest::setup(&[]).await;
    let raw = s.pki.transport("opec.sched.missing@pec.test.it", "Istanza", &[Attachment::SignedP7m { size: 2048 }]);
    let file = crate::intake_ingest::write(s.files.path(), "pec.eml", &raw);
    let out = s.app.run(&["ingest", file.to_str().unwrap()]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let raw_sha: Vec<u8> = sqlx::query_scalar("select raw_sha256 from inbound_messages").fetch_one(&s.app.db.pool).await.unwrap();
    std::fs::remove_file(blob_path(s.app.data_dir.path(), &raw_sha)).unwrap();

    let _service = s.app.serve(&[("SIGILLO_BLOB_VERIFY_PERCENT", "100"), ("SIGILLO_BLOB_VERIFY_INTERVAL_SECS", "1")]);
    let pool = &s.app.db.pool;
    wait_for(120, "a scheduled check", || async {
        sqlx::query_scalar::<_, i64>("select count(*) from blob_checks where trigger = 'schedule'").fetch_one(pool).await.unwrap_or(0) >= 1
    })
    .await;
    let run: (i32, i32) = sqlx::query_as("select prefixes, damaged from blob_checks where trigger = 'schedule' order by id limit 1")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(run, (256, 1));
    let recorded: (Vec<u8>, String) = sqlx::query_as("select sha256, fault::text from blob_check_damage order by check_id limit 1")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(recorded, (raw_sha, "missing".to_owned()));
}

/// `sigillo user add NAME` with the password on standard input.
async fn user_add(app: &sigillo_e2e::Instance, username: &str, password: &str) {
    use tokio::io::AsyncWriteExt;
    let mut cmd = tokio::process::Command::new(sigillo_e2e::sigillo_bin());
    cmd.args(["user", "add", username, "--name", "Persona di prova", "--role", "operatore"])
        .env_clear()
        .envs(&app.env)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(format!("{password}\n").as_bytes()).await.unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

/// Logs into a running service as a browser would; returns the session cookie.
async fn login(client: &reqwest::Client, base: &str, username: &str, password: &str) -> String {
    use reqwest::header::{COOKIE, SET_COOKIE};
    let cookie_of = |res: &reqwest::Response, name: &str| {
        res.headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with(name))
            .and_then(|c| c.split(';').next())
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no cookie {name}"))
    };
    let form = client.get(format!("{base}/accedi")).send().await.unwrap();
    let cookie = cookie_of(&form, "sigillo_accesso=");
    let csrf = crate::web_common::csrf_in(&form.text().await.unwrap());
    let res = client
        .post(format!("{base}/accedi"))
        .header(COOKIE, cookie)
        .form(&[("csrf", csrf.as_str()), ("username", username), ("password", password)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::SEE_OTHER, "login of {username}");
    cookie_of(&res, "sigillo_sessione=")
}

/// Issue 18 §5: a download whose stored file is damaged or missing answers with a page in
/// Italian that names the file and what is wrong with it, status 503 (the record exists;
/// the file must be restored from the backup), and a warning in the log that names the
/// blob but no citizen's data. The message page itself still opens.
#[tokio::test]
async fn a_damaged_or_missing_file_on_download_gives_a_clear_page_and_a_warning_without_citizen_data() {
    let mut s = crate::intake_ingest::setup(&[]).await;
    s.app.env.insert("SIGILLO_LOG".into(), "info".into());
    let raw = s.pki.transport("opec.riservato@pec.test.it", "Istanza Fantozzi Ugo", &[Attachment::SignedP7m { size: 2048 }]);
    let file = crate::intake_ingest::write(s.files.path(), "pec.eml", &raw);
    let out = s.app.run(&["ingest", file.to_str().unwrap()]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let (reg_id, number, year, doc_id, doc_sha, msg_id, raw_sha): (i64, i32, i32, i64, Vec<u8>, i64, Vec<u8>) = sqlx::query_as(
        "select r.id, r.number, r.year, d.id, d.sha256, m.id, m.raw_sha256 from registrations r
         join documents d on d.registration_id = r.id join inbound_messages m on m.id = r.inbound_message_id",
    )
    .fetch_one(&s.app.db.pool)
    .await
    .unwrap();
    user_add(&s.app, "op", "una password lunga abbastanza").await;
    let listen = format!(
        "127.0.0.1:{}",
        std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap()
    );
    let base = format!("http://{listen}");
    let log = s.files.path().join("sigillo.log");
    let _service = s.app.serve_logging_to(&[("SIGILLO_LISTEN", listen.as_str())], &log);
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    wait_for(120, "the service to answer", || async { client.get(format!("{base}/accedi")).send().await.is_ok() }).await;
    let cookie = login(&client, &base, "op", "una password lunga abbastanza").await;
    let get = |path: String| {
        let req = client.get(format!("{base}{path}")).header(reqwest::header::COOKIE, cookie.clone());
        async move {
            let res = req.send().await.unwrap();
            let status = res.status();
            (status, res.text().await.unwrap())
        }
    };
    let doc_url = format!("/registrazioni/{reg_id}/documenti/{doc_id}");
    assert_eq!(get(doc_url.clone()).await.0, reqwest::StatusCode::OK, "sound before");

    // A flipped bit in the document, the raw message gone.
    flip_a_bit(&blob_path(s.app.data_dir.path(), &doc_sha));
    std::fs::remove_file(blob_path(s.app.data_dir.path(), &raw_sha)).unwrap();
    let (doc_hex, raw_hex) = (hex::encode(&doc_sha), hex::encode(&raw_sha));

    let (status, page) = get(doc_url).await;
    assert_eq!(status, reqwest::StatusCode::SERVICE_UNAVAILABLE, "{page}");
    assert!(page.contains("File danneggiato nell&#39;archivio") || page.contains("File danneggiato nell'archivio"), "{page}");
    assert!(page.contains("Il documento «istanza-0.pdf.p7m» non è disponibile: il file archiviato"), "{page}");
    assert!(page.contains("non corrisponde più alla sua impronta SHA-256") && page.contains(&doc_hex), "{page}");
    assert!(page.contains("sigillo blobs verify"), "{page}");

    for (path, what) in [
        (format!("/registrazioni/{reg_id}/messaggio.eml"), format!("Il messaggio originale del protocollo n. {number:07}/{year}")),
        (format!("/messaggi/{msg_id}/messaggio.eml"), format!("Il messaggio n. {msg_id} così come è stato ricevuto")),
        (format!("/messaggi/{msg_id}/allegati/1"), format!("Il messaggio n. {msg_id} così come è stato ricevuto")),
    ] {
        let (status, page) = get(path.clone()).await;
        assert_eq!(status, reqwest::StatusCode::SERVICE_UNAVAILABLE, "{path}: {page}");
        assert!(page.contains("File mancante nell"), "{path}: {page}");
        assert!(page.contains(&format!("{what} non è disponibile: il file non è più nell")), "{path}: {page}");
        assert!(page.contains(&raw_hex), "{path}: {page}");
    }
    // The message page still opens, saying its file cannot be read.
    let (status, page) = get(format!("/messaggi/{msg_id}")).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{page}");
    assert!(page.contains("non è leggibile nell"), "{page}");

    // Logged at warn with the blob and what is wrong; nothing of the citizen's.
    let text = std::fs::read_to_string(&log).unwrap();
    let warnings: Vec<&str> = text.lines().filter(|l| l.contains("request failed")).collect();
    assert_eq!(warnings.len(), 4, "one per failed download:\n{text}");
    assert!(warnings.iter().all(|l| l.contains(" WARN ") && l.contains("status=503")), "{text}");
    assert!(warnings.iter().any(|l| l.contains(&format!("stored file {doc_hex} damaged"))), "{text}");
    assert_eq!(warnings.iter().filter(|l| l.contains(&format!("stored file {raw_hex} missing"))).count(), 3, "{text}");
    assert!(!text.contains(" ERROR "), "{text}");
    for private in ["opec.riservato", "Fantozzi", "istanza-0.pdf"] {
        assert!(!text.contains(private), "{private} in the log:\n{text}");
    }
}
