//! The dashboard in Debian's headless chromium (playwright-core, `web/tests/browser.mjs`):
//! log in, search, open a record, download a document, annul, export the daily register
//! (CSV and PDF/A), register a rejected message anyway, with screenshots and an axe-core check of every page. Needs `npm ci` in web/ and the
//! chromium package (scripts/test installs both); without them the test fails and says so.

use sigillo_store::staff::Role;
use sigillo_e2e::pec_mail::Attachment;
use crate::web_common::{self, spawn_app_with_pki};

#[tokio::test]
async fn staff_work_through_the_dashboard_in_a_real_browser() {
    let web = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
    assert!(
        web.join("node_modules/playwright-core").is_dir() && web.join("static/vendor/bootstrap-italia").is_dir(),
        "run `npm ci && npm run build` in web/ first (scripts/test does)"
    );
    assert!(std::path::Path::new("/usr/bin/chromium").is_file(), "install Debian's chromium (scripts/test does)");
    let (app, pki) = spawn_app_with_pki().await;
    // A message the intake rejected (unsigned attachment), its raw bytes in the data directory.
    let rejected = "Istanza non firmata per il passo carrabile";
    let (line, msg) = app.ingest("rifiutato.eml", &pki.transport("opec.b1@pec.test.it", rejected, &[Attachment::Unsigned])).await;
    assert_eq!(line["decision"], "reject", "{line}");
    app.seed("Richiesta di contributo per attività sportive", "Mario Rossi", "domanda.pdf", b"%PDF-1.7 domanda").await;
    app.seed("Segnalazione illuminazione pubblica", "Anna Verdi", "foto.pdf", b"%PDF-1.7 foto").await;
    app.add_user("resp", Role::Responsabile).await;
    // Screenshots stay under the test output: target/<profile>/browser-screenshots/.
    let out = std::env::current_exe().unwrap().parent().unwrap().parent().unwrap().join("browser-screenshots");
    let status = tokio::process::Command::new("node")
        .arg(web.join("tests/browser.mjs"))
        .arg(&app.address)
        .arg(&out)
        .env("SIGILLO_E2E_USER", "resp")
        .env("SIGILLO_E2E_PASSWORD", web_common::PASSWORD)
        .env("SIGILLO_E2E_SEARCH", "contributo")
        .env("SIGILLO_E2E_REJECTED", rejected)
        .status()
        .await
        .expect("node must be installed");
    assert!(status.success(), "browser steps failed (see the messages above and {})", out.display());
    for shot in [
        "02-cruscotto",
        "04-ricerca",
        "05-registrazione",
        "08-annullata",
        "09-registro-giornaliero",
        "10-scartati",
        "11-protocolla-comunque",
        "13-protocollata",
    ] {
        assert!(out.join(format!("{shot}.png")).is_file(), "{shot}.png missing");
    }
    let annulled: i64 = sqlx::query_scalar("select count(*) from annulments").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(annulled, 1);
    assert!(std::fs::read(out.join("registro.pdf")).unwrap().starts_with(b"%PDF-"));
    let (state, number): (String, i32) = sqlx::query_as(
        "select m.state::text, r.number from inbound_messages m join registrations r on r.inbound_message_id = m.id where m.id = $1",
    )
    .bind(msg)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!((state.as_str(), number), ("registered", 3), "registered anyway with the next number");
}
