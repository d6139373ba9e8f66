//! The clerk's desk (issue 15) against the real server: find by number, numbered pages with
//! a total, the queues page by page with a "da decidere" filter, a message's text and
//! attachments before deciding, the home page's links and failures, the printouts, the
//! way back after login, htmx without a session, links from another site, the static files
//! (versioned, cached, compressed, the fonts) and the users form.

use reqwest::StatusCode;
use reqwest::header::{ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, COOKIE};
use sigillo_e2e::pec_mail::Attachment;
use sigillo_store::ids::InboundId;
use sigillo_store::inbound::{self, Decided, MessageState, Origin};
use sigillo_store::register::Sha256;
use sigillo_store::staff::Role;

use crate::web_common::{self, TestApp, location, set_cookies, spawn_app, spawn_app_with_notify, spawn_app_with_pki};

fn header(res: &reqwest::Response, name: impl reqwest::header::AsHeaderName) -> String {
    res.headers().get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

fn year_now() -> i32 {
    use chrono::Datelike;
    chrono::Utc::now().with_timezone(&chrono_tz::Europe::Rome).year()
}

async fn segnatura(app: &TestApp, id: i64) -> String {
    sqlx::query_scalar("select segnatura from registrations where id = $1").bind(id).fetch_one(&app.db.pool).await.unwrap()
}

#[tokio::test]
async fn web_desk_a_number_or_segnatura_opens_the_registration() {
    let app = spawn_app().await;
    app.add_user("op", Role::Operatore).await;
    let (first, _) = app.seed("Richiesta di accesso agli atti", "Mario Rossi", "a.pdf", b"%PDF a").await;
    let (second, _) = app.seed("Segnalazione buca stradale n. 7", "Anna Verdi", "b.pdf", b"%PDF b").await;
    let s = app.login("op").await;
    let year = year_now();
    let seg = segnatura(&app, second).await;
    for (q, id) in [
        ("1".to_owned(), first),
        ("0000002".to_owned(), second),
        (format!("2/{year}"), second),
        (format!(" 1 / {year} "), first),
        (seg.clone(), second),
        (seg.to_uppercase().replace('|', " | "), second),
    ] {
        let res = app.get(&s, &format!("/registrazioni?q={}", urlencode(&q))).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{q}");
        assert_eq!(location(&res), format!("/registrazioni/{id}"), "{q}");
    }
    // From the htmx search form: the whole browser goes to the record.
    let res = app.client.get(app.url("/registrazioni?q=2")).header(COOKIE, &s.cookie).header("HX-Request", "true").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "hx-redirect"), format!("/registrazioni/{second}"));
    // A number nobody has: said so, and searched as text (subject "n. 7").
    let res = app.get(&s, "/registrazioni?q=7").await;
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.unwrap();
    assert!(page.contains("Nessuna registrazione con numero o segnatura «7»"), "{page}");
    assert!(page.contains("Segnalazione buca stradale"), "the subject quoting the number is found: {page}");
    // Another year, another register's segnatura: nothing opens.
    for q in [format!("1/{}", year - 1), seg.replace("c_h501", "c_f205")] {
        let res = app.get(&s, &format!("/registrazioni?q={}", urlencode(&q))).await;
        assert_eq!(res.status(), StatusCode::OK, "{q}");
        assert!(res.text().await.unwrap().contains("Nessuna registrazione con numero"), "{q}");
    }
}

/// Every byte but letters and digits as `%XX`.
fn urlencode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

