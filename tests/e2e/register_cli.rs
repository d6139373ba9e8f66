//! The register through the real `sigillo` binary: migrate, export, audit verify, errors.

use std::collections::BTreeMap;

use sha2::Digest;
use sigillo_e2e::{Instance, run_with_env, stderr, stdout};

use sigillo_store::register::{
    self, Actor, Direction, DocumentRole, NewAnnulment, NewDocument, NewRegistration, Register,
    Sha256,
};

async fn migrated() -> Instance {
    let app = Instance::new().await;
    let out = app.run(&["migrate"]).await;
    assert!(out.status.success(), "migrate failed: {}", stderr(&out));
    assert!(stdout(&out).contains("register c_h501|A1B2C3D|PG ready"), "{}", stdout(&out));
    app
}

async fn the_register(app: &Instance) -> Register {
    app.db.test_register().await.unwrap()
}

fn registration(subject: &str) -> NewRegistration {
    NewRegistration {
        direction: Direction::Incoming,
        correspondent_name: Some("Ditta Bianchi S.r.l.".into()),
        correspondent_address: Some("bianchi@pec.example.it".into()),
        subject: subject.into(),
        sender_protocol_number: Some("45/2026".into()),
        sender_protocol_date: chrono::NaiveDate::from_ymd_opt(2026, 11, 20),
        received_at: None,
        inbound_message_id: None,
        documents: vec![NewDocument {
            name: "offerta.pdf.p7m".into(),
            media_type: "application/pkcs7-mime".into(),
            size_bytes: 3,
            sha256: Sha256::of(subject.as_bytes()),
            role: DocumentRole::Primary,
            signature_report: None,
        }],
    }
}

/// Three registrations today, the second annulled.
async fn seed(app: &Instance) -> Register {
    let reg = the_register(app).await;
    let actor = Actor::parse("intake").unwrap();
    let mut ids = Vec::new();
    for s in ["Offerta gara 1", "Offerta doppia, per errore", "Offerta gara 3"] {
        let mut tx = app.db.pool.begin().await.unwrap();
        ids.push(register::register(&mut tx, &reg, &actor, &registration(s), None).await.unwrap().id);
        tx.commit().await.unwrap();
    }
    let mut tx = app.db.pool.begin().await.unwrap();
    register::annul(
        &mut tx,
        ids[1],
        &Actor::parse("responsabile").unwrap(),
        &NewAnnulment { reason: "Doppia registrazione".into(), authorising_act: "Provv. 7/2026".into() },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    reg
}

fn today() -> String {
    chrono::Utc::now().with_timezone(&chrono_tz::Europe::Rome).format("%Y-%m-%d").to_string()
}

fn sha_from_summary(err: &str) -> String {
    err.lines()
        .find_map(|l| l.split("sha256 ").nth(1))
        .unwrap_or_else(|| panic!("no sha256 in {err:?}"))
        .trim()
        .to_owned()
}

#[tokio::test]
async fn export_json_lists_the_day_with_annulments_and_its_sha256() {
    let app = migrated().await;
    seed(&app).await;
    let out = app.run(&["register", "export", "--date", &today(), "--format", "json"]).await;
    assert!(out.status.success(), "{}", stderr(&out));

    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["count"], 3);
    assert_eq!(json["first_number"], "0000001");
    assert_eq!(json["last_number"], "0000003");
    assert_eq!(json["registrations"][1]["annulled"], true);
    assert_eq!(json["registrations"][0]["annulled"], false);
    assert_eq!(json["annulments"][0]["number"], "0000002");
    assert_eq!(json["annulments"][0]["authorising_act"], "Provv. 7/2026");
    let year = &today()[..4];
    assert_eq!(
        json["registrations"][2]["segnatura"],
        format!("c_h501|A1B2C3D|PG|{}|0000003", today()).as_str()
    );
    assert_eq!(json["registrations"][2]["year"].to_string(), year);

    let err = stderr(&out);
    assert!(err.contains("3 registrations (0000001-0000003), 1 annulments"), "{err}");
    assert_eq!(sha_from_summary(&err), hex::encode(sha2::Sha256::digest(&out.stdout)));

    // A second export of the same content is the same bytes.
    let again = app.run(&["register", "export", "--date", &today(), "--format", "json"]).await;
    assert_eq!(again.stdout, out.stdout);
}

