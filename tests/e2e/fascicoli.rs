//! Fascicoli through the dashboard (issue 17), over HTTP against the real router and a real
//! Postgres: an operatore opens a fascicolo in a class of the titolario in force, files a
//! registration in it, sees it on the fascicolo's page and on the record, closes it, and
//! filing is then refused with the database's reason in Italian; office staff see but may
//! not open one; the read-only API lists a registration's fascicoli; CSRF on every form.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use reqwest::header::COOKIE;
use serde_json::Value;
use sigillo_store::register::Actor;
use sigillo_store::staff::{self, Role};
use sigillo_store::titolario::{self, Level, NewEntry, NewVersion};
use sigillo_web::routes::{Access, specs};

use crate::web_common::{TestApp, location, spawn_app};

/// A small titolario in force since 2020 (VI, VI.1, VI.3) and the office TEC; its id.
async fn titolario_and_office(app: &TestApp) -> i64 {
    let entry = |code: &str, level, parent: Option<&str>, description: &str| NewEntry {
        code: code.into(),
        level,
        parent_code: parent.map(Into::into),
        description: description.into(),
    };
    let version = NewVersion {
        name: "Titolario di prova".into(),
        valid_from: chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap(),
        valid_to: None,
        source_sha256: [9; 32],
        entries: vec![
            entry("VI", Level::Titolo, None, "Pianificazione e gestione del territorio"),
            entry("VI.1", Level::Classe, Some("VI"), "Urbanistica"),
            entry("VI.3", Level::Classe, Some("VI"), "Edilizia privata"),
        ],
    };
    let actor = Actor::parse("test").unwrap();
    let mut tx = app.db.pool.begin().await.unwrap();
    titolario::import_version(&mut tx, &app.register, &actor, &version).await.unwrap();
    let office = staff::create_office(&mut tx, &actor, "TEC", "Ufficio tecnico").await.unwrap();
    tx.commit().await.unwrap();
    office
}

async fn scalar_i64(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned())).fetch_one(&app.db.pool).await.unwrap()
}

/// The `sigillo token add` of the real binary: a read token for the API.
async fn read_token(app: &TestApp) -> String {
    let env = BTreeMap::from([
        ("SIGILLO_DATABASE_URL".to_owned(), app.db.url.clone()),
        ("SIGILLO_DATA_DIR".to_owned(), app.data_dir.path().display().to_string()),
        ("SIGILLO_IPA_CODE".to_owned(), "c_h501".to_owned()),
        ("SIGILLO_AOO_CODE".to_owned(), "A1B2C3D".to_owned()),
        ("SIGILLO_LOG".to_owned(), "warn".to_owned()),
    ]);
    let out = sigillo_e2e::run_with_env(&env, &["token", "add", "gestionale", "--scope", "read"]).await;
    assert!(out.status.success(), "{}", sigillo_e2e::stderr(&out));
    sigillo_e2e::stdout(&out).trim().to_owned()
}

/// The part of a page from `id="{id}"` to the end of its table or paragraph.
fn block<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no {id} in {html}"));
    let rest = &html[start..];
    let end = rest.find("</table>").or_else(|| rest.find("</p>")).unwrap_or(rest.len());
    &rest[..end]
}

