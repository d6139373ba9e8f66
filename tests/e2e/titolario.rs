//! The titolario and the classification of registrations (issue 17): the CSV import by the
//! CLI and the dashboard (the 2005 model for comuni, a file with bad lines), classification
//! at creation through the desk form and the API, the "da classificare" list and its count,
//! a change of class with its reason and history, the database refusing to rewrite history
//! or the register, the daily register listing the changes, and Segnatura.xml carrying the
//! class. Real server, real `sigillo` binary, real Postgres.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE};
use serde_json::{Value, json};
use sigillo_store::register::{Actor, NewAnnulment, Register};
use sigillo_store::staff::Role;

use crate::web_common::{Session, TestApp, location, spawn_app};

const MODEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/examples/titolario-comuni-2005.csv");

fn env(app: &TestApp) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("SIGILLO_DATABASE_URL".to_owned(), app.db.url.clone()),
        ("SIGILLO_DATA_DIR".to_owned(), app.data_dir.path().display().to_string()),
        ("SIGILLO_IPA_CODE".to_owned(), "c_h501".to_owned()),
        ("SIGILLO_AOO_CODE".to_owned(), "A1B2C3D".to_owned()),
        ("SIGILLO_LOG".to_owned(), "warn".to_owned()),
    ])
}

/// `sigillo titolario import` of the 2005 model, in force from 2020.
async fn import_model(app: &TestApp) {
    let out = sigillo_e2e::run_with_env(
        &env(app),
        &["titolario", "import", MODEL, "--name", "Piano di classificazione dei Comuni 2005", "--valid-from", "2020-01-01"],
    )
    .await;
    assert!(out.status.success(), "import failed: {}", sigillo_e2e::stderr(&out));
    assert!(sigillo_e2e::stdout(&out).contains("139 entries"), "{}", sigillo_e2e::stdout(&out));
}

async fn scalar_i64(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned())).fetch_one(&app.db.pool).await.unwrap()
}

async fn class_code(app: &TestApp, registration: i64) -> Option<String> {
    sqlx::query_scalar(
        "select e.code from registration_classes c join titolario_entries e on e.id = c.entry_id where c.registration_id = $1",
    )
    .bind(registration)
    .fetch_optional(&app.db.pool)
    .await
    .unwrap()
}

fn multipart(fields: &[(&str, &str)], file: Option<(&str, &str, &[u8])>) -> (String, Vec<u8>) {
    let boundary = "----sigillo-titolario-5c2e";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes());
    }
    if let Some((field, name, bytes)) = file {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{name}\"\r\nContent-Type: text/csv\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn post_multipart(app: &TestApp, s: &Session, path: &str, fields: &[(&str, &str)], file: Option<(&str, &str, &[u8])>) -> reqwest::Response {
    let mut all = vec![("csrf", s.csrf.as_str())];
    all.extend_from_slice(fields);
    let (ct, body) = multipart(&all, file);
    app.client.post(app.url(path)).header(COOKIE, &s.cookie).header(CONTENT_TYPE, ct).body(body).send().await.unwrap()
}

const BAD_CSV: &str = "titolo;classe;sottoclasse;descrizione\n\
I;;;Amministrazione generale\n\
I;1;;\n\
II;1;;Classe di un titolo mai definito\n\
I;2 b;;Codice con uno spazio\n\
I;;;Amministrazione di nuovo\n";

