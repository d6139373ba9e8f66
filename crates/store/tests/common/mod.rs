#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Utc};
use sigillo_store::register::{
    self, Actor, Direction, DocumentRole, NewDocument, NewRegistration, Register, Registration,
    Sha256,
};
use sigillo_store::testing::TestDb;

pub async fn setup(max_connections: u32) -> (TestDb, Register) {
    let db = TestDb::new(max_connections).await.expect("test database");
    let register = db.test_register().await.expect("test register");
    (db, register)
}

pub fn sample(subject: &str) -> NewRegistration {
    NewRegistration {
        direction: Direction::Incoming,
        correspondent_name: Some("Mario Rossi".into()),
        correspondent_address: Some("mario.rossi@pec.example.it".into()),
        subject: subject.into(),
        sender_protocol_number: None,
        sender_protocol_date: None,
        received_at: None,
        inbound_message_id: None,
        documents: vec![NewDocument {
            name: "istanza.pdf.p7m".into(),
            media_type: "application/pkcs7-mime".into(),
            size_bytes: 5,
            sha256: Sha256::of(subject.as_bytes()),
            role: DocumentRole::Primary,
            signature_report: Some(serde_json::json!({"verdict": "TOTAL_PASSED"})),
        }],
    }
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