#[tokio::test]
async fn web_desk_lists_have_page_numbers_and_a_total() {
    let app = spawn_app().await;
    app.add_user("op", Role::Operatore).await;
    for i in 1..=120 {
        let subject = if i % 2 == 0 { format!("Istanza contributo n. {i}") } else { format!("Segnalazione {i}") };
        app.seed(&subject, "Mario Rossi", "a.pdf", format!("%PDF {i}").as_bytes()).await;
    }
    let s = app.login("op").await;
    let page = app.get(&s, "/registrazioni").await.text().await.unwrap();
    assert!(page.contains("120 registrazioni, pagina 1 di 3."), "{page}");
    assert!(page.contains("href=\"/registrazioni?pagina=1\" aria-current=\"page\""), "{page}");
    assert!(page.contains("href=\"/registrazioni?pagina=3\""), "{page}");
    let last = app.get(&s, "/registrazioni?pagina=3").await.text().await.unwrap();
    assert_eq!(last.matches("<tr>").count() - 1, 20, "20 rows on the last page (and the header row)");
    assert!(last.contains("Segnalazione 1<") || last.contains("Segnalazione 1\n"), "the oldest is on the last page");
    // A search counts its own hits and keeps its words in the page links.
    let found = app.get(&s, "/registrazioni?q=contributo").await.text().await.unwrap();
    assert!(found.contains("60 registrazioni, pagina 1 di 2."), "{found}");
    assert!(found.contains("href=\"/registrazioni?q=contributo&#38;pagina=2\""), "{found}");
    let second = app.get(&s, "/registrazioni?q=contributo&pagina=2").await.text().await.unwrap();
    assert_eq!(second.matches("Istanza contributo n.").count(), 10, "{second}");
    for bad in ["0", "-1", "x"] {
        assert_eq!(app.get(&s, &format!("/registrazioni?pagina={bad}")).await.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
}

/// A decided message row without raw bytes: enough for the lists.
async fn queued(app: &TestApp, n: usize, state: MessageState, subject: &str) -> InboundId {
    let mut tx = app.db.pool.begin().await.unwrap();
    let sha = Sha256::of(format!("{subject} {n} {state:?}").as_bytes());
    let (row, _) = inbound::record(&mut tx, &sha, 1000, &Origin::default()).await.unwrap();
    let d = Decided {
        state,
        reasons: serde_json::json!([{"code": "UNSIGNED_ATTACHMENT", "detail": "documento.pdf"}]),
        sender: Some(format!("cittadino{n}@pec.example.it")),
        subject: Some(format!("{subject} {n}")),
        pec_type: None,
        pec_receipt: None,
        pec_identificativo: None,
        pec_msgid: None,
        duplicate_of: None,
        report: None,
    };
    inbound::decide(&mut tx, row.id, &d).await.unwrap();
    tx.commit().await.unwrap();
    row.id
}

#[tokio::test]
async fn web_desk_queues_are_paged_with_a_da_decidere_filter() {
    let app = spawn_app().await;
    app.add_user("op", Role::Operatore).await;
    let mut ids = Vec::new();
    for n in 1..=205 {
        ids.push(queued(&app, n, MessageState::Rejected, "Istanza scartata").await);
    }
    queued(&app, 1, MessageState::Review, "Firma da verificare").await;
    let s = app.login("op").await;
    // Two decided: they leave "da decidere" but stay in the list.
    for id in &ids[..2] {
        assert_eq!(app.post(&s, &format!("/messaggi/{id}/conferma-scarto"), &[]).await.status(), StatusCode::SEE_OTHER);
    }
    let page = app.get(&s, "/scartati").await.text().await.unwrap();
    assert!(page.contains("Tutti (205)") && page.contains("Da decidere (203)"), "{page}");
    assert!(page.contains("Pagina 1 di 5 — 205 messaggi"), "{page}");
    assert!(page.contains("Istanza scartata 205") && !page.contains("Istanza scartata 155<"), "newest first, 50 a page");
    // No silent cut at 200: the oldest is on the last page.
    let last = app.get(&s, "/scartati?pagina=5").await.text().await.unwrap();
    assert!(last.contains(">Istanza scartata 1</a>"), "{last}");
    assert_eq!(last.matches("href=\"/messaggi/").count() / 2, 5, "five messages on page 5 (subject and Apri links)");
    let undecided = app.get(&s, "/scartati?filtro=da-decidere&pagina=5").await.text().await.unwrap();
    assert!(undecided.contains("Pagina 5 di 5 — 203 messaggi"), "{undecided}");
    assert!(!undecided.contains(">Istanza scartata 1</a>") && !undecided.contains(">Istanza scartata 2</a>"), "decided ones are filtered out");
    assert!(undecided.contains(">Istanza scartata 3</a>"));
    // One line per message: the row's text cells do not wrap (the CSS cuts them).
    assert!(page.contains("<td class=\"riga\" title=\"Istanza scartata 205\">"), "{page}");
    let review = app.get(&s, "/revisione").await.text().await.unwrap();
    assert!(review.contains("Firma da verificare 1") && review.contains("Tutti (1)"), "{review}");
    assert_eq!(app.get(&s, "/scartati?filtro=altro").await.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn web_desk_a_message_is_read_before_deciding_and_its_attachments_are_safe() {
    let (app, pki) = spawn_app_with_pki().await;
    let atts = [
        ("domanda.html".to_owned(), "text/html", b"<script>alert(document.cookie)</script>".to_vec()),
        ("script.js".to_owned(), "application/javascript", b"alert(1)".to_vec()),
        ("foto.svg".to_owned(), "image/svg+xml", b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>".to_vec()),
    ];
    let raw = pki.transport_with("opec.m1@pec.test.it", "Richiesta con allegati strani", &atts, pki.provider());
    let (line, msg) = app.ingest("m1.eml", &raw).await;
    assert_eq!(line["decision"], "reject", "{line}");
    app.add_user("op", Role::Operatore).await;
    let s = app.login("op").await;
    let list = app.get(&s, "/scartati").await.text().await.unwrap();
    assert!(list.contains(&format!("href=\"/messaggi/{msg}\"")), "the list links the message: {list}");
    let res = app.get(&s, &format!("/messaggi/{msg}")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.unwrap();
    assert!(page.contains("Richiesta con allegati strani"), "{page}");
    assert!(page.contains("id=\"testo-messaggio\""), "the text of the message is shown: {page}");
    assert!(!page.contains("<script>alert"), "nothing a citizen sent is markup on our page");
    assert!(page.contains("Conferma lo scarto"), "the decisions are on the page");
    for (i, (name, _, bytes)) in atts.iter().enumerate() {
        assert!(page.contains(name.as_str()), "{name} listed");
        let res = app.get(&s, &format!("/messaggi/{msg}/allegati/{}", i + 1)).await;
        assert_eq!(res.status(), StatusCode::OK, "{name}");
        assert_eq!(header(&res, "content-type"), "application/octet-stream", "{name}");
        assert!(header(&res, "content-disposition").starts_with(&format!("attachment; filename=\"{name}\"")), "{name}");
        assert_eq!(header(&res, "content-security-policy"), "sandbox", "{name}");
        assert_eq!(header(&res, "cross-origin-resource-policy"), "same-origin", "{name}");
        assert_eq!(res.bytes().await.unwrap().as_ref(), bytes.as_slice(), "{name}");
    }
    // Part 0 is the text; the original message is a download too; nothing beyond.
    let text = app.get(&s, &format!("/messaggi/{msg}/allegati/0")).await;
    assert_eq!(text.status(), StatusCode::OK);
    assert_eq!(header(&text, "content-security-policy"), "sandbox");
    let eml = app.get(&s, &format!("/messaggi/{msg}/messaggio.eml")).await;
    assert_eq!(header(&eml, "content-type"), "message/rfc822");
    assert_eq!(eml.bytes().await.unwrap().as_ref(), raw.as_slice());
    assert_eq!(app.get(&s, &format!("/messaggi/{msg}/allegati/4")).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.get(&s, &format!("/messaggi/{msg}/allegati/x")).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.get(&s, "/messaggi/999999").await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn web_desk_the_home_page_leads_to_the_lists_and_shows_failures() {
    let (app, pki) = spawn_app_with_notify().await;
    let signed = pki.transport("opec.h1@pec.test.it", "Istanza firmata", &[Attachment::SignedP7m { size: 512 }]);
    let (line, msg) = app.ingest("h1.eml", &signed).await;
    assert_eq!(line["decision"], "register", "{line}");
    // The receipt ran out of attempts; a message could not be processed.
    let mut conn = app.db.pool.acquire().await.unwrap();
    let out: i64 = sqlx::query_scalar("select id from outbox where inbound_message_id = $1").bind(msg).fetch_one(&mut *conn).await.unwrap();
    // As the worker does: the row is claimed (sending, attempt 1), then its last attempt fails.
    sqlx::query("update outbox set state = 'sending', attempts = 1, send_started_at = now() where id = $1").bind(out).execute(&mut *conn).await.unwrap();
    sigillo_store::outbox::mark_attempt_failed(&mut conn, sigillo_store::ids::OutboxId::new(out), 1, "550 mailbox unavailable", std::time::Duration::ZERO, true)
        .await
        .unwrap();
    let broken = app.blobs.put(b"broken").unwrap();
    let (row, _) = inbound::record(&mut conn, &broken, 6, &Origin { mailbox: Some("INBOX".into()), ..Origin::default() }).await.unwrap();
    inbound::record_error(&mut conn, row.id, "MIME non interpretabile").await.unwrap();
    drop(conn);
    let reg: i64 = sqlx::query_scalar("select id from registrations where inbound_message_id = $1").bind(msg).fetch_one(&app.db.pool).await.unwrap();
    app.add_user("op", Role::Operatore).await;
    let s = app.login("op").await;
    let home = app.get(&s, "/").await.text().await.unwrap();
    let today = chrono::Utc::now().with_timezone(&chrono_tz::Europe::Rome).format("%Y-%m-%d").to_string();
    for link in [
        format!("href=\"/registrazioni?dal={today}&amp;al={today}\" id=\"link-arrivati\""),
        "href=\"/scartati\" id=\"link-scartati\"".to_owned(),
        "href=\"/revisione\" id=\"link-revisione\"".to_owned(),
        "href=\"/scartati?filtro=da-decidere\"".to_owned(),
        format!("href=\"/registrazioni/{reg}#ricevuta\""),
        format!("href=\"/messaggi/{}\"", row.id),
    ] {
        assert!(home.contains(&link), "{link} in {home}");
    }
    assert!(home.contains("role=\"search\"") && home.contains("name=\"q\""), "a search box");
    assert!(home.contains("Arrivati oggi"));
    assert!(home.contains("id=\"conteggio-non-consegnate\">1<"), "{home}");
    assert!(home.contains("invio non riuscito (tentativi esauriti)"), "{home}");
    assert!(home.contains("id=\"conteggio-errori\">1<") && home.contains("MIME non interpretabile"), "{home}");
    // The message in error opens, with its error.
    let page = app.get(&s, &format!("/messaggi/{}", row.id)).await;
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.unwrap();
    assert!(page.contains("MIME non interpretabile") && page.contains("In errore"), "{page}");
}

#[tokio::test]
async fn web_desk_the_home_page_says_which_pec_mailbox_cannot_be_read() {
    use sigillo_store::mailbox_health::{Fault, record_failure, record_ok};
    let app = spawn_app().await;
    app.add_user("op", Role::Operatore).await;
    let s = app.login("op").await;
    let home = app.get(&s, "/").await.text().await.unwrap();
    assert!(!home.contains("id=\"caselle-pec\""), "no mailbox read yet, nothing said: {home}");

    let t0 = chrono::DateTime::parse_from_rfc3339("2026-12-01T08:00:00Z").unwrap().with_timezone(&chrono::Utc);
    let mut conn = app.db.pool.acquire().await.unwrap();
    record_ok(&mut conn, "protocollo@pec.comune.example:993", "INBOX", t0).await.unwrap();
    record_ok(&mut conn, "suap@pec.comune.example:993", "INBOX", t0).await.unwrap();
    let refused = "IMAP protocollo@pec.comune.example:993: login: No Response: [AUTHENTICATIONFAILED] Authentication failed. \u{202e}fdp.exe";
    for minutes in [5, 6] {
        record_failure(&mut conn, "protocollo@pec.comune.example:993", "INBOX", Fault::Login, refused, t0 + chrono::Duration::minutes(minutes))
            .await
            .unwrap();
    }
    drop(conn);
    let home = app.get(&s, "/").await.text().await.unwrap();
    let failing = home.split("casella-in-errore").nth(1).unwrap_or_else(|| panic!("a failing mailbox: {home}"));
    let failing = &failing[..failing.find("</div>").unwrap()];
    // Europe/Rome: 08:05 UTC is 09:05.
    assert!(failing.contains("La casella PEC protocollo@pec.comune.example:993 (INBOX) non viene letta dal 01/12/2026 09:05"), "{failing}");
    assert!(failing.contains("il gestore ha rifiutato le credenziali"), "{failing}");
    assert!(failing.contains("Ultima lettura riuscita: 01/12/2026 09:00"), "{failing}");
    assert!(failing.contains("2 in tutto") && failing.contains("AUTHENTICATIONFAILED"), "{failing}");
    assert!(!failing.contains('\u{202e}') && failing.contains("[U+202E]fdp.exe"), "the server's words are shown with visible markers: {failing}");
    assert!(home.contains("Casella PEC suap@pec.comune.example:993 (INBOX): letta regolarmente"), "{home}");
    assert_eq!(home.matches("casella-in-errore").count(), 1, "{home}");

    let mut conn = app.db.pool.acquire().await.unwrap();
    record_ok(&mut conn, "protocollo@pec.comune.example:993", "INBOX", t0 + chrono::Duration::minutes(7)).await.unwrap();
    drop(conn);
    let home = app.get(&s, "/").await.text().await.unwrap();
    assert!(!home.contains("casella-in-errore"), "read again, no alarm: {home}");
    assert!(home.contains("Casella PEC protocollo@pec.comune.example:993 (INBOX): letta regolarmente, ultima lettura 01/12/2026 09:07"), "{home}");
}

#[tokio::test]
async fn web_desk_the_record_prints_a_receipt_and_a_label() {
    let app = spawn_app().await;
    app.add_user("rev", Role::Revisore).await;
    let (id, _) = app.seed("Consegna a mano di una istanza", "Mario Rossi", "istanza.pdf", b"%PDF-1.7 mano").await;
    let seg = segnatura(&app, id).await;
    let s = app.login("rev").await;
    let record = app.get(&s, &format!("/registrazioni/{id}")).await.text().await.unwrap();
    assert!(record.contains(&format!("href=\"/registrazioni/{id}/stampa\"")), "{record}");
    assert!(record.contains(&format!("href=\"/registrazioni/{id}/stampa?tipo=etichetta\"")), "{record}");
    assert!(record.contains("Ricezione automatica PEC"), "not the system account's name: {record}");
    let receipt = app.get(&s, &format!("/registrazioni/{id}/stampa")).await;
    assert_eq!(receipt.status(), StatusCode::OK);
    let receipt = receipt.text().await.unwrap();
    for needle in ["Ricevuta di protocollazione", &format!("0000001/{}", year_now()), seg.as_str(), "Consegna a mano di una istanza", "istanza.pdf", "print.css", "data-stampa"] {
        assert!(receipt.contains(needle), "{needle} in {receipt}");
    }
    let label = app.get(&s, &format!("/registrazioni/{id}/stampa?tipo=etichetta")).await.text().await.unwrap();
    assert!(label.contains("id=\"etichetta\"") && label.contains(&seg) && label.contains("Prot. n. 0000001 del"), "{label}");
    assert!(!label.contains("Consegna a mano"), "the label carries the segnatura, not the subject");
    assert_eq!(app.get(&s, &format!("/registrazioni/{id}/stampa?tipo=altro")).await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.get(&s, "/registrazioni/999/stampa").await.status(), StatusCode::NOT_FOUND);
    let css = app.client.get(app.url("/static/print.css")).send().await.unwrap().text().await.unwrap();
    assert!(css.contains("@media print") && css.contains(".comandi-stampa { display: none"), "{css}");
}

/// The `sigillo_torna` cookie of a response, as a browser would send it back.
fn return_cookie(res: &reqwest::Response) -> Option<String> {
    set_cookies(res).into_iter().find(|c| c.starts_with("sigillo_torna=")).map(|c| c.split(';').next().unwrap().to_owned())
}

/// Logs in as a browser that carries `extra` cookies; returns the response.
async fn login_with(app: &TestApp, username: &str, extra: &str) -> reqwest::Response {
    let form = app.client.get(app.url("/accedi")).send().await.unwrap();
    let csrf_cookie = set_cookies(&form).into_iter().find(|c| c.starts_with("sigillo_accesso=")).unwrap();
    let csrf_cookie = csrf_cookie.split(';').next().unwrap().to_owned();
    let csrf = web_common::csrf_in(&form.text().await.unwrap());
    app.client
        .post(app.url("/accedi"))
        .header(COOKIE, format!("{csrf_cookie}; {extra}"))
        .form(&[("csrf", csrf.as_str()), ("username", username), ("password", web_common::PASSWORD)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn web_desk_login_returns_to_the_page_asked_for_and_only_to_ours() {
    let app = spawn_app().await;
    app.add_user("op", Role::Operatore).await;
    let (id, _) = app.seed("Istanza", "Mario Rossi", "a.pdf", b"%PDF").await;
    let asked = format!("/registrazioni/{id}?esito=assegnata");
    let res = app.client.get(app.url(&asked)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/accedi");
    let cookie = return_cookie(&res).expect("the page asked for is kept");
    let set = set_cookies(&res).into_iter().find(|c| c.starts_with("sigillo_torna=")).unwrap();
    assert!(set.contains("Path=/accedi") && set.contains("HttpOnly") && set.contains("Max-Age=3600"), "{set}");
    let res = login_with(&app, "op", &cookie).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), asked);
    assert!(set_cookies(&res).iter().any(|c| c.starts_with("sigillo_torna=;") && c.contains("Max-Age=0")), "used once");
    // A cookie pointing elsewhere (set by whoever) never leads off the site.
    for evil in ["%2F%2Fevil.example%2Fx", "https%3A%2F%2Fevil.example", "%2F%5Cevil.example", "%2Fa%0D%0ASet-Cookie%3A%20x%3D1", "%2Faccedi"] {
        let res = login_with(&app, "op", &format!("sigillo_torna={evil}")).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{evil}");
        assert_eq!(location(&res), "/", "{evil}");
    }
    // POSTs and the home page are not kept.
    let res = app.client.post(app.url("/registrazioni/1/assegna")).form(&[("x", "y")]).send().await.unwrap();
    assert_eq!((location(&res).as_str(), return_cookie(&res)), ("/accedi", None));
    let res = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(return_cookie(&res), None);
}

#[tokio::test]
async fn web_desk_htmx_without_a_session_sends_the_browser_to_login() {
    let app = spawn_app().await;
    app.add_user("op", Role::Operatore).await;
    let s = app.login("op").await;
    // The session expires while the page is open.
    sqlx::query("update staff_sessions set expires_at = now() - interval '1 second'").execute(&app.db.pool).await.unwrap();
    let res = app
        .client
        .get(app.url("/registrazioni?q=permesso"))
        .header(COOKIE, &s.cookie)
        .header("HX-Request", "true")
        .header("HX-Current-URL", format!("{}/registrazioni?q=perm", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(&res, "hx-redirect"), "/accedi");
    assert_eq!(return_cookie(&res).as_deref(), Some("sigillo_torna=%2Fregistrazioni%3Fq%3Dperm"));
    let body = res.text().await.unwrap();
    assert!(!body.contains("Accesso al protocollo"), "no login page to nest in the results: {body}");
    // Without htmx: the usual redirect.
    let res = app.client.get(app.url("/registrazioni?q=permesso")).header(COOKIE, &s.cookie).send().await.unwrap();
    assert_eq!((res.status(), location(&res).as_str()), (StatusCode::SEE_OTHER, "/accedi"));
}

#[tokio::test]
async fn web_desk_a_link_from_another_site_is_opened_again_from_ours() {
    let app = spawn_app().await;
    let (id, _) = app.seed("Istanza", "Mario Rossi", "a.pdf", b"%PDF").await;
    let path = format!("/registrazioni/{id}");
    // A navigation from the webmail: the Strict session cookie is not sent.
    let res = app
        .client
        .get(app.url(&path))
        .header("Sec-Fetch-Site", "cross-site")
        .header("Sec-Fetch-Mode", "navigate")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.unwrap();
    assert!(page.contains(&format!("<meta http-equiv=\"refresh\" content=\"0; url={path}\">")), "{page}");
    assert!(!page.contains("<script"), "{page}");
    // The same request from our own site without a session: login.
    let res = app.client.get(app.url(&path)).header("Sec-Fetch-Site", "same-origin").header("Sec-Fetch-Mode", "navigate").send().await.unwrap();
    assert_eq!((res.status(), location(&res).as_str()), (StatusCode::SEE_OTHER, "/accedi"));
    // An address that is not a local path is never reflected.
    let res = app.client.get(app.url("//evil.example/")).header("Sec-Fetch-Site", "cross-site").header("Sec-Fetch-Mode", "navigate").send().await.unwrap();
    assert!(!res.text().await.unwrap().contains("evil.example"));
}

#[tokio::test]
async fn web_desk_static_files_are_versioned_cached_and_compressed() {
    let app = spawn_app().await;
    app.add_user("op", Role::Operatore).await;
    let s = app.login("op").await;
    let home = app.get(&s, "/").await.text().await.unwrap();
    let version = sigillo_web::assets::tree_version(&web_common::static_dir());
    let css = format!("/static/v-{version}/vendor/bootstrap-italia/css/bootstrap-italia.min.css");
    for asset in [css.clone(), format!("/static/v-{version}/app.css"), format!("/static/v-{version}/fonts.css"), format!("/static/v-{version}/vendor/htmx/htmx.min.js")] {
        assert!(home.contains(&format!("\"{asset}\"")), "{asset} in {home}");
    }
    assert!(!home.contains("\"/static/app.css\""), "no unversioned address in pages");
    // Versioned: cached for a year, compressed on request.
    let res = app.client.get(app.url(&css)).header(ACCEPT_ENCODING, "gzip").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, CACHE_CONTROL), "public, max-age=31536000, immutable");
    assert_eq!(header(&res, CONTENT_ENCODING), "gzip");
    let compressed = res.bytes().await.unwrap().len();
    let plain = std::fs::metadata(web_common::static_dir().join("vendor/bootstrap-italia/css/bootstrap-italia.min.css")).unwrap().len() as usize;
    assert!(compressed * 4 < plain, "gzip: {compressed} of {plain} bytes");
    println!("bootstrap-italia.min.css: {plain} bytes, {compressed} gzip");
    // Unversioned or of an old version: served, to be revalidated.
    for path in ["/static/app.css".to_owned(), "/static/v-000000000000/app.css".to_owned()] {
        let res = app.client.get(app.url(&path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert_eq!(header(&res, CACHE_CONTROL), "no-cache", "{path}");
    }
    // Pages are neither cached nor compressed (CSRF tokens next to reflected text).
    let page = app.client.get(app.url("/")).header(COOKIE, &s.cookie).header(ACCEPT_ENCODING, "gzip").send().await.unwrap();
    assert_eq!(header(&page, CACHE_CONTROL), "no-store");
    assert_eq!(header(&page, CONTENT_ENCODING), "");
    // The fonts of Bootstrap Italia are declared and served (woff2 is not compressed again).
    let fonts = app.client.get(app.url(&format!("/static/v-{version}/fonts.css"))).send().await.unwrap().text().await.unwrap();
    assert!(fonts.contains("font-family: 'Titillium Web'"), "{fonts}");
    let woff2 = "vendor/bootstrap-italia/fonts/Titillium_Web/titillium-web-v10-latin-ext_latin-regular.woff2";
    assert!(fonts.contains(woff2));
    let res = app.client.get(app.url(&format!("/static/v-{version}/{woff2}"))).header(ACCEPT_ENCODING, "gzip").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, CONTENT_ENCODING), "");
    assert_eq!(header(&res, CACHE_CONTROL), "public, max-age=31536000, immutable");
}

#[tokio::test]
async fn web_desk_the_new_user_form_has_text_fields() {
    let app = spawn_app().await;
    app.add_user("admin", Role::Amministratore).await;
    let s = app.login("admin").await;
    let page = app.get(&s, "/utenti").await.text().await.unwrap();
    for id in ["username", "nome"] {
        assert!(page.contains(&format!("<input type=\"text\" class=\"form-control\" id=\"{id}\"")), "{id} in {page}");
    }
}