#[tokio::test]
async fn the_model_imports_and_a_file_with_bad_lines_is_refused_naming_line_and_field() {
    let app = spawn_app().await;
    import_model(&app).await;
    assert_eq!(scalar_i64(&app, "select count(*) from titolario_entries").await, 139);
    assert_eq!(scalar_i64(&app, "select count(*) from titolario_entries where level = 'titolo'").await, 14);
    let vi3: String = sqlx::query_scalar("select description from titolario_entries where code = 'VI.3'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(vi3, "Edilizia privata");

    // The CLI: every fault with its line and column, nothing imported.
    let bad = app.data_dir.path().join("titolario-errato.csv");
    std::fs::write(&bad, BAD_CSV).unwrap();
    let out = sigillo_e2e::run_with_env(
        &env(&app),
        &["titolario", "import", bad.to_str().unwrap(), "--name", "Errato", "--valid-from", "2027-01-01"],
    )
    .await;
    assert!(!out.status.success());
    let err = sigillo_e2e::stderr(&out);
    for expected in [
        "riga 3, campo «descrizione»: manca la descrizione",
        "riga 4, campo «titolo»: il titolo II non è definito in una riga precedente",
        "riga 5, campo «classe»: «2 B» non è un codice valido",
        "riga 6, campo «titolo»: il codice I è già alla riga 2",
        "nothing imported: 4 fault(s)",
    ] {
        assert!(err.contains(expected), "«{expected}» missing from:\n{err}");
    }
    assert_eq!(scalar_i64(&app, "select count(*) from titolario_versions").await, 1);

    // The dashboard: an operatore may not import; a responsabile sees the same faults.
    app.add_user("operatore", Role::Operatore).await;
    app.add_user("responsabile", Role::Responsabile).await;
    let op = app.login("operatore").await;
    let fields = [("nome", "Errato"), ("valido_dal", "2027-01-01"), ("valido_al", "")];
    let res = post_multipart(&app, &op, "/titolario", &fields, Some(("file", "errato.csv", BAD_CSV.as_bytes()))).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let head = app.login("responsabile").await;
    let res = post_multipart(&app, &head, "/titolario", &fields, Some(("file", "errato.csv", BAD_CSV.as_bytes()))).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains("id=\"errori-importazione\""), "{html}");
    assert!(html.contains("riga 4, campo «titolo»"), "{html}");
    assert_eq!(scalar_i64(&app, "select count(*) from titolario_versions").await, 1);

    // A period overlapping the model's (which starts in 2020) is refused with its field.
    let small = "titolo;classe;sottoclasse;descrizione\nI;;;Amministrazione\nI;1;;Protocollo\n";
    let fields = [("nome", "Vecchia"), ("valido_dal", "2019-01-01"), ("valido_al", "2020-06-30")];
    let res = post_multipart(&app, &head, "/titolario", &fields, Some(("file", "v.csv", small.as_bytes()))).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("Valida dal: il periodo di validità si sovrappone"));

    // A new version from 2027: the model then ends on 2026-12-31, and the page shows both.
    let fields = [("nome", "Titolario 2027"), ("valido_dal", "2027-01-01"), ("valido_al", "")];
    let res = post_multipart(&app, &head, "/titolario", &fields, Some(("file", "t2027.csv", small.as_bytes()))).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{}", res.text().await.unwrap());
    assert!(location(&res).contains("esito=importata"));
    let ends: chrono::NaiveDate =
        sqlx::query_scalar("select valid_to from titolario_versions where name like 'Piano%'").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(ends, chrono::NaiveDate::from_ymd_opt(2026, 12, 31).unwrap());
    let page = app.get(&op, "/titolario").await.text().await.unwrap();
    assert!(page.contains("Titolario 2027") && page.contains("Piano di classificazione dei Comuni 2005"));
    assert!(page.contains("Edilizia privata"), "the version in force today is shown");
    let audit = scalar_i64(&app, "select count(*) from audit_log where action = 'titolario.import'").await;
    assert_eq!(audit, 2);
}

