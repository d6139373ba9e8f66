//! The clerk's desk in Debian's headless chromium at 1366×768 (`web/tests/desk.mjs`): login
//! back to the page asked for, fonts, printouts, home, search, the queues on one screen, a
//! message before deciding, htmx after the session expired, a link from another site, the
//! users form; axe-core on every page, no violation allowed. Screenshots are written to
//! `<target dir>/screenshots/` (not committed). Needs `npm ci && npm run build` in web/ and
//! the chromium package (scripts/test installs both).

use sigillo_e2e::pec_mail::Attachment;
use sigillo_store::staff::Role;

use crate::web_common::{self, spawn_app_with_notify};

#[tokio::test]
async fn web_desk_in_a_real_browser_at_1366x768() {
    let web = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
    assert!(
        web.join("node_modules/playwright-core").is_dir() && web.join("static/vendor/bootstrap-italia").is_dir(),
        "run `npm ci && npm run build` in web/ first (scripts/test does)"
    );
    assert!(std::path::Path::new("/usr/bin/chromium").is_file(), "install Debian's chromium (scripts/test does)");
    let (app, pki) = spawn_app_with_notify().await;
    // A registered PEC, a rejected one with its text and attachments, one in review.
    let signed = pki.transport("opec.d1@pec.test.it", "Istanza di contributo per il centro estivo", &[Attachment::SignedP7m { size: 800 }]);
    let (line, _) = app.ingest("d1.eml", &signed).await;
    assert_eq!(line["decision"], "register", "{line}");
    for (i, subject) in ["Domanda di accesso agli atti senza firma", "Richiesta certificato di residenza storico per pratica di successione ereditaria con allegati numerosi e oggetto molto lungo che non entra in una riga"].iter().enumerate() {
        let raw = pki.transport(&format!("opec.r{i}@pec.test.it"), subject, &[Attachment::Unsigned]);
        let (line, _) = app.ingest(&format!("r{i}.eml"), &raw).await;
        assert_eq!(line["decision"], "reject", "{line}");
    }
    let review = pki.transport("opec.v1@pec.test.it", "Istanza firmata da un certificato sconosciuto", &[Attachment::SignedByUnknownCa]);
    let (line, _) = app.ingest("v1.eml", &review).await;
    assert_eq!(line["decision"], "review", "{line}");
    let (record, _) = app.seed("Segnalazione illuminazione pubblica in via Roma", "Anna Verdi", "foto.pdf", b"%PDF-1.7 foto").await;
    let number: i32 = sqlx::query_scalar("select number from registrations where id = $1").bind(record).fetch_one(&app.db.pool).await.unwrap();
    let year: i32 = sqlx::query_scalar("select year from registrations where id = $1").bind(record).fetch_one(&app.db.pool).await.unwrap();
    app.add_user("resp", Role::Responsabile).await;
    app.add_user("admin", Role::Amministratore).await;
    // <target dir>/screenshots: the test binary is <target dir>/debug/deps/e2e-….
    let target = std::env::current_exe().unwrap().parent().unwrap().parent().unwrap().parent().unwrap().to_path_buf();
    let out = target.join("screenshots");
    let status = tokio::process::Command::new("node")
        .arg(web.join("tests/desk.mjs"))
        .arg(&app.address)
        .arg(&out)
        .env("SIGILLO_E2E_USER", "resp")
        .env("SIGILLO_E2E_ADMIN", "admin")
        .env("SIGILLO_E2E_PASSWORD", web_common::PASSWORD)
        .env("SIGILLO_E2E_RECORD", record.to_string())
        .env("SIGILLO_E2E_NUMBER", format!("{number}/{year}"))
        .env("SIGILLO_E2E_SEARCH", "illuminazione")
        .status()
        .await
        .expect("node must be installed");
    assert!(status.success(), "browser steps failed (see the messages above and {})", out.display());
    for shot in [
        "desk-01-cruscotto",
        "desk-02-revisione",
        "desk-03-scartati",
        "desk-04-ricerca",
        "desk-05-registrazione",
        "desk-06-stampa-ricevuta",
        "desk-07-stampa-etichetta",
        "desk-08-messaggio",
        "desk-09-utenti",
    ] {
        assert!(out.join(format!("{shot}.png")).is_file(), "{shot}.png missing");
    }
}
