//! Registrations of every kind in the one register (issue 17): the desk form, the
//! registration API with its idempotency keys and scoped tokens, one gapless numbering shared
//! with the PEC intake under concurrent writers, immutability of what was registered, and
//! the daily register listing every kind. Real server, real binaries, real Postgres.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE};
use serde_json::{Value, json};
use sha2::Digest;
use sigillo_e2e::pec_mail::Attachment;
use sigillo_store::staff::Role;

use crate::web_common::{Session, TestApp, location, spawn_app, spawn_app_with_pki};

/// The environment of `sigillo` commands against this app's database and data directory.
fn env(app: &TestApp) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("SIGILLO_DATABASE_URL".to_owned(), app.db.url.clone()),
        ("SIGILLO_DATA_DIR".to_owned(), app.data_dir.path().display().to_string()),
        ("SIGILLO_IPA_CODE".to_owned(), "c_h501".to_owned()),
        ("SIGILLO_AOO_CODE".to_owned(), "A1B2C3D".to_owned()),
        ("SIGILLO_TRUST_DIR".to_owned(), app.trust_dir.path().display().to_string()),
        ("SIGILLO_LOG".to_owned(), "warn".to_owned()),
    ])
}

/// `sigillo token add NAME --scope SCOPE`: the token printed on standard output.
async fn token_add(app: &TestApp, name: &str, scope: &str) -> String {
    let out = sigillo_e2e::run_with_env(&env(app), &["token", "add", name, "--scope", scope]).await;
    assert!(out.status.success(), "token add failed: {}", sigillo_e2e::stderr(&out));
    let stdout = sigillo_e2e::stdout(&out);
    let token = stdout.trim().to_owned();
    assert_eq!(stdout.lines().count(), 1, "only the token on stdout: {stdout:?}");
    assert!(token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()), "{token}");
    token
}

async fn post(app: &TestApp, token: &str, key: Option<&str>, body: &[u8]) -> (StatusCode, Value) {
    let mut req = app
        .client
        .post(app.url("/api/v1/registrations"))
        .bearer_auth(token)
        .header(CONTENT_TYPE, "application/json")
        .body(body.to_vec());
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let bytes = res.bytes().await.unwrap();
    let value = serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)));
    (status, value)
}

async fn api_get(app: &TestApp, token: &str, path: &str) -> Value {
    let res = app.client.get(app.url(path)).bearer_auth(token).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "{path}");
    serde_json::from_slice(&res.bytes().await.unwrap()).unwrap()
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A valid request: a registered letter from a citizen, with one PDF.
fn letter(subject: &str) -> Value {
    json!({
        "direction": "arrivo",
        "channel": "carta",
        "paper_delivery": "raccomandata",
        "subject": subject,
        "received_at": "2026-12-01T09:15:00+01:00",
        "correspondents": [{"name": "Mario Rossi", "tax_code": "RSSMRA85T10A562S", "address": "Via Roma 1, 00100 Roma"}],
        "paper_attachments": 2,
        "documents": [{"name": "lettera.pdf", "media_type": "application/pdf", "content": b64(b"%PDF-1.4\n% lettera\n%%EOF\n")}]
    })
}

async fn count(app: &TestApp, sql: &'static str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql).fetch_one(&app.db.pool).await.unwrap()
}

/// The last number given in the register (0 when none).
async fn last_number(app: &TestApp) -> i64 {
    count(app, "select coalesce(max(last_number), 0)::bigint from register_counters").await
}

