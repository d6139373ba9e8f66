//! Accounts on the dashboard against the real server (issue 15): the last active
//! amministratore stays, an amministratore unlocks, sets a temporary password the person must
//! change, and re-enables accounts, each act audited; the audit page in Italian, filtered by
//! person, act and date; the system's acts named in words wherever they are shown.

use futures_util::future::join_all;
use reqwest::StatusCode;
use sigillo_store::staff::Role;

use crate::web_common::{PASSWORD, TestApp, location, spawn_app};

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned())).fetch_one(&app.db.pool).await.unwrap()
}

async fn active_admins(app: &TestApp) -> i64 {
    count(app, "select count(*) from staff_users where role = 'amministratore' and disabled_at is null").await
}

#[tokio::test]
async fn web_accounts_the_last_active_amministratore_cannot_be_disabled_or_demoted() {
    let app = spawn_app().await;
    app.add_user("admin1", Role::Amministratore).await;
    let a1 = app.login("admin1").await;
    for (path, fields) in [("/utenti/admin1/disattiva", vec![]), ("/utenti/admin1/ruolo", vec![("ruolo", "operatore")])] {
        let res = app.post(&a1, path, &fields).await;
        assert_eq!(res.status(), StatusCode::CONFLICT, "{path}");
        let page = res.text().await.unwrap();
        assert!(page.contains("ultimo amministratore attivo"), "{path}: {page}");
    }
    assert_eq!(active_admins(&app).await, 1);
    assert_eq!(count(&app, "select count(*) from staff_users where role = 'amministratore'").await, 1);
    // Two amministratori disabling each other at the same moment: one of them stays.
    for round in 0..3 {
        app.add_user(&format!("altro{round}"), Role::Amministratore).await;
        let other = app.login(&format!("altro{round}")).await;
        let me = app.login("admin1").await;
        let (x, y) = (format!("/utenti/altro{round}/disattiva"), "/utenti/admin1/disattiva".to_owned());
        let answers = join_all([app.post(&me, &x, &[]), app.post(&other, &y, &[])]).await;
        assert_eq!(active_admins(&app).await, 1, "round {round}: {:?}", answers.iter().map(reqwest::Response::status).collect::<Vec<_>>());
        sqlx::query("update staff_users set disabled_at = null where username = 'admin1'").execute(&app.db.pool).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("update staff_users set disabled_at = now() where username = 'altro{round}'")))
            .execute(&app.db.pool)
            .await
            .unwrap();
    }
    // With another active amministratore, demoting one is fine (and audited).
    app.add_user("admin2", Role::Amministratore).await;
    let a1 = app.login("admin1").await;
    let res = app.post(&a1, "/utenti/admin2/ruolo", &[("ruolo", "revisore")]).await;
    assert_eq!(location(&res), "/utenti?esito=ruolo");
    assert_eq!(count(&app, "select count(*) from audit_log where action = 'staff.role' and object_id = 'admin2'").await, 1);
}

