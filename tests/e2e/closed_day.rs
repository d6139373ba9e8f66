//! A closed day stays closed (issue 14 item 3), through the real `sigillo` binary and the
//! dashboard: `register close` stores the day's export once; a later annulment changes
//! nothing in it and appears in the register of the day it was made; every character prints
//! in the PDF/A.

use std::collections::BTreeMap;

use chrono::TimeZone;
use reqwest::StatusCode;
use sigillo_e2e::{Instance, run_with_env, stderr, stdout};
use sigillo_store::ids::RegistrationId;
use sigillo_store::closing;
use sigillo_store::register::{self, Actor, Direction, DocumentRole, NewAnnulment, NewDocument, NewRegistration, Register, Sha256};
use sigillo_store::staff::Role;

use crate::web_common::spawn_app;

/// Subjects and names the embedded font cannot all draw: emoji, CJK, Arabic, a titlecase
/// digraph, combining marks, control characters.
const HARD: [(&str, &str); 5] = [
    ("Grazie 🙏 per la risposta", "Anna 👩🏽‍💼 Verdi"),
    ("申请书 关于 建筑许可", "王小明"),
    ("طلب ترخيص البناء", "محمد علي"),
    ("ǅ e\u{301} a\u{0308}\u{0323} Z\u{0336}", "Ǆuro Ǉubić"),
    // Postgres text cannot hold NUL, so no \u{0} here (the PDF unit test has one).
    ("riga\tuno\nriga due\u{7}\u{200B}\u{202E}", "Nome\u{1B}Cognome\u{1}"),
];

fn new_registration(subject: &str, name: &str) -> NewRegistration {
    NewRegistration {
        direction: Direction::Incoming,
        correspondent_name: Some(name.into()),
        correspondent_address: Some("mittente@pec.example.it".into()),
        subject: subject.into(),
        sender_protocol_number: None,
        sender_protocol_date: None,
        received_at: None,
        inbound_message_id: None,
        documents: vec![NewDocument {
            name: "istanza.pdf".into(),
            media_type: "application/pdf".into(),
            size_bytes: 3,
            sha256: Sha256::of(subject.as_bytes()),
            role: DocumentRole::Primary,
            signature_report: None,
        }],
    }
}

/// Yesterday and today in the register's time zone, and a time at 11:00 yesterday.
fn days(reg: &Register) -> (chrono::NaiveDate, chrono::NaiveDate, chrono::DateTime<chrono::Utc>) {
    let today = closing::day_of(reg, chrono::Utc::now());
    let d = today.pred_opt().unwrap();
    let at = reg.timezone.from_local_datetime(&d.and_hms_opt(11, 0, 0).unwrap()).unwrap().with_timezone(&chrono::Utc);
    (d, today, at)
}

async fn register_at(pool: &sigillo_store::PgPool, reg: &Register, new: &NewRegistration, at: Option<chrono::DateTime<chrono::Utc>>) -> RegistrationId {
    let mut tx = pool.begin().await.unwrap();
    let r = register::register(&mut tx, reg, &Actor::parse("intake").unwrap(), new, at).await.unwrap();
    tx.commit().await.unwrap();
    r.id
}

