//! Logins against the real server (issue 15): throttling per (address, name) with counters
//! that concurrent attempts cannot overrun, `X-Forwarded-For` believed from configured
//! proxies only, the same answers for real and invented names, the password rule and the
//! password form's throttle, sliding and absolute session lifetimes, `__Host-` cookies and HSTS
//! under https.

use futures_util::future::join_all;
use reqwest::StatusCode;
use reqwest::header::COOKIE;
use sigillo_store::staff::Role;

use crate::web_common::{PASSWORD, TestApp, csrf_in, location, set_cookies, spawn_app, spawn_app_configured};

/// The login form posted as a browser behind a proxy would (`X-Forwarded-For: xff`).
async fn login_via(app: &TestApp, xff: Option<&str>, username: &str, password: &str) -> reqwest::Response {
    let form = app.client.get(app.url("/accedi")).send().await.unwrap();
    let cookie = set_cookies(&form).into_iter().find(|c| c.starts_with("sigillo_accesso=")).unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let csrf = csrf_in(&form.text().await.unwrap());
    let mut req = app
        .client
        .post(app.url("/accedi"))
        .header(COOKIE, cookie)
        .form(&[("csrf", csrf.as_str()), ("username", username), ("password", password)]);
    if let Some(xff) = xff {
        req = req.header("x-forwarded-for", xff);
    }
    req.send().await.unwrap()
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned())).fetch_one(&app.db.pool).await.unwrap()
}

