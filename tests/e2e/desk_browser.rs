//! A clerk registers a paper letter at the desk in a real browser (Debian's chromium,
//! playwright-core, `web/tests/desk_register.mjs`) at 1366×768, uploading a PDF; the screenshots are
//! kept under `target/screenshots/`. Needs `npm ci` in web/ and the chromium package.

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
        .status()
        .await
        .expect("node must be installed");
    assert!(status.success(), "browser steps failed (see the messages above and {})", out.display());
    for shot in ["desk-01-modulo", "desk-02-registrazione", "desk-03-registrazione-intera"] {
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
    use sha2::Digest;
    assert_eq!(doc_sha, sha2::Sha256::digest(bytes).to_vec(), "the uploaded bytes, hashed");
}
