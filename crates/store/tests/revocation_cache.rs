//! The revocation cache (`revocation_cache`, migration 0017).
#![allow(clippy::unwrap_used)]

use chrono::{DateTime, TimeZone, Utc};
use sigillo_store::revocation::{CachedRevocation, RevocationStatus, current, keep};
use sigillo_store::testing::TestDb;


fn t(h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 6, h, 0, 0).single().unwrap_or_default()
}

#[tokio::test]
async fn answers_are_kept_until_their_next_update_and_the_newest_wins() {
    let db = TestDb::new(2).await.unwrap();
    let mut conn = db.pool.acquire().await.unwrap();
    let key = "a".repeat(64);
    let good = CachedRevocation {
        status: RevocationStatus::Good,
        revoked_at: None,
        this_update: t(8),
        next_update: t(12),
        source: "OCSP http://127.0.0.1/ocsp".into(),
    };
    assert_eq!(current(&mut conn, &key, t(9)).await.unwrap(), None);
    keep(&mut conn, &key, &good, t(9)).await.unwrap();
    assert_eq!(current(&mut conn, &key, t(9)).await.unwrap(), Some(good.clone()));
    assert_eq!(current(&mut conn, &key, t(12)).await.unwrap(), None, "not after its next update");
    let revoked = CachedRevocation { status: RevocationStatus::Revoked, revoked_at: Some(t(9)), this_update: t(10), ..good.clone() };
    keep(&mut conn, &key, &revoked, t(10)).await.unwrap();
    // An older answer arriving late does not overwrite a newer one.
    keep(&mut conn, &key, &good, t(10)).await.unwrap();
    assert_eq!(current(&mut conn, &key, t(10)).await.unwrap(), Some(revoked));
    // Expired rows go when the next answer is kept.
    keep(&mut conn, &"b".repeat(64), &CachedRevocation { next_update: t(23), ..good }, t(13)).await.unwrap();
    assert_eq!(current(&mut conn, &key, t(0)).await.unwrap(), None);
    // A revoked status without its time is refused by the schema.
    let broken = CachedRevocation { status: RevocationStatus::Revoked, revoked_at: None, this_update: t(8), next_update: t(20), source: "x".into() };
    assert!(keep(&mut conn, &"c".repeat(64), &broken, t(9)).await.is_err());
}
