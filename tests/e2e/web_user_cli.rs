//! `sigillo user add|passwd|disable` and `sigillo office …` through the real binary: the
//! password from standard input, the account and the offices in the database, and the
//! refusals.

use std::process::{Output, Stdio};

use sigillo_e2e::{Instance, sigillo_bin, stderr, stdout};
use tokio::io::AsyncWriteExt;

/// Runs `sigillo ARGS` with the instance's environment and `input` on standard input.
async fn run_stdin(app: &Instance, args: &[&str], input: &str) -> Output {
    let mut cmd = tokio::process::Command::new(sigillo_bin());
    cmd.args(args).env_clear().envs(&app.env).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).await.unwrap();
    drop(stdin);
    child.wait_with_output().await.unwrap()
}

async fn account(app: &Instance, username: &str) -> Option<(String, String, bool)> {
    sqlx::query_as::<_, (String, String, bool)>(
        "select role::text, password_hash, disabled_at is not null from staff_users where username = $1",
    )
    .bind(username)
    .fetch_optional(&app.db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn user_add_passwd_disable() {
    let app = Instance::new().await;
    assert!(app.run(&["migrate"]).await.status.success());

    let out = run_stdin(&app, &["user", "add", "anna.verdi", "--name", "Anna Verdi", "--role", "responsabile"], "una password lunga abbastanza\n").await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("anna.verdi"), "{}", stdout(&out));
    let (role, hash, disabled) = account(&app, "anna.verdi").await.expect("account created");
    assert_eq!(role, "responsabile");
    assert!(hash.starts_with("$argon2id$"), "argon2id PHC string");
    assert!(!hash.contains("una password"), "never the password itself");
    assert!(!disabled);

    // refusals: the same name again, a short password, an unknown role, a bad name
    let again = run_stdin(&app, &["user", "add", "anna.verdi", "--name", "Anna", "--role", "operatore"], "un'altra password lunga\n").await;
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    let short = run_stdin(&app, &["user", "add", "bruno", "--name", "Bruno", "--role", "operatore"], "corta\n").await;
    assert_eq!(short.status.code(), Some(2));
    assert!(stderr(&short).contains("password"), "{}", stderr(&short));
    let role = run_stdin(&app, &["user", "add", "carla", "--name", "Carla", "--role", "sindaco"], "una password lunga abbastanza\n").await;
    assert_eq!(role.status.code(), Some(2));
    assert!(stderr(&role).contains("sindaco"), "{}", stderr(&role));
    let name = run_stdin(&app, &["user", "add", "Dario Rossi", "--name", "Dario", "--role", "operatore"], "una password lunga abbastanza\n").await;
    assert_eq!(name.status.code(), Some(2));
    for u in ["bruno", "carla", "dario rossi"] {
        assert!(account(&app, u).await.is_none(), "{u} must not exist");
    }

    // passwd: a new hash, the sessions ended
    let id: i64 = sqlx::query_scalar("select id from staff_users where username = 'anna.verdi'").fetch_one(&app.db.pool).await.unwrap();
    sqlx::query("insert into staff_sessions (token_hash, user_id, csrf_token, expires_at) values ($1, $2, $3, now() + interval '1 hour')")
        .bind(vec![7u8; 32])
        .bind(id)
        .bind("c".repeat(40))
        .execute(&app.db.pool)
        .await
        .unwrap();
    let out = run_stdin(&app, &["user", "passwd", "anna.verdi"], "nuova password lunghissima\n").await;
    assert!(out.status.success(), "{}", stderr(&out));
    let (_, new_hash, _) = account(&app, "anna.verdi").await.unwrap();
    assert_ne!(new_hash, hash);
    let sessions: i64 = sqlx::query_scalar("select count(*) from staff_sessions where user_id = $1").bind(id).fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(sessions, 0, "passwd ends the sessions");
    let unknown = run_stdin(&app, &["user", "passwd", "nessuno"], "nuova password lunghissima\n").await;
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).contains("nessuno"), "{}", stderr(&unknown));

    // disable: kept, marked disabled
    let out = app.run(&["user", "disable", "anna.verdi"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let (_, _, disabled) = account(&app, "anna.verdi").await.unwrap();
    assert!(disabled);
    let audit: i64 = sqlx::query_scalar("select count(*) from audit_log where actor = 'cli'").fetch_one(&app.db.pool).await.unwrap();
    assert!(audit >= 3, "add, passwd and disable are in the audit trail ({audit})");
}

#[tokio::test]
async fn office_add_list_and_members() {
    let app = Instance::new().await;
    assert!(app.run(&["migrate"]).await.status.success());
    let out = run_stdin(&app, &["user", "add", "tributi1", "--name", "Teresa Tributi", "--role", "ufficio"], "una password lunga abbastanza\n").await;
    assert!(out.status.success(), "{}", stderr(&out));

    let out = app.run(&["office", "add", "TRIB", "Ufficio tributi"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = app.run(&["office", "add-member", "TRIB", "tributi1"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = app.run(&["office", "list"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim_end(), "TRIB\tUfficio tributi\tattivo\ttributi1");

    // refusals, each one line naming the cause, nothing changed
    let again = app.run(&["office", "add-member", "TRIB", "tributi1"]).await;
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    assert!(stderr(&again).contains("già"), "{}", stderr(&again));
    let unknown = app.run(&["office", "add-member", "RAG", "tributi1"]).await;
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).contains("RAG") && stderr(&unknown).contains("does not exist"), "{}", stderr(&unknown));
    let nobody = app.run(&["office", "add-member", "TRIB", "nessuno"]).await;
    assert_eq!(nobody.status.code(), Some(2));
    let bad = app.run(&["office", "add", "T R", "Ufficio"]).await;
    assert_eq!(bad.status.code(), Some(2));
    let dup = app.run(&["office", "add", "TRIB", "Altro"]).await;
    assert_eq!(dup.status.code(), Some(2));
    assert_eq!(stderr(&dup).lines().count(), 1, "{}", stderr(&dup));

    let out = app.run(&["office", "remove-member", "TRIB", "tributi1"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&app.run(&["office", "list"]).await), "TRIB\tUfficio tributi\tattivo\t\n", "no members left");
    let audit: Vec<String> = sqlx::query_scalar("select action::text from audit_log where actor = 'cli' and action::text like 'office.%' order by id")
        .fetch_all(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(audit, ["office.create", "office.member_add", "office.member_remove"]);
}
