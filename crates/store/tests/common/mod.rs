#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Utc};
use sigillo_store::register::{self, Actor, NewRegistration, Register, Registration, Sha256};
use sigillo_store::testing::{TestDb, bench_registration};

pub async fn setup(max_connections: u32) -> (TestDb, Register) {
    let db = TestDb::new(max_connections).await.expect("test database");
    let register = db.test_register().await.expect("test register");
    (db, register)
}

/// The benchmarks' registration with this subject and a small document hashed from it.
pub fn sample(subject: &str) -> NewRegistration {
    let mut new = bench_registration(0);
    new.subject = subject.into();
    let doc = &mut new.documents[0];
    doc.size_bytes = 5;
    doc.sha256 = Sha256::of(subject.as_bytes());
    doc.signature_report = Some(serde_json::json!({"verdict": "TOTAL_PASSED"}));
    new
}

pub fn actor() -> Actor {
    Actor::parse("intake").unwrap()
}

/// Registers one sample in its own committed transaction.
pub async fn register_one(
    db: &TestDb,
    register: &Register,
    subject: &str,
    at: Option<DateTime<Utc>>,
) -> Registration {
    let mut tx = db.pool.begin().await.unwrap();
    let r = register::register(&mut tx, register, &actor(), &sample(subject), at).await.unwrap();
    tx.commit().await.unwrap();
    r
}