#[tokio::test]
async fn an_operatore_opens_a_fascicolo_files_a_registration_and_closing_it_refuses_more() {
    let app = spawn_app().await;
    let office = titolario_and_office(&app).await;
    let (reg, _) = app.seed("Permesso di costruire in via Roma 1", "Mario Rossi", "domanda.pdf", b"%PDF-1.7 domanda").await;
    let (other, _) = app.seed("Integrazione documentale", "Mario Rossi", "integrazione.pdf", b"%PDF-1.7 integrazione").await;
    app.add_user("op", Role::Operatore).await;
    app.add_user("uff", Role::Ufficio).await;
    let op = app.login("op").await;
    let uff = app.login("uff").await;

    // The list offers the classes of the titolario in force (not the titolo with classi).
    let list = app.get(&op, "/fascicoli").await.text().await.unwrap();
    assert!(list.contains("id=\"nessun-fascicolo\"") && list.contains("id=\"modulo-fascicolo\""), "{list}");
    assert!(list.contains("<option value=\"VI.3\">") && !list.contains("<option value=\"VI\">"), "{list}");
    assert!(list.contains("href=\"/fascicoli\" aria-current=\"page\""), "menu entry");

    // Faults come back on the form, nothing created.
    let res = app.post(&op, "/fascicoli", &[("classe", "VI.3"), ("oggetto", " "), ("ufficio", &office.to_string())]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("Oggetto: indichi l&#39;oggetto del fascicolo"));
    let res = app.post(&op, "/fascicoli", &[("classe", "VI"), ("oggetto", "Pratica"), ("ufficio", &office.to_string())]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "a titolo with classi");
    assert!(res.text().await.unwrap().contains("ha delle sottoclassi"));
    let res = app.post(&op, "/fascicoli", &[("classe", "IX.9"), ("oggetto", "Pratica"), ("ufficio", &office.to_string())]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(scalar_i64(&app, "select count(*) from fascicoli").await, 0);

    // Office staff see the list but may not open a fascicolo.
    let res = app.post(&uff, "/fascicoli", &[("classe", "VI.3"), ("oggetto", "Pratica"), ("ufficio", &office.to_string())]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let seen = app.get(&uff, "/fascicoli").await;
    assert_eq!(seen.status(), StatusCode::OK);
    assert!(!seen.text().await.unwrap().contains("id=\"modulo-fascicolo\""));
    assert_eq!(scalar_i64(&app, "select count(*) from fascicoli").await, 0);

    // Opened: the first of its class and year.
    let res = app.post(&op, "/fascicoli", &[("classe", "VI.3"), ("oggetto", "Lavori in via Roma 1"), ("ufficio", &office.to_string())]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let f = scalar_i64(&app, "select max(id) from fascicoli").await;
    assert_eq!(location(&res), format!("/fascicoli/{f}?esito=aperto"));
    let year = scalar_i64(&app, "select year::bigint from fascicoli").await;
    let identifier = format!("VI.3/{year}.1");
    let page = app.get(&op, &format!("/fascicoli/{f}")).await.text().await.unwrap();
    assert!(page.contains(&format!("<span id=\"identificativo\">{identifier}</span>")), "{page}");
    assert!(page.contains("Lavori in via Roma 1") && page.contains("TEC — Ufficio tecnico") && page.contains("Aperto"));

    // Filed from the record page's panel, which offers the open fascicolo.
    let record = app.get(&op, &format!("/registrazioni/{reg}")).await.text().await.unwrap();
    assert!(record.contains("id=\"modulo-fascicola\"") && record.contains(&format!("<option value=\"{f}\">{identifier} — Lavori in via Roma 1</option>")), "{record}");
    let res = app.post(&op, &format!("/registrazioni/{reg}/fascicoli"), &[("fascicolo", &f.to_string())]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), format!("/registrazioni/{reg}?esito=fascicolata#fascicoli"));
    let twice = app.post(&op, &format!("/registrazioni/{reg}/fascicoli"), &[("fascicolo", &f.to_string())]).await;
    assert_eq!(twice.status(), StatusCode::BAD_REQUEST);
    assert!(twice.text().await.unwrap().contains(&format!("è già nel fascicolo {identifier}")));

    // Seen on both pages.
    let record = app.get(&op, &format!("/registrazioni/{reg}")).await.text().await.unwrap();
    let panel = block(&record, "fascicoli-registrazione");
    assert!(panel.contains(&format!("<a href=\"/fascicoli/{f}\">{identifier}</a>")) && panel.contains("Lavori in via Roma 1"), "{panel}");
    assert!(record.contains("Inserimento di una registrazione in un fascicolo"), "the record's history names the act");
    let page = app.get(&op, &format!("/fascicoli/{f}")).await.text().await.unwrap();
    let members = block(&page, "registrazioni-fascicolo");
    assert!(members.contains(&format!("href=\"/registrazioni/{reg}\"")) && members.contains("Permesso di costruire in via Roma 1"), "{members}");
    let list = app.get(&op, "/fascicoli?stato=aperti&classe=vi.3").await.text().await.unwrap();
    assert!(block(&list, "elenco-fascicoli").contains(&identifier), "{list}");
    let none = app.get(&op, &format!("/fascicoli?stato=chiusi&anno={year}")).await.text().await.unwrap();
    assert!(none.contains("id=\"nessun-fascicolo\""), "{none}");
    assert_eq!(app.get(&op, "/fascicoli?stato=forse").await.status(), StatusCode::BAD_REQUEST);

    // Office staff see the fascicolo, but not the registration not assigned to them.
    let seen = app.get(&uff, &format!("/fascicoli/{f}")).await.text().await.unwrap();
    assert!(!seen.contains("Permesso di costruire") && seen.contains("non assegnate a lei né ai suoi uffici: 1."), "{seen}");
    assert!(!seen.contains("id=\"chiudi-fascicolo\""));
    assert_eq!(app.post(&uff, &format!("/fascicoli/{f}/chiudi"), &[]).await.status(), StatusCode::FORBIDDEN);

    // The API lists the registration's fascicoli.
    let token = read_token(&app).await;
    let res = app.client.get(app.url(&format!("/api/v1/registrations/{reg}"))).bearer_auth(&token).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let json: Value = serde_json::from_slice(&res.bytes().await.unwrap()).unwrap();
    assert_eq!(json["fascicoli"], serde_json::json!([{"id": f, "identifier": identifier, "subject": "Lavori in via Roma 1"}]));
    let res = app.client.get(app.url(&format!("/api/v1/registrations/{other}"))).bearer_auth(&token).send().await.unwrap();
    let json: Value = serde_json::from_slice(&res.bytes().await.unwrap()).unwrap();
    assert_eq!(json["fascicoli"], serde_json::json!([]));
    let res = app.client.get(app.url("/api/v1/openapi.json")).bearer_auth(&token).send().await.unwrap();
    let spec: Value = serde_json::from_slice(&res.bytes().await.unwrap()).unwrap();
    assert!(spec["components"]["schemas"]["Registration"]["properties"]["fascicoli"].is_object(), "{spec}");
    assert_eq!(spec["components"]["schemas"]["FascicoloRef"]["required"], serde_json::json!(["id", "identifier", "subject"]));

    // Closed: the form no longer offers it, and filing is refused by the database in Italian.
    let res = app.post(&op, &format!("/fascicoli/{f}/chiudi"), &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), format!("/fascicoli/{f}?esito=chiuso"));
    let page = app.get(&op, &format!("/fascicoli/{f}?esito=chiuso")).await.text().await.unwrap();
    assert!(block(&page, "stato-fascicolo").contains("Chiuso dal") && page.contains("id=\"riapri-fascicolo\""), "{page}");
    let record = app.get(&op, &format!("/registrazioni/{other}")).await.text().await.unwrap();
    assert!(!record.contains(&format!("<option value=\"{f}\">{identifier}")), "a closed fascicolo is not offered");
    let res = app.post(&op, &format!("/registrazioni/{other}/fascicoli"), &[("fascicolo", &f.to_string())]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body = res.text().await.unwrap();
    assert!(body.contains(&format!("il fascicolo {identifier} è chiuso: non si possono aggiungere registrazioni")), "{body}");
    assert_eq!(scalar_i64(&app, "select count(*) from fascicolo_registrations").await, 1);
    let again = app.post(&op, &format!("/fascicoli/{f}/chiudi"), &[]).await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);

    // Reopened, it takes the other registration; the second fascicolo of the class is .2.
    assert_eq!(app.post(&op, &format!("/fascicoli/{f}/riapri"), &[]).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.post(&op, &format!("/registrazioni/{other}/fascicoli"), &[("fascicolo", &f.to_string())]).await.status(), StatusCode::SEE_OTHER);
    let res = app.post(&op, "/fascicoli", &[("classe", "VI.3"), ("oggetto", "Seconda pratica"), ("ufficio", &office.to_string())]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let second: String = sqlx::query_scalar("select class_code || '/' || year || '.' || number from fascicoli order by id desc limit 1")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(second, format!("VI.3/{year}.2"));

    for (action, n) in [("fascicolo.create", 2), ("fascicolo.add", 2), ("fascicolo.close", 1), ("fascicolo.reopen", 1)] {
        assert_eq!(scalar_i64(&app, &format!("select count(*) from audit_log where action = '{action}' and actor = 'op'")).await, n, "{action}");
    }
    let audit = sigillo_store::audit::verify(&mut app.db.pool.acquire().await.unwrap()).await.unwrap();
    assert!(matches!(audit, sigillo_store::audit::Verification::Intact { .. }), "{audit:?}");
}

#[tokio::test]
async fn the_fascicoli_routes_are_in_the_walked_table_and_need_the_csrf_token() {
    let fascicoli: Vec<_> = specs().into_iter().filter(|s| s.path.contains("fascicol")).collect();
    assert_eq!(fascicoli.len(), 6, "{fascicoli:?}");
    for s in &fascicoli {
        assert!(matches!(s.access, Access::Staff(_)), "{s:?}");
    }
    let app = spawn_app().await;
    let office = titolario_and_office(&app).await;
    let (reg, _) = app.seed("Istanza", "Mario Rossi", "a.pdf", b"%PDF-1.7 a").await;
    app.add_user("op", Role::Operatore).await;
    let op = app.login("op").await;
    let res = app.post(&op, "/fascicoli", &[("classe", "VI.1"), ("oggetto", "Pratica"), ("ufficio", &office.to_string())]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let f = scalar_i64(&app, "select max(id) from fascicoli").await;
    // Each form of the area without the session's token: refused, nothing done.
    for (path, fields) in [
        ("/fascicoli".to_owned(), vec![("classe", "VI.1"), ("oggetto", "Altra"), ("ufficio", "1")]),
        (format!("/registrazioni/{reg}/fascicoli"), vec![("fascicolo", "1")]),
        (format!("/fascicoli/{f}/chiudi"), vec![]),
        (format!("/fascicoli/{f}/riapri"), vec![]),
    ] {
        let res = app.client.post(app.url(&path)).header(COOKIE, &op.cookie).form(&fields).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(scalar_i64(&app, "select count(*) from fascicoli").await, 1);
    assert_eq!(scalar_i64(&app, "select count(*) from fascicolo_registrations").await, 0);
    assert_eq!(scalar_i64(&app, "select count(*) from fascicoli where state = 'open'").await, 1);
}