#[tokio::test]
async fn pec_and_desk_registrations_from_16_writers_share_one_gapless_sequence() {
    let (app, pki) = spawn_app_with_pki().await;
    let token = token_add(&app, "Gestionale SUAP", "write").await;
    const PER_WRITER: usize = 3;
    let mut tasks = tokio::task::JoinSet::new();
    // 8 writers push PEC messages through the real intake (`sigillo ingest`, one process each).
    for w in 0..8 {
        let files: Vec<String> = (0..PER_WRITER)
            .map(|i| {
                let raw = pki.transport(&format!("opec.w{w}n{i}@pec.test.it"), &format!("Istanza PEC {w}-{i}"), &[Attachment::SignedP7m { size: 300 }]);
                let path = app.data_dir.path().join(format!("pec-{w}-{i}.eml"));
                std::fs::write(&path, raw).unwrap();
                path.display().to_string()
            })
            .collect();
        let env = env(&app);
        tasks.spawn(async move {
            let mut args = vec!["ingest", "--json"];
            args.extend(files.iter().map(String::as_str));
            let out = sigillo_e2e::run_with_env(&env, &args).await;
            assert!(out.status.success(), "ingest: {}", sigillo_e2e::stderr(&out));
            let lines = sigillo_e2e::stdout(&out);
            assert_eq!(lines.lines().filter(|l| l.contains("\"decision\":\"register\"")).count(), PER_WRITER, "{lines}");
        });
    }
    // 8 writers register through the API at the same time.
    for w in 0..8 {
        let (client, url, token) = (app.client.clone(), app.url("/api/v1/registrations"), token.clone());
        tasks.spawn(async move {
            for i in 0..PER_WRITER {
                let body = serde_json::to_vec(&letter(&format!("Lettera {w}-{i}"))).unwrap();
                let res = client
                    .post(&url)
                    .bearer_auth(&token)
                    .header("Idempotency-Key", format!("w{w}-i{i}"))
                    .header(CONTENT_TYPE, "application/json")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), StatusCode::CREATED, "{}", res.text().await.unwrap());
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    let rows: Vec<(i32, String)> = sqlx::query_as("select number, channel::text from registrations order by number")
        .fetch_all(&app.db.pool)
        .await
        .unwrap();
    let total = 16 * PER_WRITER;
    let numbers: Vec<i32> = rows.iter().map(|r| r.0).collect();
    assert_eq!(numbers, (1..=i32::try_from(total).unwrap()).collect::<Vec<_>>(), "one gapless sequence");
    assert_eq!(rows.iter().filter(|r| r.1 == "pec").count(), 8 * PER_WRITER);
    assert_eq!(rows.iter().filter(|r| r.1 == "carta").count(), 8 * PER_WRITER);
    assert_eq!(last_number(&app).await, total as i64);
    // The two kinds interleave: the writers really ran at the same time, not one after the other.
    let switches = rows.windows(2).filter(|w| w[0].1 != w[1].1).count();
    assert!(switches >= 2, "PEC and desk registrations did not interleave: {rows:?}");
    // Registered times grow with the numbers.
    let times: Vec<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("select registered_at from registrations order by number").fetch_all(&app.db.pool).await.unwrap();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
}

#[tokio::test]
async fn the_same_idempotency_key_gives_back_the_same_registration() {
    let (app, _pki) = spawn_app_with_pki().await;
    let token = token_add(&app, "Tributi", "write").await;
    let body = letter("Ricorso avverso avviso di accertamento IMU");
    let (status, first) = post(&app, &token, Some("chiave-1"), &serde_json::to_vec(&body).unwrap()).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["protocol"]["number"], "0000001");
    assert_eq!(first["protocol"]["register"], "PG");
    let segnatura = first["protocol"]["segnatura"].as_str().unwrap();
    assert!(segnatura.starts_with("c_h501|A1B2C3D|PG|") && segnatura.ends_with("|0000001"), "{segnatura}");
    assert_eq!(first["protocol"]["date"].as_str().unwrap(), &segnatura[18..28]);

    // The same request again (keys in another order, other spacing): the same registration.
    let text = serde_json::to_string_pretty(&body).unwrap();
    let reordered: BTreeMap<String, Value> = serde_json::from_str(&text).unwrap();
    let mut again = serde_json::to_vec_pretty(&reordered.into_iter().rev().collect::<serde_json::Map<_, _>>()).unwrap();
    again.extend_from_slice(b"\n\n");
    let (status, second) = post(&app, &token, Some("chiave-1"), &again).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(second, first);
    // The same key with another request: refused, naming the header.
    let (status, err) = post(&app, &token, Some("chiave-1"), &serde_json::to_vec(&letter("Altro oggetto")).unwrap()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(err["field"], "Idempotency-Key");
    assert_eq!(last_number(&app).await, 1);

    // Eight requests with one new key at the same moment: one registration.
    let payload = serde_json::to_vec(&letter("Istanza concorrente")).unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (client, url, token, payload) = (app.client.clone(), app.url("/api/v1/registrations"), token.clone(), payload.clone());
        tasks.spawn(async move {
            let res = client
                .post(url)
                .bearer_auth(token)
                .header("Idempotency-Key", "chiave-concorrente")
                .header(CONTENT_TYPE, "application/json")
                .body(payload)
                .send()
                .await
                .unwrap();
            let status = res.status();
            let v: Value = serde_json::from_slice(&res.bytes().await.unwrap()).unwrap();
            (status, v)
        });
    }
    let mut answers = Vec::new();
    while let Some(r) = tasks.join_next().await {
        answers.push(r.unwrap());
    }
    assert_eq!(answers.iter().filter(|(s, _)| *s == StatusCode::CREATED).count(), 1, "{answers:?}");
    assert_eq!(answers.iter().filter(|(s, _)| *s == StatusCode::OK).count(), 7, "{answers:?}");
    assert!(answers.iter().all(|(_, v)| v == &answers[0].1), "{answers:?}");
    assert_eq!(answers[0].1["protocol"]["number"], "0000002");
    assert_eq!(last_number(&app).await, 2);
    assert_eq!(count(&app, "select count(*) from registrations").await, 2);
    // A key is the token's own: another system may use the same string.
    let other = token_add(&app, "Anagrafe", "write").await;
    let (status, third) = post(&app, &other, Some("chiave-1"), &serde_json::to_vec(&body).unwrap()).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(third["protocol"]["number"], "0000003");

    // The read API shows what was registered.
    let id = first["id"].as_i64().unwrap();
    let one = api_get(&app, &token, &format!("/api/v1/registrations/{id}")).await;
    assert_eq!(one["direction"], "incoming");
    assert_eq!(one["channel"], "carta");
    assert_eq!(one["paper_delivery"], "raccomandata");
    assert_eq!(one["paper_attachments"], 2);
    assert_eq!(one["correspondents"][0]["tax_code"], "RSSMRA85T10A562S");
    assert_eq!(one["created_by"], "api:Tributi");
    assert_eq!(one["received_at"], "2026-12-01T08:15:00Z");
    let doc = &one["documents"][0];
    assert_eq!(doc["sha256"], hex::encode(sha2::Sha256::digest(b"%PDF-1.4\n% lettera\n%%EOF\n")));
    assert_eq!(doc["signature_report"]["verdict"], "NO_SIGNATURE_FOUND", "{doc}");
    let list = api_get(&app, &token, "/api/v1/registrations").await;
    assert_eq!(list["items"][0]["channel"], "carta");
    assert_eq!(list["items"][0]["direction"], "incoming");
    // The document is in the blob store under its hash.
    let sha = sigillo_store::register::Sha256::parse_hex(doc["sha256"].as_str().unwrap()).unwrap();
    assert_eq!(app.blobs.get(&sha).unwrap(), b"%PDF-1.4\n% lettera\n%%EOF\n");
}

#[tokio::test]
async fn bad_input_names_the_field_and_takes_no_number() {
    let app = spawn_app().await;
    let token = token_add(&app, "SUAP", "write").await;
    let good = letter("Domanda di autorizzazione");
    let with = |path: &[&str], v: Value| {
        let mut b = good.clone();
        let mut cur = &mut b;
        for p in &path[..path.len() - 1] {
            cur = match p.parse::<usize>() {
                Ok(i) => &mut cur[i],
                Err(_) => &mut cur[*p],
            };
        }
        let last = path[path.len() - 1];
        if v.is_null() && last != "classification" {
            cur.as_object_mut().unwrap().remove(last);
        } else {
            cur[last] = v;
        }
        serde_json::to_vec(&b).unwrap()
    };
    let cases: Vec<(Vec<u8>, StatusCode, &str)> = vec![
        (b"{\"direction\": ".to_vec(), StatusCode::BAD_REQUEST, "body"),
        (with(&["direction"], Value::Null), StatusCode::UNPROCESSABLE_ENTITY, "direction"),
        (with(&["direction"], json!("entrata")), StatusCode::UNPROCESSABLE_ENTITY, "direction"),
        (with(&["channel"], json!("piccione")), StatusCode::UNPROCESSABLE_ENTITY, "channel"),
        (with(&["paper_delivery"], Value::Null), StatusCode::UNPROCESSABLE_ENTITY, "paper_delivery"),
        (with(&["paper_delivery"], json!("corriere")), StatusCode::UNPROCESSABLE_ENTITY, "paper_delivery"),
        (with(&["subject"], json!("   ")), StatusCode::UNPROCESSABLE_ENTITY, "subject"),
        (with(&["subject"], json!(42)), StatusCode::UNPROCESSABLE_ENTITY, "subject"),
        (with(&["subject"], json!("x".repeat(2001))), StatusCode::UNPROCESSABLE_ENTITY, "subject"),
        (with(&["subjet"], json!("refuso")), StatusCode::UNPROCESSABLE_ENTITY, "subjet"),
        (with(&["received_at"], json!("ieri")), StatusCode::UNPROCESSABLE_ENTITY, "received_at"),
        (with(&["received_at"], json!("2099-01-01")), StatusCode::UNPROCESSABLE_ENTITY, "received_at"),
        (with(&["correspondents"], json!([])), StatusCode::UNPROCESSABLE_ENTITY, "correspondents"),
        (with(&["correspondents", "0", "name"], json!("")), StatusCode::UNPROCESSABLE_ENTITY, "correspondents[0].name"),
        (with(&["correspondents", "0", "tax_code"], json!("RSSMRA85T10A562T")), StatusCode::UNPROCESSABLE_ENTITY, "correspondents[0].tax_code"),
        (with(&["correspondents", "0", "tax_code"], json!("00743110158")), StatusCode::UNPROCESSABLE_ENTITY, "correspondents[0].tax_code"),
        (with(&["correspondents", "0", "address"], json!("mario@@pec")), StatusCode::UNPROCESSABLE_ENTITY, "correspondents[0].address"),
        (with(&["correspondents", "0", "pec"], json!("x")), StatusCode::UNPROCESSABLE_ENTITY, "correspondents[0].pec"),
        (with(&["paper_attachments"], json!(-1)), StatusCode::UNPROCESSABLE_ENTITY, "paper_attachments"),
        (with(&["classification"], json!("I.1")), StatusCode::UNPROCESSABLE_ENTITY, "classification"),
        (with(&["documents", "0", "content"], json!("@@@ non base64")), StatusCode::UNPROCESSABLE_ENTITY, "documents[0].content"),
        (with(&["documents", "0", "content"], json!("")), StatusCode::UNPROCESSABLE_ENTITY, "documents[0].content"),
        (with(&["documents", "0", "media_type"], json!("pdf")), StatusCode::UNPROCESSABLE_ENTITY, "documents[0].media_type"),
        (with(&["documents", "0", "name"], json!("../../etc/passwd")), StatusCode::UNPROCESSABLE_ENTITY, "documents[0].name"),
    ];
    for (i, (body, status, field)) in cases.iter().enumerate() {
        let (got, err) = post(&app, &token, Some(&format!("k{i}")), body).await;
        assert_eq!(got, *status, "case {i} ({field}): {err}");
        assert_eq!(err["field"], *field, "case {i}: {err}");
        assert!(err["error"].as_str().is_some_and(|e| e.len() > field.len() + 2), "case {i}: {err}");
    }
    // An e-mail registration needs the correspondent's e-mail address.
    let mut peo = good.clone();
    peo["channel"] = json!("peo");
    peo.as_object_mut().unwrap().remove("paper_delivery");
    let (got, err) = post(&app, &token, Some("peo"), &serde_json::to_vec(&peo).unwrap()).await;
    assert_eq!((got, err["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("correspondents[0].address")), "{err}");
    // No key, an empty key: refused before anything else.
    let (got, err) = post(&app, &token, None, &serde_json::to_vec(&good).unwrap()).await;
    assert_eq!((got, err["field"].as_str()), (StatusCode::BAD_REQUEST, Some("Idempotency-Key")));
    let (got, _) = post(&app, &token, Some(" "), &serde_json::to_vec(&good).unwrap()).await;
    assert_eq!(got, StatusCode::BAD_REQUEST);

    assert_eq!(count(&app, "select count(*) from registrations").await, 0);
    assert_eq!(count(&app, "select count(*) from register_counters").await, 0, "no number was taken");
    // A refused key was not spent: the same key with a good body registers, with number 1.
    let (got, ok) = post(&app, &token, Some("k0"), &serde_json::to_vec(&good).unwrap()).await;
    assert_eq!(got, StatusCode::CREATED, "{ok}");
    assert_eq!(ok["protocol"]["number"], "0000001");
}

#[tokio::test]
async fn tokens_have_a_scope_and_a_read_token_cannot_register() {
    let app = spawn_app().await;
    let read = token_add(&app, "Cruscotto statistico", "read").await;
    let body = serde_json::to_vec(&letter("Non deve entrare")).unwrap();
    let (status, err) = post(&app, &read, Some("r1"), &body).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{err}");
    assert!(err["error"].as_str().unwrap().contains("sola lettura"), "{err}");
    assert_eq!(api_get(&app, &read, "/api/v1/registrations").await["items"], json!([]));
    assert_eq!(count(&app, "select count(*) from register_counters").await, 0);
    // Without a token, or with a wrong one: 401.
    let res = app.client.post(app.url("/api/v1/registrations")).body(body.clone()).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // The default scope of the command line is read.
    let out = sigillo_e2e::run_with_env(&env(&app), &["token", "add", "Senza ambito"]).await;
    assert!(out.status.success());
    let default = sigillo_e2e::stdout(&out).trim().to_owned();
    assert_eq!(post(&app, &default, Some("r2"), &body).await.0, StatusCode::FORBIDDEN);
    let out = sigillo_e2e::run_with_env(&env(&app), &["token", "add", "X", "--scope", "admin"]).await;
    assert!(!out.status.success() && sigillo_e2e::stdout(&out).is_empty());

    // The dashboard's token page: the scope is chosen and shown.
    app.add_user("admin", Role::Amministratore).await;
    let s = app.login("admin").await;
    let page = app.post(&s, "/token-api", &[("nome", "Protocollo SUAP"), ("ambito", "write")]).await.text().await.unwrap();
    let marker = "id=\"nuovo-token\">";
    let start = page.find(marker).unwrap() + marker.len();
    let write = page[start..start + 64].to_owned();
    assert!(page.contains("lettura e registrazione") && page.contains("sola lettura"), "{page}");
    let (status, created) = post(&app, &write, Some("w1"), &body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["protocol"]["number"], "0000001");
    let scopes: Vec<(String, String)> = sqlx::query_as("select name, scope::text from api_tokens order by id").fetch_all(&app.db.pool).await.unwrap();
    assert_eq!(
        scopes,
        [("Cruscotto statistico", "read"), ("Senza ambito", "read"), ("Protocollo SUAP", "write")]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    // The OpenAPI document describes the new operation.
    let spec = api_get(&app, &read, "/api/v1/openapi.json").await;
    assert!(spec["paths"]["/api/v1/registrations"]["post"]["responses"]["201"].is_object());
    assert!(spec["components"]["schemas"]["NewRegistration"]["properties"]["correspondents"].is_object());
}

/// A multipart body as a browser sends it: the fields in order, then the files.
fn multipart(fields: &[(&str, &str)], files: &[(&str, &str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "----sigillo-test-7d1f0c2a";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes());
    }
    for (name, media_type, bytes) in files {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"documenti\"; filename=\"{name}\"\r\nContent-Type: {media_type}\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn post_form(app: &TestApp, s: &Session, fields: &[(&str, &str)], files: &[(&str, &str, &[u8])]) -> reqwest::Response {
    let mut all = vec![("csrf", s.csrf.as_str())];
    all.extend_from_slice(fields);
    let (ct, body) = multipart(&all, files);
    app.client.post(app.url("/protocolla")).header(COOKIE, &s.cookie).header(CONTENT_TYPE, ct).body(body).send().await.unwrap()
}

#[tokio::test]
async fn the_desk_form_registers_a_paper_letter_with_its_documents() {
    let (app, pki) = spawn_app_with_pki().await;
    app.add_user("sportello", Role::Operatore).await;
    app.add_user("revisore", Role::Revisore).await;
    let s = app.login("sportello").await;
    let form = app.get(&s, "/protocolla").await;
    assert_eq!(form.status(), StatusCode::OK);
    let html = form.text().await.unwrap();
    assert!(html.contains("enctype=\"multipart/form-data\""));
    assert!(html.contains("name=\"documenti\"") && html.contains("raccomandata"));

    let signed = pki.p7m(2048, 7);
    let plain = b"%PDF-1.4\n% allegato non firmato\n%%EOF\n".to_vec();
    let fields = [
        ("direzione", "arrivo"),
        ("canale", "carta"),
        ("modalita", "raccomandata"),
        ("oggetto", "Richiesta di contributo per il centro estivo"),
        ("data_ricezione", "2026-12-01"),
        ("ora_ricezione", "10:30"),
        ("protocollo_mittente", ""),
        ("data_protocollo_mittente", ""),
        ("nome_1", "Anna Verdi"),
        ("cf_1", "vrdnna90a41h501j"),
        ("indirizzo_1", "Via Garibaldi 3, Roma"),
        ("nome_2", ""),
        ("cf_2", ""),
        ("indirizzo_2", ""),
        ("allegati_cartacei", "3"),
    ];
    // A wrong check character: the form again, with the field named, and nothing registered.
    let mut bad = fields.to_vec();
    bad[9] = ("cf_1", "VRDNNA90A41H501K");
    let res = post_form(&app, &s, &bad, &[("domanda.pdf.p7m", "application/pkcs7-mime", &signed)]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = res.text().await.unwrap();
    assert!(page.contains("Corrispondente 1, Codice fiscale o partita IVA") && page.contains("controllo"), "{page}");
    assert!(page.contains("value=\"Richiesta di contributo per il centro estivo\""), "the typed values are kept");
    assert!(page.contains("Selezioni di nuovo i documenti"));
    assert_eq!(count(&app, "select count(*) from register_counters").await, 0);

    let res = post_form(
        &app,
        &s,
        &fields,
        &[("domanda.pdf.p7m", "application/pkcs7-mime", &signed), ("planimetria.pdf", "application/pdf", &plain)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{}", res.text().await.unwrap());
    let to = location(&res);
    assert!(to.ends_with("?esito=registrata"), "{to}");
    let page = app.get(&s, &to).await.text().await.unwrap();
    for expected in [
        "Protocollo n. 0000001",
        "Il documento è stato registrato a protocollo.",
        "Richiesta di contributo per il centro estivo",
        "carta (raccomandata)",
        "Anna Verdi",
        "VRDNNA90A41H501J",
        "Via Garibaldi 3, Roma",
        "01/12/2026 10:30",
        "domanda.pdf.p7m",
        "planimetria.pdf",
        &hex::encode(sha2::Sha256::digest(&signed)),
        &hex::encode(sha2::Sha256::digest(&plain)),
    ] {
        assert!(page.contains(expected), "record page lacks {expected}:\n{page}");
    }
    let (verdicts, created_by, paper): (Vec<String>, String, i32) = sqlx::query_as(
        "select array_agg(d.signature_report->>'verdict' order by d.ordinal), r.created_by, r.paper_attachments
         from registrations r join documents d on d.registration_id = r.id group by r.id",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(verdicts, ["TOTAL_PASSED", "NO_SIGNATURE_FOUND"]);
    assert_eq!((created_by.as_str(), paper), ("sportello", 3));
    assert_eq!(app.blobs.get(&sigillo_store::register::Sha256::of(&signed)).unwrap(), signed);

    // The revisore reads the register but does not register.
    let r = app.login("revisore").await;
    assert_eq!(app.get(&r, "/protocolla").await.status(), StatusCode::FORBIDDEN);
    assert_eq!(post_form(&app, &r, &fields, &[]).await.status(), StatusCode::FORBIDDEN);
    // A multipart form without the session's CSRF token is refused like any other.
    let (ct, body) = multipart(&fields, &[]);
    let res = app.client.post(app.url("/protocolla")).header(COOKIE, &s.cookie).header(CONTENT_TYPE, ct).body(body).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(last_number(&app).await, 1);
}

#[tokio::test]
async fn what_the_desk_registered_cannot_be_changed() {
    let app = spawn_app().await;
    let token = token_add(&app, "SUAP", "write").await;
    let (status, _) = post(&app, &token, Some("a"), &serde_json::to_vec(&letter("Immutabile")).unwrap()).await;
    assert_eq!(status, StatusCode::CREATED);
    for sql in [
        "update registrations set channel = 'fax', paper_delivery = null",
        "update registrations set paper_attachments = 0",
        "update correspondents set tax_code = 'VRDNNA90A41H501J'",
        "delete from correspondents",
        "truncate correspondents cascade",
        "update api_idempotency set key = 'b'",
        "delete from api_idempotency",
    ] {
        let err = sqlx::query(sql).execute(&app.db.pool).await.unwrap_err();
        assert!(err.to_string().contains("is immutable"), "{sql}: {err}");
    }
    let (name, tax): (String, String) =
        sqlx::query_as("select name, tax_code from correspondents").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!((name.as_str(), tax.as_str()), ("Mario Rossi", "RSSMRA85T10A562S"));
}

#[tokio::test]
async fn the_daily_register_lists_every_kind_with_direction_and_channel() {
    let (app, pki) = spawn_app_with_pki().await;
    let (line, _) = app.ingest("pec.eml", &pki.transport("opec.reg@pec.test.it", "Istanza via PEC", &[Attachment::SignedP7m { size: 256 }])).await;
    assert_eq!(line["decision"], "register", "{line}");
    let token = token_add(&app, "SUAP", "write").await;
    assert_eq!(post(&app, &token, Some("1"), &serde_json::to_vec(&letter("Lettera raccomandata")).unwrap()).await.0, StatusCode::CREATED);
    let outgoing = json!({
        "direction": "partenza", "channel": "peo", "subject": "Risposta alla richiesta",
        "correspondents": [{"name": "Ditta Alfa srl", "tax_code": "00743110157", "address": "ufficio@alfa.example.it"},
                           {"name": "Mario Rossi", "address": "mario.rossi@example.it"}]
    });
    assert_eq!(post(&app, &token, Some("2"), &serde_json::to_vec(&outgoing).unwrap()).await.0, StatusCode::CREATED);
    let internal = json!({"direction": "interno", "channel": "altro", "subject": "Nota interna al servizio tributi"});
    assert_eq!(post(&app, &token, Some("3"), &serde_json::to_vec(&internal).unwrap()).await.0, StatusCode::CREATED);

    app.add_user("rev", Role::Revisore).await;
    let s = app.login("rev").await;
    let today = chrono::Utc::now().with_timezone(&app.register.timezone).date_naive().format("%Y-%m-%d").to_string();
    let res = app.get(&s, &format!("/registro.json?data={today}")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let day: Value = serde_json::from_slice(&res.bytes().await.unwrap()).unwrap();
    let kinds: Vec<(String, String)> = day["registrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["direction"].as_str().unwrap().to_owned(), r["channel"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        kinds,
        [("incoming", "pec"), ("incoming", "carta"), ("outgoing", "peo"), ("internal", "altro")].map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    assert_eq!(day["registrations"][2]["correspondents"][1]["name"], "Mario Rossi");
    assert_eq!(day["registrations"][1]["paper_delivery"], "raccomandata");

    let csv = app.get(&s, &format!("/registro.csv?data={today}&formato=archivio")).await.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name}: {headers:?}"));
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let channels: Vec<&str> = rows.iter().map(|r| &r[col("channel")]).collect();
    assert_eq!(channels, ["pec", "carta", "peo", "altro"]);
    assert_eq!(&rows[1][col("paper_delivery")], "raccomandata");
    assert_eq!(&rows[1][col("paper_attachments")], "2");
    assert!(rows[2][col("correspondents")].contains("Ditta Alfa srl (00743110157) <ufficio@alfa.example.it>"));
    assert_eq!(&rows[2][col("direction")], "outgoing");
    // The spreadsheet CSV in Italian, and the day's page.
    let sheet = app.get(&s, &format!("/registro.csv?data={today}")).await.text().await.unwrap();
    assert!(sheet.contains("Canale") && sheet.contains("raccomandata") && sheet.contains("e-mail ordinaria"), "{sheet}");
    let page = app.get(&s, &format!("/registro?data={today}")).await.text().await.unwrap();
    assert!(page.contains("In partenza, e-mail ordinaria") && page.contains("In arrivo, carta (raccomandata)"), "{page}");
    let pdf = app.get(&s, &format!("/registro.pdf?data={today}")).await;
    assert_eq!(pdf.status(), StatusCode::OK);
    assert!(pdf.bytes().await.unwrap().starts_with(b"%PDF-"));
}
