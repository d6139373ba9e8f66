//! Staff accounts under concurrency: the login throttle's counters and the last active
//! amministratore hold when many transactions race, and the audit acts of the schema are the
//! Rust enum's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use chrono::{Duration, Utc};
use sigillo_store::audit::AuditAction;
use sigillo_store::register::Actor;
use sigillo_store::staff::{self, Reservation, Role, ThrottleKey, ThrottleLimits, Username};
use sigillo_store::testing::TestDb;

const LIMITS: ThrottleLimits = ThrottleLimits { per_name_and_address: 5, per_address: 20, per_name: 50, window: Duration::minutes(15) };

#[tokio::test]
async fn every_audit_act_of_the_schema_is_an_enum_variant_and_back() {
    let db = TestDb::new(2).await.unwrap();
    let labels: Vec<String> = sqlx::query_scalar("select unnest(enum_range(null::audit_action))::text")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    let mut rust: Vec<&str> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
    let mut schema: Vec<&str> = labels.iter().map(String::as_str).collect();
    rust.sort_unstable();
    schema.sort_unstable();
    assert_eq!(rust, schema);
    for a in AuditAction::ALL {
        assert_eq!(AuditAction::parse(a.as_str()), Some(a));
    }
}

/// 60 attempts on one name from one address at once: exactly the limit of them are allowed
/// (each counted before its password would be checked); the rest are refused.
#[tokio::test]
async fn sixty_concurrent_reservations_never_pass_the_limit() {
    let db = TestDb::new(30).await.unwrap();
    let keys = Arc::new(ThrottleKey::login("10.0.0.7", "m.rossi", &LIMITS));
    let now = Utc::now();
    let mut tasks = Vec::new();
    for _ in 0..60 {
        let pool = db.pool.clone();
        let keys = keys.clone();
        tasks.push(tokio::spawn(async move {
            let mut tx = pool.begin().await.unwrap();
            let r = staff::reserve_attempt(&mut tx, &keys, LIMITS.window, now).await.unwrap();
            tx.commit().await.unwrap();
            r
        }));
    }
    let mut allowed = 0;
    let mut reached = 0;
    for t in tasks {
        if let Reservation::Allowed { reached: r } = t.await.unwrap() {
            allowed += 1;
            reached += r.len();
        }
    }
    assert_eq!(allowed, 5);
    assert_eq!(reached, 1, "one attempt brings the (address, name) key to its limit");
    // The same address spraying other names stops at its own limit, whatever the names.
    let mut sprayed = 0;
    for i in 0..40 {
        let keys = ThrottleKey::login("10.0.0.7", &format!("nome{i}"), &LIMITS);
        let mut tx = db.pool.begin().await.unwrap();
        if matches!(staff::reserve_attempt(&mut tx, &keys, LIMITS.window, now).await.unwrap(), Reservation::Allowed { .. }) {
            sprayed += 1;
        }
        tx.commit().await.unwrap();
    }
    assert_eq!(sprayed, 20 - 5);
    // Another address is not throttled by the first one's failures (but shares the name's).
    let other = ThrottleKey::login("10.0.0.8", "m.rossi", &LIMITS);
    let mut tx = db.pool.begin().await.unwrap();
    assert!(matches!(staff::reserve_attempt(&mut tx, &other, LIMITS.window, now).await.unwrap(), Reservation::Allowed { .. }));
    // A success gives the attempt back (the address's count is 0 again) and clears its own
    // key; the name's count over all addresses keeps the five failures.
    staff::attempt_succeeded(&mut tx, &other).await.unwrap();
    tx.commit().await.unwrap();
    let left: Vec<(String, String, i32)> =
        sqlx::query_as("select client, username, failures from login_throttle where (client = '10.0.0.8' or (client = '' and username = 'm.rossi')) and failures > 0 order by 1")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(left, vec![(String::new(), "m.rossi".to_owned(), 5)]);
    // After the window the count starts again.
    let later = now + LIMITS.window + Duration::seconds(1);
    let mut tx = db.pool.begin().await.unwrap();
    assert!(matches!(staff::reserve_attempt(&mut tx, &keys, LIMITS.window, later).await.unwrap(), Reservation::Allowed { .. }));
    tx.commit().await.unwrap();
}

async fn add(db: &TestDb, name: &str, role: Role) {
    let mut tx = db.pool.begin().await.unwrap();
    staff::create_user(&mut tx, &Actor::parse("cli").unwrap(), &Username::parse(name).unwrap(), "Persona", role, "$argon2id$x")
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

/// Two amministratori disable each other at the same moment: one of the two is refused,
/// whichever commits second, and one stays active. Direct SQL is refused too.
#[tokio::test]
async fn the_last_active_amministratore_stays_whatever_the_race() {
    let db = TestDb::new(4).await.unwrap();
    add(&db, "admin1", Role::Amministratore).await;
    add(&db, "admin2", Role::Amministratore).await;
    add(&db, "op", Role::Operatore).await;
    let actor = Actor::parse("cli").unwrap();
    for round in 0..5 {
        let mut a = db.pool.begin().await.unwrap();
        let mut b = db.pool.begin().await.unwrap();
        let first = staff::disable_user(&mut a, &actor, &Username::parse("admin1").unwrap()).await;
        let actor_b = actor.clone();
        let pool_b = tokio::spawn(async move {
            let r = staff::disable_user(&mut b, &actor_b, &Username::parse("admin2").unwrap()).await;
            match r {
                Ok(()) => b.commit().await.map_err(sigillo_store::Error::from),
                Err(e) => Err(e),
            }
        });
        // b waits for a's lock; let it wait before a commits.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        first.unwrap();
        a.commit().await.unwrap();
        let second = pool_b.await.unwrap();
        let err = second.unwrap_err().to_string();
        assert!(err.contains("ultimo amministratore attivo"), "round {round}: {err}");
        let active: i64 =
            sqlx::query_scalar("select count(*) from staff_users where role = 'amministratore' and disabled_at is null")
                .fetch_one(&db.pool)
                .await
                .unwrap();
        assert_eq!(active, 1);
        sqlx::query("update staff_users set disabled_at = null").execute(&db.pool).await.unwrap();
    }
    // Demoting the last one, by the store or by hand, is refused as well.
    let mut tx = db.pool.begin().await.unwrap();
    staff::set_role(&mut tx, &actor, &Username::parse("admin1").unwrap(), Role::Operatore).await.unwrap();
    let err = staff::set_role(&mut tx, &actor, &Username::parse("admin2").unwrap(), Role::Revisore).await.unwrap_err();
    assert!(err.to_string().contains("ultimo amministratore attivo"), "{err}");
    drop(tx);
    let err = sqlx::query("update staff_users set disabled_at = now() where role = 'amministratore'")
        .execute(&db.pool)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("last active amministratore"), "{err}");
    // Other accounts are not concerned.
    let mut tx = db.pool.begin().await.unwrap();
    staff::disable_user(&mut tx, &actor, &Username::parse("op").unwrap()).await.unwrap();
    staff::enable_user(&mut tx, &actor, &Username::parse("op").unwrap()).await.unwrap();
    tx.commit().await.unwrap();
}
