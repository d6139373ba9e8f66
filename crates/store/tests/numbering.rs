//! Gapless numbering per (AOO, register, year), under concurrency, rollback and the year
//! boundary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{TimeZone, Utc};
use common::{actor, register_one, sample, setup};
use sigillo_store::Error;
use sigillo_store::register;

async fn numbers(db: &sigillo_store::testing::TestDb, year: i32) -> Vec<i32> {
    sqlx::query_scalar::<_, i32>("select number from registrations where year = $1 order by number")
        .bind(year)
        .fetch_all(&db.pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_writers_get_exactly_one_to_eight_thousand() {
    const WRITERS: usize = 32;
    const EACH: usize = 250;
    let (db, reg) = setup(WRITERS as u32 + 1).await;
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let pool = db.pool.clone();
        let reg = reg.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::with_capacity(EACH);
            for i in 0..EACH {
                let mut tx = pool.begin().await.unwrap();
                let r = register::register(&mut tx, &reg, &actor(), &sample(&format!("w{w} n{i}")), None)
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
                got.push(r.number.get());
            }
            got
        }));
    }
    let mut returned = Vec::new();
    for t in tasks {
        returned.extend(t.await.unwrap());
    }
    returned.sort_unstable();
    let year = Utc::now().with_timezone(&chrono_tz::Europe::Rome).format("%Y").to_string();
    let stored = numbers(&db, year.parse().unwrap()).await;
    let expected: Vec<i32> = (1..=(WRITERS * EACH) as i32).collect();
    assert_eq!(returned, expected, "numbers handed out");
    assert_eq!(stored, expected, "numbers stored");

    // Numbers and registration times grow together.
    let out_of_order: i64 = sqlx::query_scalar(
        "select count(*) from (select registered_at < lag(registered_at) over (order by number) as back
         from registrations) t where back",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(out_of_order, 0);
}

#[tokio::test]
async fn an_explicit_rollback_gives_the_number_to_the_next_registration() {
    let (db, reg) = setup(2).await;
    assert_eq!(register_one(&db, &reg, "first", None).await.number.get(), 1);

    let mut tx = db.pool.begin().await.unwrap();
    let taken = register::register(&mut tx, &reg, &actor(), &sample("rolled back"), None).await.unwrap();
    assert_eq!(taken.number.get(), 2);
    tx.rollback().await.unwrap();

    assert_eq!(register_one(&db, &reg, "after rollback", None).await.number.get(), 2);
    assert_eq!(numbers(&db, taken.year).await, vec![1, 2]);
}

#[tokio::test]
async fn a_constraint_violation_after_taking_a_number_leaves_no_gap() {
    let (db, reg) = setup(2).await;
    let message_id: i64 = sqlx::query_scalar(
        "insert into inbound_messages (raw_sha256, raw_size) values (sha256('m'::bytea), 1) returning id",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let mut first = sample("first");
    first.inbound_message_id = Some(sigillo_store::ids::InboundId::new(message_id));
    let mut tx = db.pool.begin().await.unwrap();
    register::register(&mut tx, &reg, &actor(), &first, None).await.unwrap();
    tx.commit().await.unwrap();

    // The same message again: the number is taken, then the unique constraint fires.
    let mut tx = db.pool.begin().await.unwrap();
    let err = register::register(&mut tx, &reg, &actor(), &first, None).await.unwrap_err();
    assert!(matches!(err, Error::MessageAlreadyRegistered(id) if id == message_id), "{err:?}");
    drop(tx);

    assert_eq!(register_one(&db, &reg, "next", None).await.number.get(), 2);
}

#[tokio::test]
async fn the_year_is_the_calendar_year_in_rome() {
    let (db, reg) = setup(2).await;
    let before = Utc.with_ymd_and_hms(2026, 12, 31, 22, 30, 0).unwrap(); // 23:30 in Rome
    let after = Utc.with_ymd_and_hms(2026, 12, 31, 23, 30, 0).unwrap(); // 00:30 on 1 January

    let r1 = register_one(&db, &reg, "a", Some(before - chrono::Duration::hours(1))).await;
    let r2 = register_one(&db, &reg, "b", Some(before)).await;
    let r3 = register_one(&db, &reg, "c", Some(after)).await;
    let r4 = register_one(&db, &reg, "d", Some(after + chrono::Duration::hours(1))).await;

    assert_eq!((r1.year, r1.number.get()), (2026, 1));
    assert_eq!((r2.year, r2.number.get()), (2026, 2));
    assert_eq!((r3.year, r3.number.get()), (2027, 1), "31 Dec 23:30 UTC is 2027 in Rome");
    assert_eq!((r4.year, r4.number.get()), (2027, 2));
    assert_eq!(r2.segnatura, "c_h501|A1B2C3D|PG|2026-12-31|0000002");
    assert_eq!(r3.segnatura, "c_h501|A1B2C3D|PG|2027-01-01|0000001");
}

#[tokio::test]
async fn registers_number_independently() {
    let (db, pg) = setup(2).await;
    let mut conn = db.pool.acquire().await.unwrap();
    let other = register::Register::ensure(
        &mut conn,
        &pg.ipa_code,
        &pg.aoo_code,
        &sigillo_store::codes::RegisterCode::parse("REP").unwrap(),
        chrono_tz::Europe::Rome,
    )
    .await
    .unwrap();
    drop(conn);
    assert_eq!(register_one(&db, &pg, "a", None).await.number.get(), 1);
    assert_eq!(register_one(&db, &other, "b", None).await.number.get(), 1);
    assert_eq!(register_one(&db, &pg, "c", None).await.number.get(), 2);
}

#[tokio::test]
async fn an_empty_subject_is_refused_before_a_number_is_taken() {
    let (db, reg) = setup(2).await;
    let mut tx = db.pool.begin().await.unwrap();
    let err = register::register(&mut tx, &reg, &actor(), &sample("  "), None).await.unwrap_err();
    assert!(matches!(err, Error::Invalid { field: "subject", .. }), "{err:?}");
    tx.commit().await.unwrap();
    assert_eq!(register_one(&db, &reg, "real", None).await.number.get(), 1);
}
