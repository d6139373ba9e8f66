//! Security of the dashboard: every route refuses anonymous requests (walking the route
//! table the router is built from), roles, CSRF, escaping, downloads, search input.

use reqwest::StatusCode;
use reqwest::header::COOKIE;
use sigillo_store::staff::Role;
use sigillo_web::routes::{Access, specs};
use crate::web_common::{self, Session, location, set_cookies, spawn_app};

fn concrete(path: &str) -> String {
    path.replace("{id}", "1").replace("{doc}", "1").replace("{username}", "nessuno")
}

#[tokio::test]
async fn every_route_but_login_and_static_refuses_anonymous_requests() {
    let app = spawn_app().await;
    let routes = specs();
    assert!(routes.len() >= 30, "the table lost routes: {}", routes.len());
    for spec in routes {
        let url = app.url(&concrete(spec.path));
        let req = app.client.request(spec.method.clone(), &url);
        let req = if spec.method == reqwest::Method::POST { req.form(&[("x", "y")]) } else { req };
        let res = req.send().await.unwrap();
        match spec.access {
            Access::Public if spec.method == reqwest::Method::GET => {
                assert_eq!(res.status(), StatusCode::OK, "{} {}", spec.method, spec.path);
            }
            // The login form without its CSRF cookie and field.
            Access::Public => assert_eq!(res.status(), StatusCode::FORBIDDEN, "{} {}", spec.method, spec.path),
            Access::Staff(_) => {
                assert_eq!(res.status(), StatusCode::SEE_OTHER, "{} {}", spec.method, spec.path);
                assert_eq!(location(&res), "/accedi", "{} {}", spec.method, spec.path);
            }
            Access::Api | Access::ApiWrite => {
                assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{} {}", spec.method, spec.path);
            }
        }
    }
    // Static assets are public; unknown paths are 404, not a way around the table.
    let css = app.client.get(app.url("/static/app.css")).send().await.unwrap();
    assert_eq!(css.status(), StatusCode::OK);
    let missing = app.client.get(app.url("/non-esiste")).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    // A forged session cookie is no session.
    let forged = app.client.get(app.url("/")).header(COOKIE, format!("sigillo_sessione={}", "a".repeat(64))).send().await.unwrap();
    assert_eq!(forged.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn each_role_reaches_exactly_the_routes_of_its_role() {
    let app = spawn_app().await;
    app.seed("Istanza di prova", "Mario Rossi", "istanza.pdf", b"%PDF-1.7 prova").await;
    for (name, role) in
        [("op", Role::Operatore), ("resp", Role::Responsabile), ("admin", Role::Amministratore), ("rev", Role::Revisore), ("uff", Role::Ufficio)]
    {
        app.add_user(name, role).await;
        let s = app.login(name).await;
        for spec in specs() {
            let Access::Staff(roles) = spec.access else { continue };
            // Logging out and changing the password end the session: checked elsewhere.
            if spec.path == "/esci" || (spec.path == "/password" && spec.method == reqwest::Method::POST) {
                continue;
            }
            let path = concrete(spec.path);
            let res = if spec.method == reqwest::Method::POST {
                app.post(&s, &path, &[("motivo", ""), ("atto", ""), ("passo", "rivedi"), ("ufficio", "x"), ("codice", ""), ("nome", ""), ("username", ""), ("ruolo", ""), ("password", "")]).await
            } else {
                app.get(&s, &path).await
            };
            let allowed = roles.contains(&role);
            if allowed {
                assert_ne!(res.status(), StatusCode::FORBIDDEN, "{name} refused {} {}", spec.method, spec.path);
                assert_ne!(res.status(), StatusCode::SEE_OTHER.then_login(&res), "{name} logged out by {}", spec.path);
            } else {
                assert_eq!(res.status(), StatusCode::FORBIDDEN, "{name} reached {} {}", spec.method, spec.path);
            }
        }
    }
}

trait ThenLogin {
    fn then_login(self, res: &reqwest::Response) -> StatusCode;
}
impl ThenLogin for StatusCode {
    /// SEE_OTHER when the response is a redirect to the login page (session lost), else a
    /// status no response has, so that `assert_ne!` passes.
    fn then_login(self, res: &reqwest::Response) -> StatusCode {
        if res.status() == self && location(res) == "/accedi" { self } else { StatusCode::IM_A_TEAPOT }
    }
}

async fn annulled(app: &web_common::TestApp, id: i64) -> bool {
    sqlx::query_scalar::<_, bool>("select exists (select 1 from annulments where registration_id = $1)")
        .bind(id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn forms_without_the_sessions_csrf_token_are_refused() {
    let app = spawn_app().await;
    let (id, _) = app.seed("Da annullare", "Mario Rossi", "a.pdf", b"a").await;
    app.add_user("resp", Role::Responsabile).await;
    let s = app.login("resp").await;
    let path = format!("/registrazioni/{id}/annulla");
    let fields = [("motivo", "Doppia registrazione"), ("atto", "Provv. 1/2026"), ("passo", "conferma")];
    for bad in [None, Some(""), Some("0".repeat(64)).as_deref().map(|_| "forged"), Some(&*"f".repeat(64))] {
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        if let Some(b) = bad {
            form.push(("csrf", b));
        }
        let res = app.client.post(app.url(&path)).header(COOKIE, &s.cookie).form(&form).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "csrf {bad:?}");
        assert!(res.text().await.unwrap().contains("Modulo scaduto"));
        assert!(!annulled(&app, id).await);
    }
    // Another session's token is not this session's.
    app.add_user("resp2", Role::Responsabile).await;
    let other = app.login("resp2").await;
    let stolen = Session { cookie: s.cookie.clone(), csrf: other.csrf.clone() };
    assert_eq!(app.post(&stolen, &path, &fields).await.status(), StatusCode::FORBIDDEN);
    assert!(!annulled(&app, id).await);
    // With the right token the same form works.
    let res = app.post(&s, &path, &fields).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(annulled(&app, id).await);
}

#[tokio::test]
async fn annulment_needs_reason_act_and_a_confirmation_step() {
    let app = spawn_app().await;
    let (id, _) = app.seed("Da annullare", "Mario Rossi", "a.pdf", b"a").await;
    app.add_user("resp", Role::Responsabile).await;
    app.add_user("op", Role::Operatore).await;
    let s = app.login("resp").await;
    let path = format!("/registrazioni/{id}/annulla");
    let res = app.post(&s, &path, &[("motivo", " "), ("atto", "Provv. 1"), ("passo", "conferma")]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = app.post(&s, &path, &[("motivo", "Errore"), ("atto", "Provv. 1"), ("passo", "rivedi")]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("Conferma l&#39;annullamento") || !annulled(&app, id).await);
    assert!(!annulled(&app, id).await, "the first step must not annul");
    let op = app.login("op").await;
    assert_eq!(app.post(&op, &path, &[("motivo", "Errore"), ("atto", "Provv. 1"), ("passo", "conferma")]).await.status(), StatusCode::FORBIDDEN);
    assert!(!annulled(&app, id).await);
    let res = app.post(&s, &path, &[("motivo", "Errore"), ("atto", "Provv. 1"), ("passo", "conferma")]).await;
    assert_eq!(location(&res), format!("/registrazioni/{id}?esito=annullata"));
    let page = app.get(&s, &format!("/registrazioni/{id}")).await.text().await.unwrap();
    assert!(page.contains("ANNULLATA") && page.contains("Provv. 1") && page.contains("Da annullare"));
    // Twice is refused.
    let again = app.post(&s, &path, &[("motivo", "Errore"), ("atto", "Provv. 1"), ("passo", "conferma")]).await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_script_in_the_subject_is_shown_as_text() {
    let app = spawn_app().await;
    let (id, _) = app.seed("<script>alert(1)</script>", "<img src=x onerror=alert(2)>", "<b>x</b>.pdf", b"x").await;
    app.add_user("op", Role::Operatore).await;
    let s = app.login("op").await;
    for path in [format!("/registrazioni/{id}"), "/registrazioni".to_owned(), "/registro".to_owned()] {
        let res = app.get(&s, &path).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let csp = res.headers().get("content-security-policy").unwrap().to_str().unwrap().to_owned();
        assert!(csp.contains("script-src 'self'"), "{csp}");
        let html = res.text().await.unwrap();
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;") || html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
            "{path}: subject not shown as escaped text"
        );
        assert!(!html.contains("<script>alert(1)"), "{path}: raw script tag");
        assert!(!html.contains("<img src=x"), "{path}: raw img tag");
    }
}

#[tokio::test]
async fn document_download_refuses_path_tricks_and_other_registrations_documents() {
    let app = spawn_app().await;
    let (a, doc_a) = app.seed("Prima", "Mario Rossi", "offerta è.pdf", b"contenuto A").await;
    let (b, doc_b) = app.seed("Seconda", "Anna Verdi", "b.pdf", b"contenuto B").await;
    app.add_user("rev", Role::Revisore).await;
    let s = app.login("rev").await;
    let ok = app.get(&s, &format!("/registrazioni/{a}/documenti/{doc_a}")).await;
    assert_eq!(ok.status(), StatusCode::OK);
    let disposition = ok.headers().get("content-disposition").unwrap().to_str().unwrap().to_owned();
    assert!(disposition.starts_with("attachment;") && disposition.contains("filename*=UTF-8''offerta%20%C3%A8%2Epdf"), "{disposition}");
    assert_eq!(ok.bytes().await.unwrap().as_ref(), b"contenuto A");
    for path in [
        format!("/registrazioni/{a}/documenti/{doc_b}"),
        format!("/registrazioni/{b}/documenti/{doc_a}"),
        format!("/registrazioni/{a}/documenti/..%2F..%2F..%2Fetc%2Fpasswd"),
        format!("/registrazioni/{a}/documenti/{doc_a}%20or%201=1"),
        format!("/registrazioni/{a}/documenti/-1"),
        format!("/registrazioni/..%2F{a}/documenti/{doc_a}"),
        format!("/registrazioni/{a}/documenti/99999999999999999999"),
        format!("/registrazioni/{a}/messaggio.eml"),
    ] {
        let res = app.get(&s, &path).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        let body = res.text().await.unwrap();
        assert!(!body.contains("contenuto A") && !body.contains("contenuto B"), "{path} leaked a document");
    }
    // The raw blob path is never reachable through /static either.
    let res = app.client.get(app.url("/static/../blobs")).send().await.unwrap();
    assert_ne!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn sql_and_like_metacharacters_in_search_are_just_text() {
    let app = spawn_app().await;
    app.seed("Offerta economica con sconto del 100% garantito", "Ditta Uno", "offerta.pdf", b"1").await;
    app.seed("Richiesta di accesso agli atti del protocollo", "Anna Verdi", "richiesta_atti.pdf", b"2").await;
    app.seed("Segnalazione buca stradale", "Carlo Neri", "foto.pdf", b"3").await;
    app.add_user("op", Role::Operatore).await;
    let s = app.login("op").await;
    let count = |html: &str| html.matches("href=\"/registrazioni/").count();
    let search = |q: &'static str| {
        let app = &app;
        let s = &s;
        async move {
            let url = format!("/registrazioni?q={}", percent(q));
            let res = app.get(s, &url).await;
            assert_eq!(res.status(), StatusCode::OK, "{q}");
            res.text().await.unwrap()
        }
    };
    for q in ["' or 1=1 --", "'; drop table registrations; --", "%", "_", "\\", "%%%", "__%", "\" or \"\"=\"", "):*|&!<->"] {
        let html = search(q).await;
        assert_eq!(count(&html), 0, "{q:?} matched everything");
    }
    assert_eq!(count(&search("100%").await), 1);
    // Italian full text: plural finds singular; partial words by trigram; document names too.
    assert_eq!(count(&search("offerte").await), 1);
    assert_eq!(count(&search("protoc").await), 1);
    assert_eq!(count(&search("richiesta_atti").await), 1);
    assert_eq!(count(&search("buca").await), 1);
    let all = app.get(&s, "/registrazioni").await.text().await.unwrap();
    assert_eq!(count(&all), 3);
    let sender = app.get(&s, "/registrazioni?mittente=%25").await.text().await.unwrap();
    assert_eq!(count(&sender), 0);
    let sender = app.get(&s, "/registrazioni?mittente=verdi").await.text().await.unwrap();
    assert_eq!(count(&sender), 1);
    // The table is still there.
    let n: i64 = sqlx::query_scalar("select count(*) from registrations").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(n, 3);
    let bad = app.get(&s, "/registrazioni?dal=ieri").await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}

fn percent(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

#[tokio::test]
async fn keyset_pagination_walks_every_registration_once() {
    let app = spawn_app().await;
    for i in 0..120 {
        app.seed(&format!("Pratica {i}"), "Mario Rossi", "p.pdf", format!("{i}").as_bytes()).await;
    }
    app.add_user("op", Role::Operatore).await;
    let s = app.login("op").await;
    let mut seen = Vec::new();
    let mut url = "/registrazioni".to_owned();
    for _ in 0..10 {
        let html = app.get(&s, &url).await.text().await.unwrap();
        for part in html.split("href=\"/registrazioni/").skip(1) {
            seen.push(part.split('"').next().unwrap().parse::<i64>().unwrap());
        }
        // The pager's "Successiva" link, until the last page.
        match html.find(">Successiva</a>").and_then(|end| html[..end].rfind("href=\"/registrazioni?")) {
            Some(start) => {
                let rest = &html[start + "href=\"".len()..];
                url = rest.split('"').next().unwrap().replace("&amp;", "&").replace("&#38;", "&");
            }
            None => break,
        }
    }
    assert_eq!(seen.len(), 120);
    let mut sorted = seen.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    sorted.dedup();
    assert_eq!(sorted, seen, "newest first, no repeats");
}

#[tokio::test]
async fn cookies_are_http_only_and_same_site_strict_and_logout_ends_the_session() {
    let app = spawn_app().await;
    app.add_user("op", Role::Operatore).await;
    let res = app.try_login("op", web_common::PASSWORD).await;
    let cookie = set_cookies(&res).into_iter().find(|c| c.starts_with("sigillo_sessione=")).unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Path=/"), "{cookie}");
    assert!(!cookie.contains("Secure"), "no TLS configured: {cookie}");
    let s = app.login("op").await;
    let out = app.post(&s, "/esci", &[]).await;
    assert_eq!(location(&out), "/accedi");
    assert_eq!(app.get(&s, "/").await.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn repeated_wrong_passwords_lock_the_account() {
    let app = spawn_app().await;
    app.add_user("op", Role::Operatore).await;
    for _ in 0..5 {
        let res = app.try_login("op", "sbagliata-sbagliata").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert!(res.text().await.unwrap().contains("Nome utente o password non corretti"));
    }
    let res = app.try_login("op", web_common::PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "locked account logged in");
    assert!(set_cookies(&res).iter().all(|c| !c.starts_with("sigillo_sessione=")));
    assert!(res.text().await.unwrap().contains("Troppi tentativi di accesso non riusciti"));
    // Unknown users get the same answer as wrong passwords.
    let res = app.try_login("nessuno", "qualsiasi-cosa-lunga").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let audit: i64 = sqlx::query_scalar("select count(*) from audit_log where action = 'staff.lockout'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(audit, 1);
}

#[tokio::test]
async fn too_many_failures_from_one_address_are_throttled() {
    let app = spawn_app().await;
    for i in 0..20 {
        let res = app.try_login(&format!("utente{i}"), "sbagliata-sbagliata").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    app.add_user("op", Role::Operatore).await;
    let res = app.try_login("op", web_common::PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn the_api_needs_a_live_token() {
    let app = spawn_app().await;
    let (id, _) = app.seed("Per l'API", "Mario Rossi", "a.pdf", b"a").await;
    app.add_user("admin", Role::Amministratore).await;
    let s = app.login("admin").await;
    let page = app.post(&s, "/token-api", &[("nome", "Gestionale tributi")]).await.text().await.unwrap();
    let marker = "id=\"nuovo-token\">";
    let start = page.find(marker).unwrap() + marker.len();
    let token = page[start..start + 64].to_owned();
    let api = |t: Option<String>, path: String| {
        let mut req = app.client.get(app.url(&path));
        if let Some(t) = t {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    assert_eq!(api(None, "/api/v1/registrations".into()).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(api(Some("x".repeat(64)), "/api/v1/registrations".into()).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    // A staff session is not an API token.
    let with_cookie = app.client.get(app.url("/api/v1/registrations")).header(COOKIE, &s.cookie).send().await.unwrap();
    assert_eq!(with_cookie.status(), StatusCode::UNAUTHORIZED);
    let list: serde_json::Value = api(Some(token.clone()), "/api/v1/registrations".into()).await.unwrap().json_value().await;
    assert_eq!(list["items"][0]["subject"], "Per l'API");
    assert_eq!(list["items"][0]["number"], "0000001");
    let one: serde_json::Value = api(Some(token.clone()), format!("/api/v1/registrations/{id}")).await.unwrap().json_value().await;
    assert_eq!(one["documents"][0]["name"], "a.pdf");
    let docs = api(Some(token.clone()), format!("/api/v1/registrations/{}/documents", id + 1)).await.unwrap();
    assert_eq!(docs.status(), StatusCode::NOT_FOUND);
    let spec: serde_json::Value = api(Some(token.clone()), "/api/v1/openapi.json".into()).await.unwrap().json_value().await;
    assert_eq!(spec["openapi"], "3.1.0");
    for spec_route in specs().iter().filter(|r| matches!(r.access, Access::Api | Access::ApiWrite) && r.path != "/api/v1/openapi.json") {
        let method = spec_route.method.as_str().to_ascii_lowercase();
        assert!(spec["paths"][spec_route.path].get(&method).is_some(), "{} {} missing from the OpenAPI document", spec_route.method, spec_route.path);
    }
    // Revoked: refused.
    let token_id: i64 = sqlx::query_scalar("select id from api_tokens").fetch_one(&app.db.pool).await.unwrap();
    app.post(&s, &format!("/token-api/{token_id}/revoca"), &[]).await;
    assert_eq!(api(Some(token), "/api/v1/registrations".into()).await.unwrap().status(), StatusCode::UNAUTHORIZED);
}

trait JsonValue {
    async fn json_value(self) -> serde_json::Value;
}
impl JsonValue for reqwest::Response {
    async fn json_value(self) -> serde_json::Value {
        assert_eq!(self.status(), StatusCode::OK);
        serde_json::from_slice(&self.bytes().await.unwrap()).unwrap()
    }
}

/// Under `/api/` every failure is JSON with its status (the Italian message in `error`), a
/// page answers HTML; every response carries an `x-request-id`, the caller's when it sent one.
#[tokio::test]
async fn api_errors_are_json_pages_are_html_and_every_response_has_a_request_id() {
    let app = spawn_app().await;
    app.add_user("admin", Role::Amministratore).await;
    let s = app.login("admin").await;
    let page = app.post(&s, "/token-api", &[("nome", "Gestionale")]).await.text().await.unwrap();
    let marker = "id=\"nuovo-token\">";
    let start = page.find(marker).unwrap() + marker.len();
    let token = page[start..start + 64].to_owned();

    let is_json = |res: &reqwest::Response| {
        res.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("application/json"))
    };
    for (path, status) in [
        ("/api/v1/registrations/999999", StatusCode::NOT_FOUND),
        ("/api/v1/registrations/abc", StatusCode::NOT_FOUND),
        ("/api/v1/registrations?limit=0", StatusCode::BAD_REQUEST),
        ("/api/v1/nessuna-risorsa", StatusCode::NOT_FOUND),
    ] {
        let res = app.client.get(app.url(path)).bearer_auth(&token).send().await.unwrap();
        assert_eq!(res.status(), status, "{path}");
        assert!(is_json(&res), "{path}: {:?}", res.headers());
        assert!(res.headers().get("x-request-id").is_some(), "{path}");
        let body: serde_json::Value = serde_json::from_str(&res.text().await.unwrap()).unwrap();
        assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "{path}: {body}");
    }
    // Without a token: JSON too, with the challenge.
    let res = app.client.get(app.url("/api/v1/registrations")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(is_json(&res) && res.headers().get(reqwest::header::WWW_AUTHENTICATE).is_some());
    let body: serde_json::Value = serde_json::from_str(&res.text().await.unwrap()).unwrap();
    assert_eq!(body["error"], "token API mancante o non valido");

    // A page's error is an Italian HTML page.
    let res = app.get(&s, "/registrazioni/999999").await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(!is_json(&res));
    assert!(res.text().await.unwrap().contains("Pagina non trovata"));

    // The request id: made when missing, unique, echoed when given.
    let a = app.client.get(app.url("/login")).send().await.unwrap();
    let b = app.client.get(app.url("/login")).send().await.unwrap();
    let id = |r: &reqwest::Response| r.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert!(!id(&a).is_empty() && id(&a) != id(&b), "{} {}", id(&a), id(&b));
    let given = app.client.get(app.url("/login")).header("x-request-id", "prova-123").send().await.unwrap();
    assert_eq!(id(&given), "prova-123");
}
