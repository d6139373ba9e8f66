//! The daily register's CSV as the dashboard serves it, and the session cookie's `Secure`
//! flag when the dashboard's public address is HTTPS.

use reqwest::StatusCode;
use reqwest::header::{CONTENT_DISPOSITION, CONTENT_TYPE, SET_COOKIE};
use sigillo_e2e::{Instance, stderr, wait_for};
use sigillo_store::export::{self, Format, Period};
use sigillo_store::staff::Role;
use crate::web_common::spawn_app;

#[tokio::test]
async fn the_csv_of_the_day_is_the_register_export() {
    let app = spawn_app().await;
    app.add_user("revisore1", Role::Revisore).await;
    app.seed("Richiesta di accesso agli atti; \"urgente\"", "Mario Rossi", "istanza.pdf", b"uno").await;
    app.seed("<script>alert(1)</script>", "Anna Bianchi", "lettera.pdf", b"due").await;
    let s = app.login("revisore1").await;

    let today = chrono::Utc::now().with_timezone(&app.register.timezone).date_naive();
    // the archival CSV (`formato=archivio`); the spreadsheet form is in web_downloads.rs
    let res = app.get(&s, &format!("/registro.csv?data={}&formato=archivio", today.format("%Y-%m-%d"))).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[CONTENT_TYPE], "text/csv; charset=utf-8");
    let disposition = res.headers()[CONTENT_DISPOSITION].to_str().unwrap().to_owned();
    let name = format!("registro-giornaliero-{}-archivio.csv", today.format("%Y-%m-%d"));
    assert!(disposition.starts_with(&format!("attachment; filename=\"{name}\"; filename*=UTF-8''")), "{disposition}");
    let body = res.bytes().await.unwrap();

    // byte for byte what `sigillo register export --format csv` writes for the day
    let mut conn = app.db.pool.acquire().await.unwrap();
    let expected = export::collect(&mut conn, &app.register, Period::Day(today)).await.unwrap().render(Format::Csv).unwrap();
    assert_eq!(body.as_ref(), expected.as_slice());
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert_eq!(text.lines().count(), 3, "a header and two registrations:\n{text}");
    assert!(text.contains("\"Richiesta di accesso agli atti; \"\"urgente\"\"\""), "CSV quoting:\n{text}");
    assert!(text.contains("<script>alert(1)</script>"), "CSV is data, not HTML:\n{text}");

    // another day: only the header
    let res = app.get(&s, "/registro.csv?data=2001-01-01&formato=archivio").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text().await.unwrap().lines().count(), 1);
    // a date that is no date is refused, not read as today
    let res = app.get(&s, "/registro.csv?data=2026-13-45").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

/// Through the real binary: `SIGILLO_PUBLIC_URL=https://…` marks the cookies `Secure`, plain
/// HTTP does not, and anything else stops start-up naming the variable.
#[tokio::test]
async fn cookies_are_secure_behind_https() {
    let app = Instance::new().await;
    assert!(app.run(&["migrate"]).await.status.success());
    for (url, secure) in [("https://protocollo.comune.example.it", true), ("http://127.0.0.1", false)] {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let listen = format!("127.0.0.1:{port}");
        let mut service = app.serve(&[("SIGILLO_PUBLIC_URL", url), ("SIGILLO_LISTEN", &listen), ("SIGILLO_STATIC_DIR", "web/static")]);
        let base = format!("http://{listen}");
        let client = reqwest::Client::new();
        wait_for(20, "sigillo serve", || {
            let client = client.clone();
            let base = base.clone();
            async move { client.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) }
        })
        .await;
        let res = client.get(format!("{base}/accedi")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let cookies: Vec<String> = res.headers().get_all(SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_owned()).collect();
        assert!(!cookies.is_empty());
        for c in &cookies {
            assert_eq!(c.contains("; Secure"), secure, "{url}: {c}");
            assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict"), "{c}");
        }
        service.kill().await;
    }
    let mut env = app.env.clone();
    env.insert("SIGILLO_PUBLIC_URL".into(), "ftp://protocollo".into());
    let out = sigillo_e2e::run_with_env(&env, &["serve"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("SIGILLO_PUBLIC_URL"), "{}", stderr(&out));
}
