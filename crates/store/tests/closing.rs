//! A closed day stays closed: its export is stored once, never rewritten, and a later
//! annulment appears in the register of the day it was made.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use common::{register_one, setup};
use sigillo_store::blob::BlobStore;
use sigillo_store::closing::{self, Closing, Stored};
use sigillo_store::export::{self, Format, Period, RegisterExport};
use sigillo_store::register::{self, Actor, NewAnnulment, Sha256};

/// A stand-in for the PDF renderer (the real one is in sigillo_report_pdf): a function of the
/// export, like the real one.
fn fake_pdf(e: &RegisterExport) -> Result<Vec<u8>, String> {
    let mut out = b"%PDF-fake\n".to_vec();
    out.extend(e.render(Format::Csv).map_err(|e| e.to_string())?);
    Ok(out)
}

fn cli() -> Actor {
    Actor::parse("cli").unwrap()
}

fn rome(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    chrono_tz::Europe::Rome.with_ymd_and_hms(y, m, d, h, min, 0).unwrap().with_timezone(&Utc)
}

#[tokio::test]
async fn a_closed_day_keeps_its_bytes_after_a_later_annulment_which_the_next_day_lists() {
    let (db, reg) = setup(4).await;
    let dir = tempfile::tempdir().unwrap();
    let blobs = BlobStore::open(dir.path()).unwrap();
    // Yesterday in Rome: the annulment made now falls on the day after.
    let today = closing::day_of(&reg, Utc::now());
    let d = today.pred_opt().unwrap();
    let at = chrono_tz::Europe::Rome.from_local_datetime(&d.and_hms_opt(11, 0, 0).unwrap()).unwrap().with_timezone(&Utc);
    let r = register_one(&db, &reg, "Richiesta di accesso agli atti", Some(at)).await;
    register_one(&db, &reg, "Istanza di contributo", Some(at)).await;
    let mut conn = db.pool.acquire().await.unwrap();

    // Not over yet at 23:59 of D, nor within the grace after midnight.
    let err = closing::close_day(&mut conn, &blobs, &reg, today, Utc::now(), &cli(), &fake_pdf).await.unwrap_err();
    assert!(err.to_string().contains("not over"), "{err}");

    let Closing::Closed(closed) = closing::close_day(&mut conn, &blobs, &reg, d, Utc::now(), &cli(), &fake_pdf).await.unwrap() else {
        panic!("closed by this call")
    };
    assert_eq!(closed.registrations, 2);
    let before: Vec<Vec<u8>> = [Stored::Json, Stored::Csv, Stored::Pdf]
        .iter()
        .map(|f| blobs.get(&closed.sha256(*f)).unwrap())
        .collect();
    assert_eq!(Sha256::of(&before[1]), closed.csv_sha256);

    // Annulled now, on D+1.
    let mut tx = db.pool.begin().await.unwrap();
    register::annul(
        &mut tx,
        r.id,
        &Actor::parse("responsabile").unwrap(),
        &NewAnnulment { reason: "Doppia registrazione".into(), authorising_act: "Provv. 7/2026".into() },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    // D again: the stored bytes, identical; and a fresh rendering agrees (annulled = false,
    // as the register was at the end of D).
    for (i, f) in [Stored::Json, Stored::Csv, Stored::Pdf].iter().enumerate() {
        let again = closing::stored(&mut conn, &blobs, &reg, d, *f).await.unwrap().unwrap();
        assert_eq!(again, before[i], "{f:?} of the closed day changed");
    }
    let fresh = export::collect(&mut conn, &reg, Period::Day(d)).await.unwrap();
    assert!(fresh.registrations.iter().all(|r| !r.annulled));
    assert_eq!(fresh.render(Format::Csv).unwrap(), before[1]);

    // D+1 lists the annulment as its own entry.
    let next = export::collect(&mut conn, &reg, Period::Day(today)).await.unwrap();
    assert_eq!(next.count, 0);
    assert_eq!(next.annulments.len(), 1);
    assert_eq!(next.annulments[0].number, r.number);
    let csv = String::from_utf8(next.render(Format::Csv).unwrap()).unwrap();
    assert!(csv.lines().any(|l| l.starts_with("annullamento,") && l.contains("Doppia registrazione")), "{csv}");

    // Closing twice gives the first closing, unchanged.
    let Closing::AlreadyClosed(again) = closing::close_day(&mut conn, &blobs, &reg, d, Utc::now(), &cli(), &fake_pdf).await.unwrap() else {
        panic!("already closed")
    };
    assert_eq!(again, closed);

    // The row cannot be changed or removed.
    for sql in ["update closed_days set closed_at = now()", "delete from closed_days", "truncate closed_days"] {
        let e = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).execute(&db.pool).await.unwrap_err();
        assert!(e.to_string().contains("immutable"), "{sql}: {e}");
    }
    println!("closed {d}: csv sha256 {}, pdf sha256 {}", closed.csv_sha256.to_hex(), closed.pdf_sha256.to_hex());
}

