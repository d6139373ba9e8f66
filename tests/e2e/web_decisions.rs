//! The office's decisions through the dashboard, over HTTP against the real router: offices
//! and assignments with their history, confirming a rejection, registering a rejected message
//! anyway (responsabile only, with a reason, after a confirmation step), and the daily
//! register as PDF/A.

use reqwest::StatusCode;
use sigillo_e2e::pec_mail::Attachment;
use sigillo_store::staff::Role;
use crate::web_common::{self, location, spawn_app, spawn_app_with_pki};

async fn count(app: &web_common::TestApp, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_owned())).fetch_one(&app.db.pool).await.unwrap()
}

#[tokio::test]
async fn offices_are_managed_by_the_amministratore_and_assignments_keep_their_history() {
    let app = spawn_app().await;
    let (reg_id, _) = app.seed("Richiesta di contributo", "Mario Rossi", "domanda.pdf", b"%PDF-1.7 domanda").await;
    app.add_user("admin", Role::Amministratore).await;
    app.add_user("oper", Role::Operatore).await;
    let admin = app.login("admin").await;
    let oper = app.login("oper").await;

    // Only the amministratore creates offices.
    let res = app.post(&oper, "/uffici", &[("codice", "RAG"), ("nome", "Ragioneria")]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    for (code, name) in [("RAG", "Ragioneria"), ("TEC", "Ufficio tecnico")] {
        let res = app.post(&admin, "/uffici", &[("codice", code), ("nome", name)]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{code}");
    }
    let offices = app.get(&oper, "/uffici").await.text().await.unwrap();
    assert!(offices.contains("Ragioneria") && offices.contains("Ufficio tecnico"), "{offices}");
    let id_of = |code: &'static str| {
        let pool = app.db.pool.clone();
        async move { sqlx::query_scalar::<_, i64>("select id from offices where code = $1").bind(code).fetch_one(&pool).await.unwrap() }
    };
    let (rag, tec) = (id_of("RAG").await, id_of("TEC").await);

    // The operatore assigns, then reassigns: both rows stay, the latest is current.
    let path = format!("/registrazioni/{reg_id}/assegna");
    let res = app.post(&oper, &path, &[("ufficio", &rag.to_string()), ("nota", "per competenza")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = app.post(&oper, &path, &[("ufficio", &tec.to_string()), ("nota", "riassegnata")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), format!("/registrazioni/{reg_id}?esito=assegnata"));
    let page = app.get(&oper, &format!("/registrazioni/{reg_id}")).await.text().await.unwrap();
    let (r, t) = (page.find("RAG — Ragioneria").expect("first assignment shown"), page.find("TEC — Ufficio tecnico").expect("second"));
    assert!(page.contains("per competenza") && page.contains("riassegnata"), "{page}");
    assert!(r != t);
    assert_eq!(count(&app, &format!("select count(*) from assignments where registration_id = {reg_id}")).await, 2);
    assert_eq!(count(&app, "select count(*) from audit_log where action = 'registration.assign' and actor = 'oper'").await, 2);
    assert_eq!(count(&app, "select count(*) from audit_log where action = 'office.create' and actor = 'admin'").await, 2);

    // A disabled office is no longer offered.
    let res = app.post(&admin, &format!("/uffici/{rag}/stato"), &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = app.get(&oper, &format!("/registrazioni/{reg_id}")).await.text().await.unwrap();
    assert!(!page.contains(&format!("<option value=\"{rag}\"")), "inactive office still offered");
    assert!(page.contains("RAG — Ragioneria"), "history keeps the old office");
}

#[tokio::test]
async fn a_rejection_is_confirmed_with_an_audit_entry() {
    let (app, pki) = spawn_app_with_pki().await;
    let raw = pki.transport("opec.c1@pec.test.it", "Domanda non firmata", &[Attachment::Unsigned]);
    let (line, msg) = app.ingest("c1.eml", &raw).await;
    assert_eq!(line["decision"], "reject", "{line}");
    app.add_user("oper", Role::Operatore).await;
    let oper = app.login("oper").await;

    // The list shows sender and subject from the stored report.
    let list = app.get(&oper, "/scartati").await.text().await.unwrap();
    assert!(list.contains("mario.rossi@pec.test.it"), "{list}");
    assert!(list.contains("Domanda non firmata"), "{list}");
    assert!(list.contains("Allegato non firmato"), "{list}");
    assert!(!list.contains("Protocolla comunque"), "the operatore is not offered the override");

    let res = app.post(&oper, &format!("/messaggi/{msg}/conferma-scarto"), &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let state: String = sqlx::query_scalar("select state::text from inbound_messages where id = $1").bind(msg).fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(state, "rejected");
    assert_eq!(count(&app, &format!("select count(*) from message_decisions where inbound_message_id = {msg} and action = 'confirm_rejection' and decided_by = 'oper'")).await, 1);
    assert_eq!(count(&app, &format!("select count(*) from audit_log where action = 'message.confirm_rejection' and object_id = '{msg}' and actor = 'oper'")).await, 1);
    let list = app.get(&oper, "/scartati").await.text().await.unwrap();
    assert!(list.contains("Scarto confermato"), "{list}");
    // Nothing was registered.
    assert_eq!(count(&app, "select count(*) from registrations").await, 0);
}

#[tokio::test]
async fn the_responsabile_registers_a_rejected_message_anyway_with_a_reason() {
    let (app, pki) = spawn_app_with_pki().await;
    // One automatic registration first: the override takes the next number, no gap.
    let signed = pki.transport("opec.ok@pec.test.it", "Istanza firmata", &[Attachment::SignedP7m { size: 1024 }]);
    let (line, _) = app.ingest("ok.eml", &signed).await;
    assert_eq!(line["protocol"]["number"], 1, "{line}");
    let raw = pki.transport(
        "opec.r1@pec.test.it",
        "Istanza non firmata dalla PEC del richiedente",
        &[Attachment::Unsigned, Attachment::SignedP7m { size: 2048 }],
    );
    let (line, msg) = app.ingest("r1.eml", &raw).await;
    assert_eq!(line["decision"], "reject", "{line}");
    app.add_user("oper", Role::Operatore).await;
    app.add_user("resp", Role::Responsabile).await;
    let oper = app.login("oper").await;
    let resp = app.login("resp").await;
    let path = format!("/messaggi/{msg}/registra");

    // The operatore may not, neither the form nor the action.
    assert_eq!(app.get(&oper, &path).await.status(), StatusCode::FORBIDDEN);
    let res = app.post(&oper, &path, &[("motivo", "istanza valida"), ("passo", "conferma")]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // The responsabile sees what will be registered.
    let form = app.get(&resp, &path).await;
    assert_eq!(form.status(), StatusCode::OK);
    let form = form.text().await.unwrap();
    assert!(form.contains("Istanza non firmata dalla PEC del richiedente") && form.contains("documento-0.pdf"), "{form}");
    assert!(form.contains("Allegato non firmato"), "{form}");

    // Without a reason: refused, nothing written.
    let res = app.post(&resp, &path, &[("motivo", "   "), ("passo", "conferma")]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("Indichi il motivo"));
    // The first step only asks for confirmation.
    let reason = "Istanza inviata dalla PEC del richiedente (art. 65 c.1 c-bis CAD)";
    let res = app.post(&resp, &path, &[("motivo", reason), ("passo", "rivedi")]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("Conferma la protocollazione"));
    assert_eq!(count(&app, "select count(*) from registrations").await, 1);
    assert_eq!(count(&app, "select count(*) from message_decisions").await, 0);

    // Confirmed: registration n. 2, documents with hashes and signature reports.
    let res = app.post(&resp, &path, &[("motivo", reason), ("passo", "conferma")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{}", res.text().await.unwrap_or_default());
    let to = location(&res);
    let reg_id: i64 = sqlx::query_scalar("select id from registrations where inbound_message_id = $1").bind(msg).fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(to, format!("/registrazioni/{reg_id}?esito=protocollata"));
    let (number, year, subject, address, created_by, hashes): (i32, i32, String, String, String, Vec<Vec<u8>>) = sqlx::query_as(
        "select number, year, subject, correspondent_address, created_by, document_hashes from registrations where id = $1",
    )
    .bind(reg_id)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(number, 2, "next gapless number after the automatic one");
    assert_eq!(year, chrono::Utc::now().with_timezone(&chrono_tz::Europe::Rome).format("%Y").to_string().parse::<i32>().unwrap());
    assert_eq!(subject, "Istanza non firmata dalla PEC del richiedente");
    assert_eq!(address, "mario.rossi@pec.test.it");
    assert_eq!(created_by, "resp");
    let docs: Vec<(String, Vec<u8>, String, Option<serde_json::Value>)> = sqlx::query_as(
        "select name, sha256, role::text, signature_report from documents where registration_id = $1 order by ordinal",
    )
    .bind(reg_id)
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(docs.len(), 2);
    assert_eq!(hashes, docs.iter().map(|d| d.1.clone()).collect::<Vec<_>>());
    assert_eq!((docs[0].0.as_str(), docs[0].2.as_str()), ("documento-0.pdf", "primary"));
    assert_eq!(docs[0].3.as_ref().unwrap()["verdict"], "NO_SIGNATURE_FOUND", "{:?}", docs[0].3);
    assert_eq!(docs[1].3.as_ref().unwrap()["verdict"], "TOTAL_PASSED", "{:?}", docs[1].3);
    // The hashes are those the classifier reported at intake time, and the bytes are stored.
    let report: serde_json::Value = sqlx::query_scalar("select report from inbound_messages where id = $1").bind(msg).fetch_one(&app.db.pool).await.unwrap();
    for (doc, att) in docs.iter().zip(report["attachments"].as_array().unwrap()) {
        assert_eq!(hex::encode(&doc.1), att["sha256"].as_str().unwrap());
        let sha = sigillo_store::register::Sha256::from_slice(&doc.1).unwrap();
        assert!(app.blobs.get(&sha).is_ok(), "document bytes in the blob store");
    }

    // Message registered, reasons kept; the decision points at the registration; audited.
    let (state, reasons): (String, serde_json::Value) =
        sqlx::query_as("select state::text, reasons from inbound_messages where id = $1").bind(msg).fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(state, "registered");
    assert_eq!(reasons[0]["code"], "UNSIGNED_ATTACHMENT");
    let (action, why, by, linked): (String, String, String, i64) = sqlx::query_as(
        "select action::text, reason, decided_by, registration_id from message_decisions where inbound_message_id = $1",
    )
    .bind(msg)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!((action.as_str(), why.as_str(), by.as_str(), linked), ("register_anyway", reason, "resp", reg_id));
    let audit: serde_json::Value = sqlx::query_scalar(
        "select details from audit_log where action = 'message.register_anyway' and object_id = $1 and actor = 'resp'",
    )
    .bind(msg.to_string())
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(audit["reason"], reason);
    assert_eq!(audit["registration_id"], reg_id);
    assert_eq!(count(&app, &format!("select count(*) from audit_log where action = 'registration.create' and object_id = '{reg_id}' and actor = 'resp'")).await, 1);

    // The record shows the documents and the pipeline's reasons; the list no longer has it.
    let page = app.get(&resp, &to).await.text().await.unwrap();
    assert!(page.contains("protocollato d&#39;ufficio") || page.contains("protocollato d'ufficio"), "{page}");
    assert!(page.contains("Allegato non firmato"), "{page}");
    assert!(page.contains(&hex::encode(&docs[0].1)), "{page}");
    let list = app.get(&resp, "/scartati").await.text().await.unwrap();
    assert!(!list.contains(&format!("/messaggi/{msg}/registra")), "{list}");
    // Twice: refused, no second number.
    let res = app.post(&resp, &path, &[("motivo", reason), ("passo", "conferma")]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(count(&app, "select count(*) from registrations").await, 2);
    // And the chain of the audit trail still verifies.
    let mut conn = app.db.pool.acquire().await.unwrap();
    assert!(matches!(sigillo_store::audit::verify(&mut conn).await.unwrap(), sigillo_store::audit::Verification::Intact { .. }));
}

#[tokio::test]
async fn the_daily_register_downloads_as_pdf_a_with_embedded_fonts() {
    let app = spawn_app().await;
    app.seed("Richiesta di contributo per attività sportive", "Mario Rossi", "domanda.pdf", b"%PDF-1.7 domanda").await;
    app.seed("Segnalazione illuminazione pubblica", "Anna Verdi", "foto.pdf", b"%PDF-1.7 foto").await;
    app.add_user("rev", Role::Revisore).await;
    let rev = app.login("rev").await;
    let page = app.get(&rev, "/registro").await.text().await.unwrap();
    assert!(page.contains("/registro.pdf?data="), "{page}");
    let res = app.get(&rev, "/registro.pdf").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/pdf");
    assert!(res.headers()["content-disposition"].to_str().unwrap().contains("registro-giornaliero-"));
    let pdf = res.bytes().await.unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    let raw = String::from_utf8_lossy(&pdf);
    assert!(raw.contains("/FontFile2"), "font program embedded");
    assert!(raw.contains("pdfaid:part") && raw.contains("/OutputIntents"), "PDF/A metadata and output intent");
    let text = pdftotext(&pdf);
    for needle in ["Registro giornaliero di protocollo", "0000001/", "0000002/", "Segnalazione illuminazione pubblica", "Mario Rossi", "Totale: 2 registrazioni"] {
        assert!(text.contains(needle), "{needle:?} not in the PDF text:\n{text}");
    }
    // The PDF names the CSV export of the same day by its SHA-256.
    let csv = app.get(&rev, "/registro.csv?formato=archivio").await.bytes().await.unwrap();
    use sha2::Digest;
    assert!(text.contains(&hex::encode(sha2::Sha256::digest(&csv))), "{text}");
}

/// The text of a PDF by poppler's `pdftotext` (scripts/test installs poppler-utils).
pub fn pdftotext(pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.pdf");
    std::fs::write(&file, pdf).unwrap();
    let out = std::process::Command::new("pdftotext")
        .args(["-layout", "-enc", "UTF-8"])
        .arg(&file)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils) must be installed: scripts/test does");
    assert!(out.status.success(), "pdftotext: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}