#[tokio::test]
async fn a_class_is_given_at_creation_by_the_desk_form_and_the_api() {
    let app = spawn_app().await;
    app.add_user("sportello", Role::Operatore).await;
    let s = app.login("sportello").await;
    // Before any titolario the form says it, and a class is refused.
    let html = app.get(&s, "/protocolla").await.text().await.unwrap();
    assert!(html.contains("id=\"classe-non-disponibile\""));
    import_model(&app).await;
    let html = app.get(&s, "/protocolla").await.text().await.unwrap();
    assert!(html.contains("<option value=\"VI.3\">VI.3 — Edilizia privata</option>"), "{html}");
    assert!(!html.contains("<option value=\"VI\">"), "a titolo with classi is not offered");

    let base = [
        ("direzione", "arrivo"),
        ("canale", "carta"),
        ("modalita", "consegna_a_mano"),
        ("oggetto", "Richiesta di permesso di costruire"),
        ("nome_1", "Mario Rossi"),
        ("allegati_cartacei", "0"),
    ];
    // An unknown class: 422 naming it, no number taken.
    let mut fields = base.to_vec();
    fields.push(("classe", "VI.99"));
    let res = post_multipart(&app, &s, "/protocolla", &fields, None).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains("data-campo=\"classification\""), "{html}");
    assert!(html.contains("Classificazione: la classe «VI.99» non esiste"), "{html}");
    assert_eq!(scalar_i64(&app, "select count(*) from registrations").await, 0);

    let mut fields = base.to_vec();
    fields.push(("classe", "VI.3"));
    let res = post_multipart(&app, &s, "/protocolla", &fields, None).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let id: i64 = location(&res).trim_start_matches("/registrazioni/").split('?').next().unwrap().parse().unwrap();
    assert_eq!(class_code(&app, id).await.as_deref(), Some("VI.3"));
    let page = app.get(&s, &format!("/registrazioni/{id}")).await.text().await.unwrap();
    assert!(page.contains("<span id=\"classe-attuale\">VI.3 — Edilizia privata</span>"), "{page}");
    assert_eq!(scalar_i64(&app, "select n from to_classify_counts").await, 0, "classified at creation: not in the backlog");

    // The API: the same rules, the field named in the JSON error.
    let out = sigillo_e2e::run_with_env(&env(&app), &["token", "add", "suap", "--scope", "write"]).await;
    assert!(out.status.success(), "{}", sigillo_e2e::stderr(&out));
    let token = sigillo_e2e::stdout(&out).trim().to_owned();
    let body = |class: &str| {
        json!({"direction": "arrivo", "channel": "peo", "subject": "SCIA commerciale", "classification": class,
               "correspondents": [{"name": "Ditta Bianchi", "address": "info@bianchi.example.it"}]})
    };
    let post = |key: &'static str, v: Value| {
        app.client
            .post(app.url("/api/v1/registrations"))
            .bearer_auth(&token)
            .header("Idempotency-Key", key)
            .header(CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(&v).unwrap())
            .send()
    };
    for (key, class) in [("k-unknown", "XX.1"), ("k-titolo", "VIII"), ("k-number", "")] {
        let res = post(key, if class.is_empty() { json!({"direction": "arrivo", "channel": "peo", "subject": "x", "classification": 3,
            "correspondents": [{"name": "A", "address": "a@b.it"}]}) } else { body(class) }).await.unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{class}");
        let v: Value = serde_json::from_slice(&res.bytes().await.unwrap()).unwrap();
        assert_eq!(v["field"], "classification", "{v}");
    }
    assert_eq!(scalar_i64(&app, "select count(*) from registrations").await, 1, "no number taken by refused requests");
    let res = post("k-good", body("VIII.4")).await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: Value = serde_json::from_slice(&res.bytes().await.unwrap()).unwrap();
    let api_id = created["id"].as_i64().unwrap();
    assert_eq!(created["protocol"]["number"].as_str().map(|n| n.trim_start_matches('0')), Some("2"));
    let got = api_get(&app, &token, &format!("/api/v1/registrations/{api_id}")).await;
    assert_eq!(got["classification"]["code"], "VIII.4");
    assert_eq!(got["classification"]["description"], "Commercio");
    let spec = api_get(&app, &token, "/api/v1/openapi.json").await;
    assert_eq!(spec["components"]["schemas"]["NewRegistration"]["properties"]["classification"]["type"], "string");
}

