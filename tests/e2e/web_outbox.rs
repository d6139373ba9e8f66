//! What the citizen was sent, in the dashboard, over HTTP against the real router: the
//! receipt's state and delivery on the registration page, "send it again" (operatore and
//! responsabile, CSRF), the notice of a rejected message sent again from the list, the
//! receipt of a message registered anyway, and the home page's count of receipts not
//! delivered. Outbox rows are written by the real intake (`sigillo ingest` with
//! `SIGILLO_NOTIFY_FROM`); no worker runs, so the tests move rows as the worker would, with
//! the store's own functions.

use reqwest::StatusCode;
use reqwest::header::COOKIE;
use sigillo_e2e::pec_mail::Attachment;
use sigillo_store::ids::{InboundId, OutboxId};
use sigillo_store::outbox::{self, LinkedReceipt};
use sigillo_store::staff::Role;
use crate::web_common::{TestApp, location, spawn_app_with_notify, spawn_app_with_pki};

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_owned())).fetch_one(&app.db.pool).await.unwrap()
}

/// (id, kind, state, created_by, resend_of) of the outbox rows of a message, oldest first.
async fn rows(app: &TestApp, msg: i64) -> Vec<(i64, String, String, String, Option<i64>)> {
    sqlx::query_as("select id, kind::text, state::text, created_by, resend_of from outbox where inbound_message_id = $1 order by id")
        .bind(msg)
        .fetch_all(&app.db.pool)
        .await
        .unwrap()
}