#[tokio::test]
async fn web_accounts_unlock_temporary_password_and_reenable_are_audited() {
    let app = spawn_app().await;
    app.add_user("admin", Role::Amministratore).await;
    app.add_user("op", Role::Operatore).await;
    let a = app.login("admin").await;
    // Locked by five wrong passwords: shown on the users page, lifted by Sblocca.
    for _ in 0..5 {
        app.try_login("op", "sbagliata-sbagliata").await;
    }
    assert_eq!(app.try_login("op", PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);
    let page = app.get(&a, "/utenti").await.text().await.unwrap();
    assert!(page.contains("bloccato temporaneamente") && page.contains("/utenti/op/sblocca"), "{page}");
    let res = app.post(&a, "/utenti/op/sblocca", &[]).await;
    assert_eq!(location(&res), "/utenti?esito=sbloccato");
    let op = app.login("op").await;

    // A temporary password: shown once, ends the sessions, must be changed first.
    let res = app.post(&a, "/utenti/op/password-temporanea", &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.unwrap();
    let marker = "<code id=\"password-temporanea\">";
    let start = page.find(marker).expect("the temporary password is shown") + marker.len();
    let temporary = page[start..].split('<').next().unwrap().to_owned();
    assert_eq!(temporary.len(), 19, "{temporary}");
    assert_eq!(app.get(&op, "/").await.status(), StatusCode::SEE_OTHER, "the old session is over");
    let hash: String = sqlx::query_scalar("select password_hash from staff_users where username = 'op'").fetch_one(&app.db.pool).await.unwrap();
    assert!(!hash.contains(&temporary));
    let res = app.try_login("op", &temporary).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let cookie = crate::web_common::set_cookies(&res).into_iter().find(|c| c.starts_with("sigillo_sessione=")).unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let get = |path: &'static str| app.client.get(app.url(path)).header(reqwest::header::COOKIE, &cookie).send();
    for path in ["/", "/registrazioni", "/registro"] {
        let res = get(path).await.unwrap();
        assert_eq!((res.status(), location(&res)), (StatusCode::SEE_OTHER, "/password".to_owned()), "{path}");
    }
    let form = get("/password").await.unwrap().text().await.unwrap();
    assert!(form.contains("password attuale è temporanea"), "{form}");
    let csrf = crate::web_common::csrf_in(&form);
    let s = crate::web_common::Session { cookie: cookie.clone(), csrf };
    let res = app.post(&s, "/password", &[("current", &temporary), ("new", "la mia password nuova"), ("confirm", "la mia password nuova")]).await;
    assert_eq!(location(&res), "/accedi");
    let res = app.try_login("op", "la mia password nuova").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(count(&app, "select count(*) from staff_users where username = 'op' and must_change_password").await, 0);

    // Disabled: cannot log in; enabled again: can.
    assert_eq!(location(&app.post(&a, "/utenti/op/disattiva", &[]).await), "/utenti?esito=disattivato");
    assert_eq!(app.try_login("op", "la mia password nuova").await.status(), StatusCode::UNAUTHORIZED);
    let page = app.get(&a, "/utenti").await.text().await.unwrap();
    assert!(page.contains("/utenti/op/riattiva"), "{page}");
    assert_eq!(location(&app.post(&a, "/utenti/op/riattiva", &[]).await), "/utenti?esito=riattivato");
    assert_eq!(app.try_login("op", "la mia password nuova").await.status(), StatusCode::SEE_OTHER);

    for action in ["staff.unlock", "staff.password_reset", "staff.disable", "staff.enable"] {
        let n = count(&app, &format!("select count(*) from audit_log where action = '{action}' and object_id = 'op' and actor = 'admin'")).await;
        assert_eq!(n, 1, "{action}");
    }
    assert_eq!(count(&app, "select count(*) from audit_log where action = 'staff.lockout' and object_id = 'op' and actor = 'web'").await, 1);
    let audit = app.get(&a, "/audit").await.text().await.unwrap();
    for label in [
        "Sblocco di un utente",
        "Password temporanea impostata dall&#39;amministratore",
        "Disattivazione di un utente",
        "Riattivazione di un utente",
        "Blocco per tentativi di accesso non riusciti",
        "Sistema (servizio)",
    ] {
        assert!(audit.contains(label) || audit.contains(&label.replace("&#39;", "'")), "{label} missing from the audit page");
    }
}

/// The audit page and the record page name acts and the system's actors in Italian; the
/// audit page filters by person, act and day.
#[tokio::test]
async fn web_accounts_audit_page_in_italian_filtered_by_person_act_and_day() {
    let app = spawn_app().await;
    let (id, _) = app.seed("Istanza di prova", "Mario Rossi", "a.pdf", b"a").await;
    app.add_user("resp", Role::Responsabile).await;
    let s = app.login("resp").await;
    let record = app.get(&s, &format!("/registrazioni/{id}")).await.text().await.unwrap();
    assert!(record.contains("Ricezione automatica PEC"), "Registrata da in words");
    assert!(!record.contains("<td>intake</td>") && !record.contains(">intake<"), "no raw actor code on the record page");

    let cells = |html: &str| -> Vec<String> {
        html.split("<tbody>").nth(1).map_or_else(Vec::new, |t| {
            t.split("</tbody>").next().unwrap().split("<td>").skip(1).map(|c| c.split("</td>").next().unwrap().to_owned()).collect()
        })
    };
    let all = app.get(&s, "/audit").await.text().await.unwrap();
    let all_cells = cells(&all);
    assert!(all_cells.iter().any(|c| c == "Ricezione automatica PEC"), "{all_cells:?}");
    assert!(all_cells.iter().any(|c| c == "Registrazione di protocollo"), "{all_cells:?}");
    assert!(all_cells.iter().any(|c| c == "Accesso"), "{all_cells:?}");
    for code in ["registration.create", "staff.login", "staff.create"] {
        assert!(!all_cells.iter().any(|c| c == code), "{code} shown as a code");
    }
    assert!(all.contains(&format!("href=\"/registrazioni/{id}\"")), "the registration is a link");

    let rows = |html: &str| html.split("<tbody>").nth(1).map_or(0, |t| t.split("</tbody>").next().unwrap().matches("<tr>").count());
    let by_intake = app.get(&s, "/audit?persona=intake").await.text().await.unwrap();
    assert_eq!(rows(&by_intake), 1);
    assert!(by_intake.contains("<option value=\"intake\" selected>Ricezione automatica PEC</option>"));
    let logins = app.get(&s, "/audit?atto=staff.login").await.text().await.unwrap();
    assert_eq!(rows(&logins), 1);
    assert!(cells(&logins).iter().any(|c| c == "resp"));
    let both = app.get(&s, "/audit?persona=resp&atto=registration.create").await.text().await.unwrap();
    assert_eq!(rows(&both), 0);
    assert!(both.contains("Nessuna operazione con questi filtri"));
    let today = chrono::Utc::now().with_timezone(&chrono_tz::Europe::Rome).date_naive();
    let day = |d: chrono::NaiveDate| d.format("%Y-%m-%d").to_string();
    let total = count(&app, "select count(*) from audit_log").await as usize;
    let this_day = app.get(&s, &format!("/audit?dal={}&al={}", day(today), day(today))).await.text().await.unwrap();
    assert_eq!(rows(&this_day), total);
    let tomorrow = app.get(&s, &format!("/audit?dal={}", day(today.succ_opt().unwrap()))).await.text().await.unwrap();
    assert_eq!(rows(&tomorrow), 0);
    let yesterday = app.get(&s, &format!("/audit?al={}", day(today.pred_opt().unwrap()))).await.text().await.unwrap();
    assert_eq!(rows(&yesterday), 0);
    for bad in ["/audit?atto=registration.delete", "/audit?dal=ieri", "/audit?dal=2026-12-05&al=2026-12-01"] {
        let res = app.get(&s, bad).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
}