async fn api_get(app: &TestApp, token: &str, path: &str) -> Value {
    let res = app.client.get(app.url(path)).bearer_auth(token).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "{path}");
    serde_json::from_slice(&res.bytes().await.unwrap()).unwrap()
}

async fn seed_pec(app: &TestApp, n: usize) -> Vec<i64> {
    let mut ids = Vec::new();
    for i in 0..n {
        let (id, _) = app.seed(&format!("Istanza n. {i}"), "Mario Rossi", "istanza.pdf", format!("%PDF-1.4 {i}").as_bytes()).await;
        ids.push(id);
    }
    ids
}

fn count_on_home(html: &str) -> String {
    let start = html.find("id=\"conteggio-da-classificare\">").expect("the home page shows the count") + 31;
    html[start..].split('<').next().unwrap().to_owned()
}

#[tokio::test]
async fn pec_registrations_wait_in_the_da_classificare_list_until_classified_or_annulled() {
    let app = spawn_app().await;
    import_model(&app).await;
    app.add_user("sportello", Role::Operatore).await;
    app.add_user("revisore", Role::Revisore).await;
    let ids = seed_pec(&app, 3).await;
    let s = app.login("sportello").await;
    assert_eq!(count_on_home(&app.get(&s, "/").await.text().await.unwrap()), "3");
    let list = app.get(&s, "/da-classificare").await.text().await.unwrap();
    for id in &ids {
        assert!(list.contains(&format!("/registrazioni/{id}#classificazione")), "{list}");
    }

    // A revisore reads the list but may not classify.
    let rev = app.login("revisore").await;
    assert_eq!(app.get(&rev, "/da-classificare").await.status(), StatusCode::OK);
    let res = app.post(&rev, &format!("/registrazioni/{}/classifica", ids[0]), &[("classe", "I.6")]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    let res = app.post(&s, &format!("/registrazioni/{}/classifica", ids[0]), &[("classe", "I.6")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let mut conn = app.db.pool.acquire().await.unwrap();
    sigillo_store::register::annul(
        &mut conn,
        sigillo_store::ids::RegistrationId::new(ids[1]),
        &Actor::parse("responsabile").unwrap(),
        &NewAnnulment { reason: "doppione".into(), authorising_act: "det. 1/2026".into() },
    )
    .await
    .unwrap();
    drop(conn);
    assert_eq!(count_on_home(&app.get(&s, "/").await.text().await.unwrap()), "1");
    let list = app.get(&s, "/da-classificare").await.text().await.unwrap();
    assert!(list.contains(&format!("/registrazioni/{}#classificazione", ids[2])));
    assert!(!list.contains(&format!("/registrazioni/{}#classificazione", ids[0])));
    assert!(!list.contains(&format!("/registrazioni/{}#classificazione", ids[1])));
    // The kept count agrees with the rows it counts.
    assert_eq!(scalar_i64(&app, "select count(*) from to_classify").await, 1);
    // An annulled registration is classified no more.
    let res = app.post(&s, &format!("/registrazioni/{}/classifica", ids[1]), &[("classe", "I.6")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(count_on_home(&app.get(&s, "/").await.text().await.unwrap()), "1");
}

#[tokio::test]
async fn a_change_of_class_needs_a_reason_keeps_its_history_and_the_database_refuses_rewrites() {
    let app = spawn_app().await;
    import_model(&app).await;
    app.add_user("sportello", Role::Operatore).await;
    let id = seed_pec(&app, 1).await[0];
    let s = app.login("sportello").await;
    let path = format!("/registrazioni/{id}/classifica");
    assert_eq!(app.post(&s, &path, &[("classe", "VI.3")]).await.status(), StatusCode::SEE_OTHER);
    // A change without a reason is refused and changes nothing.
    let res = app.post(&s, &path, &[("classe", "VI.5"), ("motivo", "  ")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("Motivo del cambio: per cambiare la classe serve il motivo"));
    assert_eq!(class_code(&app, id).await.as_deref(), Some("VI.3"));
    let res = app.post(&s, &path, &[("classe", "VI.5"), ("motivo", "Si tratta di un'opera pubblica")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(class_code(&app, id).await.as_deref(), Some("VI.5"));

    let rows: Vec<(Option<String>, String, String, Option<String>)> = sqlx::query_as(
        "select o.code, n.code, h.changed_by, h.reason from classification_changes h
         join titolario_entries n on n.id = h.new_entry_id left join titolario_entries o on o.id = h.old_entry_id
         where h.registration_id = $1 order by h.id",
    )
    .bind(id)
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(
        rows,
        [
            (None, "VI.3".to_owned(), "sportello".to_owned(), None),
            (Some("VI.3".to_owned()), "VI.5".to_owned(), "sportello".to_owned(), Some("Si tratta di un'opera pubblica".to_owned())),
        ]
    );
    let page = app.get(&s, &format!("/registrazioni/{id}")).await.text().await.unwrap();
    assert!(page.contains("id=\"storia-classificazione\"") && page.contains("Si tratta di un&#39;opera pubblica"), "{page}");
    assert_eq!(scalar_i64(&app, "select count(*) from audit_log where action = 'registration.classify'").await, 2);
    let verify = sigillo_e2e::run_with_env(&env(&app), &["audit", "verify"]).await;
    assert!(verify.status.success(), "{}", sigillo_e2e::stderr(&verify));

    // The database itself: history is append-only, the current class and the backlog move only
    // through it, and the registration stays as registered.
    for sql in [
        "update classification_changes set reason = 'riscritto'",
        "delete from classification_changes",
        "truncate classification_changes cascade",
        "update registration_classes set entry_id = (select id from titolario_entries where code = 'I.1')",
        "delete from registration_classes",
        "update to_classify_counts set n = 0",
        "update titolario_entries set description = 'altro' where code = 'VI.5'",
        "delete from titolario_versions",
        "update registrations set subject = 'cambiato'",
    ] {
        let err = sqlx::query(sql).execute(&app.db.pool).await.expect_err(sql);
        let db = err.as_database_error().unwrap_or_else(|| panic!("{sql}: {err}"));
        assert!(db.message().starts_with("sigillo:"), "{sql}: {}", db.message());
    }
    // A history row out of step with the current class is refused too.
    let err = sqlx::query(
        "insert into classification_changes (registration_id, old_entry_id, new_entry_id, changed_by, reason)
         select $1, null, id, 'psql', 'a mano' from titolario_entries where code = 'I.1'",
    )
    .bind(id)
    .execute(&app.db.pool)
    .await
    .unwrap_err();
    assert!(err.to_string().contains("out of step"), "{err}");

    // The daily register lists both classifications of the day.
    let json: Value = serde_json::from_slice(&app.get(&s, "/registro.json").await.bytes().await.unwrap()).unwrap();
    let changes = json["classifications"].as_array().expect("classifications in the daily register");
    assert_eq!(changes.len(), 2, "{json}");
    assert_eq!(changes[1]["old_code"], "VI.3");
    assert_eq!(changes[1]["new_code"], "VI.5");
    assert_eq!(changes[1]["reason"], "Si tratta di un'opera pubblica");
    let day = app.get(&s, "/registro").await.text().await.unwrap();
    assert!(day.contains("id=\"classificazioni-del-giorno\""));
}

/// An RSA seal made with openssl (key and self-signed certificate, PEM).
fn seal(dir: &std::path::Path) -> sigillo_notify::segnatura::Seal {
    let (key, cert) = (dir.join("seal-key.pem"), dir.join("seal-cert.pem"));
    let status = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", "/CN=Comune di Prova/O=Comune di Prova"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl");
    assert!(status.success());
    sigillo_notify::segnatura::Seal::from_files(&key, &cert).unwrap()
}

/// The dashboard as `sigillo serve` runs it with `SIGILLO_NOTIFY_FROM` and a seal.
async fn spawn_sealed() -> TestApp {
    let app = spawn_app().await;
    let seal = seal(app.data_dir.path());
    let register: Register = app.register.clone();
    let ctx = sigillo_notify::model::Context {
        ente: sigillo_notify::model::Ente {
            name: "Comune di Prova".to_owned(),
            ipa_code: register.ipa_code.to_string(),
            aoo_code: register.aoo_code.to_string(),
            aoo_name: "Protocollo generale".to_owned(),
            register_code: register.code.to_string(),
            timezone: register.timezone,
        },
        office: sigillo_notify::model::Office { name: "Ufficio Protocollo".to_owned(), email: None, phone: None, hours: None },
        from: "protocollo@pec.comune.test.it".to_owned(),
    };
    let outbox = sigillo_notify::outbox::OutboxConfig {
        ctx,
        rate_limit: sigillo_notify::outbox::RateLimit::default(),
        seal: Some(seal),
    };
    let config = sigillo_web::WebConfig {
        static_dir: crate::web_common::static_dir(),
        secure_cookies: false,
        trusted_proxies: sigillo_web::TrustedProxies::default(),
        trust_dir: None,
        policy: sigillo_store::policy::Policy::default(),
    };
    let state = sigillo_web::AppState::new(app.db.pool.clone(), register, app.blobs.clone(), config).with_outbox(Some(outbox), None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let router = sigillo_web::router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, router).await });
    TestApp { address: format!("http://127.0.0.1:{port}"), state, ..app }
}

fn text_of(xml: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let start = xml.find(&open).unwrap_or_else(|| panic!("{tag} missing")) + open.len();
    xml[start..xml[start..].find('<').unwrap() + start].to_owned()
}

#[tokio::test]
async fn segnatura_xml_carries_the_class_of_the_registration() {
    let app = spawn_sealed().await;
    import_model(&app).await;
    app.add_user("sportello", Role::Operatore).await;
    let id = seed_pec(&app, 1).await[0];
    let s = app.login("sportello").await;
    let path = format!("/registrazioni/{id}/segnatura.xml");
    let get = || app.get(&s, &path);
    let res = get().await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[CONTENT_TYPE], "application/xml");
    let xml = res.text().await.unwrap();
    assert_eq!(text_of(&xml, "prot:Denominazione"), "Non classificato");
    assert_eq!(text_of(&xml, "prot:CodiceFlat"), "");

    assert_eq!(app.post(&s, &format!("/registrazioni/{id}/classifica"), &[("classe", "VI.3")]).await.status(), StatusCode::SEE_OTHER);
    let xml = get().await.text().await.unwrap();
    assert_eq!(text_of(&xml, "prot:CodiceFlat"), "VI.3");
    assert_eq!(text_of(&xml, "prot:Denominazione"), "Edilizia privata");
    assert!(xml.contains("<ds:SignatureValue"), "sealed");
    // The seal verifies with xmlsec1 against its own certificate.
    let file = app.data_dir.path().join("Segnatura.xml");
    std::fs::write(&file, &xml).unwrap();
    let out = std::process::Command::new("xmlsec1")
        .args(["--verify", "--enabled-key-data", "rsa"])
        .arg("--pubkey-cert-pem")
        .arg(app.data_dir.path().join("seal-cert.pem"))
        .arg("--id-attr:Id")
        .arg("http://uri.etsi.org/01903/v1.3.2#:SignedProperties")
        .arg(&file)
        .output()
        .expect("xmlsec1");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let page = app.get(&s, &format!("/registrazioni/{id}")).await.text().await.unwrap();
    assert!(page.contains(&format!("href=\"/registrazioni/{id}/segnatura.xml\"")));

    // Without a seal there is no Segnatura.xml, and the page says why.
    let plain = spawn_app().await;
    plain.add_user("sportello", Role::Operatore).await;
    let id = seed_pec(&plain, 1).await[0];
    let s = plain.login("sportello").await;
    let res = plain.get(&s, &format!("/registrazioni/{id}/segnatura.xml")).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(res.text().await.unwrap().contains("SIGILLO_SEAL_KEY"));
}
