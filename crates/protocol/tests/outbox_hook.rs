//! The intake's hook into the outbox: the answer is written in the decision's transaction,
//! never twice for the same message, never for automatic mail; the worker is woken.

use std::sync::Arc;
use std::time::Duration;

use sigillo_protocol::Pipeline;
use sigillo_notify::outbox::OutboxConfig;
use sigillo_pec::Checker;
use sigillo_store::blob::BlobStore;
use sigillo_store::inbound::{MessageState, Origin};
use sigillo_store::outbox::{self as rows, OutboxState};
use sigillo_store::testing::TestDb;

fn config() -> OutboxConfig {
    sigillo_notify::testing::config("protocollo@pec.comune.example.it", 20)
}

#[tokio::test]
async fn a_rejection_queues_one_notice_and_wakes_the_worker() {
    let db = TestDb::new(4).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let register = db.test_register().await.unwrap();
    let wake = Arc::new(tokio::sync::Notify::new());
    let p = Pipeline::new(db.pool.clone(), BlobStore::open(data.path()).unwrap(), register, Checker::new(std::time::SystemTime::now()), 3)
        .with_outbox(config(), Some(wake.clone()));

    let mail = b"From: Anna <anna@example.com>\r\nTo: protocollo@pec.comune.example.it\r\nSubject: Domanda\r\nMessage-ID: <1@example.com>\r\n\r\ntesto\r\n".to_vec();
    let o = p.ingest(mail.clone(), "plain.eml", &Origin::default()).await.unwrap();
    assert_eq!(o.state, MessageState::Rejected);
    tokio::time::timeout(Duration::from_secs(1), wake.notified()).await.expect("the worker is woken after the commit");
    let mut c = db.pool.acquire().await.unwrap();
    let found = rows::for_inbound(&mut c, o.inbound_id).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!((found[0].state, found[0].kind.as_str()), (OutboxState::Pending, "notifica"));
    assert_eq!(found[0].recipient.as_deref(), Some("anna@example.com"));

    // The same bytes again: the first decision stands, no second notice.
    let again = p.ingest(mail, "plain.eml", &Origin::default()).await.unwrap();
    assert!(again.duplicate);
    assert_eq!(rows::for_inbound(&mut c, o.inbound_id).await.unwrap().len(), 1);

    // An autoreply is rejected too, but not answered: the row says why.
    let auto = b"From: anna@example.com\r\nAuto-Submitted: auto-replied\r\nSubject: Fuori sede\r\n\r\nsono in ferie\r\n".to_vec();
    let o = p.ingest(auto, "auto.eml", &Origin::default()).await.unwrap();
    assert_eq!(o.state, MessageState::Rejected);
    let found = rows::for_inbound(&mut c, o.inbound_id).await.unwrap();
    assert_eq!((found[0].state, found[0].suppressed_reason), (OutboxState::Suppressed, Some(sigillo_store::outbox::SuppressedReason::AutomaticMail)));

    // A bounce (empty Return-Path, mailer-daemon) neither.
    let bounce = b"Return-Path: <>\r\nFrom: MAILER-DAEMON@mx.example.com\r\nSubject: Undelivered Mail\r\n\r\nx\r\n".to_vec();
    let o = p.ingest(bounce, "bounce.eml", &Origin::default()).await.unwrap();
    let found = rows::for_inbound(&mut c, o.inbound_id).await.unwrap();
    assert_eq!(found[0].state, OutboxState::Suppressed);
}

#[tokio::test]
async fn without_an_outbox_nothing_is_queued() {
    let db = TestDb::new(4).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let register = db.test_register().await.unwrap();
    let p = Pipeline::new(db.pool.clone(), BlobStore::open(data.path()).unwrap(), register, Checker::new(std::time::SystemTime::now()), 3);
    let o = p.ingest(b"From: a@example.com\r\nSubject: x\r\n\r\nx\r\n".to_vec(), "x.eml", &Origin::default()).await.unwrap();
    assert_eq!(o.state, MessageState::Rejected);
    let mut c = db.pool.acquire().await.unwrap();
    assert!(rows::for_inbound(&mut c, o.inbound_id).await.unwrap().is_empty());
}
