//! The pipeline's fault paths against a real Postgres: a classifier that panics, bounded
//! retries, quarantine; and the mailbox state kept in the store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicBool, Ordering};

use sigillo_protocol::Pipeline;
use sigillo_pec::{Checker, MessageReport, PecError, ValidationTime};
use sigillo_store::blob::BlobStore;

use sigillo_store::inbound::{self, MailboxState, MessageState, Origin};

use sigillo_store::testing::TestDb;

static PANIC: AtomicBool = AtomicBool::new(true);

fn sometimes_panics(c: &Checker, label: &str, raw: &[u8], when: ValidationTime) -> Result<MessageReport, PecError> {
    if PANIC.load(Ordering::SeqCst) && raw.starts_with(b"X-Boom") {
        panic!("classifier bug");
    }
    c.check_message_at(label, raw, when)
}

async fn pipeline(db: &TestDb, data: &std::path::Path, max: u32) -> Pipeline {
    let register = db.test_register().await.unwrap();
    Pipeline::new(db.pool.clone(), BlobStore::open(data).unwrap(), register, Checker::new(std::time::SystemTime::now()), max)
        .with_classifier(sometimes_panics)
}

#[tokio::test]
async fn a_classifier_panic_is_caught_recorded_retried_and_quarantined() {
    let db = TestDb::new(4).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let p = pipeline(&db, data.path(), 3).await;
    let boom = b"X-Boom: 1\r\nSubject: x\r\n\r\nx\r\n".to_vec();
    let next = b"From: a@b.it\r\nSubject: y\r\n\r\ny\r\n".to_vec();

    let o = p.ingest(boom.clone(), "boom", &Origin::default()).await.unwrap();
    assert_eq!(o.state, MessageState::Error);
    assert!(o.error.as_deref().unwrap().contains("panic"), "{o:?}");
    assert_eq!((o.attempts, o.quarantined), (1, false));
    // The message after it is not blocked.
    let o2 = p.ingest(next, "next", &Origin::default()).await.unwrap();
    assert_eq!(o2.state, MessageState::Rejected);

    // Retries from the stored bytes, until out of attempts.
    let mut conn = db.pool.acquire().await.unwrap();
    for expected in [2, 3] {
        let due = inbound::retryable(&mut conn, None, None, p.max_attempts(), 10).await.unwrap();
        assert_eq!(due.len(), 1);
        let o = p.retry(due[0].id, due[0].raw_sha256, "boom").await.unwrap();
        assert_eq!(o.attempts, expected);
        assert_eq!(o.quarantined, expected == 3);
    }
    assert!(inbound::retryable(&mut conn, None, None, p.max_attempts(), 10).await.unwrap().is_empty());
    // Quarantined: ingesting it again does not run the classifier again.
    let o = p.ingest(boom.clone(), "boom", &Origin::default()).await.unwrap();
    assert!(o.quarantined && o.attempts == 3);

    // Once the bug is fixed, a fresh pipeline with more attempts decides it.
    PANIC.store(false, Ordering::SeqCst);
    let p = pipeline(&db, data.path(), 5).await;
    let due = inbound::retryable(&mut conn, None, None, p.max_attempts(), 10).await.unwrap();
    let o = p.retry(due[0].id, due[0].raw_sha256, "boom").await.unwrap();
    assert_eq!(o.state, MessageState::Rejected);
    assert!(o.error.is_none());
}

#[tokio::test]
async fn mailbox_state_moves_forward_and_resets_with_a_new_uidvalidity() {
    let db = TestDb::new(2).await.unwrap();
    let mut c = db.pool.acquire().await.unwrap();
    let st = |uidvalidity, last_uid| MailboxState { uidvalidity, last_uid };
    assert_eq!(inbound::mailbox_state(&mut c, "a", "INBOX").await.unwrap(), None);
    inbound::save_mailbox_state(&mut c, "a", "INBOX", st(7, 10)).await.unwrap();
    assert_eq!(inbound::save_mailbox_state(&mut c, "a", "INBOX", st(7, 4)).await.unwrap(), st(7, 10), "never backwards");
    assert_eq!(inbound::save_mailbox_state(&mut c, "a", "INBOX", st(9, 0)).await.unwrap(), st(9, 0), "new UIDVALIDITY");
    assert!(inbound::save_mailbox_state(&mut c, "a", "INBOX", st(0, 0)).await.is_err());
    assert_eq!(inbound::mailbox_state(&mut c, "a", "Altro").await.unwrap(), None);
}
