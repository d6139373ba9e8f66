//! The comune's policy switches (issue 14 item 6), each both ways, through the real
//! `sigillo ingest` with `SIGILLO_POLICY_*` set: the decision taken, the registration or its
//! absence, and the kind of answer queued for the citizen (ricevuta / notifica / none). The
//! admin page that changes the policy at run time is tested in `web_policy` below.

use sigillo_e2e::pec_mail::Attachment;
use sigillo_e2e::{stderr, stdout};

use crate::intake_ingest::{Setup, write};

/// An instance that answers citizens (rows queued, no SMTP worker), with `policy` set.
async fn setup(policy: &[(&str, &str)]) -> Setup {
    let mut vars = vec![
        ("SIGILLO_NOTIFY_FROM", "protocollo@pec.comune.test.it"),
        ("SIGILLO_ENTE_NAME", "Comune di Prova"),
    ];
    vars.extend_from_slice(policy);
    crate::intake_ingest::setup(&vars).await
}

/// What happened to one message: the ingest line, the number of registrations, the kinds
/// of the outbox rows answering it.
struct Seen {
    line: serde_json::Value,
    registrations: i64,
    answers: Vec<String>,
    stored_reasons: serde_json::Value,
}

async fn ingest(s: &Setup, name: &str, raw: &[u8]) -> Seen {
    let file = write(s.files.path(), name, raw);
    let out = s.app.run(&["ingest", "--json", &file.display().to_string()]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let line: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    let pool = &s.app.db.pool;
    use sha2::Digest;
    let id: i64 = sqlx::query_scalar("select id from inbound_messages where raw_sha256 = $1")
        .bind(sha2::Sha256::digest(raw).to_vec())
        .fetch_one(pool)
        .await
        .unwrap();
    let registrations: i64 = sqlx::query_scalar("select count(*) from registrations where inbound_message_id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap();
    let answers: Vec<String> = sqlx::query_scalar("select kind::text from outbox where inbound_message_id = $1 order by id")
        .bind(id)
        .fetch_all(pool)
        .await
        .unwrap();
    let stored_reasons: serde_json::Value =
        sqlx::query_scalar("select reasons from inbound_messages where id = $1").bind(id).fetch_one(pool).await.unwrap();
    Seen { line, registrations, answers, stored_reasons }
}

fn codes(reasons: &serde_json::Value) -> Vec<String> {
    reasons.as_array().unwrap().iter().map(|r| r["code"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn unsigned_attachments_are_rejected_by_default_and_registered_with_a_flag_when_chosen() {
    // Default: rejected, no number, a notice.
    let s = setup(&[]).await;
    let raw = s.pki.transport("opec.u1@pec.test.it", "Istanza non firmata", &[Attachment::Unsigned]);
    let seen = ingest(&s, "nonfirmato.eml", &raw).await;
    assert_eq!(seen.line["decision"], "reject", "{}", seen.line);
    assert_eq!(seen.line["state"], "rejected");
    assert_eq!(seen.registrations, 0);
    assert_eq!(seen.answers, ["notifica"]);
    assert_eq!(codes(&seen.stored_reasons), ["UNSIGNED_ATTACHMENT"]);

    // register-flag: a number, the reason kept as a flag, a receipt and never a notice.
    let s = setup(&[("SIGILLO_POLICY_UNSIGNED", "register-flag")]).await;
    let raw = s.pki.transport("opec.u2@pec.test.it", "Istanza non firmata", &[Attachment::Unsigned]);
    let seen = ingest(&s, "nonfirmato.eml", &raw).await;
    assert_eq!(seen.line["decision"], "register", "{}", seen.line);
    assert_eq!(seen.line["state"], "registered");
    assert_eq!(seen.line["protocol"]["number"], 1, "{}", seen.line);
    assert_eq!(codes(&seen.line["reasons"]), ["UNSIGNED_ATTACHMENT"], "the flag is reported");
    assert_eq!(seen.registrations, 1);
    assert_eq!(seen.answers, ["ricevuta"]);
    assert_eq!(codes(&seen.stored_reasons), ["UNSIGNED_ATTACHMENT"], "the flag stays with the message");
    let docs: i64 = sqlx::query_scalar("select count(*) from documents").fetch_one(&s.app.db.pool).await.unwrap();
    assert_eq!(docs, 1, "the unsigned document is registered");

    // A failed signature beside it is still a rejection, whatever the switch.
    let mut bad = s.pki.p7m(64, 7);
    let n = bad.len();
    bad[n - 40] ^= 0xff;
    let atts = [
        (String::from("documento.pdf"), "application/pdf", b"%PDF-1.4\n%%EOF\n".to_vec()),
        (String::from("istanza.pdf.p7m"), "application/pkcs7-mime", bad),
    ];
    let raw = s.pki.transport_with("opec.u3@pec.test.it", "Istanza", &atts, s.pki.provider());
    let seen = ingest(&s, "guasto.eml", &raw).await;
    assert_eq!(seen.line["decision"], "reject", "{}", seen.line);
    assert_eq!(seen.registrations, 0);
}

#[tokio::test]
async fn anomaly_envelopes_are_rejected_by_default_and_go_to_review_when_chosen() {
    let s = setup(&[]).await;
    let seen = ingest(&s, "anomalia.eml", &s.pki.anomaly("opec.a1@pec.test.it", "Domanda")).await;
    assert_eq!(seen.line["decision"], "reject", "{}", seen.line);
    assert_eq!(seen.registrations, 0);
    assert_eq!(seen.answers, ["notifica"]);
    assert_eq!(codes(&seen.stored_reasons), ["NOT_PEC"]);

    let s = setup(&[("SIGILLO_POLICY_ANOMALY", "review")]).await;
    let seen = ingest(&s, "anomalia.eml", &s.pki.anomaly("opec.a2@pec.test.it", "Domanda")).await;
    assert_eq!(seen.line["decision"], "review", "{}", seen.line);
    assert_eq!(seen.line["state"], "review");
    assert_eq!(seen.registrations, 0);
    assert!(seen.answers.is_empty(), "the office decides: nothing is answered yet ({:?})", seen.answers);
    assert_eq!(codes(&seen.stored_reasons), ["NOT_PEC"], "the reason is kept for the office");

    // Plain mail with no envelope at all is not an anomaly envelope: still rejected.
    let seen = ingest(&s, "ordinaria.eml", b"From: a@b.it\r\nTo: c@d.it\r\nSubject: ciao\r\n\r\nciao\r\n").await;
    assert_eq!(seen.line["decision"], "reject", "{}", seen.line);
}

#[tokio::test]
async fn indeterminate_signatures_go_to_review_by_default_and_are_rejected_when_chosen() {
    let s = setup(&[]).await;
    let raw = s.pki.transport("opec.i1@pec.test.it", "Istanza", &[Attachment::SignedByUnknownCa]);
    let seen = ingest(&s, "indeterminata.eml", &raw).await;
    assert_eq!(seen.line["decision"], "review", "{}", seen.line);
    assert_eq!(seen.registrations, 0);
    assert!(seen.answers.is_empty(), "{:?}", seen.answers);
    assert_eq!(codes(&seen.stored_reasons), ["SIGNATURE_INDETERMINATE"]);

    let s = setup(&[("SIGILLO_POLICY_INDETERMINATE", "reject")]).await;
    let raw = s.pki.transport("opec.i2@pec.test.it", "Istanza", &[Attachment::SignedByUnknownCa]);
    let seen = ingest(&s, "indeterminata.eml", &raw).await;
    assert_eq!(seen.line["decision"], "reject", "{}", seen.line);
    assert_eq!(seen.line["state"], "rejected");
    assert_eq!(seen.registrations, 0);
    assert_eq!(seen.answers, ["notifica"]);
    assert_eq!(codes(&seen.stored_reasons), ["SIGNATURE_INDETERMINATE"]);
}

#[tokio::test]
async fn a_malformed_policy_setting_is_refused_naming_the_variable() {
    let s = setup(&[]).await;
    let mut app_env = s.app.env.clone();
    app_env.insert("SIGILLO_POLICY_UNSIGNED".into(), "accept".into());
    let out = sigillo_e2e::run_with_env(&app_env, &["migrate"]).await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("SIGILLO_POLICY_UNSIGNED is malformed"), "{}", stderr(&out));
}

mod web_policy {
    use reqwest::StatusCode;
    use sigillo_e2e::pec_mail::Attachment;
    use sigillo_store::staff::Role;

    use crate::web_common::{location, spawn_app_with_notify};

    #[tokio::test]
    async fn the_admin_page_changes_the_policy_for_the_next_message_audited_and_only_for_an_amministratore() {
        let (app, pki) = spawn_app_with_notify().await;
        app.add_user("admin", Role::Amministratore).await;
        app.add_user("capo", Role::Responsabile).await;
        let admin = app.login("admin").await;
        let capo = app.login("capo").await;

        // The configuration's values, the defaults, until someone sets them.
        let page = app.get(&admin, "/politiche").await;
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.unwrap();
        assert!(html.contains(r#"id="non_firmati-reject" value="reject" checked"#), "{html}");
        assert!(html.contains(r#"id="anomalie-reject" value="reject" checked"#), "{html}");
        assert!(html.contains(r#"id="indeterminate-review" value="review" checked"#), "{html}");
        assert!(html.contains("valori della configurazione"), "{html}");

        // Not an amministratore: refused, nothing changes.
        assert_eq!(app.get(&capo, "/politiche").await.status(), StatusCode::FORBIDDEN);
        let fields = [("non_firmati", "register-flag"), ("anomalie", "reject"), ("indeterminate", "review")];
        assert_eq!(app.post(&capo, "/politiche", &fields).await.status(), StatusCode::FORBIDDEN);
        let rows: i64 = sqlx::query_scalar("select count(*) from policy").fetch_one(&app.db.pool).await.unwrap();
        assert_eq!(rows, 0);

        // A value the page does not offer is refused.
        let res = app.post(&admin, "/politiche", &[("non_firmati", "accept"), ("anomalie", "reject"), ("indeterminate", "review")]).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);

        // The amministratore registers unsigned istanze from now on.
        let res = app.post(&admin, "/politiche", &fields).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&res), "/politiche");
        let html = app.get(&admin, "/politiche").await.text().await.unwrap();
        assert!(html.contains(r#"id="non_firmati-register-flag" value="register-flag" checked"#), "{html}");
        assert!(html.contains("Impostate da admin"), "{html}");
        let audit: Vec<(String, serde_json::Value)> =
            sqlx::query_as("select actor, details from audit_log where action = 'policy.change'").fetch_all(&app.db.pool).await.unwrap();
        assert_eq!(audit.len(), 1, "{audit:?}");
        assert_eq!(audit[0].0, "admin");
        assert_eq!(audit[0].1["before"]["unsigned_attachment"], "reject", "{}", audit[0].1);
        assert_eq!(audit[0].1["after"]["unsigned_attachment"], "register-flag", "{}", audit[0].1);
        // Saving the same values again records nothing new.
        app.post(&admin, "/politiche", &fields).await;
        let n: i64 = sqlx::query_scalar("select count(*) from audit_log where action = 'policy.change'").fetch_one(&app.db.pool).await.unwrap();
        assert_eq!(n, 1);

        // Another process (`sigillo ingest`, no SIGILLO_POLICY_* in its environment) follows
        // the stored policy: the unsigned istanza is registered, with a receipt.
        let raw = pki.transport("opec.w1@pec.test.it", "Istanza non firmata", &[Attachment::Unsigned]);
        let (line, id) = app.ingest("nonfirmato.eml", &raw).await;
        assert_eq!(line["decision"], "register", "{line}");
        let kinds: Vec<String> = sqlx::query_scalar("select kind::text from outbox where inbound_message_id = $1")
            .bind(id)
            .fetch_all(&app.db.pool)
            .await
            .unwrap();
        assert_eq!(kinds, ["ricevuta"]);
        let reg: i64 = sqlx::query_scalar("select id from registrations where inbound_message_id = $1")
            .bind(id)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();

        // The record page shows the flag.
        let html = app.get(&capo, &format!("/registrazioni/{reg}")).await.text().await.unwrap();
        assert!(html.contains("Segnalazioni (protocollato secondo le politiche dell"), "{html}");
        assert!(html.contains("documento non firmato"), "{html}");

        // The register's export carries it too.
        let csv = app.get(&capo, "/registro.csv?formato=archivio").await.text().await.unwrap();
        let mut rows = csv.lines();
        let header: Vec<&str> = rows.next().unwrap().split(',').collect();
        let flags = header.iter().position(|c| *c == "flags").unwrap_or_else(|| panic!("no flags column: {csv}"));
        // The registration's cells (no field here holds a comma).
        let first: Vec<&str> = rows.next().unwrap().split(',').collect();
        assert_eq!(first.len(), header.len(), "{csv}");
        assert_eq!(first[flags], "UNSIGNED_ATTACHMENT", "{csv}");

        // Back to the default: the next unsigned istanza is rejected with a notice.
        app.post(&admin, "/politiche", &[("non_firmati", "reject"), ("anomalie", "reject"), ("indeterminate", "review")]).await;
        let raw = pki.transport("opec.w2@pec.test.it", "Altra istanza", &[Attachment::Unsigned]);
        let (line, id) = app.ingest("nonfirmato2.eml", &raw).await;
        assert_eq!(line["decision"], "reject", "{line}");
        let kinds: Vec<String> = sqlx::query_scalar("select kind::text from outbox where inbound_message_id = $1")
            .bind(id)
            .fetch_all(&app.db.pool)
            .await
            .unwrap();
        assert_eq!(kinds, ["notifica"]);
    }
}