/// What the worker's claim does to one row: `sending`, one more attempt (the claim's token).
async fn claim(app: &TestApp, id: i64) -> i32 {
    sqlx::query_scalar("update outbox set state = 'sending', attempts = attempts + 1 where id = $1 returning attempts")
        .bind(id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

async fn mark_sent(app: &TestApp, id: i64) {
    let attempt = claim(app, id).await;
    let mut conn = app.db.pool.acquire().await.unwrap();
    assert!(outbox::mark_sent(&mut conn, OutboxId::new(id), attempt).await.unwrap());
}

async fn mark_failed(app: &TestApp, id: i64, error: &str) {
    let attempt = claim(app, id).await;
    let mut conn = app.db.pool.acquire().await.unwrap();
    assert!(outbox::mark_attempt_failed(&mut conn, OutboxId::new(id), attempt, error, std::time::Duration::ZERO, true).await.unwrap());
}

fn home_count(page: &str) -> String {
    let marker = "id=\"conteggio-non-consegnate\">";
    let start = page.find(marker).unwrap_or_else(|| panic!("no count in {page}")) + marker.len();
    page[start..].split('<').next().unwrap().to_owned()
}

#[tokio::test]
async fn the_registration_page_shows_the_receipt_and_the_desk_sends_it_again() {
    let (app, pki) = spawn_app_with_notify().await;
    let signed = pki.transport("opec.ok@pec.test.it", "Istanza firmata", &[Attachment::SignedP7m { size: 1024 }]);
    let (line, msg) = app.ingest("ok.eml", &signed).await;
    assert_eq!(line["decision"], "register", "{line}");
    let reg_id: i64 =
        sqlx::query_scalar("select id from registrations where inbound_message_id = $1").bind(msg).fetch_one(&app.db.pool).await.unwrap();
    let r = rows(&app, msg).await;
    assert_eq!(r.len(), 1, "{r:?}");
    let (receipt, ref kind, ref st, ref by, _) = r[0];
    assert_eq!((kind.as_str(), st.as_str(), by.as_str()), ("ricevuta", "pending", "intake"));
    app.add_user("oper", Role::Operatore).await;
    app.add_user("rev", Role::Revisore).await;
    let oper = app.login("oper").await;
    let rev = app.login("rev").await;
    let page_path = format!("/registrazioni/{reg_id}");

    // Queued: state, recipient; nothing to send again yet.
    let page = app.get(&oper, &page_path).await.text().await.unwrap();
    assert!(page.contains("Ricevuta al mittente") && page.contains("Ricevuta di protocollazione"), "{page}");
    assert!(page.contains("mario.rossi@pec.test.it") && page.contains(">in coda<"), "{page}");
    assert!(!page.contains(&format!("/invii/{receipt}/reinvia")), "a queued row is not offered again");

    // Sent and delivered: the state with its time, the provider's receipt linked.
    mark_sent(&app, receipt).await;
    let other = pki.transport("opec.altro@pec.test.it", "Altro messaggio", &[Attachment::SignedP7m { size: 512 }]);
    let (_, receipt_msg) = app.ingest("altro.eml", &other).await;
    let delivered_at = chrono::DateTime::parse_from_rfc3339("2026-03-02T09:15:00+01:00").unwrap().with_timezone(&chrono::Utc);
    {
        let mut conn = app.db.pool.acquire().await.unwrap();
        let linked = LinkedReceipt {
            outbox_id: OutboxId::new(receipt),
            inbound_message_id: InboundId::new(receipt_msg),
            kind: "avvenuta-consegna".into(),
            delivery: Some(outbox::Delivery::Consegnata),
            received_at: delivered_at,
            pec_identificativo: Some("opec.cons@pec.test.it".into()),
            for_message: false,
        };
        assert!(outbox::link_receipt(&mut conn, &linked).await.unwrap());
    }
    let page = app.get(&rev, &page_path).await.text().await.unwrap();
    assert!(page.contains("inviata il "), "{page}");
    assert!(page.contains("consegnata il 02/03/2026 09:15"), "Italian date in Europe/Rome: {page}");
    assert!(page.contains("Ricevuta di avvenuta consegna") && page.contains(&format!("n. {receipt_msg}")), "{page}");
    assert!(!page.contains("/reinvia\""), "the revisore is not offered the action: {page}");
    let page = app.get(&oper, &page_path).await.text().await.unwrap();
    let resend = format!("/invii/{receipt}/reinvia");
    assert!(page.contains(&resend), "{page}");

    // The revisore may not; without the CSRF token nobody may.
    assert_eq!(app.post(&rev, &resend, &[]).await.status(), StatusCode::FORBIDDEN);
    let res = app.client.post(app.url(&resend)).header(COOKIE, &oper.cookie).form(&[("x", "y")]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(rows(&app, msg).await.len(), 1, "nothing written by refused requests");

    // A sent receipt is sent again as a new message by the operatore.
    let res = app.post(&oper, &resend, &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{}", res.text().await.unwrap_or_default());
    assert_eq!(location(&res), format!("/registrazioni/{reg_id}?esito=reinviata#ricevuta"));
    let r = rows(&app, msg).await;
    assert_eq!(r.len(), 2, "{r:?}");
    let again = r[1].0;
    assert_eq!((r[1].1.as_str(), r[1].2.as_str(), r[1].3.as_str(), r[1].4), ("ricevuta", "pending", "oper", Some(receipt)));
    assert_eq!(r[0].2, "sent", "the original stays as it was");
    let (mid_a, mid_b): (String, String) =
        sqlx::query_as("select a.message_id, b.message_id from outbox a, outbox b where a.id = $1 and b.id = $2")
            .bind(receipt)
            .bind(again)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_ne!(mid_a, mid_b, "a new Message-ID");
    assert_eq!(
        count(&app, &format!("select count(*) from audit_log where action = 'outbox.resend' and object_id = '{receipt}' and actor = 'oper'")).await,
        1
    );
    let page = app.get(&oper, &format!("/registrazioni/{reg_id}?esito=reinviata")).await.text().await.unwrap();
    assert!(page.contains("rimesso in coda"), "{page}");
    assert!(page.contains(&format!("nuovo invio dell&#39;invio n. {receipt}")) || page.contains(&format!("nuovo invio dell'invio n. {receipt}")), "{page}");
    // Already queued: refused in Italian.
    let res = app.post(&oper, &format!("/invii/{again}/reinvia"), &[]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("già in coda"));

    // Out of attempts: shown with its error, counted on the home page, and requeued as it is.
    let home = app.get(&oper, "/").await.text().await.unwrap();
    assert_eq!(home_count(&home), "0", "a queued re-send is not (yet) undelivered");
    mark_failed(&app, again, "550 5.1.1 casella inesistente").await;
    let page = app.get(&oper, &page_path).await.text().await.unwrap();
    assert!(page.contains("non inviata (tentativi esauriti)") && page.contains("550 5.1.1 casella inesistente"), "{page}");
    let home = app.get(&oper, "/").await.text().await.unwrap();
    assert_eq!(home_count(&home), "1", "{home}");
    let res = app.post(&oper, &format!("/invii/{again}/reinvia"), &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let r = rows(&app, msg).await;
    assert_eq!(r.len(), 2, "a failed row is requeued, not copied: {r:?}");
    let (state, attempts, error): (String, i32, Option<String>) =
        sqlx::query_as("select state::text, attempts, last_error from outbox where id = $1").bind(again).fetch_one(&app.db.pool).await.unwrap();
    assert_eq!((state.as_str(), attempts, error), ("pending", 0, None));
    let home = app.get(&oper, "/").await.text().await.unwrap();
    assert_eq!(home_count(&home), "0", "{home}");

    // Sent more than an hour ago and never delivered: counted too.
    mark_sent(&app, again).await;
    sqlx::query("update outbox set sent_at = now() - interval '2 hours' where id = $1").bind(again).execute(&app.db.pool).await.unwrap();
    let home = app.get(&oper, "/").await.text().await.unwrap();
    assert_eq!(home_count(&home), "1", "{home}");

    let mut conn = app.db.pool.acquire().await.unwrap();
    assert!(matches!(sigillo_store::audit::verify(&mut conn).await.unwrap(), sigillo_store::audit::Verification::Intact { .. }));
}

#[tokio::test]
async fn the_notice_of_a_rejected_message_is_sent_again_from_the_list() {
    let (app, pki) = spawn_app_with_notify().await;
    let raw = pki.transport("opec.r1@pec.test.it", "Domanda non firmata", &[Attachment::Unsigned]);
    let (line, msg) = app.ingest("r1.eml", &raw).await;
    assert_eq!(line["decision"], "reject", "{line}");
    let r = rows(&app, msg).await;
    assert_eq!(r.len(), 1, "{r:?}");
    let notice = r[0].0;
    assert_eq!((r[0].1.as_str(), r[0].2.as_str()), ("notifica", "pending"));
    app.add_user("oper", Role::Operatore).await;
    app.add_user("rev", Role::Revisore).await;
    let oper = app.login("oper").await;
    let rev = app.login("rev").await;
    let path = format!("/messaggi/{msg}/reinvia-avviso");

    assert_eq!(app.post(&rev, &path, &[]).await.status(), StatusCode::FORBIDDEN);
    // Still queued: nothing to send again, nothing recorded.
    let res = app.post(&oper, &path, &[]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("già in coda"));
    assert_eq!(count(&app, "select count(*) from message_decisions").await, 0);

    mark_sent(&app, notice).await;
    let res = app.post(&oper, &path, &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{}", res.text().await.unwrap_or_default());
    assert_eq!(location(&res), "/scartati?esito=avviso-reinviato");
    let r = rows(&app, msg).await;
    assert_eq!(r.len(), 2, "{r:?}");
    assert_eq!((r[1].1.as_str(), r[1].2.as_str(), r[1].3.as_str(), r[1].4), ("notifica", "pending", "oper", Some(notice)));
    assert_eq!(count(&app, &format!("select count(*) from message_decisions where inbound_message_id = {msg} and action = 'resend_notice'")).await, 1);
    assert_eq!(count(&app, "select count(*) from audit_log where action = 'outbox.resend' and actor = 'oper'").await, 1);
    let list = app.get(&oper, "/scartati?esito=avviso-reinviato").await.text().await.unwrap();
    assert!(list.contains("rimessa in coda") && list.contains("Avviso inviato di nuovo"), "{list}");

    // The latest notice is the one sent again: now queued, so refused.
    let res = app.post(&oper, &path, &[]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(rows(&app, msg).await.len(), 2);
}

#[tokio::test]
async fn a_message_without_a_notice_says_so() {
    let (app, pki) = spawn_app_with_pki().await;
    let raw = pki.transport("opec.r2@pec.test.it", "Domanda non firmata", &[Attachment::Unsigned]);
    let (line, msg) = app.ingest("r2.eml", &raw).await;
    assert_eq!(line["decision"], "reject", "{line}");
    app.add_user("oper", Role::Operatore).await;
    let oper = app.login("oper").await;
    let res = app.post(&oper, &format!("/messaggi/{msg}/reinvia-avviso"), &[]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body = res.text().await.unwrap();
    assert!(body.contains("non è stata preparata alcuna comunicazione") || body.contains("non &egrave; stata preparata"), "{body}");
    assert_eq!(count(&app, "select count(*) from message_decisions").await, 0);
    assert_eq!(count(&app, "select count(*) from outbox").await, 0);
}

#[tokio::test]
async fn registering_anyway_queues_the_receipt_as_the_staff_user() {
    let (app, pki) = spawn_app_with_notify().await;
    let raw = pki.transport("opec.r3@pec.test.it", "Istanza dalla PEC del richiedente", &[Attachment::Unsigned]);
    let (line, msg) = app.ingest("r3.eml", &raw).await;
    assert_eq!(line["decision"], "reject", "{line}");
    app.add_user("resp", Role::Responsabile).await;
    let resp = app.login("resp").await;
    let reason = "Istanza inviata dalla PEC del richiedente (art. 65 c.1 c-bis CAD)";
    let res = app.post(&resp, &format!("/messaggi/{msg}/registra"), &[("motivo", reason), ("passo", "conferma")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{}", res.text().await.unwrap_or_default());
    let reg_id: i64 =
        sqlx::query_scalar("select id from registrations where inbound_message_id = $1").bind(msg).fetch_one(&app.db.pool).await.unwrap();

    let (kind, state, by, registration, recipient, subject): (String, String, String, Option<i64>, Option<String>, Option<String>) =
        sqlx::query_as(
            "select kind::text, state::text, created_by, registration_id, recipient, subject from outbox
             where inbound_message_id = $1 and kind = 'ricevuta'",
        )
        .bind(msg)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!((kind.as_str(), state.as_str(), by.as_str(), registration), ("ricevuta", "pending", "resp", Some(reg_id)));
    assert_eq!(recipient.as_deref(), Some("mario.rossi@pec.test.it"));
    assert!(subject.unwrap_or_default().starts_with("Ricevuta di protocollazione n. 0000001 del "), "the receipt names the registration");
    // The rejection notice the intake wrote stays; both are on the page.
    let r = rows(&app, msg).await;
    assert_eq!(r.iter().map(|x| x.1.as_str()).collect::<Vec<_>>(), ["notifica", "ricevuta"], "{r:?}");
    let page = app.get(&resp, &location(&res)).await.text().await.unwrap();
    assert!(page.contains("Ricevuta di protocollazione") && page.contains("Comunicazione di mancata protocollazione"), "{page}");
}
