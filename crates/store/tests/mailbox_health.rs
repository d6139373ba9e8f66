//! The mailbox health the home page shows (migration 0022).
#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Duration, Utc};
use sigillo_store::mailbox_health::{Fault, all, record_failure, record_ok};
use sigillo_store::testing::TestDb;

#[tokio::test]
async fn a_run_of_failures_keeps_its_start_and_a_completed_cycle_ends_it() {
    let db = TestDb::new(2).await.unwrap();
    let mut conn = db.pool.acquire().await.unwrap();
    let t0 = DateTime::parse_from_rfc3339("2026-12-01T08:00:00Z").unwrap().with_timezone(&Utc);
    record_ok(&mut conn, "protocollo@pec.example:993", "INBOX", t0).await.unwrap();
    let long = "x".repeat(2000);
    record_failure(&mut conn, "protocollo@pec.example:993", "INBOX", Fault::Login, "login: NO", t0 + Duration::minutes(5))
        .await
        .unwrap();
    record_failure(&mut conn, "protocollo@pec.example:993", "INBOX", Fault::Timeout, &long, t0 + Duration::minutes(9))
        .await
        .unwrap();
    record_failure(&mut conn, "altra@pec.example:993", "INBOX", Fault::Connection, "refused", t0).await.unwrap();
    let all_now = all(&mut conn).await.unwrap();
    assert_eq!(all_now.len(), 2);
    let ours = all_now.iter().find(|m| m.account.starts_with("protocollo")).unwrap();
    let f = ours.failing.as_ref().unwrap();
    assert_eq!(f.since, t0 + Duration::minutes(5), "the run starts at its first failure");
    assert_eq!(f.at, t0 + Duration::minutes(9));
    assert_eq!(f.fault, Fault::Timeout);
    assert_eq!(f.failures, 2);
    assert_eq!(f.error.chars().count(), 500);
    assert_eq!(ours.last_ok_at, Some(t0));
    // A mailbox that never worked has no last success.
    let other = all_now.iter().find(|m| m.account.starts_with("altra")).unwrap();
    assert_eq!(other.last_ok_at, None);

    record_ok(&mut conn, "protocollo@pec.example:993", "INBOX", t0 + Duration::minutes(10)).await.unwrap();
    let after = all(&mut conn).await.unwrap();
    let ours = after.iter().find(|m| m.account.starts_with("protocollo")).unwrap();
    assert_eq!(ours.failing, None);
    assert_eq!(ours.last_ok_at, Some(t0 + Duration::minutes(10)));
    // Failing mailboxes are listed first.
    assert!(after[0].failing.is_some());
    // A late writer cannot move the last success back.
    record_ok(&mut conn, "protocollo@pec.example:993", "INBOX", t0).await.unwrap();
    let again = all(&mut conn).await.unwrap();
    assert_eq!(again.iter().find(|m| m.account.starts_with("protocollo")).unwrap().last_ok_at, Some(t0 + Duration::minutes(10)));
}

