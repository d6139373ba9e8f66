//! Assignment (smistamento) through the dashboard, over HTTP against the real router and a
//! real Postgres: competenza and conoscenza, taking in charge, refusing with a reason,
//! passing on, the history that the database keeps append-only, annulled registrations,
//! what office staff may and may not see, and CSRF on every form of the route table.

use reqwest::StatusCode;
use reqwest::header::COOKIE;
use sigillo_store::register::Actor;
use sigillo_store::staff::{self, Role};
use sigillo_web::routes::{Access, specs};

use crate::web_common::{Session, TestApp, location, spawn_app};

struct Setup {
    app: TestApp,
    reg: i64,
    doc: i64,
    rag: i64,
    tec: i64,
    op: Session,
    /// Member of RAG.
    uff1: Session,
    /// Member of TEC.
    uff2: Session,
}

async fn setup() -> Setup {
    let app = spawn_app().await;
    let (reg, doc) = app.seed("Richiesta di contributo", "Mario Rossi", "domanda.pdf", b"%PDF-1.7 domanda").await;
    app.add_user("op", Role::Operatore).await;
    app.add_user("admin", Role::Amministratore).await;
    app.add_user("uff1", Role::Ufficio).await;
    app.add_user("uff2", Role::Ufficio).await;
    let admin = app.login("admin").await;
    let mut tx = app.db.pool.begin().await.unwrap();
    let actor = Actor::parse("test").unwrap();
    let rag = staff::create_office(&mut tx, &actor, "RAG", "Ragioneria").await.unwrap();
    let tec = staff::create_office(&mut tx, &actor, "TEC", "Ufficio tecnico").await.unwrap();
    tx.commit().await.unwrap();
    // Members are added by the amministratore through the office's page.
    for (office, user) in [(rag, "uff1"), (tec, "uff2")] {
        let res = app.post(&admin, &format!("/uffici/{office}/componenti"), &[("username", user)]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{user}");
        assert_eq!(location(&res), format!("/uffici/{office}"));
    }
    let page = app.get(&admin, &format!("/uffici/{rag}")).await.text().await.unwrap();
    assert!(page.contains("uff1") && !page.contains("uff2"), "{page}");
    let again = app.post(&admin, &format!("/uffici/{rag}/componenti"), &[("username", "uff1")]).await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    let op = app.login("op").await;
    let uff1 = app.login("uff1").await;
    let uff2 = app.login("uff2").await;
    Setup { app, reg, doc, rag, tec, op, uff1, uff2 }
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_owned())).fetch_one(&app.db.pool).await.unwrap()
}

async fn latest_assignment(app: &TestApp, reg: i64) -> i64 {
    count(app, &format!("select max(id) from assignments where registration_id = {reg}")).await
}

async fn user_id(app: &TestApp, username: &str) -> i64 {
    sqlx::query_scalar("select id from staff_users where username = $1").bind(username).fetch_one(&app.db.pool).await.unwrap()
}

/// The number in `id="{id}">N<` of a page.
fn counter(html: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\">");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no {id} in {html}")) + marker.len();
    html[start..].split('<').next().unwrap().to_owned()
}