async fn annul(pool: &sigillo_store::PgPool, id: RegistrationId) {
    let mut tx = pool.begin().await.unwrap();
    register::annul(
        &mut tx,
        id,
        &Actor::parse("responsabile").unwrap(),
        &NewAnnulment { reason: "Doppia registrazione".into(), authorising_act: "Provv. 7/2026".into() },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

async fn export(env: &BTreeMap<String, String>, day: &str, format: &str) -> Vec<u8> {
    let out = run_with_env(env, &["register", "export", "--date", day, "--format", format]).await;
    assert!(out.status.success(), "export {day} {format}: {}", stderr(&out));
    out.stdout
}

#[tokio::test]
async fn register_close_keeps_the_day_after_a_later_annulment_and_the_next_day_lists_it() {
    let app = Instance::new().await;
    assert!(app.run(&["migrate"]).await.status.success());
    let reg = app.db.test_register().await.unwrap();
    let (d, today, at) = days(&reg);
    let mut ids = Vec::new();
    for (s, n) in [("Offerta gara 1", "Ditta Bianchi"), ("Offerta doppia", "Ditta Rossi")].into_iter().chain(HARD) {
        ids.push(register_at(&app.db.pool, &reg, &new_registration(s, n), Some(at)).await);
    }
    let day = d.format("%Y-%m-%d").to_string();

    // Today is not over: refused, exit 2, in one line.
    let out = app.run(&["register", "close", "--date", &today.format("%Y-%m-%d").to_string()]).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("not over"), "{}", stderr(&out));

    let out = app.run(&["register", "close", "--date", &day]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let line = stdout(&out);
    assert!(line.starts_with(&format!("{day} closed: 7 registrations")), "{line}");
    let pdf_sha = line.split("pdf sha256 ").nth(1).unwrap().trim().to_owned();
    let before: Vec<Vec<u8>> = [export(&app.env, &day, "csv").await, export(&app.env, &day, "json").await, export(&app.env, &day, "pdf").await].into();
    assert_eq!(Sha256::of(&before[2]).to_hex(), pdf_sha, "the export of a closed day is its stored PDF");
    assert!(before[2].starts_with(b"%PDF-"));
    // The closing is an act in the audit trail, by the command line, with the digests kept.
    let (actor, object, pdf): (String, String, String) = sqlx::query_as(
        "select actor, object_id, details->>'pdf_sha256' from audit_log where action = 'register.close_day'",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!((actor.as_str(), object.as_str(), pdf.as_str()), ("cli", day.as_str(), pdf_sha.as_str()));

    // Annulled today (D+1): D does not change, byte for byte.
    annul(&app.db.pool, ids[1]).await;
    let after = [export(&app.env, &day, "csv").await, export(&app.env, &day, "json").await, export(&app.env, &day, "pdf").await];
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(a, b, "a closed day was rewritten");
    }
    let json: serde_json::Value = serde_json::from_slice(&after[1]).unwrap();
    assert!(json["registrations"].as_array().unwrap().iter().all(|r| r["annulled"] == false), "as it was at closing");
    assert_eq!(json["registrations"][2]["subject"], HARD[0].0, "the stored text stays exact");

    // The export of D+1 lists the annulment as its own entry.
    let next: serde_json::Value = serde_json::from_slice(&export(&app.env, &today.format("%Y-%m-%d").to_string(), "json").await).unwrap();
    assert_eq!(next["count"], 0);
    assert_eq!(next["annulments"][0]["number"], json["registrations"][1]["number"]);
    assert_eq!(next["annulments"][0]["reason"], "Doppia registrazione");

    // Closing again: the same closing, nothing rewritten; `register close` alone closes what
    // is due (here nothing: D was the first day).
    let out = app.run(&["register", "close", "--date", &day]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("already closed") && stdout(&out).contains(&pdf_sha), "{}", stdout(&out));
    let out = app.run(&["register", "close"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("0 day(s) closed"), "{}", stderr(&out));
    println!("closed {day}: pdf sha256 {pdf_sha}; unchanged after a later annulment");
}

#[tokio::test]
async fn a_day_with_characters_the_font_lacks_still_exports_its_pdf() {
    let app = Instance::new().await;
    assert!(app.run(&["migrate"]).await.status.success());
    let reg = app.db.test_register().await.unwrap();
    for (s, n) in HARD {
        register_at(&app.db.pool, &reg, &new_registration(s, n), None).await;
    }
    let today = closing::day_of(&reg, chrono::Utc::now()).format("%Y-%m-%d").to_string();
    let out = app.run(&["register", "export", "--date", &today, "--format", "pdf"]).await;
    assert!(out.status.success(), "exit {:?}: {}", out.status.code(), stderr(&out));
    assert!(out.stdout.starts_with(b"%PDF-"));
    // The data exports keep the exact text.
    let json: serde_json::Value = serde_json::from_slice(&export(&app.env, &today, "json").await).unwrap();
    let subjects: Vec<&str> = json["registrations"].as_array().unwrap().iter().map(|r| r["subject"].as_str().unwrap()).collect();
    assert_eq!(subjects, HARD.iter().map(|h| h.0).collect::<Vec<_>>());
    println!("PDF of {today} with emoji, CJK, Arabic, combining marks, controls: {} bytes", out.stdout.len());
}

#[tokio::test]
async fn two_processes_closing_the_same_day_at_once_store_one_closing() {
    let app = Instance::new().await;
    assert!(app.run(&["migrate"]).await.status.success());
    let reg = app.db.test_register().await.unwrap();
    let (d, _, at) = days(&reg);
    register_at(&app.db.pool, &reg, &new_registration("Istanza", "Mario Rossi"), Some(at)).await;
    let day = d.format("%Y-%m-%d").to_string();
    let args = ["register", "close", "--date", &day];
    let (a, b) = tokio::join!(app.run(&args), app.run(&args));
    assert!(a.status.success() && b.status.success(), "{} / {}", stderr(&a), stderr(&b));
    let sha = |s: String| s.split("pdf sha256 ").nth(1).unwrap().trim().to_owned();
    assert_eq!(sha(stdout(&a)), sha(stdout(&b)), "both report the one closing");
    let rows: i64 = sqlx::query_scalar("select count(*) from closed_days").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(rows, 1);
    println!("two `register close` at once: {} / {}", stdout(&a).trim(), stdout(&b).trim());
}

#[tokio::test]
async fn the_register_page_shows_a_closed_day_its_hash_and_serves_the_stored_files() {
    let app = spawn_app().await;
    app.add_user("revisore1", Role::Revisore).await;
    let (d, today, at) = days(&app.register);
    let id = register_at(&app.db.pool, &app.register, &new_registration("Richiesta di accesso agli atti", "Mario Rossi"), Some(at)).await;
    for (s, n) in HARD {
        register_at(&app.db.pool, &app.register, &new_registration(s, n), None).await;
    }
    let day = d.format("%Y-%m-%d").to_string();
    let s = app.login("revisore1").await;

    // Open: the page says so.
    let html = app.get(&s, &format!("/registro?data={day}")).await.text().await.unwrap();
    assert!(html.contains("Giorno non ancora chiuso"), "{html}");

    // Closed by `sigillo register close` on this app's database and data directory.
    let env = BTreeMap::from([
        ("SIGILLO_DATABASE_URL".to_owned(), app.db.url.clone()),
        ("SIGILLO_DATA_DIR".to_owned(), app.data_dir.path().display().to_string()),
        ("SIGILLO_IPA_CODE".to_owned(), "c_h501".to_owned()),
        ("SIGILLO_AOO_CODE".to_owned(), "A1B2C3D".to_owned()),
        ("SIGILLO_LOG".to_owned(), "warn".to_owned()),
    ]);
    let out = run_with_env(&env, &["register", "close", "--date", &day]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let mut conn = app.db.pool.acquire().await.unwrap();
    let closed = closing::find(&mut conn, &app.register, d).await.unwrap().unwrap();

    let html = app.get(&s, &format!("/registro?data={day}")).await.text().await.unwrap();
    assert!(html.contains("Giorno chiuso"), "{html}");
    for sha in [closed.pdf_sha256, closed.csv_sha256, closed.json_sha256] {
        assert!(html.contains(&sha.to_hex()), "hash {} on the page", sha.to_hex());
    }
    let stored_pdf = app.blobs.get(&closed.pdf_sha256).unwrap();
    let stored_csv = app.blobs.get(&closed.csv_sha256).unwrap();
    let get = |path: String| {
        let s = &s;
        let app = &app;
        async move {
            let res = app.get(s, &path).await;
            assert_eq!(res.status(), StatusCode::OK, "{path}");
            res.bytes().await.unwrap().to_vec()
        }
    };
    assert_eq!(get(format!("/registro.pdf?data={day}")).await, stored_pdf);
    assert_eq!(get(format!("/registro.csv?data={day}&formato=archivio")).await, stored_csv);

    // Annulled now: the closed day's files do not move; today's register lists the annulment.
    annul(&app.db.pool, id).await;
    assert_eq!(get(format!("/registro.pdf?data={day}")).await, stored_pdf);
    assert_eq!(get(format!("/registro.csv?data={day}&formato=archivio")).await, stored_csv);
    let today_iso = today.format("%Y-%m-%d").to_string();
    let csv = String::from_utf8(get(format!("/registro.csv?data={today_iso}&formato=archivio")).await).unwrap();
    assert!(csv.lines().any(|l| l.starts_with("annullamento,") && l.contains("Doppia registrazione")), "{csv}");
    // Today holds emoji, CJK, Arabic, combining marks and controls: the PDF/A renders.
    let pdf = get(format!("/registro.pdf?data={today_iso}")).await;
    assert!(pdf.starts_with(b"%PDF-"));
    println!("closed {day} served from the store: pdf sha256 {}", closed.pdf_sha256.to_hex());
}
