//! The segnatura of a registration is fixed when it is made (DPR 445/2000 art. 55): stored
//! with the row, never recomputed from the configuration of the moment.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{NaiveDate, TimeZone, Utc};
use common::{register_one, setup};
use sigillo_store::browse::{self, ListFilter};
use sigillo_store::export::{self, Period};
use sigillo_store::register::{self, Register};

#[tokio::test]
async fn the_segnatura_does_not_change_when_the_time_zone_changes_afterwards() {
    let (db, rome) = setup(2).await;
    // 22:30 UTC on 30 June is 00:30 on 1 July in Rome: the two zones disagree on the date.
    let at = Utc.with_ymd_and_hms(2026, 6, 30, 22, 30, 0).unwrap();
    let made = register_one(&db, &rome, "Istanza di accesso", Some(at)).await;
    const FIXED: &str = "c_h501|A1B2C3D|PG|2026-07-01|0000001";
    assert_eq!(made.segnatura, FIXED);

    // The service restarted with SIGILLO_TIMEZONE=UTC: the same register, another zone.
    let mut conn = db.pool.acquire().await.unwrap();
    let utc = Register::ensure(&mut conn, &rome.ipa_code, &rome.aoo_code, &rome.code, chrono_tz::UTC).await.unwrap();
    assert_eq!(utc.id, rome.id);
    assert_ne!(utc.segnatura(made.number, at), FIXED, "recomputing would now give another date");

    let stored: String = sqlx::query_scalar("select segnatura from registrations where id = $1")
        .bind(made.id)
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(stored, FIXED, "written with the registration");
    assert_eq!(register::find(&mut conn, &utc, made.year, made.number).await.unwrap().segnatura, FIXED);
    assert_eq!(browse::registration(&mut conn, &utc, made.id).await.unwrap().segnatura, FIXED);
    let (listed, _) = browse::list(&mut conn, &utc, &ListFilter::default(), 10).await.unwrap();
    assert_eq!(listed[0].segnatura, FIXED);
    let exported = export::collect(&mut conn, &utc, Period::Day(NaiveDate::from_ymd_opt(2026, 6, 30).unwrap())).await.unwrap();
    assert_eq!(exported.registrations[0].segnatura, FIXED);

    // Registered fields are immutable, the segnatura among them.
    let err = sqlx::query("update registrations set segnatura = 'x' where id = $1").bind(made.id).execute(&mut *conn).await;
    assert!(err.is_err(), "the segnatura cannot be rewritten");
}