#[tokio::test]
async fn competenza_and_conoscenza_are_assigned_and_the_office_takes_it_in_charge() {
    let Setup { app, reg, rag, tec, op, uff1, uff2, .. } = setup().await;
    let assign = format!("/registrazioni/{reg}/assegna");
    let res = app.post(&op, &assign, &[("ufficio", &rag.to_string()), ("tipo", "competenza"), ("nota", "per l'istruttoria")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), format!("/registrazioni/{reg}?esito=assegnata"));
    let res = app.post(&op, &assign, &[("ufficio", &tec.to_string()), ("tipo", "conoscenza")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let uff2_id = user_id(&app, "uff2").await.to_string();
    let res = app.post(&op, &assign, &[("persona", &uff2_id), ("tipo", "conoscenza")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    // The same conoscenza twice is refused; a kind that does not exist too; and both targets.
    let res = app.post(&op, &assign, &[("ufficio", &tec.to_string()), ("tipo", "conoscenza")]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = app.post(&op, &assign, &[("ufficio", &tec.to_string()), ("tipo", "urgente")]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("tipo"));
    let res = app.post(&op, &assign, &[("ufficio", &tec.to_string()), ("persona", &uff2_id)]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    let page = app.get(&op, &format!("/registrazioni/{reg}")).await.text().await.unwrap();
    let current = page.split("id=\"assegnazioni-correnti\"").nth(1).unwrap().split("</table>").next().unwrap();
    assert_eq!(current.matches("Per competenza").count(), 1, "{current}");
    assert_eq!(current.matches("Per conoscenza").count(), 4, "two rows, kind and state: {current}");
    assert!(current.contains("RAG — Ragioneria") && current.contains("Da prendere in carico") && current.contains("per l&#39;istruttoria"));

    // The office member's home counts it; the other office has it for conoscenza only.
    let home = app.get(&uff1, "/").await.text().await.unwrap();
    assert_eq!(counter(&home, "conteggio-da-prendere"), "1");
    assert!(!home.contains("href=\"/revisione\"") && !home.contains("href=\"/scartati\""), "queues shown to office staff");
    let home2 = app.get(&uff2, "/").await.text().await.unwrap();
    assert_eq!(counter(&home2, "conteggio-da-prendere"), "0");
    assert_eq!(counter(&home2, "conteggio-conoscenza"), "2", "one to TEC, one to uff2 in person");
    let info = app.get(&uff2, "/assegnazioni?vista=conoscenza").await.text().await.unwrap();
    assert!(info.contains(&format!("href=\"/registrazioni/{reg}\"")) && info.contains("Richiesta di contributo"));
    // Conoscenza cannot be taken in charge; nor can another office's competenza.
    let competenza = count(&app, &format!("select id from assignments where registration_id = {reg} and kind = 'competenza'")).await;
    let res = app.post(&uff2, &format!("/assegnazioni/{competenza}/prendi"), &[]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let conoscenza = latest_assignment(&app, reg).await;
    let res = app.post(&uff2, &format!("/assegnazioni/{conoscenza}/prendi"), &[]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    // Taken in charge from the inbox's button.
    let inbox = app.get(&uff1, "/assegnazioni").await.text().await.unwrap();
    let take = format!("/assegnazioni/{competenza}/prendi");
    assert!(inbox.contains(&format!("action=\"{take}\"")), "{inbox}");
    let res = app.post(&uff1, &take, &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), format!("/registrazioni/{reg}?esito=presa-in-carico"));
    let again = app.post(&uff1, &take, &[]).await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST, "taken twice");
    let page = app.get(&uff1, &format!("/registrazioni/{reg}")).await.text().await.unwrap();
    assert!(page.contains("In carico (uff1)"), "{page}");
    let mine = app.get(&uff1, "/assegnazioni?vista=in-carico").await.text().await.unwrap();
    assert!(mine.contains(&format!("href=\"/registrazioni/{reg}\"")));
    assert_eq!(counter(&app.get(&uff1, "/").await.text().await.unwrap(), "conteggio-in-carico"), "1");

    // A new competenza replaces the current one: exactly one is current, the old is history.
    let res = app.post(&op, &assign, &[("ufficio", &tec.to_string()), ("nota", "riassegnata")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = app.get(&op, &format!("/registrazioni/{reg}")).await.text().await.unwrap();
    let current = page.split("id=\"assegnazioni-correnti\"").nth(1).unwrap().split("</table>").next().unwrap();
    assert_eq!(current.matches("Per competenza").count(), 1, "{current}");
    assert!(current.contains("TEC — Ufficio tecnico") && !current.contains("RAG"), "{current}");
    let history = page.split("id=\"storia-assegnazioni\"").nth(1).unwrap().split("</table>").next().unwrap();
    for step in ["Assegnazione per competenza", "Assegnazione per conoscenza", "Presa in carico", "riassegnata", "RAG — Ragioneria", "uff1"] {
        assert!(history.contains(step), "{step} missing from {history}");
    }
    let mine = app.get(&uff1, "/assegnazioni?vista=in-carico").await.text().await.unwrap();
    assert!(mine.contains("nessuna-assegnazione"), "a replaced assignment is no longer in charge: {mine}");
    assert_eq!(count(&app, "select count(*) from audit_log where action = 'registration.assign' and actor = 'op'").await, 4);
    assert_eq!(count(&app, "select count(*) from audit_log where action = 'assignment.take' and actor = 'uff1'").await, 1);
    assert_eq!(count(&app, "select count(*) from audit_log where action = 'office.member_add' and actor = 'admin'").await, 2);
}

#[tokio::test]
async fn a_refusal_needs_a_reason_and_goes_back_to_the_protocol_office() {
    let Setup { app, reg, op, uff1, .. } = setup().await;
    let uff1_id = user_id(&app, "uff1").await.to_string();
    let res = app.post(&op, &format!("/registrazioni/{reg}/assegna"), &[("persona", &uff1_id)]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let a = latest_assignment(&app, reg).await;
    let page = app.get(&uff1, &format!("/registrazioni/{reg}")).await.text().await.unwrap();
    assert!(page.contains(&format!("action=\"/assegnazioni/{a}/rifiuta\"")), "refuse form for the assignee");
    let refuse = format!("/assegnazioni/{a}/rifiuta");
    for blank in ["", "   "] {
        let res = app.post(&uff1, &refuse, &[("motivo", blank)]).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(res.text().await.unwrap().contains("motivo: indichi il motivo del rifiuto"));
    }
    let res = app.post(&uff1, &refuse, &[]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("manca il campo «motivo»"));
    assert_eq!(count(&app, "select count(*) from assignment_actions").await, 0);
    let res = app.post(&uff1, &refuse, &[("motivo", "Non è di competenza della ragioneria")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/assegnazioni?esito=rifiutata");
    // Refused: nothing more to do for the assignee; back on the protocol office's list.
    assert_eq!(app.post(&uff1, &format!("/assegnazioni/{a}/prendi"), &[]).await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.post(&uff1, &refuse, &[("motivo", "di nuovo")]).await.status(), StatusCode::BAD_REQUEST);
    let home = app.get(&op, "/").await.text().await.unwrap();
    assert_eq!(counter(&home, "conteggio-rifiutate"), "1");
    let list = app.get(&op, "/assegnazioni?vista=rifiutate").await.text().await.unwrap();
    assert!(list.contains(&format!("href=\"/registrazioni/{reg}\"")) && list.contains("Non è di competenza della ragioneria"), "{list}");
    assert_eq!(app.get(&uff1, "/assegnazioni?vista=rifiutate").await.status(), StatusCode::FORBIDDEN);
    let page = app.get(&op, &format!("/registrazioni/{reg}")).await.text().await.unwrap();
    assert!(page.contains("id=\"assegnazione-rifiutata\""), "{page}");
    let history = page.split("id=\"storia-assegnazioni\"").nth(1).unwrap().split("</table>").next().unwrap();
    assert!(history.contains("Rifiuto") && history.contains("Non è di competenza della ragioneria") && history.contains("uff1"));
    // The assignee still opens what they refused (they acted on it).
    assert_eq!(app.get(&uff1, &format!("/registrazioni/{reg}")).await.status(), StatusCode::OK);
    assert_eq!(count(&app, "select count(*) from audit_log where action = 'assignment.refuse' and actor = 'uff1'").await, 1);
    // Assigned again: off the protocol office's list, and the refusal stays in the history.
    let res = app.post(&op, &format!("/registrazioni/{reg}/assegna"), &[("persona", &uff1_id)]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let home = app.get(&op, "/").await.text().await.unwrap();
    assert_eq!(counter(&home, "conteggio-rifiutate"), "0");
    let list = app.get(&op, "/assegnazioni?vista=rifiutate").await.text().await.unwrap();
    assert!(!list.contains(&format!("href=\"/registrazioni/{reg}\"")), "{list}");
    let inbox = app.get(&uff1, "/assegnazioni").await.text().await.unwrap();
    assert!(inbox.contains(&format!("/assegnazioni/{}/prendi", latest_assignment(&app, reg).await)), "{inbox}");
}

/// An office that has accumulated more than a thousand lines: the counters stop at 1.000
/// ("1.000+", "più di 1.000"), the list still pages newest first, and what the office
/// accumulated elsewhere does not leak into another list or another office.
#[tokio::test]
async fn a_long_inbox_counts_to_a_thousand_and_pages_newest_first() {
    let Setup { app, reg, rag, tec, op, uff1, uff2, .. } = setup().await;
    // 1,203 conoscenza rows for RAG (each one is in force), written as the store writes them
    // but in one statement: the HTTP form would take minutes.
    sqlx::query(
        "insert into assignments (registration_id, office_id, kind, assigned_by, note)
         select $1, $2, 'conoscenza', 'op', 'copia ' || n from generate_series(1, 1203) n",
    )
    .bind(reg)
    .bind(rag)
    .execute(&app.db.pool)
    .await
    .unwrap();
    let home = app.get(&uff1, "/").await.text().await.unwrap();
    assert_eq!(counter(&home, "conteggio-conoscenza"), "1.000+");
    assert_eq!(counter(&home, "conteggio-da-prendere"), "0");
    let first = app.get(&uff1, "/assegnazioni?vista=conoscenza").await.text().await.unwrap();
    assert!(first.contains("più di 1.000 assegnazioni"), "{first}");
    assert!(first.contains("copia 1203<") && first.contains("copia 1154<") && !first.contains("copia 1153<"), "{first}");
    // Past the count's limit the pages go on, newest first, to the oldest row.
    let last = app.get(&uff1, "/assegnazioni?vista=conoscenza&pagina=25").await.text().await.unwrap();
    assert!(last.contains("copia 3<") && last.contains("copia 1<") && !last.contains("copia 4<"), "{last}");
    let beyond = app.get(&uff1, "/assegnazioni?vista=conoscenza&pagina=26").await.text().await.unwrap();
    assert!(beyond.contains("nessuna-assegnazione"), "{beyond}");
    // The office's own list counts the same; TEC and its member see none of it.
    let office = app.get(&op, &format!("/assegnazioni?ufficio={rag}&vista=conoscenza")).await.text().await.unwrap();
    assert!(office.contains("più di 1.000 assegnazioni") && office.contains("copia 1203<"), "{office}");
    let other = app.get(&op, &format!("/assegnazioni?ufficio={tec}&vista=conoscenza")).await.text().await.unwrap();
    assert!(other.contains("nessuna-assegnazione"), "{other}");
    let home2 = app.get(&uff2, "/").await.text().await.unwrap();
    assert_eq!(counter(&home2, "conteggio-conoscenza"), "0");
    // A competenza among them is counted exactly, and only in its own list.
    let res = app.post(&op, &format!("/registrazioni/{reg}/assegna"), &[("ufficio", &rag.to_string()), ("tipo", "competenza")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let home = app.get(&uff1, "/").await.text().await.unwrap();
    assert_eq!(counter(&home, "conteggio-da-prendere"), "1");
    let to_take = app.get(&uff1, "/assegnazioni").await.text().await.unwrap();
    assert!(to_take.contains("1 assegnazione") && !to_take.contains("copia "), "{to_take}");
}

#[tokio::test]
async fn passing_on_makes_a_new_competenza_and_the_daily_register_lists_every_step() {
    let Setup { app, reg, rag, tec, op, uff1, uff2, .. } = setup().await;
    app.post(&op, &format!("/registrazioni/{reg}/assegna"), &[("ufficio", &rag.to_string()), ("nota", "prima nota")]).await;
    let a = latest_assignment(&app, reg).await;
    let pass = format!("/assegnazioni/{a}/passa");
    let res = app.post(&uff1, &pass, &[("ufficio", &tec.to_string()), ("nota", " ")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("nota:"));
    let res = app.post(&uff1, &pass, &[("ufficio", &rag.to_string()), ("nota", "a me stesso")]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "passing to the same office");
    // Another office's member cannot pass it.
    assert_eq!(app.post(&uff2, &pass, &[("ufficio", &tec.to_string()), ("nota", "x")]).await.status(), StatusCode::FORBIDDEN);
    let res = app.post(&uff1, &pass, &[("ufficio", &tec.to_string()), ("persona", ""), ("nota", "Riguarda un'opera pubblica")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/assegnazioni?esito=passata");
    let b = latest_assignment(&app, reg).await;
    assert_ne!(a, b);
    assert_eq!(count(&app, &format!("select passed_from from assignments where id = {b}")).await, a);
    assert!(app.get(&uff1, "/assegnazioni").await.text().await.unwrap().contains("nessuna-assegnazione"));
    let inbox = app.get(&uff2, "/assegnazioni").await.text().await.unwrap();
    assert!(inbox.contains("Riguarda un&#39;opera pubblica") && inbox.contains(&format!("/assegnazioni/{b}/prendi")), "{inbox}");
    assert_eq!(app.post(&uff2, &format!("/assegnazioni/{b}/prendi"), &[]).await.status(), StatusCode::SEE_OTHER);
    let page = app.get(&op, &format!("/registrazioni/{reg}")).await.text().await.unwrap();
    let history = page.split("id=\"storia-assegnazioni\"").nth(1).unwrap().split("</table>").next().unwrap();
    let order: Vec<usize> = ["Assegnazione per competenza", "Passaggio da RAG — Ragioneria", "Presa in carico"]
        .iter()
        .map(|s| history.find(s).unwrap_or_else(|| panic!("{s} missing from {history}")))
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "history out of order: {history}");
    assert_eq!(count(&app, "select count(*) from audit_log where action = 'assignment.pass' and actor = 'uff1'").await, 1);

    // The daily register (JSON, CSV and page) lists the steps of the day.
    let json: serde_json::Value = serde_json::from_str(&app.get(&op, "/registro.json").await.text().await.unwrap()).unwrap();
    let steps: Vec<(String, String, String)> = json["assignments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["step"].as_str().unwrap().to_owned(),
                s["office_code"].as_str().unwrap_or_default().to_owned(),
                s["note"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("assegnazione".to_owned(), "RAG".to_owned(), "prima nota".to_owned()),
            ("passaggio".to_owned(), "TEC".to_owned(), "Riguarda un'opera pubblica".to_owned()),
            ("presa_in_carico".to_owned(), "TEC".to_owned(), String::new()),
        ]
    );
    assert_eq!(json["assignments"][2]["assigned_by"], "uff2");
    assert_eq!(json["assignments"][0]["kind"], "competenza");
    let csv = app.get(&op, "/registro.csv?formato=archivio").await.text().await.unwrap();
    assert!(csv.lines().any(|l| l.starts_with("passaggio,")), "{csv}");
    assert!(csv.lines().any(|l| l.starts_with("presa_in_carico,")), "{csv}");
    let day = app.get(&op, "/registro").await.text().await.unwrap();
    let table = day.split("id=\"assegnazioni-del-giorno\"").nth(1).unwrap().split("</table>").next().unwrap();
    assert!(table.contains("Passaggio ad altro assegnatario") && table.contains("Presa in carico"), "{table}");
}

#[tokio::test]
async fn the_database_refuses_to_change_or_delete_the_history() {
    let Setup { app, reg, rag, op, uff1, .. } = setup().await;
    app.post(&op, &format!("/registrazioni/{reg}/assegna"), &[("ufficio", &rag.to_string())]).await;
    let a = latest_assignment(&app, reg).await;
    assert_eq!(app.post(&uff1, &format!("/assegnazioni/{a}/prendi"), &[]).await.status(), StatusCode::SEE_OTHER);
    for sql in [
        format!("update assignments set note = 'cambiata' where id = {a}"),
        format!("update assignments set office_id = null, user_id = 1 where id = {a}"),
        format!("delete from assignments where id = {a}"),
        "truncate assignments cascade".to_owned(),
        format!("update assignment_actions set reason = 'altro' where assignment_id = {a}"),
        format!("delete from assignment_actions where assignment_id = {a}"),
        "truncate assignment_actions".to_owned(),
    ] {
        let err = sqlx::query(sqlx::AssertSqlSafe(sql.clone())).execute(&app.db.pool).await.unwrap_err();
        assert!(err.to_string().contains("is immutable"), "{sql}: {err}");
    }
    // Taken in charge twice, even by writing the row directly, is refused by the schema.
    let uid = user_id(&app, "uff1").await;
    let err = sqlx::query("insert into assignment_actions (assignment_id, step, acted_by, user_id) values ($1, 'presa_in_carico', 'uff1', $2)")
        .bind(a)
        .bind(uid)
        .execute(&app.db.pool)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("assignment_actions_taken_once"), "{err}");
    // A refusal without a reason neither.
    let err = sqlx::query("insert into assignment_actions (assignment_id, step, acted_by, user_id) values ($1, 'rifiuto', 'uff1', $2)")
        .bind(a)
        .bind(uid)
        .execute(&app.db.pool)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("assignment_actions_reason"), "{err}");
    assert_eq!(count(&app, &format!("select count(*) from assignments where registration_id = {reg}")).await, 1);
    assert_eq!(count(&app, "select count(*) from assignment_actions").await, 1);
}

#[tokio::test]
async fn an_annulled_registration_can_no_longer_be_assigned() {
    let Setup { app, reg, rag, tec, op, uff1, .. } = setup().await;
    app.post(&op, &format!("/registrazioni/{reg}/assegna"), &[("ufficio", &rag.to_string())]).await;
    let a = latest_assignment(&app, reg).await;
    app.add_user("resp", Role::Responsabile).await;
    let resp = app.login("resp").await;
    let res = app.post(&resp, &format!("/registrazioni/{reg}/annulla"), &[("motivo", "Doppia"), ("atto", "Provv. 3/2026"), ("passo", "conferma")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = app.post(&op, &format!("/registrazioni/{reg}/assegna"), &[("ufficio", &tec.to_string())]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("è annullata"));
    assert_eq!(app.post(&uff1, &format!("/assegnazioni/{a}/prendi"), &[]).await.status(), StatusCode::BAD_REQUEST);
    let res = app.post(&uff1, &format!("/assegnazioni/{a}/passa"), &[("ufficio", &tec.to_string()), ("nota", "x")]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let page = app.get(&op, &format!("/registrazioni/{reg}")).await.text().await.unwrap();
    assert!(!page.contains("id=\"modulo-assegna\"") && !page.contains("/prendi\""), "forms offered on an annulled registration");
    // Written directly, the database refuses it too.
    let err = sqlx::query("insert into assignments (registration_id, office_id, assigned_by) values ($1, $2, 'psql')")
        .bind(reg)
        .bind(tec)
        .execute(&app.db.pool)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("is annulled and can no longer be assigned"), "{err}");
    let uid = user_id(&app, "uff1").await;
    let err = sqlx::query("insert into assignment_actions (assignment_id, step, acted_by, user_id) values ($1, 'presa_in_carico', 'psql', $2)")
        .bind(a)
        .bind(uid)
        .execute(&app.db.pool)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("is annulled"), "{err}");
    assert_eq!(count(&app, &format!("select count(*) from assignments where registration_id = {reg}")).await, 1);
}

#[tokio::test]
async fn office_staff_see_their_assignments_only_and_cannot_register_or_see_the_queues() {
    let Setup { app, reg, doc, rag, tec, op, uff1, uff2, .. } = setup().await;
    let (other, other_doc) = app.seed("Altra pratica", "Anna Verdi", "altra.pdf", b"%PDF altra").await;
    for path in ["/revisione", "/scartati", "/registrazioni", "/protocolla", "/registro", "/registro.json", "/uffici", "/audit", "/messaggi/1"] {
        assert_eq!(app.get(&uff1, path).await.status(), StatusCode::FORBIDDEN, "{path}");
    }
    let res = app.post(&uff1, "/protocolla", &[("oggetto", "x")]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = app.post(&uff1, &format!("/registrazioni/{reg}/annulla"), &[("motivo", "x"), ("atto", "y"), ("passo", "conferma")]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = app.post(&uff1, &format!("/registrazioni/{reg}/assegna"), &[("ufficio", &tec.to_string())]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // Not assigned to them: as if it did not exist.
    for path in [format!("/registrazioni/{reg}"), format!("/registrazioni/{reg}/documenti/{doc}")] {
        assert_eq!(app.get(&uff1, &path).await.status(), StatusCode::NOT_FOUND, "{path}");
    }
    app.post(&op, &format!("/registrazioni/{reg}/assegna"), &[("ufficio", &rag.to_string())]).await;
    assert_eq!(app.get(&uff1, &format!("/registrazioni/{reg}")).await.status(), StatusCode::OK);
    let pdf = app.get(&uff1, &format!("/registrazioni/{reg}/documenti/{doc}")).await;
    assert_eq!(pdf.status(), StatusCode::OK);
    assert_eq!(pdf.bytes().await.unwrap().as_ref(), b"%PDF-1.7 domanda");
    assert_eq!(app.get(&uff2, &format!("/registrazioni/{reg}")).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.get(&uff1, &format!("/registrazioni/{other}")).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.get(&uff1, &format!("/registrazioni/{other}/documenti/{other_doc}")).await.status(), StatusCode::NOT_FOUND);
    // Their own office's list, not another's; the menu has no queue.
    assert_eq!(app.get(&uff1, &format!("/assegnazioni?ufficio={rag}")).await.status(), StatusCode::OK);
    assert_eq!(app.get(&uff1, &format!("/assegnazioni?ufficio={tec}")).await.status(), StatusCode::FORBIDDEN);
    let inbox = app.get(&uff1, "/assegnazioni").await.text().await.unwrap();
    assert!(!inbox.contains("href=\"/revisione\"") && !inbox.contains("href=\"/registrazioni\"") && !inbox.contains("vista-rifiutate"));
    // The protocol office sees any office's list.
    let list = app.get(&op, &format!("/assegnazioni?ufficio={rag}")).await.text().await.unwrap();
    assert!(list.contains(&format!("href=\"/registrazioni/{reg}\"")), "{list}");
}

/// Every form of the route table (a POST with a staff access rule) is refused without the
/// session's CSRF token, for a person whose role may use it: the new forms of assignment
/// are in the table, so this walks them too.
#[tokio::test]
async fn every_staff_form_refuses_a_request_without_the_csrf_token() {
    let Setup { app, reg, rag, op, .. } = setup().await;
    app.post(&op, &format!("/registrazioni/{reg}/assegna"), &[("ufficio", &rag.to_string())]).await;
    let a = latest_assignment(&app, reg).await;
    let mut sessions = std::collections::HashMap::new();
    for (name, role) in [("csrf-op", Role::Operatore), ("csrf-resp", Role::Responsabile), ("csrf-admin", Role::Amministratore), ("csrf-rev", Role::Revisore), ("csrf-uff", Role::Ufficio)] {
        app.add_user(name, role).await;
        sessions.insert(role, app.login(name).await);
    }
    let before = count(&app, "select count(*) from audit_log").await;
    let rag_s = rag.to_string();
    let mut walked = 0;
    for spec in specs() {
        let Access::Staff(roles) = spec.access else { continue };
        if spec.method != reqwest::Method::POST {
            continue;
        }
        let path = spec.path.replace("{id}", &if spec.path.starts_with("/assegnazioni") { a } else { reg }.to_string()).replace("{username}", "csrf-uff");
        let s = &sessions[&roles[0]];
        let form = [("motivo", "m"), ("nota", "n"), ("ufficio", rag_s.as_str()), ("username", "csrf-uff"), ("atto", "a"), ("passo", "conferma")];
        let res = app.client.post(app.url(&path)).header(COOKIE, &s.cookie).form(&form).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{} without csrf", spec.path);
        assert!(res.text().await.unwrap().contains("Modulo scaduto"), "{}", spec.path);
        walked += 1;
    }
    assert!(walked >= 25, "the table lost forms: {walked}");
    for new in ["/assegnazioni/{id}/prendi", "/assegnazioni/{id}/rifiuta", "/assegnazioni/{id}/passa", "/uffici/{id}/componenti"] {
        assert!(specs().iter().any(|s| s.path == new && s.method == reqwest::Method::POST), "{new} not in the table");
    }
    // Nothing happened: no audit entry, the assignment untouched.
    assert_eq!(count(&app, "select count(*) from audit_log").await, before);
    assert_eq!(count(&app, "select count(*) from assignment_actions").await, 0);
}