#[tokio::test]
async fn export_pdf_is_pdf_a_with_embedded_fonts_and_the_day_in_it() {
    let app = migrated().await;
    seed(&app).await;
    let file = app.data_dir.path().join("registro.pdf");
    let out = app
        .run(&["register", "export", "--date", &today(), "--format", "pdf", "--output", file.to_str().unwrap()])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let pdf = std::fs::read(&file).unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    assert_eq!(sha_from_summary(&stderr(&out)), hex::encode(sha2::Sha256::digest(&pdf)));
    let raw = String::from_utf8_lossy(&pdf);
    assert!(raw.contains("/FontFile2"), "TrueType font program embedded");
    assert!(raw.contains("pdfaid:part") && raw.contains("/OutputIntents"), "PDF/A XMP identification and output intent");

    // pdffonts: every font embedded (column "emb" = yes).
    let fonts = std::process::Command::new("pdffonts").arg(&file).output().expect("pdffonts (poppler-utils; scripts/test installs it)");
    let fonts = String::from_utf8_lossy(&fonts.stdout).into_owned();
    let rows: Vec<&str> = fonts.lines().skip(2).filter(|l| !l.trim().is_empty()).collect();
    assert!(!rows.is_empty() && rows.iter().all(|l| l.contains("TitilliumWeb") && l.contains(" yes ")), "{fonts}");

    let text = std::process::Command::new("pdftotext").args(["-layout", "-enc", "UTF-8"]).arg(&file).arg("-").output().unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    let year = &today()[..4];
    for needle in [
        "Registro giornaliero di protocollo".to_owned(),
        "c_h501".to_owned(),
        "A1B2C3D".to_owned(),
        format!("0000001/{year}"),
        format!("0000003/{year}"),
        "Offerta gara 3".to_owned(),
        "[ANNULLATA]".to_owned(),
        "Provv. 7/2026".to_owned(),
        "dal n. 0000001 al n. 0000003".to_owned(),
        hex::encode(sha2::Sha256::digest(b"Offerta gara 1")),
    ] {
        assert!(text.contains(&needle), "{needle:?} not in:\n{text}");
    }
    // The CSV export of the same day is named by its SHA-256.
    let csv = app.run(&["register", "export", "--date", &today(), "--format", "csv"]).await;
    assert!(text.contains(&hex::encode(sha2::Sha256::digest(&csv.stdout))), "{text}");
    // Same day, same bytes.
    let again = app.run(&["register", "export", "--date", &today(), "--format", "pdf"]).await;
    assert_eq!(again.stdout, pdf);
}

#[tokio::test]
async fn export_csv_to_a_file_and_by_year() {
    let app = migrated().await;
    seed(&app).await;
    let file = app.data_dir.path().join("registro.csv");
    let out = app
        .run(&["register", "export", "--date", &today(), "--output", file.to_str().unwrap()])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let csv = std::fs::read(&file).unwrap();
    assert_eq!(sha_from_summary(&stderr(&out)), hex::encode(sha2::Sha256::digest(&csv)));
    let text = String::from_utf8(csv).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1 + 3 + 1, "{text}");
    assert!(lines[0].starts_with("record,number,year,segnatura"));
    assert!(lines[2].starts_with("registrazione,0000002,"));
    assert!(lines[2].contains("\"Offerta doppia, per errore\""), "commas are quoted: {}", lines[2]);
    assert!(lines[4].starts_with("annullamento,0000002,"));
    assert!(lines[4].contains("Doppia registrazione"));

    let year = &today()[..4];
    let out = app.run(&["register", "export", "--year", year, "--format", "json"]).await;
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["count"], 3);
    assert_eq!(json["period"], year);

    // An empty day is a valid, empty export.
    let out = app.run(&["register", "export", "--date", "2001-01-01", "--format", "json"]).await;
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["count"], 0);
    assert!(json["first_number"].is_null());
}

