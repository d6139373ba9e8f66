//! Registered data cannot be changed by anybody; annulment is its own operation; the audit
//! trail is append-only and its chain names the first tampered entry.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{register_one, setup};
use sigillo_store::ids::RegistrationId;
use sigillo_store::Error;
use sigillo_store::audit::{self, Verification};
use sigillo_store::register::{self, Actor, NewAnnulment};

async fn refused(db: &sigillo_store::testing::TestDb, sql: &str) -> String {
    let err = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).execute(&db.pool).await.unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("immutable"), "{sql}: unexpected error {msg}");
    msg
}

#[tokio::test]
async fn direct_sql_cannot_change_or_remove_registered_data() {
    let (db, reg) = setup(2).await;
    let r = register_one(&db, &reg, "Richiesta di accesso agli atti", None).await;
    let id = r.id;
    for sql in [
        format!("update registrations set subject = 'altro' where id = {id}"),
        format!("update registrations set number = 99 where id = {id}"),
        format!("update registrations set registered_at = now() - interval '1 day' where id = {id}"),
        format!("update registrations set document_hashes = '{{}}' where id = {id}"),
        format!("delete from registrations where id = {id}"),
        "truncate registrations cascade".to_owned(),
        format!("update documents set sha256 = sha256('x'::bytea) where registration_id = {id}"),
        format!("update documents set name = 'x.pdf' where registration_id = {id}"),
        format!("delete from documents where registration_id = {id}"),
        "truncate documents".to_owned(),
        "update audit_log set actor = 'someone else'".to_owned(),
        "delete from audit_log".to_owned(),
    ] {
        refused(&db, &sql).await;
    }
    // Counters never move back, so a number cannot be handed out twice.
    let err = sqlx::query("update register_counters set last_number = last_number - 1")
        .execute(&db.pool)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("only move forward"), "{err}");

    let subject: String = sqlx::query_scalar("select subject from registrations where id = $1")
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(subject, "Richiesta di accesso agli atti");
}

#[tokio::test]
async fn the_application_role_is_refused_too() {
    let (db, reg) = setup(2).await;
    let r = register_one(&db, &reg, "x", None).await;
    // A non-superuser role with full rights on the tables, as an application would have.
    let role = format!("app_{}", &db.name[db.name.len() - 8..]);
    for sql in [
        format!("create role {role}"),
        format!("grant all on all tables in schema public to {role}"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&db.pool).await.unwrap();
    }
    let mut tx = db.pool.begin().await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("set local role {role}"))).execute(&mut *tx).await.unwrap();
    let err = sqlx::query("update registrations set subject = 'y' where id = $1")
        .bind(r.id)
        .execute(&mut *tx)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("immutable"), "{err}");
    drop(tx);
    sqlx::query(sqlx::AssertSqlSafe(format!("drop owned by {role}"))).execute(&db.pool).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("drop role {role}"))).execute(&db.pool).await.unwrap();
}

#[tokio::test]
async fn annulment_keeps_the_original_and_is_recorded_once() {
    let (db, reg) = setup(2).await;
    let r = register_one(&db, &reg, "Domanda errata", None).await;
    let who = Actor::parse("responsabile.rossi").unwrap();
    let annulment = NewAnnulment {
        reason: "Registrato per errore due volte".into(),
        authorising_act: "Provvedimento n. 12 del 23/11/2026".into(),
    };

    let mut tx = db.pool.begin().await.unwrap();
    register::annul(&mut tx, r.id, &who, &annulment).await.unwrap();
    tx.commit().await.unwrap();

    let row: (String, i32) = sqlx::query_as("select subject, number from registrations where id = $1")
        .bind(r.id)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(row, ("Domanda errata".to_owned(), 1), "the original stays readable");

    let mut tx = db.pool.begin().await.unwrap();
    let err = register::annul(&mut tx, r.id, &who, &annulment).await.unwrap_err();
    assert!(matches!(err, Error::AlreadyAnnulled(_)), "{err:?}");
    drop(tx);

    let mut conn = db.pool.acquire().await.unwrap();
    for (reason, act) in [("", "atto"), ("motivo", " ")] {
        let err = register::annul(
            &mut conn,
            r.id,
            &who,
            &NewAnnulment { reason: reason.into(), authorising_act: act.into() },
        )
        .await
        .unwrap_err();
        assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
    }
    let err = register::annul(&mut conn, RegistrationId::new(r.id.get() + 1000), &who, &annulment).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    refused(&db, "delete from annulments").await;

    let actions: Vec<String> = sqlx::query_scalar("select action::text from audit_log order by id")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert_eq!(actions, ["registration.create", "registration.annul"]);
}

async fn verify(db: &sigillo_store::testing::TestDb) -> Verification {
    let mut conn = db.pool.acquire().await.unwrap();
    audit::verify(&mut conn).await.unwrap()
}

/// A superuser can switch triggers off; the hash chain is what catches that.
async fn as_superuser_bypassing_triggers(db: &sigillo_store::testing::TestDb, sql: &str) {
    let mut tx = db.pool.begin().await.unwrap();
    sqlx::query("set local session_replication_role = replica").execute(&mut *tx).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).execute(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn the_audit_chain_names_the_first_tampered_entry() {
    let (db, reg) = setup(2).await;
    for i in 0..5 {
        register_one(&db, &reg, &format!("n{i}"), None).await;
    }
    match verify(&db).await {
        Verification::Intact { entries, .. } => assert_eq!(entries, 5),
        broken => panic!("{broken:?}"),
    }

    as_superuser_bypassing_triggers(&db, "update audit_log set actor = 'mallory' where id = 3").await;
    assert_eq!(
        verify(&db).await,
        Verification::Broken { entry_id: 3, reason: "its content was changed after it was written".into() }
    );
}

#[tokio::test]
async fn the_audit_chain_detects_removed_and_rehashed_entries() {
    let (db, reg) = setup(2).await;
    for i in 0..4 {
        register_one(&db, &reg, &format!("n{i}"), None).await;
    }
    as_superuser_bypassing_triggers(&db, "delete from audit_log where id = 2").await;
    assert!(matches!(verify(&db).await, Verification::Broken { entry_id: 3, .. }));

    // Rewriting an entry together with its own content hash still breaks the next link.
    let (db, reg) = setup(2).await;
    for i in 0..4 {
        register_one(&db, &reg, &format!("n{i}"), None).await;
    }
    as_superuser_bypassing_triggers(&db, "update audit_log set hash = sha256('forged'::bytea) where id = 2").await;
    assert!(matches!(verify(&db).await, Verification::Broken { entry_id: 2, .. }));

    // Dropping the last entry is seen through the head.
    let (db, reg) = setup(2).await;
    for i in 0..3 {
        register_one(&db, &reg, &format!("n{i}"), None).await;
    }
    as_superuser_bypassing_triggers(&db, "delete from audit_log where id = 3").await;
    assert!(matches!(verify(&db).await, Verification::Broken { entry_id: 3, .. }));
}

#[tokio::test]
async fn audit_details_with_floats_are_refused() {
    let (db, _) = setup(2).await;
    let mut conn = db.pool.acquire().await.unwrap();
    let err = audit::append(
        &mut conn,
        &audit::NewAuditEntry {
            actor: "x".into(),
            action: audit::AuditAction::StaffLogin,
            object_type: "z".into(),
            object_id: "1".into(),
            details: serde_json::json!({"ratio": 0.5}),
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }));
}
