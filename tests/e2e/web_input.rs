//! What staff type into the dashboard (issue 15): control characters and length limits on
//! free text, Italian pages for malformed forms, reserved account names, and re-sending a
//! notice held back because the envelope was forged.

use reqwest::StatusCode;
use sigillo_store::staff::Role;

use crate::web_common::{location, spawn_app, spawn_app_with_notify};

#[tokio::test]
async fn web_input_nul_in_a_search_is_a_400_naming_the_field() {
    let app = spawn_app().await;
    app.add_user("op", Role::Operatore).await;
    let s = app.login("op").await;
    for path in ["/registrazioni?q=a%00b", "/registrazioni?mittente=%00", "/registrazioni?q=a%07b"] {
        let res = app.get(&s, path).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{path}");
        let page = res.text().await.unwrap();
        assert!(page.contains("Richiesta non valida") && page.contains("carattere"), "{path}: {page}");
    }
    let long = format!("/registrazioni?q={}", "a".repeat(201));
    let page = app.get(&s, &long).await;
    assert_eq!(page.status(), StatusCode::BAD_REQUEST);
    assert!(page.text().await.unwrap().contains("«ricerca» è troppo lungo"));
}

#[tokio::test]
async fn web_input_notes_and_reasons_have_limits_and_no_control_characters() {
    let app = spawn_app().await;
    let (id, _) = app.seed("Con nota", "Mario Rossi", "a.pdf", b"a").await;
    app.add_user("admin", Role::Amministratore).await;
    app.add_user("resp", Role::Responsabile).await;
    let a = app.login("admin").await;
    assert_eq!(app.post(&a, "/uffici", &[("codice", "RAG"), ("nome", "Ragioneria")]).await.status(), StatusCode::SEE_OTHER);
    let res = app.post(&a, "/uffici", &[("codice", "X1"), ("nome", &"n".repeat(201))]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("«nome» è troppo lungo"));
    let office: i64 = sqlx::query_scalar("select id from offices where code = 'RAG'").fetch_one(&app.db.pool).await.unwrap();
    let office = office.to_string();
    let s = app.login("resp").await;
    let assign = format!("/registrazioni/{id}/assegna");
    let huge = "x".repeat(900_000);
    let res = app.post(&s, &assign, &[("ufficio", &office), ("nota", &huge)]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = app.post(&s, &assign, &[("ufficio", &office), ("nota", &"x".repeat(2_001))]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("«nota» è troppo lungo: al massimo 2000 caratteri"));
    let res = app.post(&s, &assign, &[("ufficio", &office), ("nota", "riga\0")]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("il carattere nullo"));
    let res = app.post(&s, &assign, &[("ufficio", &office), ("nota", "prima riga\nseconda\triga")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "newline and tab are fine in a note");
    let annul = format!("/registrazioni/{id}/annulla");
    let res = app.post(&s, &annul, &[("motivo", "Errore"), ("atto", "Provv.\u{1b}1"), ("passo", "conferma")]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("«provvedimento»"));
    let res = app.post(&s, &annul, &[("motivo", &"m".repeat(2_001)), ("atto", "Provv. 1"), ("passo", "conferma")]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // The record page wraps long words.
    let css = app.client.get(app.url("/static/app.css")).send().await.unwrap().text().await.unwrap();
    assert!(css.contains("overflow-wrap: anywhere"));
}

#[tokio::test]
async fn web_input_a_form_missing_a_field_gets_an_italian_page() {
    let app = spawn_app().await;
    let (id, _) = app.seed("Da assegnare", "Mario Rossi", "a.pdf", b"a").await;
    app.add_user("op", Role::Operatore).await;
    let s = app.login("op").await;
    let res = app.post(&s, &format!("/registrazioni/{id}/assegna"), &[("nota", "x")]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let page = res.text().await.unwrap();
    assert!(!page.contains("Failed to deserialize") && !page.contains("missing field"), "{page}");
    assert!(page.contains("manca il campo «ufficio»"), "{page}");
    let res = app.get(&s, "/registrazioni/1/documenti/1/../../x").await;
    assert!(!res.text().await.unwrap().contains("Failed"));
}

#[tokio::test]
async fn web_input_system_actor_names_are_reserved_for_accounts() {
    let app = spawn_app().await;
    app.add_user("admin", Role::Amministratore).await;
    let a = app.login("admin").await;
    for name in ["intake", "web", "cli"] {
        let res = app
            .post(&a, "/utenti", &[("username", name), ("nome", "Finto"), ("ruolo", "operatore"), ("password", "una password lunga e buona 42")])
            .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{name}");
        assert!(res.text().await.unwrap().contains("nome riservato"), "{name}");
    }
    let n: i64 = sqlx::query_scalar("select count(*) from staff_users where username in ('intake', 'web', 'cli')")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn web_input_a_notice_held_back_for_a_forged_envelope_needs_the_responsabile() {
    let (app, pki) = spawn_app_with_notify().await;
    let (_, msg) = app.ingest("falsa.eml", &pki.forged("opec.f@pec.test.it", "Domanda")).await;
    let (row, reason): (i64, Option<String>) =
        sqlx::query_as("select id, suppressed_reason::text from outbox where inbound_message_id = $1 order by id limit 1")
            .bind(msg)
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(reason.as_deref(), Some("FORGED_ENVELOPE"));
    let state = || async {
        let s: String = sqlx::query_scalar("select state::text from outbox where id = $1").bind(row).fetch_one(&app.db.pool).await.unwrap();
        s
    };
    app.add_user("oper", Role::Operatore).await;
    app.add_user("resp", Role::Responsabile).await;
    let op = app.login("oper").await;
    for path in [format!("/invii/{row}/reinvia"), format!("/messaggi/{msg}/reinvia-avviso")] {
        let res = app.post(&op, &path, &[("conferma", "si")]).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
        assert!(res.text().await.unwrap().contains("contraffatta"));
        assert_eq!(state().await, "suppressed");
    }
    let r = app.login("resp").await;
    for path in [format!("/invii/{row}/reinvia"), format!("/messaggi/{msg}/reinvia-avviso")] {
        let res = app.post(&r, &path, &[]).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let page = res.text().await.unwrap();
        assert!(page.contains("busta PEC di questo messaggio è contraffatta") && page.contains("name=\"conferma\""), "{page}");
        assert_eq!(state().await, "suppressed", "the warning alone sends nothing");
    }
    let res = app.post(&r, &format!("/invii/{row}/reinvia"), &[("conferma", "si")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/scartati?esito=avviso-reinviato");
    assert_eq!(state().await, "pending");
}