#[tokio::test]
async fn close_due_days_closes_every_past_day_empty_ones_too_after_midnight_plus_grace() {
    let (db, reg) = setup(4).await;
    let dir = tempfile::tempdir().unwrap();
    let blobs = BlobStore::open(dir.path()).unwrap();
    // A registration imported with its time a few days before the register's creation.
    let first = closing::day_of(&reg, Utc::now()) - chrono::Days::new(3);
    let at = chrono_tz::Europe::Rome.from_local_datetime(&first.and_hms_opt(9, 0, 0).unwrap()).unwrap().with_timezone(&Utc);
    register_one(&db, &reg, "Istanza", Some(at)).await;
    let mut conn = db.pool.acquire().await.unwrap();

    // The injected clock: just after midnight of first+2 (within the grace), then after it.
    let midnight = |d: NaiveDate| {
        chrono_tz::Europe::Rome.from_local_datetime(&d.and_hms_opt(0, 0, 0).unwrap()).unwrap().with_timezone(&Utc)
    };
    let day2 = first + chrono::Days::new(2);
    let closed = closing::close_due_days(&mut conn, &blobs, &reg, midnight(day2) + chrono::TimeDelta::minutes(1), &cli(), &fake_pdf)
        .await
        .unwrap();
    assert_eq!(closed.iter().map(|c| c.day).collect::<Vec<_>>(), vec![first], "day 2 is still in its grace");
    let closed = closing::close_due_days(&mut conn, &blobs, &reg, midnight(day2) + closing::GRACE, &cli(), &fake_pdf)
        .await
        .unwrap();
    assert_eq!(closed.iter().map(|c| c.day).collect::<Vec<_>>(), vec![first + chrono::Days::new(1)]);
    assert_eq!(closed[0].registrations, 0, "an empty day is closed too");
    let empty = blobs.get(&closed[0].json_sha256).unwrap();
    assert!(String::from_utf8(empty).unwrap().contains("\"count\": 0"));
    // Again at the same time: nothing more.
    assert!(closing::close_due_days(&mut conn, &blobs, &reg, midnight(day2) + closing::GRACE, &cli(), &fake_pdf).await.unwrap().is_empty());
    let listed = closing::list(&mut conn, &reg, first, day2).await.unwrap();
    assert_eq!(listed.len(), 2);
    println!("closed {} days up to {day2}", listed.len());
}

#[tokio::test]
async fn two_processes_closing_the_same_day_at_once_store_one_closing() {
    let (db, reg) = setup(16).await;
    let dir = tempfile::tempdir().unwrap();
    let d = NaiveDate::from_ymd_opt(2026, 3, 10).unwrap();
    register_one(&db, &reg, "Istanza", Some(rome(2026, 3, 10, 10, 0))).await;
    let now = rome(2026, 3, 11, 0, 10);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let pool = db.pool.clone();
        let reg = reg.clone();
        // Each "process" opens the data directory on its own.
        let blobs = BlobStore::open(dir.path()).unwrap();
        tasks.push(tokio::spawn(async move {
            let mut conn = pool.acquire().await.unwrap();
            closing::close_day(&mut conn, &blobs, &reg, d, now, &cli(), &fake_pdf).await.unwrap()
        }));
    }
    let mut closed = 0;
    let mut days = Vec::new();
    for t in tasks {
        let c = t.await.unwrap();
        if matches!(c, Closing::Closed(_)) {
            closed += 1;
        }
        days.push(c.day().clone());
    }
    assert_eq!(closed, 1, "exactly one closing wins");
    assert!(days.windows(2).all(|w| w[0] == w[1]), "every caller sees the same closing");
    let rows: i64 = sqlx::query_scalar("select count(*) from closed_days").fetch_one(&db.pool).await.unwrap();
    assert_eq!(rows, 1);
    // One audit entry, by the closing that won, with the digests it kept.
    let audit: Vec<(String, String, serde_json::Value)> =
        sqlx::query_as("select actor, object_id, details from audit_log where action = 'register.close_day'")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!((audit[0].0.as_str(), audit[0].1.as_str()), ("cli", "2026-03-10"));
    let Closing::AlreadyClosed(kept) = closing::close_day(&mut db.pool.acquire().await.unwrap(), &BlobStore::open(dir.path()).unwrap(), &reg, d, now, &cli(), &fake_pdf).await.unwrap() else {
        panic!("already closed")
    };
    assert_eq!(audit[0].2["pdf_sha256"], kept.pdf_sha256.to_hex());
    assert_eq!(audit[0].2["registrations"], 1);
    let verified = sigillo_store::audit::verify(&mut db.pool.acquire().await.unwrap()).await.unwrap();
    assert!(matches!(verified, sigillo_store::audit::Verification::Intact { .. }), "{verified:?}");
    println!("8 concurrent closings of {d}: 1 closed, 7 found it closed");
}