/// 60 wrong passwords for one account at once, from one address: no more than 5 passwords
/// are checked (the limit), every other attempt is refused before its check; then the same
/// with 60 different names, where the address's limit (20) holds.
#[tokio::test]
async fn web_login_sixty_concurrent_tries_check_no_more_passwords_than_the_limits() {
    let app = spawn_app().await;
    app.add_user("op", Role::Operatore).await;
    let tries = (0..60).map(|_| app.try_login("op", "sbagliata-sbagliata"));
    let statuses: Vec<StatusCode> = join_all(tries).await.iter().map(reqwest::Response::status).collect();
    let wrong = statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
    let refused = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!((wrong, refused), (5, 55), "{statuses:?}");
    assert_eq!(app.state.password_checks(), 5);
    // The right password now is refused too, without a check.
    let res = app.try_login("op", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(set_cookies(&res).iter().all(|c| !c.starts_with("sigillo_sessione=")));
    assert!(res.text().await.unwrap().contains("Troppi tentativi di accesso non riusciti"));
    assert_eq!(app.state.password_checks(), 5);
    assert_eq!(count(&app, "select count(*) from audit_log where action = 'staff.lockout' and object_id = 'op'").await, 1);

    let app = spawn_app().await;
    let tries: Vec<String> = (0..60).map(|i| format!("utente{i}")).collect();
    let statuses: Vec<StatusCode> =
        join_all(tries.iter().map(|name| app.try_login(name, "sbagliata-sbagliata"))).await.iter().map(reqwest::Response::status).collect();
    let wrong = statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
    assert_eq!(wrong, 20, "{statuses:?}");
    assert_eq!(app.state.password_checks(), 20);
}

/// Behind a trusted proxy each clerk is throttled under the address the proxy reports: one
/// clerk's failures do not stop another. Entries a client wrote itself, to the left of the
/// proxy's, do not count.
#[tokio::test]
async fn web_login_clerks_behind_one_proxy_are_throttled_apart() {
    let app = spawn_app_configured(|c| c.trusted_proxies = sigillo_web::TrustedProxies::parse("127.0.0.1").unwrap()).await;
    app.add_user("anna", Role::Operatore).await;
    app.add_user("bruno", Role::Operatore).await;
    let anna_pc = Some("192.0.2.10");
    for _ in 0..5 {
        assert_eq!(login_via(&app, anna_pc, "anna", "sbagliata-sbagliata").await.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(login_via(&app, anna_pc, "anna", PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);
    // Bruno, behind the same proxy, is not concerned; neither is Anna from another desk.
    assert_eq!(login_via(&app, Some("192.0.2.20"), "bruno", PASSWORD).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(login_via(&app, Some("192.0.2.21"), "anna", PASSWORD).await.status(), StatusCode::SEE_OTHER);
    // Guessing many names from one desk stops that desk (20 failures), no other.
    for i in 0..15 {
        let res = login_via(&app, anna_pc, &format!("nome{i}"), "sbagliata-sbagliata").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    assert_eq!(login_via(&app, anna_pc, "bruno", PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(login_via(&app, Some("192.0.2.20"), "bruno", PASSWORD).await.status(), StatusCode::SEE_OTHER);
    // A client's own entry, left of what the proxy appended, is ignored: still Anna's desk.
    let forged = login_via(&app, Some("198.51.100.1, 192.0.2.10"), "bruno", PASSWORD).await;
    assert_eq!(forged.status(), StatusCode::TOO_MANY_REQUESTS);
    let keys = count(&app, "select count(*) from login_throttle where client = '127.0.0.1'").await;
    assert_eq!(keys, 0, "the proxy's own address throttles nobody");
}

/// From a peer that is not a configured proxy, `X-Forwarded-For` is ignored: a guesser
/// cannot dodge the address limit by inventing a new address for every attempt.
#[tokio::test]
async fn web_login_forwarded_for_from_an_untrusted_peer_is_ignored() {
    let app = spawn_app_configured(|c| c.trusted_proxies = sigillo_web::TrustedProxies::parse("10.1.2.3").unwrap()).await;
    app.add_user("op", Role::Operatore).await;
    for i in 0..20 {
        let xff = format!("203.0.113.{i}");
        let res = login_via(&app, Some(&xff), &format!("nome{i}"), "sbagliata-sbagliata").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let res = login_via(&app, Some("203.0.113.200"), "op", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(count(&app, "select count(*) from login_throttle where client like '203.0.113.%'").await, 0);
    assert_eq!(count(&app, "select failures::bigint from login_throttle where client = '127.0.0.1' and username = ''").await, 20);
}

/// What an answer says, without what differs by construction: the form's random CSRF token
/// (in the page and its cookie) and the name typed, which the form shows again.
async fn answer(res: reqwest::Response, typed: &str) -> (StatusCode, Vec<String>, String) {
    let status = res.status();
    let cookies = set_cookies(&res)
        .into_iter()
        .map(|c| {
            let (name, rest) = c.split_once('=').unwrap();
            let attributes = rest.split_once(';').map_or("", |(_, a)| a);
            format!("{name}=…;{attributes}")
        })
        .collect();
    let body = res.text().await.unwrap();
    let csrf = csrf_in(&body);
    (status, cookies, body.replace(&csrf, "TOKEN").replace(typed, "NOME"))
}

/// A real name and an invented one get byte-identical answers (status, cookies, page) and
/// cost one password check each, attempt after attempt and once throttled; so does a
/// disabled account, even with its right password.
#[tokio::test]
async fn web_login_real_and_invented_names_get_the_same_answers_and_the_same_work() {
    let app = spawn_app().await;
    app.add_user("anna.verdi", Role::Operatore).await;
    app.add_user("carla.neri", Role::Operatore).await;
    sqlx::query("update staff_users set disabled_at = now() where username = 'carla.neri'").execute(&app.db.pool).await.unwrap();
    for attempt in 0..6 {
        let before = app.state.password_checks();
        let real = answer(app.try_login("anna.verdi", "sbagliata-sbagliata").await, "anna.verdi").await;
        let after_real = app.state.password_checks();
        let invented = answer(app.try_login("zeno.bianchi", "sbagliata-sbagliata").await, "zeno.bianchi").await;
        let after_invented = app.state.password_checks();
        let disabled = answer(app.try_login("carla.neri", PASSWORD).await, "carla.neri").await;
        assert_eq!(real, invented, "attempt {attempt}");
        assert_eq!(real, disabled, "attempt {attempt}");
        let expected = if attempt < 5 { StatusCode::UNAUTHORIZED } else { StatusCode::TOO_MANY_REQUESTS };
        assert_eq!(real.0, expected, "attempt {attempt}");
        let checks = u64::from(attempt < 5);
        assert_eq!((after_real - before, after_invented - after_real), (checks, checks), "attempt {attempt}");
    }
    // A name that could not even be an account is treated alike.
    let odd = answer(app.try_login("Nome Non Valido!", "x").await, "nome non valido!").await;
    assert_eq!(odd.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn web_login_password_rule_and_the_password_forms_throttle() {
    let app = spawn_app().await;
    app.add_user("anna.verdi", Role::Operatore).await;
    let s = app.login("anna.verdi").await;
    let change = |current: &'static str, new: &'static str| {
        let s = s.clone();
        let app = &app;
        async move { app.post(&s, "/password", &[("current", current), ("new", new), ("confirm", new)]).await }
    };
    for (new, reason) in [
        ("            ", "solo di spazi"),
        ("   corta    ", "almeno 12 caratteri"),
        ("aaaabbbbaaaabbbb", "5 caratteri diversi"),
        ("anna.verdi", "almeno 12 caratteri"),
        ("Anna.Verdi-2026-bis", "nome utente"),
        ("una-password-lunga-1", "diversa da quella attuale"),
    ] {
        let res = change(PASSWORD, new).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{new:?}");
        let page = res.text().await.unwrap();
        assert!(page.contains(reason), "{new:?}: {page}");
    }
    // Wrong current passwords: five, then refused without a check, even the right one.
    let before = app.state.password_checks();
    for _ in 0..5 {
        let res = change("non-è-quella-giusta", "una nuova password 2026").await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert!(res.text().await.unwrap().contains("La password attuale non è corretta"));
    }
    let res = change(PASSWORD, "una nuova password 2026").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.text().await.unwrap().contains("Troppi tentativi"));
    assert_eq!(app.state.password_checks() - before, 5);
    // An amministratore's unlock lifts it; then the change goes through.
    app.add_user("admin", Role::Amministratore).await;
    let a = app.login("admin").await;
    assert_eq!(app.post(&a, "/utenti/anna.verdi/sblocca", &[]).await.status(), StatusCode::SEE_OTHER);
    let res = change(PASSWORD, "una nuova password 2026").await;
    assert_eq!(location(&res), "/accedi");
    assert_eq!(app.try_login("anna.verdi", "una nuova password 2026").await.status(), StatusCode::SEE_OTHER);
    // The same rule for accounts an amministratore creates.
    let res = app
        .post(&a, "/utenti", &[("username", "bruno"), ("nome", "Bruno Bianchi"), ("ruolo", "operatore"), ("password", "            ")])
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("solo di spazi"));
}

async fn session_rows(app: &TestApp, sql: &str) {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).execute(&app.db.pool).await.unwrap();
}

/// The idle timeout slides while the clerk works; idle too long, or past the absolute
/// lifetime however active, the session is over.
#[tokio::test]
async fn web_login_sessions_slide_while_used_and_end_after_the_absolute_lifetime() {
    let app = spawn_app().await;
    app.add_user("op", Role::Operatore).await;
    let res = app.try_login("op", PASSWORD).await;
    let cookie = set_cookies(&res).into_iter().find(|c| c.starts_with("sigillo_sessione=")).unwrap();
    assert!(cookie.contains("Max-Age=43200"), "the cookie lives as long as the absolute lifetime: {cookie}");
    let s = app.login("op").await;
    // Active a minute ago, about to expire: a request moves the expiry 2 hours ahead.
    session_rows(&app, "update staff_sessions set last_seen_at = now() - interval '2 minutes', expires_at = now() + interval '1 minute'").await;
    assert_eq!(app.get(&s, "/").await.status(), StatusCode::OK);
    let slid = count(&app, "select count(*) from staff_sessions where expires_at > now() + interval '119 minutes'").await;
    assert_eq!(slid, 1);
    assert_eq!(count(&app, "select count(*) from staff_sessions where expires_at > now() + interval '121 minutes'").await, 0);
    // Idle past the timeout.
    session_rows(&app, "update staff_sessions set expires_at = now() - interval '1 second'").await;
    let res = app.get(&s, "/").await;
    assert_eq!((res.status(), location(&res)), (StatusCode::SEE_OTHER, "/accedi".to_owned()));
    // Active all along, but opened more than 12 hours ago.
    let s = app.login("op").await;
    session_rows(
        &app,
        "update staff_sessions set created_at = now() - interval '12 hours 1 minute', last_seen_at = now(), expires_at = now() + interval '1 hour'",
    )
    .await;
    let res = app.get(&s, "/").await;
    assert_eq!((res.status(), location(&res)), (StatusCode::SEE_OTHER, "/accedi".to_owned()));
    // Not quite 12 hours: still on.
    let s = app.login("op").await;
    session_rows(&app, "update staff_sessions set created_at = now() - interval '11 hours 50 minutes' where expires_at > now()").await;
    assert_eq!(app.get(&s, "/").await.status(), StatusCode::OK);
}

/// Under https: `__Host-` cookies (Secure, Path=/) and HSTS; over plain http neither.
#[tokio::test]
async fn web_login_under_https_cookies_have_the_host_prefix_and_responses_hsts() {
    let plain = spawn_app().await;
    let res = plain.client.get(plain.url("/accedi")).send().await.unwrap();
    assert!(res.headers().get("strict-transport-security").is_none());

    let app = spawn_app_configured(|c| c.secure_cookies = true).await;
    app.add_user("op", Role::Operatore).await;
    let form = app.client.get(app.url("/accedi")).send().await.unwrap();
    assert_eq!(form.headers()["strict-transport-security"], "max-age=31536000");
    let login_cookie = set_cookies(&form).into_iter().find(|c| c.starts_with("__Host-sigillo_accesso=")).expect("__Host- login cookie");
    assert!(login_cookie.contains("; Path=/;") && login_cookie.contains("Secure"), "{login_cookie}");
    let csrf = csrf_in(&form.text().await.unwrap());
    let res = app
        .client
        .post(app.url("/accedi"))
        .header(COOKIE, login_cookie.split(';').next().unwrap())
        .form(&[("csrf", csrf.as_str()), ("username", "op"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(res.headers().get("strict-transport-security").is_some());
    let session = set_cookies(&res).into_iter().find(|c| c.starts_with("__Host-sigillo_sessione=")).expect("__Host- session cookie");
    assert!(session.contains("; Path=/;") && session.contains("Secure") && session.contains("HttpOnly") && !session.contains("Domain"), "{session}");
    let pair = session.split(';').next().unwrap().to_owned();
    let home = app.client.get(app.url("/")).header(COOKIE, &pair).send().await.unwrap();
    assert_eq!(home.status(), StatusCode::OK);
    assert!(home.headers().get("strict-transport-security").is_some());
    // The same token under the unprefixed name (as a sibling host could plant it) is no session.
    let unprefixed = pair.replace("__Host-", "");
    let res = app.client.get(app.url("/")).header(COOKIE, unprefixed).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}
