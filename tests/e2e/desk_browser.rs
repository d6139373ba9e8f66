//! A clerk registers a paper letter at the desk in a real browser (Debian's chromium,
//! playwright-core, `web/tests/desk_register.mjs`) at 1366×768, uploading a PDF, choosing
//! its class of the titolario and assigning it to an office, whose member then takes it in
//! charge; the screenshots are kept under `target/screenshots/`. Needs `npm ci` in web/ and
//! the chromium package.

use sigillo_store::staff::Role;

use crate::web_common::{self, spawn_app_with_pki};

#[tokio::test]
async fn a_clerk_registers_a_paper_letter_in_a_real_browser() {
    let web = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
    assert!(
        web.join("node_modules/playwright-core").is_dir() && web.join("static/vendor/bootstrap-italia").is_dir(),
        "run `npm ci && npm run build` in web/ first (scripts/test does)"
    );
    assert!(std::path::Path::new("/usr/bin/chromium").is_file(), "install Debian's chromium (scripts/test does)");
    let (app, _pki) = spawn_app_with_pki().await;
    app.add_user("sportello", Role::Operatore).await;
    app.add_user("tributi1", Role::Ufficio).await;
    let actor = sigillo_store::register::Actor::parse("cli").unwrap();
    let mut conn = app.db.pool.acquire().await.unwrap();
    let office = sigillo_store::staff::create_office(&mut conn, &actor, "TRIB", "Ufficio tributi").await.unwrap();
    sigillo_store::assignment::add_member(&mut conn, &actor, office, "tributi1").await.unwrap();
    drop(conn);
    // The 2005 model titolario, so that the form offers its classes.
    let csv = std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/examples/titolario-comuni-2005.csv")).unwrap();
    let input = sigillo_protocol::titolario::ImportInput {
        name: "Piano di classificazione dei Comuni 2005".into(),
        valid_from: chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap(),
        valid_to: None,
        csv,
    };
    sigillo_protocol::titolario::import(&app.db.pool, &app.register, &actor, input).await.unwrap();
    let pdf = app.data_dir.path().join("lettera-tari.pdf");
    let bytes = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";
    std::fs::write(&pdf, bytes).unwrap();
    // target/<profile>/deps/<test> → target/screenshots
    let exe = std::env::current_exe().unwrap();
    let out = exe.parent().unwrap().parent().unwrap().parent().unwrap().join("screenshots");
    let status = tokio::process::Command::new("node")
        .arg(web.join("tests/desk_register.mjs"))
        .arg(&app.address)
        .arg(&out)
        .arg(&pdf)
        .env("SIGILLO_E2E_USER", "sportello")
        .env("SIGILLO_E2E_PASSWORD", web_common::PASSWORD)
        .env("SIGILLO_E2E_OFFICE", office.to_string())
        .env("SIGILLO_E2E_OFFICE_USER", "tributi1")
        .status()
        .await
        .expect("node must be installed");
    assert!(status.success(), "browser steps failed (see the messages above and {})", out.display());
    for shot in ["desk-01-modulo", "desk-02-registrazione", "desk-03-registrazione-intera", "desk-04-assegnata", "ufficio-01-da-prendere", "ufficio-02-in-carico"] {
        assert!(out.join(format!("{shot}.png")).is_file(), "{shot}.png missing");
    }
    let (number, channel, delivery, paper, doc_sha): (i32, String, String, i32, Vec<u8>) = sqlx::query_as(
        "select r.number, r.channel::text, r.paper_delivery::text, r.paper_attachments, d.sha256
         from registrations r join documents d on d.registration_id = r.id",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!((number, channel.as_str(), delivery.as_str(), paper), (1, "carta", "raccomandata", 2));
    let class: String = sqlx::query_scalar(
        "select e.code from registration_classes c join titolario_entries e on e.id = c.entry_id",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(class, "IV.3", "classified at the desk");
    use sha2::Digest;
    assert_eq!(doc_sha, sha2::Sha256::digest(bytes).to_vec(), "the uploaded bytes, hashed");
    // The office member took it in charge, as history beside the assignment.
    let (kind, office_of, step, by): (String, i64, String, String) = sqlx::query_as(
        "select a.kind::text, a.office_id, t.step::text, u.username
         from assignments a join assignment_actions t on t.assignment_id = a.id join staff_users u on u.id = t.user_id",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!((kind.as_str(), office_of, step.as_str(), by.as_str()), ("competenza", office, "presa_in_carico", "tributi1"));
}