#[tokio::test]
async fn audit_verify_passes_then_names_the_tampered_row() {
    let app = migrated().await;
    seed(&app).await;
    let out = app.run(&["audit", "verify"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("audit trail intact: 4 entries"), "{}", stdout(&out));

    let mut tx = app.db.pool.begin().await.unwrap();
    sqlx::query("set local session_replication_role = replica").execute(&mut *tx).await.unwrap();
    sqlx::query("update audit_log set details = '{\"segnatura\": \"falsa\"}' where id = 2")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let out = app.run(&["audit", "verify"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout(&out).trim(),
        "audit trail broken at entry 2: its content was changed after it was written"
    );
}

#[tokio::test]
async fn configuration_errors_are_one_line_naming_the_variable() {
    let app = Instance::new().await;
    for (var, value, expected) in [
        ("SIGILLO_DATABASE_URL", None, "SIGILLO_DATABASE_URL is missing"),
        ("SIGILLO_AOO_CODE", None, "SIGILLO_AOO_CODE is missing"),
        ("SIGILLO_IPA_CODE", Some("c h501"), "SIGILLO_IPA_CODE is malformed"),
        ("SIGILLO_TIMEZONE", Some("Mars/Olympus"), "SIGILLO_TIMEZONE is malformed"),
    ] {
        let mut env = app.env.clone();
        match value {
            Some(v) => env.insert(var.to_owned(), v.to_owned()),
            None => env.remove(var),
        };
        let out = run_with_env(&env, &["migrate"]).await;
        assert_eq!(out.status.code(), Some(2), "{var}");
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.starts_with("sigillo: ") && err.contains(expected), "{err}");
    }

    let mut env = app.env.clone();
    env.insert("SIGILLO_AOO_COD".into(), "typo".into());
    env.insert("SIGILLO_LOG".into(), "warn".into());
    let out = run_with_env(&env, &["migrate"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("unknown variable SIGILLO_AOO_COD"), "{}", stderr(&out));
}

#[tokio::test]
async fn usage_and_connection_errors_exit_2_with_one_line() {
    let app = migrated().await;
    for args in [
        vec!["register", "export", "--date", "2026-13-01"],
        vec!["register", "export", "--date", "2026-11-01", "--year", "2026"],
        vec!["register", "export"],
        vec!["register", "export", "--year", "2026", "--format", "xml"],
    ] {
        let out = app.run(&args).await;
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
    let out = app
        .run(&["register", "export", "--year", "2026", "--output", "/nonexistent-dir/x.csv"])
        .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("/nonexistent-dir/"), "{}", stderr(&out));

    let mut env: BTreeMap<String, String> = app.env.clone();
    env.insert("SIGILLO_DATABASE_URL".into(), "postgres://postgres@127.0.0.1:1/nothing".into());
    let out = run_with_env(&env, &["audit", "verify"]).await;
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("cannot connect to the database"), "{err}");
}

#[tokio::test]
async fn serve_answers_its_health_check() {
    let app = migrated().await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut env = app.env.clone();
    env.insert("SIGILLO_LISTEN".into(), format!("127.0.0.1:{port}"));
    let mut child = tokio::process::Command::new(sigillo_e2e::sigillo_bin())
        .arg("serve")
        .env_clear()
        .envs(&env)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut answer = String::new();
    for _ in 0..100 {
        if let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
            s.read_to_string(&mut answer).await.unwrap();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    child.kill().await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("ok\n"), "{answer}");
}
